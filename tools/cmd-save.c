/* memdisk-tool save: ask the server that writes FILE to save it now, and
 * wait until the new file is in place or the save failed. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/channel.h"
#include "tool-json.h"
#include "tool.h"

static void
save_usage (FILE *out)
{
  fprintf (out,
           "Usage: memdisk-tool save [--json] [--timeout=SECS] FILE\n"
           "\n"
           "Ask the nbdkit memdisk server that writes the snapshot FILE to save\n"
           "its disk now, and wait until the new FILE is in place (it holds every\n"
           "write acknowledged before this command started) or the save failed.\n"
           "Requests and SIGUSR1s that arrive during a save coalesce into one\n"
           "more save.\n"
           "\n"
           "      --json           print a JSON object\n"
           "  -t, --timeout=SECS   give up after SECS seconds (default 600; 0: wait)\n"
           "  -h, --help           show this help\n"
           "\n"
           "Exit status: 0 saved, 1 the save failed (the server's error is\n"
           "printed) or no answer in time, 2 no server writes FILE, or a usage\n"
           "error.\n");
}

static uint64_t
reply_u64 (const char *reply, const char *key)
{
  char v[32];

  return control_reply_get (reply, key, v, sizeof v) ? strtoull (v, NULL, 10) : 0;
}

static void
print_text (const char *file, const char *reply, bool ok)
{
  char v[CONTROL_REPLY_MAX], when[32] = "", dur[32] = "", digest[32] = "";
  uint64_t alloc = reply_u64 (reply, "save-allocated-size");
  uint64_t bytes = reply_u64 (reply, "save-file-size");
  char a[32], b[32];

  if (!ok) {
    fputs ("memdisk-tool: ", stderr);
    tool_print_text (stderr, file);
    fputs (": ", stderr);
    tool_print_text (stderr, control_reply_get (reply, "error", v, sizeof v)
                     ? v : "the save failed");
    fputc ('\n', stderr);
    return;
  }
  if (control_reply_get (reply, "up-to-date", v, sizeof v)) {
    tool_print_text (stdout, file);
    printf (": up to date (the server is exiting and had nothing left to save)\n");
    return;
  }
  control_reply_get (reply, "save-time", when, sizeof when);
  control_reply_get (reply, "save-duration", dur, sizeof dur);
  control_reply_get (reply, "save-digest", digest, sizeof digest);
  printf ("saved ");
  tool_print_text (stdout, file);
  printf (" at ");
  tool_print_text (stdout, when);
  printf (" in ");
  tool_print_text (stdout, dur);
  printf (" s: %s of data, ", tool_format_size (alloc, a));
  printf ("%s file, ratio %.2f, digest ", tool_format_size (bytes, b),
          bytes ? (double) alloc / (double) bytes : 0.0);
  tool_print_text (stdout, digest);
  putchar ('\n');
}

static void
print_json (const char *file, const char *reply, bool ok)
{
  const char *sep = ",";
  uint64_t alloc = reply_u64 (reply, "save-allocated-size");
  uint64_t bytes = reply_u64 (reply, "save-file-size");
  char v[8];

  printf ("{\n  \"filename\": ");
  tool_print_json_string (stdout, file);
  printf (",\n  \"result\": \"%s\"", ok ? "saved" : "failed");
  printf (",\n  \"up-to-date\": %s",
          control_reply_get (reply, "up-to-date", v, sizeof v) ? "true" : "false");
  tool_json_reply_member (reply, "save-time", "time", TOOL_JSON_STRING, "  ", &sep);
  tool_json_reply_member (reply, "save-trigger", "trigger", TOOL_JSON_STRING, "  ", &sep);
  tool_json_reply_member (reply, "save-duration", "duration", TOOL_JSON_NUMBER, "  ", &sep);
  tool_json_reply_member (reply, "save-allocated-size", "allocated-size", TOOL_JSON_NUMBER,
                          "  ", &sep);
  tool_json_reply_member (reply, "save-file-size", "file-size", TOOL_JSON_NUMBER, "  ", &sep);
  if (ok && bytes)
    printf (",\n  \"compression-ratio\": %.2f", (double) alloc / (double) bytes);
  tool_json_reply_member (reply, "save-digest", "digest", TOOL_JSON_STRING, "  ", &sep);
  tool_json_reply_member (reply, "error", "error", TOOL_JSON_STRING, "  ", &sep);
  printf ("\n}\n");
}

int
cmd_save (int argc, char **argv)
{
  return tool_server_command ("save", argc, argv, save_usage, TOOL_SAVE_TIMEOUT_MS, print_text,
                              print_json);
}
