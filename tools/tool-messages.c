/* Messages to the user: errors and usage errors on stderr, with control
 * bytes made harmless, and getopt's complaints in words. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

/* Print the message FMT, AP on stderr with its control bytes made
 * harmless: messages quote file names and the file's own text. */
static void print_message (const char *fmt, va_list ap)
  __attribute__ ((format (printf, 1, 0)));

static void
print_message (const char *fmt, va_list ap)
{
  char *msg;

  if (vasprintf (&msg, fmt, ap) == -1) {
    fputs ("(out of memory formatting a message)", stderr);
    return;
  }
  tool_print_text (stderr, msg);
  free (msg);
}

void
tool_error (const char *fmt, ...)
{
  va_list ap;

  fputs ("memdisk-tool: ", stderr);
  va_start (ap, fmt);
  print_message (fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
}

int
tool_usage_error (const char *command, const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "memdisk-tool %s: ", command);
  va_start (ap, fmt);
  print_message (fmt, ap);
  va_end (ap);
  fprintf (stderr, "\nTry 'memdisk-tool %s --help'.\n", command);
  return TOOL_EXIT_USAGE;
}

int
tool_option_error (const char *command, int c, char **argv)
{
  /* getopt leaves the offending word before optind; for a short option in
   * a cluster ("-pz") optopt names it better. */
  const char *word = argv[optind - 1];
  char name[3] = { '-', (char) optopt, '\0' };

  if (strncmp (word, "--", 2) != 0 && optopt > ' ' && optopt < 127)
    word = name;
  if (c == ':')
    return tool_usage_error (command, "option '%s' needs a value", word);
  return tool_usage_error (command, "unknown option '%s'", word);
}
