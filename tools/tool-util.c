/* Helpers shared by the commands: messages, option values, sizes in plain
 * words, format detection and progress. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "snapfmt.h"
#include "snapthreads.h"
#include "tool.h"

void
tool_error (const char *fmt, ...)
{
  va_list ap;

  fputs ("memdisk-tool: ", stderr);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fputc ('\n', stderr);
}

int
tool_usage_error (const char *command, const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "memdisk-tool %s: ", command);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\nTry 'memdisk-tool %s --help'.\n", command);
  return TOOL_EXIT_USAGE;
}

static int
parse_long (const char *arg, long *value)
{
  char *end;

  errno = 0;
  *value = strtol (arg, &end, 10);
  return errno != 0 || end == arg || *end != '\0' ? -1 : 0;
}

int
tool_parse_level (const char *arg, int *level)
{
  long v;

  if (parse_long (arg, &v) == -1 || v < ZSTD_minCLevel () || v > ZSTD_maxCLevel ()) {
    tool_error ("compression level '%s' is not a number from %d to %d", arg,
                ZSTD_minCLevel (), ZSTD_maxCLevel ());
    return -1;
  }
  *level = (int) v;
  return 0;
}

int
tool_parse_threads (const char *arg, unsigned *threads)
{
  long v;

  if (parse_long (arg, &v) == -1 || v < 0 || v > SNAP_MAX_THREADS) {
    tool_error ("thread count '%s' is not a number from 0 (all CPUs) to %u",
                arg, SNAP_MAX_THREADS);
    return -1;
  }
  *threads = (unsigned) v;
  return 0;
}

int
tool_parse_size (const char *arg, const char *what, uint64_t *size)
{
  char *end;
  unsigned shift = 0;

  errno = 0;
  unsigned long long v = strtoull (arg, &end, 10);
  if (errno == 0 && end != arg && arg[0] >= '0' && arg[0] <= '9') {
    switch (*end) {
    case 'k': case 'K': shift = 10; end++; break;
    case 'm': case 'M': shift = 20; end++; break;
    case 'g': case 'G': shift = 30; end++; break;
    case 't': case 'T': shift = 40; end++; break;
    }
    if (shift && (strcmp (end, "iB") == 0 || strcmp (end, "B") == 0))
      end += strlen (end);
    if (*end == '\0' && v <= (UINT64_MAX >> shift)) {
      *size = (uint64_t) v << shift;
      return 0;
    }
  }
  tool_error ("%s '%s' is not a size (a number of bytes, optionally with K, "
              "M, G or T)", what, arg);
  return -1;
}

const char *
tool_format_size (uint64_t bytes, char buf[32])
{
  static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };

  if (bytes < 1024) {
    snprintf (buf, 32, "%" PRIu64 " byte%s", bytes, bytes == 1 ? "" : "s");
    return buf;
  }
  double v = (double) bytes;
  int u = -1;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    u++;
  }
  if (bytes % ((uint64_t) 1 << (10 * (u + 1))) == 0)
    snprintf (buf, 32, "%.0f %s", v, units[u]);
  else
    snprintf (buf, 32, "%.1f %s", v, units[u]);
  return buf;
}

int
tool_detect_format (int fd, const char *name, enum tool_file_format *format)
{
  unsigned char head[16];
  size_t got = 0;

  while (got < sizeof head) {
    ssize_t n = pread (fd, head + got, sizeof head - got, (off_t) got);
    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1) {
      tool_error ("%s: cannot read: %s", name,
                  errno == ESPIPE ? "it must be a file, not a pipe" : strerror (errno));
      return -1;
    }
    if (n == 0)
      break;
    got += (size_t) n;
  }
  if (snap_is_snapshot_prefix (head, got))
    *format = TOOL_FORMAT_SNAPSHOT;
  else if (got >= 4 && snap_get_le32 (head) == SNAP_ZSTD_MAGIC) {
    tool_error ("%s: a plain zstd file, neither a memdisk snapshot nor a raw "
                "image; decompress it with zstd -d first", name);
    return -1;
  }
  else
    *format = TOOL_FORMAT_RAW;
  return 0;
}

const char *
tool_format_name (enum tool_file_format format)
{
  return format == TOOL_FORMAT_SNAPSHOT ? "snapshot" : "raw";
}

struct tool_progress {
  bool enabled;
  const char *name;
  uint64_t total;
  pthread_mutex_t lock;
  uint64_t done;
  int shown;                    /* last percentage printed, -1 for none */
};

struct tool_progress *
tool_progress_new (bool enabled, const char *name, uint64_t total)
{
  struct tool_progress *p = calloc (1, sizeof *p);

  if (p == NULL)
    return NULL;
  p->enabled = enabled;
  p->name = name;
  p->total = total;
  p->shown = -1;
  pthread_mutex_init (&p->lock, NULL);
  return p;
}

static void
progress_show (struct tool_progress *p, int percent)
{
  char done[32], total[32];

  fprintf (stderr, "\r%s: %3d%% (%s of %s)", p->name, percent,
           tool_format_size (p->done, done), tool_format_size (p->total, total));
  fflush (stderr);
  p->shown = percent;
}

void
tool_progress_add (struct tool_progress *p, uint64_t done)
{
  if (p == NULL || !p->enabled)
    return;
  pthread_mutex_lock (&p->lock);
  p->done += done;
  int percent = p->total ? (int) (p->done * 100.0 / p->total) : 100;
  if (percent > 100)
    percent = 100;
  if (percent != p->shown)
    progress_show (p, percent);
  pthread_mutex_unlock (&p->lock);
}

void
tool_progress_finish (struct tool_progress *p)
{
  if (p == NULL)
    return;
  if (p->enabled) {
    p->done = p->total;
    progress_show (p, 100);
    fputc ('\n', stderr);
  }
  pthread_mutex_destroy (&p->lock);
  free (p);
}
