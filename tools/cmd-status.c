/* memdisk-tool status: what the server that writes FILE is doing, and how
 * its last save went. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control/channel.h"
#include "tool-json.h"
#include "tool.h"

static void
status_usage (FILE *out)
{
  fprintf (out,
           "Usage: memdisk-tool status [--json] [--timeout=SECS] FILE\n"
           "\n"
           "Show the nbdkit memdisk server that writes the snapshot FILE: its pid,\n"
           "its state (loading, serving, saving with progress, stopping), the\n"
           "disk's sizes, the bytes in memory and still in the file, the allocator,\n"
           "whether it changed since the last save, and the last save: when, why,\n"
           "how long, and its result or error.\n"
           "\n"
           "      --json           print a JSON object\n"
           "  -t, --timeout=SECS   give up after SECS seconds (default 10; 0: wait)\n"
           "  -h, --help           show this help\n"
           "\n"
           "Exit status: 0 the server answered, 1 it could not be asked, 2 no\n"
           "server writes FILE, or a usage error.\n");
}

struct status {
  const char *reply;
  char v[CONTROL_REPLY_MAX];
};

/* The value of KEY, or NULL; valid until the next call. */
static const char *
get (struct status *s, const char *key)
{
  return control_reply_get (s->reply, key, s->v, sizeof s->v);
}

static uint64_t
get_u64 (struct status *s, const char *key)
{
  const char *v = get (s, key);
  return v ? strtoull (v, NULL, 10) : 0;
}

static void
print_line (const char *label, const char *value)
{
  printf ("%s: ", label);
  tool_print_text (stdout, value ? value : "?");
  putchar ('\n');
}

/* A lazy load's progress, and damaged frames found by it. */
static void
print_load (struct status *s)
{
  char a[32], b[32];

  if (get (s, "load") == NULL)
    return;
  printf ("load: ");
  tool_print_text (stdout, s->v);
  if (get (s, "load-frames")) {
    uint64_t frames = get_u64 (s, "load-frames");
    uint64_t loaded = get_u64 (s, "load-frames-loaded");
    uint64_t damaged = get_u64 (s, "load-frames-damaged");
    printf (" (lazy: %" PRIu64 " of %" PRIu64 " frames, %s of %s", loaded, frames,
            tool_format_size (get_u64 (s, "load-bytes-loaded"), a),
            tool_format_size (get_u64 (s, "load-bytes-total"), b));
    if (damaged)
      printf ("; %" PRIu64 " damaged frame(s): their pages fail with EIO", damaged);
    printf (")");
  }
  putchar ('\n');
}

/* Where the allocated pages are: in memory, or still in the snapshot
 * file (a lazy load); and the allocator. */
static void
print_memory (struct status *s)
{
  char a[32], b[32];

  if (get (s, "resident-size") == NULL)
    return;                     /* a server from before this key */
  printf ("memory: %s resident, %s still in the file",
          tool_format_size (get_u64 (s, "resident-size"), a),
          tool_format_size (get_u64 (s, "in-file-size"), b));
  printf (" (allocator=");
  tool_print_text (stdout, get (s, "allocator") ? s->v : "?");
  printf (")\n");
}

static void
print_human (const char *file, struct status *s)
{
  char size[64], a[32];
  bool saving = get (s, "save-trigger") != NULL;

  print_line ("file", file);
  print_line ("server pid", get (s, "pid"));
  printf ("state: ");
  tool_print_text (stdout, get (s, "state") ? s->v : "?");
  if (saving) {
    uint64_t done = get_u64 (s, "save-pages-done"), total = get_u64 (s, "save-pages-total");
    printf (" (");
    tool_print_text (stdout, get (s, "save-trigger"));
    printf (", for ");
    tool_print_text (stdout, get (s, "save-elapsed") ? s->v : "?");
    printf (" s, %" PRIu64 " of %" PRIu64 " pages", done, total);
    if (total)
      printf (", %d%%", (int) (done >= total ? 100 : done * 100 / total));
    printf (")");
  }
  putchar ('\n');
  if (get (s, "virtual-size")) {
    printf ("virtual size: %s\n", tool_format_size_exact (get_u64 (s, "virtual-size"), size));
    printf ("allocated size: %s\n",
            tool_format_size_exact (get_u64 (s, "allocated-size"), size));
    print_memory (s);
    print_line ("changed since the last save", get (s, "changed") && strcmp (s->v, "true") == 0
                ? "yes" : "no");
  }
  print_load (s);
  printf ("saves: %" PRIu64 " (%" PRIu64 " failed)\n", get_u64 (s, "saves"),
          get_u64 (s, "failed-saves"));
  if (get_u64 (s, "resets") > 0)
    printf ("resets: %" PRIu64 " (%" PRIu64 " failed)\n", get_u64 (s, "resets"),
            get_u64 (s, "failed-resets"));
  if (get (s, "last-save-time") == NULL) {
    print_line ("last save", "none since the start");
    return;
  }
  printf ("last save: ");
  tool_print_text (stdout, s->v);
  printf (" (");
  tool_print_text (stdout, get (s, "last-save-trigger") ? s->v : "?");
  printf (") in ");
  tool_print_text (stdout, get (s, "last-save-duration") ? s->v : "?");
  printf (" s: ");
  if (get (s, "last-save-result") && strcmp (s->v, "ok") == 0) {
    printf ("ok, %s in the file, digest ", tool_format_size (get_u64 (s, "last-save-file-size"), a));
    tool_print_text (stdout, get (s, "last-save-digest") ? s->v : "?");
    printf (", %" PRIu64 " regions cloned, %" PRIu64 " copied, %" PRIu64 " compressed",
            get_u64 (s, "last-save-regions-cloned"), get_u64 (s, "last-save-regions-copied"),
            get_u64 (s, "last-save-regions-compressed"));
  }
  else {
    printf ("failed: ");
    tool_print_text (stdout, get (s, "last-save-error") ? s->v : "?");
  }
  putchar ('\n');
}

/* "JSON_KEY": the reply's KEY (tool-json.h), a number when NUMBER and it
 * looks like one; "changed" a boolean. */
static void
json_member (struct status *s, const char *indent, const char *key, const char *json_key,
             bool number, const char **sep)
{
  enum tool_json_kind kind = number ? TOOL_JSON_NUMBER
                             : strcmp (key, "changed") == 0 ? TOOL_JSON_BOOL
                             : TOOL_JSON_STRING;

  tool_json_reply_member (s->reply, key, json_key, kind, indent, sep);
}

static void
print_json (const char *file, struct status *s)
{
  const char *sep = ",";

  printf ("{\n  \"filename\": ");
  tool_print_json_string (stdout, file);
  json_member (s, "  ", "pid", "pid", true, &sep);
  json_member (s, "  ", "state", "state", false, &sep);
  json_member (s, "  ", "virtual-size", "virtual-size", true, &sep);
  json_member (s, "  ", "allocated-size", "allocated-size", true, &sep);
  json_member (s, "  ", "resident-size", "resident-size", true, &sep);
  json_member (s, "  ", "in-file-size", "in-file-size", true, &sep);
  json_member (s, "  ", "allocator", "allocator", false, &sep);
  json_member (s, "  ", "page-size", "page-size", true, &sep);
  json_member (s, "  ", "changed", "changed", false, &sep);
  json_member (s, "  ", "saves", "saves", true, &sep);
  json_member (s, "  ", "failed-saves", "failed-saves", true, &sep);
  json_member (s, "  ", "resets", "resets", true, &sep);
  json_member (s, "  ", "failed-resets", "failed-resets", true, &sep);
  json_member (s, "  ", "load", "load", false, &sep);
  if (get (s, "load-frames")) {
    const char *inner = "";
    printf (",\n  \"load-progress\": {");
    json_member (s, "    ", "load-frames", "frames", true, &inner);
    json_member (s, "    ", "load-frames-loaded", "frames-loaded", true, &inner);
    json_member (s, "    ", "load-frames-damaged", "frames-damaged", true, &inner);
    json_member (s, "    ", "load-bytes-loaded", "bytes-loaded", true, &inner);
    json_member (s, "    ", "load-bytes-total", "bytes-total", true, &inner);
    printf ("\n  }");
  }
  printf (",\n  \"save\": ");
  if (get (s, "save-trigger")) {
    const char *inner = "";
    printf ("{");
    json_member (s, "    ", "save-trigger", "trigger", false, &inner);
    json_member (s, "    ", "save-started", "started", false, &inner);
    json_member (s, "    ", "save-elapsed", "elapsed", true, &inner);
    json_member (s, "    ", "save-pages-done", "pages-done", true, &inner);
    json_member (s, "    ", "save-pages-total", "pages-total", true, &inner);
    printf ("\n  }");
  }
  else
    printf ("null");
  printf (",\n  \"last-save\": ");
  if (get (s, "last-save-time")) {
    const char *inner = "";
    printf ("{");
    json_member (s, "    ", "last-save-time", "time", false, &inner);
    json_member (s, "    ", "last-save-trigger", "trigger", false, &inner);
    json_member (s, "    ", "last-save-duration", "duration", true, &inner);
    json_member (s, "    ", "last-save-result", "result", false, &inner);
    json_member (s, "    ", "last-save-allocated-size", "allocated-size", true, &inner);
    json_member (s, "    ", "last-save-file-size", "file-size", true, &inner);
    json_member (s, "    ", "last-save-digest", "digest", false, &inner);
    json_member (s, "    ", "last-save-regions-cloned", "regions-cloned", true, &inner);
    json_member (s, "    ", "last-save-regions-copied", "regions-copied", true, &inner);
    json_member (s, "    ", "last-save-regions-compressed", "regions-compressed", true, &inner);
    json_member (s, "    ", "last-save-error", "error", false, &inner);
    printf ("\n  }");
  }
  else
    printf ("null");
  printf ("\n}\n");
}

int
cmd_status (int argc, char **argv)
{
  struct tool_server_args args = { .timeout_ms = 10000 };
  int r = tool_parse_server_args ("status", argc, argv, status_usage, &args);
  if (r != -1)
    return r;
  const char *file = args.file;
  const bool json = args.json;
  const int timeout_ms = args.timeout_ms;
  char reply[CONTROL_REPLY_MAX];
  struct status s = { .reply = reply };

  r = tool_ask_server (file, "status", timeout_ms, reply, sizeof reply);
  if (r != TOOL_EXIT_OK)
    return r;
  if (get (&s, "result") == NULL || strcmp (s.v, "ok") != 0) {
    tool_error ("%s: %s", file, get (&s, "error") ? s.v : "the server refused");
    return TOOL_EXIT_FAILURE;
  }
  if (json)
    print_json (file, &s);
  else
    print_human (file, &s);
  return tool_finish_stdout ();
}
