/* memdisk-tool convert: raw image <-> snapshot, and snapshot recompression.
 *
 * Every output goes to a temporary file renamed over OUT at the end, so a
 * failed convert never leaves a half-written OUT ("-" writes to stdout). */
#include <fcntl.h>
#include <getopt.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "snapshot/format/format.h"
#include "raw.h"
#include "snapshot/read/reader.h"
#include "files/replace.h"
#include "snapshot/write/writer.h"
#include "store/store.h"
#include "tool.h"

struct convert {
  const char *in, *out;
  enum tool_file_format in_format, out_format;
  bool out_format_given;
  int level;
  unsigned threads;
  uint64_t page_size;
  uint32_t region_size;         /* 0: the input snapshot's, else the default */
  bool progress;
  bool verbose;
  bool force;
};

static void
convert_usage (FILE *out)
{
  fprintf (out,
           "Usage: memdisk-tool convert [-O raw|snapshot] [-l LEVEL] [-T THREADS] [-p]\n"
           "                            [-v] [-f] [--page-size=SIZE] [--region-size=SIZE]\n"
           "                            IN OUT\n"
           "\n"
           "Convert a raw disk image to a snapshot, a snapshot to a raw image, or a\n"
           "snapshot to a snapshot (recompress).  IN's format is detected from its\n"
           "content; OUT gets the other format unless -O says otherwise.  OUT is\n"
           "written to a temporary file and renamed at the end; '-' writes to\n"
           "stdout.  An existing OUT is left alone unless --force is given.\n"
           "\n"
           "Raw to snapshot skips zero pages and the holes of a sparse IN.  Snapshot\n"
           "to raw writes a sparse file, with holes where the disk is zero.\n"
           "\n"
           "  -O, --output-format=FMT  raw or snapshot\n"
           "  -l, --level=LEVEL        zstd level for snapshots (default 3; 1 is fast,\n"
           "                           19 small, negative faster still)\n"
           "  -T, --threads=N          threads (default 0: all CPUs)\n"
           "  -p, --progress           show progress (done, rate, time left) on stderr\n"
           "                           when it is a terminal; nothing on a pipe\n"
           "  -v, --verbose            print a one-line summary on stderr at the end\n"
           "  -f, --force              replace OUT if it exists\n"
           "      --page-size=SIZE     page size of a new snapshot from a raw image\n"
           "                           (a power of two from 4K to 1M; default 32K)\n"
           "      --region-size=SIZE   region of the disk per data frame of a snapshot\n"
           "                           (a power of two from the page size to 64M;\n"
           "                           default: IN's when it is a snapshot, else 4M)\n"
           "  -h, --help               show this help\n"
           "\n"
           "Exit status: 0 on success, 1 on failure, 2 on a usage error.\n");
}

/* ---- raw -> snapshot ---- */

struct raw_feed {
  struct snap_raw_source source;
  struct tool_progress *progress;
};

static int
raw_feed_next (void *opaque, uint64_t *page_index, void *buf)
{
  struct raw_feed *feed = opaque;
  uint64_t before = feed->source.pos;
  int r = snap_raw_source_next (&feed->source, page_index, buf);

  if (r == 1)
    tool_progress_add (feed->progress, feed->source.pos - before);
  return r;
}

/* Write a snapshot to c->out (or stdout) from NEXT_PAGE. */
static int
write_snapshot (const struct convert *c, uint64_t virtual_size, uint32_t page_size,
                uint32_t region_size, snap_next_page_fn next_page, void *opaque,
                struct snap_write_stats *stats)
{
  struct snap_write_options options = {
    .virtual_size = virtual_size,
    .page_size = page_size,
    .region_size = c->region_size != 0 ? c->region_size : region_size,
    .level = c->level,
    .threads = c->threads,
    .creator = "memdisk-tool " MEMDISK_VERSION,
  };
  struct snap_write_result result;
  int r;

  if (strcmp (c->out, "-") == 0)
    r = snap_write_fd (STDOUT_FILENO, &options, next_page, opaque, &result);
  else
    r = snap_write_file (c->out, &options, next_page, opaque, &result);
  if (r == -1)
    tool_error ("%s: %s", c->out, md_error ());
  *stats = result.stats;
  return r;
}

static void
print_summary (const struct convert *c, uint64_t virtual_size, uint64_t data,
               uint64_t file, uint64_t read)
{
  char a[32], b[32], f[32], rd[32];

  if (!c->verbose)
    return;
  fprintf (stderr, "%s -> %s: %s disk, %s of data, %s snapshot file, %s read\n",
           tool_safe_text (c->in), tool_safe_text (c->out), tool_format_size (virtual_size, a), tool_format_size (data, b),
           tool_format_size (file, f), tool_format_size (read, rd));
}

static int
raw_to_snapshot (const struct convert *c, int in_fd)
{
  struct raw_feed feed;
  struct snap_write_stats stats;
  int r;

  if (snap_raw_source_init (&feed.source, in_fd, (uint32_t) c->page_size) == -1) {
    tool_error ("%s: %s", c->in, md_error ());
    return -1;
  }
  feed.progress = tool_progress_new (c->progress, c->in, feed.source.size);
  r = write_snapshot (c, feed.source.size, (uint32_t) c->page_size, 0, raw_feed_next,
                      &feed, &stats);
  tool_progress_finish (feed.progress, r == 0);
  if (r == 0)
    print_summary (c, feed.source.size, stats.allocated_bytes, stats.file_bytes,
                   feed.source.bytes_read);
  return r;
}

/* ---- snapshot -> snapshot ---- */

struct snapshot_feed {
  struct snap_reader *reader;
  struct tool_progress *progress;
};

static int
snapshot_feed_next (void *opaque, uint64_t *page_index, void *buf)
{
  struct snapshot_feed *feed = opaque;
  int r = snap_reader_next_page (feed->reader, page_index, buf);

  if (r == 1)
    tool_progress_add (feed->progress, snap_reader_metadata (feed->reader)->page_size);
  return r;
}

static int
snapshot_to_snapshot (const struct convert *c, struct snap_reader *reader)
{
  const struct snap_metadata *m = snap_reader_metadata (reader);
  struct snapshot_feed feed = {
    .reader = reader,
    .progress = tool_progress_new (c->progress, c->in, m->allocated_size),
  };
  struct snap_write_stats stats;
  int r;

  r = write_snapshot (c, m->virtual_size, m->page_size,
                      snap_store_region_size (m, 0), snapshot_feed_next, &feed, &stats);
  tool_progress_finish (feed.progress, r == 0);
  if (r == 0)
    print_summary (c, m->virtual_size, stats.allocated_bytes, stats.file_bytes,
                   snap_reader_file_size (reader));
  return r;
}

/* ---- snapshot -> raw ---- */

struct raw_out {
  struct snap_raw_sink sink;
  struct tool_progress *progress;
  atomic_bool write_failed;     /* the error is OUT's, not IN's */
};

static int
raw_out_write (void *opaque, uint64_t first_page, uint64_t page_count, const void *data)
{
  struct raw_out *out = opaque;

  if (snap_raw_sink_write (&out->sink, first_page, page_count, data) == -1) {
    atomic_store (&out->write_failed, true);
    return -1;
  }
  tool_progress_add (out->progress, page_count * out->sink.page_size);
  return 0;
}

static int
snapshot_to_raw (const struct convert *c, struct snap_reader *reader)
{
  const struct snap_metadata *m = snap_reader_metadata (reader);
  const bool to_stdout = strcmp (c->out, "-") == 0;
  struct snap_tmpfile tmp = { .fd = -1 };
  struct raw_out out = { .write_failed = false };
  int fd = STDOUT_FILENO;

  if (!to_stdout) {
    if (snap_tmpfile_create (&tmp, c->out) == -1) {
      tool_error ("%s: %s", c->out, md_error ());
      return -1;
    }
    fd = tmp.fd;
  }
  if (snap_raw_sink_init (&out.sink, fd, m->virtual_size, m->page_size, to_stdout) == -1)
    goto fail;
  out.progress = tool_progress_new (c->progress, c->in, m->allocated_size);
  int r = snap_reader_read_runs (reader, c->threads, to_stdout, raw_out_write, &out);
  tool_progress_finish (out.progress, r == 0);
  if (r == -1) {
    tool_error ("%s: %s", atomic_load (&out.write_failed) ? c->out : c->in, md_error ());
    if (!to_stdout)
      snap_tmpfile_abort (&tmp);
    return -1;
  }
  if (snap_raw_sink_finish (&out.sink) == -1)
    goto fail;
  if (!to_stdout && snap_tmpfile_commit (&tmp) == -1) {
    tool_error ("%s: %s", c->out, md_error ());
    return -1;
  }
  print_summary (c, m->virtual_size, m->allocated_size, snap_reader_file_size (reader),
                 snap_reader_file_size (reader));
  return 0;

fail:
  tool_error ("%s: %s", c->out, md_error ());
  if (!to_stdout)
    snap_tmpfile_abort (&tmp);
  return -1;
}

/* ---- command line ---- */

static int
parse_args (int argc, char **argv, struct convert *c)
{
  enum { OPT_PAGE_SIZE = 256, OPT_REGION_SIZE };
  static const struct option longopts[] = {
    { "output-format", required_argument, NULL, 'O' },
    { "level", required_argument, NULL, 'l' },
    { "threads", required_argument, NULL, 'T' },
    { "progress", no_argument, NULL, 'p' },
    { "verbose", no_argument, NULL, 'v' },
    { "force", no_argument, NULL, 'f' },
    { "page-size", required_argument, NULL, OPT_PAGE_SIZE },
    { "region-size", required_argument, NULL, OPT_REGION_SIZE },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  int opt;

  while ((opt = getopt_long (argc, argv, ":O:l:T:pvfh", longopts, NULL)) != -1) {
    switch (opt) {
    case 'O':
      if (strcmp (optarg, "raw") == 0)
        c->out_format = TOOL_FORMAT_RAW;
      else if (strcmp (optarg, "snapshot") == 0)
        c->out_format = TOOL_FORMAT_SNAPSHOT;
      else
        return tool_usage_error ("convert", "output format '%s' is neither raw "
                                 "nor snapshot", optarg);
      c->out_format_given = true;
      break;
    case 'l':
      if (tool_parse_level (optarg, &c->level) == -1)
        return TOOL_EXIT_USAGE;
      break;
    case 'T':
      if (tool_parse_threads (optarg, &c->threads) == -1)
        return TOOL_EXIT_USAGE;
      break;
    case 'p':
      c->progress = true;
      break;
    case 'v':
      c->verbose = true;
      break;
    case 'f':
      c->force = true;
      break;
    case OPT_PAGE_SIZE:
      if (tool_parse_page_size ("convert", optarg, &c->page_size) == -1)
        return TOOL_EXIT_USAGE;
      break;
    case OPT_REGION_SIZE:
      if (tool_parse_region_size ("convert", optarg, &c->region_size) == -1)
        return TOOL_EXIT_USAGE;
      break;
    case 'h':
      convert_usage (stdout);
      return -1;
    default:
      return tool_option_error ("convert", opt, argv);
    }
  }
  if (argc - optind != 2)
    return tool_usage_error ("convert", "expected IN and OUT");
  c->in = argv[optind];
  c->out = argv[optind + 1];
  return 0;
}

int
cmd_convert (int argc, char **argv)
{
  struct convert c = { .level = 3, .page_size = STORE_DEFAULT_PAGE_SIZE };
  int r = parse_args (argc, argv, &c);

  if (r != 0)
    return r == -1 ? TOOL_EXIT_OK : r;
  if (tool_check_new_output (c.out, c.force) == -1)
    return TOOL_EXIT_FAILURE;
  /* No server may write it meanwhile. */
  if (tool_lock_output (c.out) == -1)
    return TOOL_EXIT_FAILURE;

  int in_fd = tool_open_input (c.in);
  if (in_fd == -1)
    return TOOL_EXIT_FAILURE;
  if (tool_detect_format (in_fd, c.in, &c.in_format) == -1) {
    close (in_fd);
    return TOOL_EXIT_FAILURE;
  }
  if (!c.out_format_given)
    c.out_format = c.in_format == TOOL_FORMAT_RAW ? TOOL_FORMAT_SNAPSHOT : TOOL_FORMAT_RAW;
  if (c.in_format == TOOL_FORMAT_RAW && c.out_format == TOOL_FORMAT_RAW) {
    close (in_fd);
    return tool_usage_error ("convert", "%s is a raw image already; nothing to "
                             "convert to raw", c.in);
  }

  if (c.in_format == TOOL_FORMAT_RAW)
    r = raw_to_snapshot (&c, in_fd);
  else {
    struct snap_reader *reader = snap_reader_open_fd (in_fd);
    if (reader == NULL) {
      tool_error ("%s: %s", c.in, md_error ());
      r = -1;
    }
    else {
      if (c.out_format == TOOL_FORMAT_RAW)
        r = snapshot_to_raw (&c, reader);
      else
        r = snapshot_to_snapshot (&c, reader);
      snap_reader_close (reader);
    }
  }
  close (in_fd);
  return r == 0 ? TOOL_EXIT_OK : TOOL_EXIT_FAILURE;
}
