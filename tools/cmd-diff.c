/* memdisk-tool diff: which byte ranges differ between two snapshots.
 *
 * Both files are decoded page by page, in page order, and compared in
 * 4 KiB blocks; a block stored in one file only is compared with zeros,
 * so two files that store the same bytes differently (page size, zero
 * pages) still agree.  Decoding checks what loading checks (every frame's
 * checksum, its zstd header, the content digest), so "the same disk" is
 * never said of a damaged file, nor of a forged one that copies another's
 * digest: equal digests in the metadata prove nothing until the pages
 * give them.  Exit status as cmp(1): 0 same, 1 different, 2 trouble. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "snapshot/format/format.h"
#include "snapshot/read/reader.h"
#include "tool.h"

#define DIFF_SAME 0
#define DIFF_DIFFERENT 1
#define DIFF_TROUBLE 2

/* The unit of comparison: every page size is a multiple of it. */
#define DIFF_BLOCK SNAP_DIGEST_BLOCK_SIZE

static void
diff_usage (FILE *out)
{
  fprintf (out,
           "Usage: memdisk-tool diff [--json] [-q] A B\n"
           "\n"
           "Compare the disks in snapshots A and B and list the byte ranges where\n"
           "they differ, in 4 KiB blocks, adjacent blocks merged.  Both files are\n"
           "read and decoded, with the checks of loading (frame checksums, content\n"
           "digest), so a damaged or forged file is trouble, never \"the same\".\n"
           "Disks of different sizes differ; past the smaller size, the smaller\n"
           "disk counts as zeros.\n"
           "\n"
           "      --json    print {\"same\": false, \"size-a\": ..., \"size-b\": ...,\n"
           "                \"extents\": [{\"start\": ..., \"length\": ...}, ...]}\n"
           "  -q, --quiet   print nothing; the exit status tells\n"
           "  -h, --help    show this help\n"
           "\n"
           "Exit status (as cmp): 0 when the disks are the same, 1 when they\n"
           "differ, 2 on trouble (a usage error, a missing or damaged file).\n");
}

struct diff_output {
  bool json;
  bool quiet;
  const char *a, *b;
  uint64_t end;                 /* the larger virtual size */
  int width;                    /* of the numbers in human output */
  /* The extent being grown, not printed yet. */
  uint64_t start, length;
  uint64_t extents, bytes;
  /* A's content digest in the form this program writes, so that a 1.0 and
   * a 2.0 file of the same disk show the same one (their metadata's differ
   * in form, format section 7). */
  uint64_t digest;
};

static void
diff_flush_extent (struct diff_output *o)
{
  if (o->length == 0)
    return;
  if (o->quiet)
    ;
  else if (o->json)
    printf ("%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64 " }",
            o->extents ? ",\n    " : "\n    ", o->start, o->length);
  else {
    if (o->extents == 0)
      printf ("%*s  %*s\n", o->width, "offset", o->width, "length");
    printf ("%*" PRIu64 "  %*" PRIu64 "\n", o->width, o->start, o->width, o->length);
  }
  o->extents++;
  o->bytes += o->length;
  o->length = 0;
}

static void
diff_add_block (struct diff_output *o, uint64_t start)
{
  /* Bytes past a disk's end are zero (the reader checks), so only the
   * last block can reach past the larger size. */
  if (start >= o->end)
    return;
  uint64_t length = o->end - start < DIFF_BLOCK ? o->end - start : DIFF_BLOCK;

  if (o->length && o->start + o->length == start) {
    o->length += length;
    return;
  }
  diff_flush_extent (o);
  o->start = start;
  o->length = length;
}

/* One snapshot read in page order: the page at START (UINT64_MAX after
 * the last one) is in BUF. */
struct diff_side {
  const char *path;
  struct snap_reader *reader;
  uint32_t page_size;
  unsigned char *buf;
  uint64_t start;
};

static int
diff_side_next (struct diff_side *s)
{
  uint64_t page;
  int r = snap_reader_next_page (s->reader, &page, s->buf);

  if (r == -1) {
    tool_error ("%s: %s", s->path, md_error ());
    return -1;
  }
  s->start = r == 1 ? page * s->page_size : UINT64_MAX;
  return 0;
}

/* The block at POS of side S, or ZEROS where S stores nothing. */
static const unsigned char *
diff_side_block (const struct diff_side *s, uint64_t pos, const unsigned char *zeros)
{
  if (s->start != UINT64_MAX && s->start <= pos && pos < s->start + s->page_size)
    return s->buf + (pos - s->start);
  return zeros;
}

/* Walk both files' pages in page order, block by block. */
static int
diff_contents (struct diff_side *a, struct diff_side *b, struct diff_output *o)
{
  static const unsigned char zeros[DIFF_BLOCK];
  uint64_t pos = 0;

  if (diff_side_next (a) == -1 || diff_side_next (b) == -1)
    return -1;
  while (a->start != UINT64_MAX || b->start != UINT64_MAX) {
    uint64_t next = a->start < b->start ? a->start : b->start;
    if (pos < next)
      pos = next;
    const unsigned char *pa = diff_side_block (a, pos, zeros);
    const unsigned char *pb = diff_side_block (b, pos, zeros);
    if (memcmp (pa, pb, DIFF_BLOCK) != 0)
      diff_add_block (o, pos);
    pos += DIFF_BLOCK;
    if (a->start != UINT64_MAX && pos >= a->start + a->page_size && diff_side_next (a) == -1)
      return -1;
    if (b->start != UINT64_MAX && pos >= b->start + b->page_size && diff_side_next (b) == -1)
      return -1;
  }
  diff_flush_extent (o);
  return 0;
}

static void
diff_print_verdict (const struct diff_output *o, const struct snap_metadata *ma,
                    const struct snap_metadata *mb)
{
  char size[32], bytes[32];
  const bool same = o->extents == 0 && ma->virtual_size == mb->virtual_size;

  if (o->quiet)
    return;
  if (o->json) {
    printf ("%s],\n  \"same\": %s,\n  \"size-a\": %" PRIu64 ",\n  \"size-b\": %"
            PRIu64 ",\n  \"differing-bytes\": %" PRIu64 "\n}\n",
            o->extents ? "\n  " : "", same ? "true" : "false", ma->virtual_size,
            mb->virtual_size, o->bytes);
    return;
  }
  if (same) {
    printf ("%s and %s are the same disk: %s, content digest %016" PRIx64 "\n",
            tool_safe_text (o->a), tool_safe_text (o->b),
            tool_format_size (ma->virtual_size, size), o->digest);
    return;
  }
  if (o->extents)
    printf ("%s and %s differ in %" PRIu64 " extent%s, %s in all\n",
            tool_safe_text (o->a), tool_safe_text (o->b),
            o->extents, o->extents == 1 ? "" : "s",
            tool_format_size (o->bytes, bytes));
  else
    printf ("%s and %s hold the same bytes up to the smaller size\n",
            tool_safe_text (o->a), tool_safe_text (o->b));
}

static int
diff_run (struct diff_side *a, struct diff_side *b, struct diff_output *o)
{
  const struct snap_metadata *ma = snap_reader_metadata (a->reader);
  const struct snap_metadata *mb = snap_reader_metadata (b->reader);
  const bool same_size = ma->virtual_size == mb->virtual_size;

  o->end = ma->virtual_size > mb->virtual_size ? ma->virtual_size : mb->virtual_size;
  o->width = snprintf (NULL, 0, "%" PRIu64, o->end);
  if (o->width < 6)
    o->width = 6;
  if (o->json)
    printf ("{\n  \"extents\": [");
  else if (!o->quiet && !same_size) {
    char size_a[64], size_b[64];
    printf ("%s and %s differ in size: %s and %s\n",
            tool_safe_text (o->a), tool_safe_text (o->b),
            tool_format_size_exact (ma->virtual_size, size_a),
            tool_format_size_exact (mb->virtual_size, size_b));
  }
  /* Even with equal digests: the pages must give them (see the top). */
  a->page_size = ma->page_size;
  b->page_size = mb->page_size;
  a->buf = malloc (a->page_size);
  b->buf = malloc (b->page_size);
  if (a->buf == NULL || b->buf == NULL) {
    tool_error ("comparing %s and %s: out of memory", a->path, b->path);
    return DIFF_TROUBLE;
  }
  if (diff_contents (a, b, o) == -1)
    return DIFF_TROUBLE;
  o->digest = snap_reader_comparable_digest (a->reader);
  diff_print_verdict (o, ma, mb);
  if (tool_finish_stdout () != TOOL_EXIT_OK)
    return DIFF_TROUBLE;
  return o->extents == 0 && same_size ? DIFF_SAME : DIFF_DIFFERENT;
}

int
cmd_diff (int argc, char **argv)
{
  enum { OPT_JSON = 256 };
  static const struct option longopts[] = {
    { "json", no_argument, NULL, OPT_JSON },
    { "quiet", no_argument, NULL, 'q' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  struct diff_output o = { .json = false };
  int c;

  while ((c = getopt_long (argc, argv, ":qh", longopts, NULL)) != -1) {
    switch (c) {
    case OPT_JSON:
      o.json = true;
      break;
    case 'q':
      o.quiet = true;
      break;
    case 'h':
      diff_usage (stdout);
      return DIFF_SAME;
    default:
      return tool_option_error ("diff", c, argv);
    }
  }
  if (argc - optind != 2)
    return tool_usage_error ("diff", "expected two files, A and B");
  if (o.json && o.quiet)
    return tool_usage_error ("diff", "--json and --quiet do not go together");

  /* A URL is named without its credentials in what diff prints. */
  char shown_a[1024], shown_b[1024];
  struct diff_side a = { .path = tool_shown_name (argv[optind], shown_a, sizeof shown_a) };
  struct diff_side b = { .path = tool_shown_name (argv[optind + 1], shown_b, sizeof shown_b) };
  int status = DIFF_TROUBLE;
  o.a = a.path;
  o.b = b.path;
  a.reader = tool_open_snapshot (argv[optind]);
  if (a.reader != NULL)
    b.reader = tool_open_snapshot (argv[optind + 1]);
  if (a.reader != NULL && b.reader != NULL)
    status = diff_run (&a, &b, &o);
  free (a.buf);
  free (b.buf);
  snap_reader_close (a.reader);
  snap_reader_close (b.reader);
  return status;
}
