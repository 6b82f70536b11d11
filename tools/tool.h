/* memdisk-tool: shared declarations.  Each command lives in cmd-NAME.c
 * and is listed in memdisk-tool.c. */
#ifndef MEMDISK_TOOL_H
#define MEMDISK_TOOL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct snap_reader;

/* Exit codes shared by every command. */
#define TOOL_EXIT_OK 0
#define TOOL_EXIT_FAILURE 1     /* the work failed, or the file is damaged */
#define TOOL_EXIT_USAGE 2       /* bad command line */

int cmd_convert (int argc, char **argv);
int cmd_create (int argc, char **argv);
int cmd_diff (int argc, char **argv);
int cmd_info (int argc, char **argv);
int cmd_map (int argc, char **argv);
int cmd_verify (int argc, char **argv);
int cmd_save (int argc, char **argv);
int cmd_status (int argc, char **argv);
int cmd_reset (int argc, char **argv);

/* Send REQUEST to the server that writes FILE and read its reply into
 * REPLY (SIZE bytes), waiting at most TIMEOUT_MS (-1: forever).
 * TOOL_EXIT_OK; TOOL_EXIT_USAGE (2) when no server writes FILE, or
 * TOOL_EXIT_FAILURE, after saying why.  (tool-control.c) */
int tool_ask_server (const char *file, const char *request, int timeout_ms,
                     char *reply, size_t size);
/* Before writing PATH (convert, create): take its writer lock
 * (control/lock.h) until the tool exits, so that no server writes PATH
 * meanwhile; -1 after saying which process holds it. */
int tool_lock_output (const char *path);
/* The default --timeout of the commands that wait for a save (save,
 * reset): long enough for a save of hundreds of GiB, short enough that a
 * server that never answers cannot hang a script (docs/memdisk-tool.pod). */
#define TOOL_SAVE_TIMEOUT_MS (10 * 60 * 1000)
/* The arguments of the commands that ask a server (save, status, reset):
 * [--json] [--timeout=SECS] FILE. */
struct tool_server_args {
  bool json;
  int timeout_ms;               /* set by the caller to its default */
  const char *file;
};
/* Parse them into ARGS; -1 when the command is to go on, else the exit
 * status to return (after --help, or a usage error).  (tool-args.c, which
 * parses info and map the same way but without --timeout) */
int tool_parse_server_args (const char *command, int argc, char **argv,
                            void (*usage) (FILE *), struct tool_server_args *args);
/* A command that asks the server of FILE to do REQUEST and waits (save,
 * reset): parse [--json] [--timeout=SECS] FILE (default TIMEOUT_MS), ask,
 * print the reply with PRINT_JSON or PRINT_TEXT (OK: its result is "ok"),
 * and return the exit status: 0, 1 when the server's result is an error,
 * else as tool_ask_server.  (tool-control.c) */
typedef void (*tool_reply_printer) (const char *file, const char *reply, bool ok);
int tool_server_command (const char *request, int argc, char **argv, void (*usage) (FILE *),
                         int timeout_ms, tool_reply_printer print_text,
                         tool_reply_printer print_json);
/* --timeout=SECS (decimals allowed; 0: no limit).  0, or -1 after
 * printing what is wrong.  (tool-options.c) */
int tool_parse_timeout (const char *arg, int *timeout_ms);

/* "memdisk-tool: MESSAGE" on stderr. */
void tool_error (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
/* A usage error: the message, a hint to --help, and TOOL_EXIT_USAGE. */
int tool_usage_error (const char *command, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

/* After getopt_long returned C, '?' or ':' (every optstring starts with
 * ':' and opterr is 0): say which option is unknown or lacks its value,
 * and return TOOL_EXIT_USAGE. */
int tool_option_error (const char *command, int c, char **argv);

/* The command line of COMMAND [--json] FILE (info, map): -1 with *JSON
 * and *PATH set, or the exit status to return at once (after --help, which
 * prints USAGE, or a usage error). */
int tool_parse_json_file (const char *command, void (*usage) (FILE *out), int argc,
                          char **argv, bool *json, const char **path);

/* Option values.  Each returns 0, or -1 after printing what is wrong. */
int tool_parse_level (const char *arg, int *level);
int tool_parse_threads (const char *arg, unsigned *threads);
/* A byte count in nbdkit's grammar (nbdkit_parse_size): digits with an
 * optional one-letter suffix, b, s (512 bytes), K, M, G, T, P, E (powers
 * of 1024), either case; "512M", "1s", "512b"; not "512MB" or "1MiB".
 * At most 2^63-1. */
int tool_parse_size (const char *arg, const char *what, uint64_t *size);

/* COMMAND's --page-size value: a size (as tool_parse_size) that is a
 * power of two from 4K to 1M.  0, or -1 after printing what is wrong. */
int tool_parse_page_size (const char *command, const char *arg, uint64_t *page_size);
/* COMMAND's --region-size value: a size that is a power of two from 4K to
 * 64M (whether it holds a page is the writer's check).  -1 after a usage
 * error. */
int tool_parse_region_size (const char *command, const char *arg, uint32_t *region_size);

/* BYTES in plain words ("512 bytes", "32 KiB", "1.5 GiB"), in BUF. */
const char *tool_format_size (uint64_t bytes, char buf[32]);
/* The same followed by the exact count, as qemu-img info shows sizes:
 * "2 GiB (2147483648 bytes)"; just "512 bytes" below 1 KiB. */
const char *tool_format_size_exact (uint64_t bytes, char buf[64]);

/* S as a JSON string, quoted and escaped (controls, C1 controls
 * included, as \u00XX); bytes that are not UTF-8 become U+FFFD. */
void tool_print_json_string (FILE *out, const char *s);
/* S for a terminal: control characters (C0, DEL and C1, from a hostile
 * file) and bytes that are not UTF-8 become '?'. */
void tool_print_text (FILE *out, const char *s);
/* The same as a string, for printf: valid until the fourth next call in
 * the same thread; cut with "..." past TOOL_SAFE_TEXT_MAX bytes.  Every
 * file name and creator string printed goes through one of the two;
 * tool_error and tool_usage_error pass their whole message through. */
#define TOOL_SAFE_TEXT_MAX 8192
const char *tool_safe_text (const char *s);

/* At the end of a command that printed to stdout: TOOL_EXIT_OK, or
 * TOOL_EXIT_FAILURE after saying why stdout could not be written (a full
 * disk, a closed pipe). */
int tool_finish_stdout (void);

/* Before writing a new file PATH: 0 when PATH does not exist, or is a
 * regular file (or a link to one) and FORCE is set; else -1 after saying
 * why.  A link at PATH or on its way must be one the user may follow, as
 * the write will ask again (snap_replace_target): another user's is
 * refused, FORCE or not.  An empty PATH is refused.  "-" is stdout,
 * refused on a terminal unless FORCE.  (tool-files.c) */
int tool_check_new_output (const char *path, bool force);

/* Open convert's IN, a raw image or a snapshot: a regular file or a block
 * device, never anything that could block open(2) or has no size (a
 * FIFO, /dev/zero, a terminal).  The descriptor, or -1 after printing
 * why. */
int tool_open_input (const char *path);

/* PATH as messages and output show it: a URL without its userinfo and
 * query string (remote/url.h), in BUF; a path as it is. */
const char *tool_shown_name (const char *path, char *buf, size_t size);
/* Open the snapshot PATH and validate its structure (footer, metadata,
 * index; no data frame is read).  NULL after printing "PATH: problem". */
struct snap_reader *tool_open_snapshot (const char *path);

enum tool_file_format { TOOL_FORMAT_RAW, TOOL_FORMAT_SNAPSHOT };
/* Tell a snapshot from a raw image by its first bytes (never its name).
 * -1 after printing why when the file cannot be read or is a plain zstd
 * file, which is neither. */
int tool_detect_format (int fd, const char *name, enum tool_file_format *format);

/* Progress on stderr, updated in place a few times a second:
 * "NAME: 42% 1.2 GiB of 2 GiB, 310 MiB/s, 0:03 left".  Shown only when
 * ENABLED (the user asked for it) and stderr is a terminal, so a log or a
 * pipe never fills with carriage returns.  Thread-safe.  (tool-progress.c) */
struct tool_progress;
struct tool_progress *tool_progress_new (bool enabled, const char *name, uint64_t total);
void tool_progress_add (struct tool_progress *progress, uint64_t done);
/* End the progress line: with COMPLETE the work is all done (a sparse
 * input's trailing hole is never read, but it is done). */
void tool_progress_finish (struct tool_progress *progress, bool complete);

#endif
