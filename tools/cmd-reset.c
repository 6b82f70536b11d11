/* memdisk-tool reset: ask the server that writes FILE to put its disk
 * back to the snapshot it last loaded or saved, and wait until it has. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/channel.h"
#include "tool-json.h"
#include "tool.h"

static void
reset_usage (FILE *out)
{
  fprintf (out,
           "Usage: memdisk-tool reset [--json] [--timeout=SECS] FILE\n"
           "\n"
           "Ask the nbdkit memdisk server that writes the snapshot FILE to put its\n"
           "disk back to the snapshot file it last loaded or saved (all zeros if it\n"
           "has neither), and wait until it has: requests in flight finish first,\n"
           "requests made after this command returns see that snapshot.  Only the\n"
           "regions changed since go back; FILE itself is never touched.  A reset\n"
           "asked for during a save waits for the save.\n"
           "\n"
           "      --json           print a JSON object\n"
           "  -t, --timeout=SECS   give up after SECS seconds (default 600; 0: wait)\n"
           "  -h, --help           show this help\n"
           "\n"
           "Exit status: 0 reset, 1 the reset failed (the server's error is\n"
           "printed) or no answer in time, 2 no server writes FILE, or a usage\n"
           "error.\n");
}

static void
print_text (const char *file, const char *reply, bool ok)
{
  char v[CONTROL_REPLY_MAX], regions[32] = "", dur[32] = "";

  if (!ok) {
    fputs ("memdisk-tool: ", stderr);
    tool_print_text (stderr, file);
    fputs (": ", stderr);
    tool_print_text (stderr, control_reply_get (reply, "error", v, sizeof v)
                     ? v : "the reset failed");
    fputc ('\n', stderr);
    return;
  }
  control_reply_get (reply, "reset-regions", regions, sizeof regions);
  control_reply_get (reply, "reset-duration", dur, sizeof dur);
  printf ("reset ");
  tool_print_text (stdout, file);
  printf (" in ");
  tool_print_text (stdout, dur);
  printf (" s: ");
  tool_print_text (stdout, regions);
  printf (" changed regions put back\n");
}

static void
print_json (const char *file, const char *reply, bool ok)
{
  const char *sep = ",";

  printf ("{\n  \"filename\": ");
  tool_print_json_string (stdout, file);
  printf (",\n  \"result\": \"%s\"", ok ? "reset" : "failed");
  tool_json_reply_member (reply, "reset-time", "time", TOOL_JSON_STRING, "  ", &sep);
  tool_json_reply_member (reply, "reset-duration", "duration", TOOL_JSON_NUMBER, "  ", &sep);
  tool_json_reply_member (reply, "reset-regions", "regions", TOOL_JSON_NUMBER, "  ", &sep);
  tool_json_reply_member (reply, "error", "error", TOOL_JSON_STRING, "  ", &sep);
  printf ("\n}\n");
}

int
cmd_reset (int argc, char **argv)
{
  return tool_server_command ("reset", argc, argv, reset_usage, TOOL_SAVE_TIMEOUT_MS, print_text,
                              print_json);
}
