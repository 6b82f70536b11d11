/* memdisk-tool: inspect, compare, verify, convert and create memdisk
 * snapshot files.  This file only dispatches to the commands. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "tool.h"

struct command {
  const char *name;
  const char *summary;
  int (*run) (int argc, char **argv);
};

static const struct command commands[] = {
  { "info", "show a snapshot's sizes, format, creator and digest", cmd_info },
  { "map", "list the allocated extents of a snapshot's disk", cmd_map },
  { "diff", "list the byte ranges where two snapshots' disks differ", cmd_diff },
  { "verify", "check every checksum and structural rule of a snapshot", cmd_verify },
  { "convert", "convert between raw disk images and snapshots, or recompress",
    cmd_convert },
  { "create", "write a snapshot of an empty disk of a given size", cmd_create },
  { "save", "ask the server that writes a snapshot to save it now, and wait", cmd_save },
  { "status", "show what the server that writes a snapshot is doing", cmd_status },
  { "reset", "ask the server that writes a snapshot to go back to it, and wait",
    cmd_reset },
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void
usage (FILE *out)
{
  fprintf (out,
           "Usage: memdisk-tool COMMAND [OPTIONS] ARGS...\n"
           "\n"
           "Work with memdisk snapshot files (see docs/snapshot-format.md).\n"
           "\n"
           "Commands:\n");
  for (size_t i = 0; i < NCOMMANDS; i++)
    fprintf (out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf (out,
           "\n"
           "Options:\n"
           "  -h, --help     show this help\n"
           "  -V, --version  show the version\n"
           "\n"
           "'memdisk-tool COMMAND --help' (or 'memdisk-tool help COMMAND') describes\n"
           "a command; man memdisk-tool tells more.  Sizes take K, M, G, T, P, E\n"
           "suffixes (powers of 1024): 512M, 10G.\n"
           "Exit status: 0 on success, 1 on failure or a damaged file, 2 on a\n"
           "usage error ('diff': 0 same, 1 different, 2 trouble).\n");
}

static const struct command *
find_command (const char *name)
{
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp (name, commands[i].name) == 0)
      return &commands[i];
  return NULL;
}

static int
unknown_command (const char *name)
{
  fprintf (stderr, "memdisk-tool: unknown command '%s'\n"
           "Try 'memdisk-tool --help'.\n", tool_safe_text (name));
  return TOOL_EXIT_USAGE;
}

int
main (int argc, char **argv)
{
  const struct command *command;

  opterr = 0;                   /* tool_option_error tells what is wrong */
  if (argc < 2) {
    usage (stderr);
    return TOOL_EXIT_USAGE;
  }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0) {
    usage (stdout);
    return TOOL_EXIT_OK;
  }
  if (strcmp (argv[1], "help") == 0) {
    if (argc == 2) {
      usage (stdout);
      return TOOL_EXIT_OK;
    }
    if ((command = find_command (argv[2])) == NULL)
      return unknown_command (argv[2]);
    char *help_argv[] = { argv[2], (char *) "--help", NULL };
    return command->run (2, help_argv);
  }
  if (strcmp (argv[1], "--version") == 0 || strcmp (argv[1], "-V") == 0) {
    printf ("memdisk-tool %s\n", MEMDISK_VERSION);
    return tool_finish_stdout ();
  }
  if (argv[1][0] == '-') {
    fprintf (stderr, "memdisk-tool: unknown option '%s'; the command comes first\n"
             "Try 'memdisk-tool --help'.\n", tool_safe_text (argv[1]));
    return TOOL_EXIT_USAGE;
  }
  if ((command = find_command (argv[1])) == NULL)
    return unknown_command (argv[1]);
  return command->run (argc - 1, argv + 1);
}
