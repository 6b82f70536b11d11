/* memdisk-tool: shared declarations.  Each command lives in cmd-NAME.c
 * and is listed in memdisk-tool.c. */
#ifndef MEMDISK_TOOL_H
#define MEMDISK_TOOL_H

#include <stdbool.h>
#include <stdint.h>

/* Exit codes shared by every command. */
#define TOOL_EXIT_OK 0
#define TOOL_EXIT_FAILURE 1     /* the work failed, or the file is damaged */
#define TOOL_EXIT_USAGE 2       /* bad command line */

int cmd_convert (int argc, char **argv);
int cmd_verify (int argc, char **argv);

/* "memdisk-tool: MESSAGE" on stderr. */
void tool_error (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));
/* A usage error: the message, a hint to --help, and TOOL_EXIT_USAGE. */
int tool_usage_error (const char *command, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

/* Option values.  Each returns 0, or -1 after printing what is wrong. */
int tool_parse_level (const char *arg, int *level);
int tool_parse_threads (const char *arg, unsigned *threads);
/* A byte count: digits with an optional K/M/G/T suffix (binary units,
 * "KiB" and "K" alike). */
int tool_parse_size (const char *arg, const char *what, uint64_t *size);

/* BYTES in plain words ("512 bytes", "32 KiB", "1.5 GiB"), in BUF. */
const char *tool_format_size (uint64_t bytes, char buf[32]);

enum tool_file_format { TOOL_FORMAT_RAW, TOOL_FORMAT_SNAPSHOT };
/* Tell a snapshot from a raw image by its first bytes (never its name).
 * -1 after printing why when the file cannot be read or is a plain zstd
 * file, which is neither. */
int tool_detect_format (int fd, const char *name, enum tool_file_format *format);
const char *tool_format_name (enum tool_file_format format);

/* Progress on stderr: "NAME: 42% (X of Y)" updated in place.  Thread-safe. */
struct tool_progress;
struct tool_progress *tool_progress_new (bool enabled, const char *name, uint64_t total);
void tool_progress_add (struct tool_progress *progress, uint64_t done);
void tool_progress_finish (struct tool_progress *progress);

#endif
