/* Helpers shared by the commands: messages, option values, sizes in plain
 * words, format detection and progress. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "common/error.h"
#include "common/fullio.h"
#include "snapshot/format/format.h"
#include "snapshot/read/reader.h"
#include "files/trust.h"
#include "common/threads.h"
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

/* nbdkit's grammar (nbdkit_parse_size), so that a size means the same to
 * the tool as to nbdkit memdisk: what strtoimax reads (leading blanks, a
 * sign, decimal digits), then nothing or one of b (bytes), s (512-byte
 * sectors), k, m, g, t, p, e (powers of 1024), in either case, and
 * nothing after it; not negative, at most 2^63-1. */
int
tool_parse_size (const char *arg, const char *what, uint64_t *size)
{
  char *end;
  uint64_t scale = 1;
  static const char binary[] = "kmgtpe";

  errno = 0;
  intmax_t v = strtoimax (arg, &end, 10);
  if (end == arg)
    goto not_a_size;
  if (errno == ERANGE && v > 0)
    goto too_large;
  if (v < 0 || errno != 0) {
    tool_error ("%s '%s' is negative; sizes are 0 or more", what, arg);
    return -1;
  }
  if (*end != '\0') {
    const char *unit = strchr (binary, *end | 0x20);
    if ((*end | 0x20) == 'b')
      scale = 1;
    else if ((*end | 0x20) == 's')
      scale = 512;
    else if (unit != NULL && *unit != '\0')
      scale = (uint64_t) 1 << (10 * (unit - binary + 1));
    else
      goto not_a_size;
    if (end[1] != '\0')
      goto not_a_size;
  }
  if ((uint64_t) v > (uint64_t) INT64_MAX / scale)
    goto too_large;
  *size = (uint64_t) v * scale;
  return 0;

 too_large:
  tool_error ("%s '%s' is larger than the maximum, 2^63-1 bytes", what, arg);
  return -1;
 not_a_size:
  tool_error ("%s '%s' is not a size: a number of bytes, optionally followed by "
              "one letter, b (bytes), s (512-byte sectors) or K, M, G, T, P, E "
              "(powers of 1024), e.g. 512M or 10G, as nbdkit reads sizes "
              "(10GB, 1MiB and 1.5G are not sizes)", what, arg);
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

const char *
tool_format_size_exact (uint64_t bytes, char buf[64])
{
  char words[32];

  if (bytes < 1024)
    snprintf (buf, 64, "%s", tool_format_size (bytes, words));
  else
    snprintf (buf, 64, "%s (%" PRIu64 " bytes)", tool_format_size (bytes, words), bytes);
  return buf;
}

/* The length of the UTF-8 sequence at S (1 to 4), or 0 if it is not a
 * well-formed one (overlong forms, surrogates and values past U+10FFFF
 * included). */
static size_t
utf8_sequence_length (const unsigned char *s)
{
  size_t len;
  uint32_t c;

  if (s[0] < 0x80)
    return 1;
  else if ((s[0] & 0xe0) == 0xc0)
    len = 2, c = s[0] & 0x1f;
  else if ((s[0] & 0xf0) == 0xe0)
    len = 3, c = s[0] & 0x0f;
  else if ((s[0] & 0xf8) == 0xf0)
    len = 4, c = s[0] & 0x07;
  else
    return 0;
  for (size_t i = 1; i < len; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    c = (c << 6) | (s[i] & 0x3f);
  }
  static const uint32_t min_for_length[] = { 0, 0, 0x80, 0x800, 0x10000 };
  if (c < min_for_length[len] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
    return 0;
  return len;
}

void
tool_print_json_string (FILE *out, const char *str)
{
  const unsigned char *s = (const unsigned char *) str;

  fputc ('"', out);
  while (*s) {
    size_t len = utf8_sequence_length (s);
    if (len == 0) {
      fputs ("\\ufffd", out);
      s++;
    }
    else if (*s == '"' || *s == '\\')
      fprintf (out, "\\%c", *s++);
    else if (*s < 0x20 || *s == 0x7f)
      fprintf (out, "\\u%04x", *s++);
    else if (len == 2 && s[0] == 0xc2 && s[1] < 0xa0) {
      /* C1 controls: valid in JSON, but a terminal showing the JSON
       * would obey them. */
      fprintf (out, "\\u%04x", s[1]);
      s += 2;
    }
    else {
      fwrite (s, 1, len, out);
      s += len;
    }
  }
  fputc ('"', out);
}

/* The length of the character at S, and whether it is safe on a
 * terminal.  C1 controls (U+0080..U+009F, C2 80..C2 9F in UTF-8) are
 * terminal controls too, e.g. U+009B is CSI; a byte that is not UTF-8 may
 * be one on an 8-bit terminal. */
static size_t
text_char (const unsigned char *s, bool *safe)
{
  size_t len = utf8_sequence_length (s);

  *safe = !(len == 0 || *s < 0x20 || *s == 0x7f || (*s == 0xc2 && s[1] < 0xa0));
  return len ? len : 1;
}

void
tool_print_text (FILE *out, const char *str)
{
  const unsigned char *s = (const unsigned char *) str;

  while (*s) {
    bool safe;
    size_t len = text_char (s, &safe);
    if (safe)
      fwrite (s, 1, len, out);
    else
      fputc ('?', out);
    s += len;
  }
}

const char *
tool_safe_text (const char *str)
{
  static _Thread_local char buffers[4][TOOL_SAFE_TEXT_MAX];
  static _Thread_local unsigned next;
  char *buf = buffers[next++ % 4];
  const unsigned char *s = (const unsigned char *) str;
  size_t used = 0;

  while (*s) {
    bool safe;
    size_t len = text_char (s, &safe);
    size_t add = safe ? len : 1;
    if (used + add + 4 > TOOL_SAFE_TEXT_MAX) {
      memcpy (buf + used, "...", 3);
      used += 3;
      break;
    }
    if (safe)
      memcpy (buf + used, s, len);
    else
      buf[used] = '?';
    used += add;
    s += len;
  }
  buf[used] = '\0';
  return buf;
}

int
tool_finish_stdout (void)
{
  if (fflush (stdout) == EOF || ferror (stdout)) {
    tool_error ("cannot write to standard output: %s", strerror (errno));
    return TOOL_EXIT_FAILURE;
  }
  return TOOL_EXIT_OK;
}

int
tool_check_new_output (const char *path, bool force)
{
  struct stat st;

  if (strcmp (path, "-") == 0) {
    if (!force && isatty (STDOUT_FILENO)) {
      tool_error ("standard output is a terminal; not writing a binary file "
                  "there (redirect it, or use --force)");
      return -1;
    }
    return 0;
  }
  if (path[0] == '\0') {
    tool_error ("the output file name is empty (use - for standard output)");
    return -1;
  }
  /* A link is followed (the file it leads to would be replaced); --force
   * never replaces a device, a FIFO or a folder by a regular file. */
  if (stat (path, &st) == 0 && !S_ISREG (st.st_mode)) {
    tool_error ("%s: is %s; only a regular file is replaced, even with --force "
                "(use - for standard output)", path, snap_trust_file_type (st.st_mode));
    return -1;
  }
  if (!force && lstat (path, &st) == 0) {
    tool_error ("%s: already exists; not overwritten (use --force to replace it)",
                path);
    return -1;
  }
  return 0;
}

int
tool_open_input (const char *path)
{
  struct stat st;
  /* O_NONBLOCK: a FIFO must not make open(2) wait for a writer. */
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

  if (fd == -1) {
    tool_error ("%s: cannot open: %s", path, strerror (errno));
    return -1;
  }
  if (fstat (fd, &st) == -1) {
    tool_error ("%s: cannot stat: %s", path, strerror (errno));
    close (fd);
    return -1;
  }
  if (!S_ISREG (st.st_mode) && !S_ISBLK (st.st_mode)) {
    tool_error ("%s: is %s, neither a disk image nor a snapshot (convert reads "
                "a regular file or a block device, whose size it can know)",
                path, snap_trust_file_type (st.st_mode));
    close (fd);
    return -1;
  }
  if (snap_fd_clear_nonblock (fd) == -1) {
    tool_error ("%s: %s", path, md_error ());
    close (fd);
    return -1;
  }
  return fd;
}

struct snap_reader *
tool_open_snapshot (const char *path)
{
  struct snap_reader *reader = snap_reader_open (path);

  if (reader == NULL)
    tool_error ("%s: %s", path, md_error ());
  return reader;
}

int
tool_detect_format (int fd, const char *name, enum tool_file_format *format)
{
  unsigned char head[16];
  size_t got;

  /* A file shorter than HEAD is not an error here: it is a raw image. */
  if (md_pread_full (fd, head, sizeof head, 0, &got) == -1 && errno != 0) {
    tool_error ("%s: cannot read: %s", name,
                errno == ESPIPE ? "it must be a file, not a pipe" : strerror (errno));
    return -1;
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

int
tool_parse_timeout (const char *arg, int *timeout_ms)
{
  char *end;
  double v;

  errno = 0;
  v = strtod (arg, &end);
  if (errno != 0 || end == arg || *end != '\0' || !(v >= 0) || v > INT_MAX / 1000) {
    tool_error ("timeout '%s' is not a number of seconds", arg);
    return -1;
  }
  *timeout_ms = v == 0 ? -1 : (int) (v * 1000);
  return 0;
}

/* COMMAND [--json] [--timeout=SECS] FILE; --timeout only if ALLOW_TIMEOUT
 * (info and map have no server to wait for). */
static int
parse_file_args (const char *command, void (*usage) (FILE *out), int argc, char **argv,
                 bool allow_timeout, struct tool_server_args *args)
{
  enum { OPT_JSON = 256 };
  static const struct option with_timeout[] = {
    { "json", no_argument, NULL, OPT_JSON },
    { "timeout", required_argument, NULL, 't' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  /* info and map: no --timeout. */
  static const struct option without_timeout[] = {
    { "json", no_argument, NULL, OPT_JSON },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int c;

  args->json = false;
  while ((c = getopt_long (argc, argv, allow_timeout ? ":t:h" : ":h",
                           allow_timeout ? with_timeout : without_timeout, NULL)) != -1) {
    switch (c) {
    case OPT_JSON:
      args->json = true;
      break;
    case 't':
      if (tool_parse_timeout (optarg, &args->timeout_ms) == -1)
        return TOOL_EXIT_USAGE;
      break;
    case 'h':
      usage (stdout);
      return TOOL_EXIT_OK;
    default:
      return tool_option_error (command, c, argv);
    }
  }
  if (argc - optind != 1)
    return tool_usage_error (command, "expected one FILE");
  args->file = argv[optind];
  return -1;
}

int
tool_parse_json_file (const char *command, void (*usage) (FILE *out), int argc,
                      char **argv, bool *json, const char **path)
{
  struct tool_server_args args = { .timeout_ms = -1 };
  int r = parse_file_args (command, usage, argc, argv, false, &args);

  *json = args.json;
  *path = args.file;
  return r;
}

int
tool_parse_server_args (const char *command, int argc, char **argv,
                        void (*usage) (FILE *), struct tool_server_args *args)
{
  return parse_file_args (command, usage, argc, argv, true, args);
}

int
tool_parse_page_size (const char *command, const char *arg, uint64_t *page_size)
{
  if (tool_parse_size (arg, "page size", page_size) == -1)
    return -1;
  if (!md_page_size_valid (*page_size)) {
    tool_usage_error (command, "page size %s is not a power of two from 4K to 1M", arg);
    return -1;
  }
  return 0;
}

struct tool_progress {
  bool shown;                   /* asked for, and stderr is a terminal */
  char *name;                   /* safe for the terminal */
  uint64_t total;
  pthread_mutex_t lock;
  uint64_t done;
  double started;               /* seconds, monotonic */
  double last_shown;
  int last_width;               /* characters of the last line shown */
};

static double
now_seconds (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

struct tool_progress *
tool_progress_new (bool enabled, const char *name, uint64_t total)
{
  struct tool_progress *p = calloc (1, sizeof *p);

  if (p == NULL)
    return NULL;
  p->shown = enabled && isatty (STDERR_FILENO);
  p->name = strdup (tool_safe_text (name));
  if (p->name == NULL) {
    free (p);
    return NULL;
  }
  p->total = total;
  p->started = now_seconds ();
  p->last_shown = -1;
  pthread_mutex_init (&p->lock, NULL);
  return p;
}

/* "1:02:03" or "2:03". */
static void
format_duration (double seconds, char buf[32])
{
  unsigned long s = seconds < 0 ? 0 : (unsigned long) (seconds + 0.5);

  if (s >= 3600)
    snprintf (buf, 32, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
  else
    snprintf (buf, 32, "%lu:%02lu", s / 60, s % 60);
}

static void
progress_show (struct tool_progress *p, double now, bool final)
{
  char done[32], total[32], rate[32], eta[32];
  /* The last page may reach past the end of the disk. */
  const uint64_t bytes = p->done < p->total ? p->done : p->total;
  const double elapsed = now - p->started;
  const double per_second = elapsed > 0 ? (double) bytes / elapsed : 0;
  const int percent = p->total ? (int) ((double) bytes * 100.0 / (double) p->total) : 100;
  int width;

  if (final)
    format_duration (elapsed, eta);
  else if (per_second > 0 && bytes < p->total)
    format_duration ((double) (p->total - bytes) / per_second, eta);
  else
    snprintf (eta, sizeof eta, "?");
  width = fprintf (stderr, "\r%s: %3d%% %s of %s, %s/s, %s %s", p->name, percent,
                   tool_format_size (bytes, done), tool_format_size (p->total, total),
                   tool_format_size ((uint64_t) per_second, rate), eta,
                   final ? "in all" : "left");
  /* Blank out the rest of a longer previous line. */
  if (width < p->last_width)
    fprintf (stderr, "%*s", p->last_width - width, "");
  p->last_width = width;
  p->last_shown = now;
  fflush (stderr);
}

void
tool_progress_add (struct tool_progress *p, uint64_t done)
{
  if (p == NULL || !p->shown)
    return;
  pthread_mutex_lock (&p->lock);
  p->done += done;
  double now = now_seconds ();
  if (p->last_shown < 0 || now - p->last_shown >= 0.2)
    progress_show (p, now, false);
  pthread_mutex_unlock (&p->lock);
}

void
tool_progress_finish (struct tool_progress *p, bool complete)
{
  if (p == NULL)
    return;
  if (p->shown) {
    if (complete)
      p->done = p->total;
    progress_show (p, now_seconds (), true);
    fputc ('\n', stderr);
  }
  pthread_mutex_destroy (&p->lock);
  free (p->name);
  free (p);
}
