/* The command lines of the commands that take one FILE: info and map
 * (COMMAND [--json] FILE), save, status and reset (with --timeout=SECS). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include "tool.h"

/* COMMAND [--json] [--timeout=SECS] FILE; --timeout only if ALLOW_TIMEOUT
 * (info and map have no server to wait for). */
static int
parse_file_args (const char *command, void (*usage) (FILE *out), int argc, char **argv,
                 bool allow_timeout, struct tool_server_args *args)
{
  enum { OPT_JSON = 256 };
  static const struct option with_timeout[] = {
    { "json", no_argument, NULL, OPT_JSON },
    { "timeout", required_argument, NULL, 't' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  /* info and map: no --timeout. */
  static const struct option without_timeout[] = {
    { "json", no_argument, NULL, OPT_JSON },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;

  args->json = false;
  while ((c = getopt_long (argc, argv, allow_timeout ? ":t:h" : ":h",
                           allow_timeout ? with_timeout : without_timeout, NULL)) != -1) {
    switch (c) {
    case OPT_JSON:
      args->json = true;
      break;
    case 't':
      if (tool_parse_timeout (optarg, &args->timeout_ms) == -1)
        return TOOL_EXIT_USAGE;
      break;
    case 'h':
      usage (stdout);
      return TOOL_EXIT_OK;
    default:
      return tool_option_error (command, c, argv);
    }
  }
  if (argc - optind != 1)
    return tool_usage_error (command, "expected one FILE");
  args->file = argv[optind];
  return -1;
}

int
tool_parse_json_file (const char *command, void (*usage) (FILE *out), int argc,
                      char **argv, bool *json, const char **path)
{
  struct tool_server_args args = { .timeout_ms = -1 };
  int r = parse_file_args (command, usage, argc, argv, false, &args);

  *json = args.json;
  *path = args.file;
  return r;
}

int
tool_parse_server_args (const char *command, int argc, char **argv,
                        void (*usage) (FILE *), struct tool_server_args *args)
{
  return parse_file_args (command, usage, argc, argv, true, args);
}
