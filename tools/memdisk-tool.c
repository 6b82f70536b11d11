/* memdisk-tool: inspect, verify and convert memdisk snapshot files. */
#include <stdio.h>
#include <string.h>

#include "tool.h"

struct command {
  const char *name;
  const char *summary;
  int (*run) (int argc, char **argv);
};

static const struct command commands[] = {
  { "convert", "convert between raw disk images and snapshots, or recompress",
    cmd_convert },
  { "verify", "check every checksum and structural rule of a snapshot", cmd_verify },
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
           "'memdisk-tool COMMAND --help' describes a command.\n"
           "Exit status: 0 on success, 1 on failure or a damaged file, 2 on a\n"
           "usage error.\n");
}

int
main (int argc, char **argv)
{
  if (argc < 2) {
    usage (stderr);
    return TOOL_EXIT_USAGE;
  }
  if (strcmp (argv[1], "--help") == 0 || strcmp (argv[1], "-h") == 0
      || strcmp (argv[1], "help") == 0) {
    usage (stdout);
    return TOOL_EXIT_OK;
  }
  if (strcmp (argv[1], "--version") == 0) {
    printf ("memdisk-tool %s\n", MEMDISK_VERSION);
    return TOOL_EXIT_OK;
  }
  for (size_t i = 0; i < NCOMMANDS; i++)
    if (strcmp (argv[1], commands[i].name) == 0)
      return commands[i].run (argc - 1, argv + 1);

  fprintf (stderr, "memdisk-tool: unknown command '%s'\n"
           "Try 'memdisk-tool --help'.\n", argv[1]);
  return TOOL_EXIT_USAGE;
}
