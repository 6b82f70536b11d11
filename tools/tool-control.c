/* Talking to the server that writes a snapshot (memdisk-tool save,
 * status and reset): connect through the control channel, send one
 * request, read the reply (src/control/channel.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "control/channel.h"
#include "control/lock.h"
#include "tool.h"

int
tool_ask_server (const char *file, const char *request, int timeout_ms,
                 char *reply, size_t size)
{
  pid_t pid;

  if (control_ask (file, request, reply, size, timeout_ms, &pid) == 0)
    return TOOL_EXIT_OK;
  switch (errno) {
  case ECONNREFUSED: case ENOENT:
    tool_error ("%s", md_error ());
    return TOOL_EXIT_USAGE;
  case EACCES: case EPERM:       /* a stranger, or no lock file */
    tool_error ("%s", md_error ());
    return TOOL_EXIT_FAILURE;
  case ETIMEDOUT:
    tool_error ("%s: the server: %s (it may still be working; --timeout=0 waits "
                "for ever)", file, md_error ());
    return TOOL_EXIT_FAILURE;
  default:
    tool_error ("%s: the server: %s", file, md_error ());
    return TOOL_EXIT_FAILURE;
  }
}

int
tool_server_command (const char *request, int argc, char **argv, void (*usage) (FILE *),
                     int timeout_ms, tool_reply_printer print_text,
                     tool_reply_printer print_json)
{
  struct tool_server_args args = { .timeout_ms = timeout_ms };
  int r = tool_parse_server_args (request, argc, argv, usage, &args);
  if (r != -1)
    return r;
  char reply[CONTROL_REPLY_MAX], result[16];

  r = tool_ask_server (args.file, request, args.timeout_ms, reply, sizeof reply);
  if (r != TOOL_EXIT_OK)
    return r;
  bool ok = control_reply_get (reply, "result", result, sizeof result)
            && strcmp (result, "ok") == 0;
  (args.json ? print_json : print_text) (args.file, reply, ok);
  r = tool_finish_stdout ();
  return ok ? r : TOOL_EXIT_FAILURE;
}

/* The output's writer lock, held until the tool exits (the kernel would
 * release it anyway; this also removes the lock file). */
static struct writer_lock output_lock = { .fd = -1 };

static void
release_output_lock (void)
{
  writer_lock_release (&output_lock);
}

int
tool_lock_output (const char *path)
{
  pid_t holder;

  if (strcmp (path, "-") == 0 || output_lock.fd >= 0)
    return 0;
  if (writer_lock_take (&output_lock, path, geteuid (), &holder) == 0) {
    atexit (release_output_lock);
    return 0;
  }
  if (errno == EPERM) {           /* another user's lock file, or no file */
    tool_error ("%s; not written", md_error ());
    return -1;
  }
  if (errno == EWOULDBLOCK) {
    tool_error ("%s; not written (stop that server first, or let it save: "
                "memdisk-tool save %s)", md_error (), path);
    return -1;
  }
  /* No lock file possible (no such folder, read-only): the write fails
   * with its own message, or nobody else can write there either. */
  return 0;
}
