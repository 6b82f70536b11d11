/* memdisk-tool info: what a snapshot holds, from its footer, metadata and
 * index only, so it takes the same time on a 1 MiB file as on a 1 TiB one. */
#include <inttypes.h>
#include <stdio.h>
#include <time.h>

#include "common/utctime.h"
#include "snapshot/read/reader.h"
#include "tool.h"

static void
info_usage (FILE *out)
{
  fprintf (out,
           "Usage: memdisk-tool info [--json] FILE\n"
           "\n"
           "Show a snapshot's virtual size, page size, allocated size, file size,\n"
           "compression ratio (allocated size / file size), number of frames,\n"
           "format version, creator, creation time, compression level, content\n"
           "digest and touch order (the regions a lazy load prefetches first).  Only the footer, metadata and index are read, so this is\n"
           "instant on any size of file; 'memdisk-tool verify' checks the data.\n"
           "\n"
           "      --json   print a JSON object (keys in kebab-case)\n"
           "  -h, --help   show this help\n"
           "\n"
           "Exit status: 0 on success, 1 when FILE cannot be read or is damaged,\n"
           "2 on a usage error.\n");
}

struct info {
  const char *path;
  const struct snap_metadata *meta;
  size_t frames;
  uint64_t file_size;
  double ratio;
  char created[MD_UTC_TEXT_SIZE];             /* ISO 8601 UTC, or "" past year 9999 */
};

static void
print_human (const struct info *in)
{
  const struct snap_metadata *m = in->meta;
  char size[64];

  printf ("file: ");
  tool_print_text (stdout, in->path);
  printf ("\nformat: memdisk snapshot %u.%u\n", m->version_major, m->version_minor);
  printf ("virtual size: %s\n", tool_format_size_exact (m->virtual_size, size));
  printf ("page size: %s\n", tool_format_size_exact (m->page_size, size));
  if (m->region_size != 0)
    printf ("region size: %s\n", tool_format_size_exact (m->region_size, size));
  printf ("allocated size: %s\n", tool_format_size_exact (m->allocated_size, size));
  printf ("file size: %s\n", tool_format_size_exact (in->file_size, size));
  printf ("compression ratio: %.2f\n", in->ratio);
  printf ("frames: %zu\n", in->frames);
  printf ("compression level: %" PRId64 "\n", m->compression_level);
  printf ("creator: ");
  tool_print_text (stdout, m->creator);
  if (in->created[0])
    printf ("\ncreated: %s (%" PRIu64 ")\n", in->created, m->creation_time);
  else
    printf ("\ncreated: %" PRIu64 " seconds after 1970\n", m->creation_time);
  printf ("content digest: %016" PRIx64 "\n", m->content_digest);
  /* The first regions only: the whole list is in --json. */
  if (m->touch_order_count > 0) {
    printf ("touch order: %zu region%s:", m->touch_order_count,
            m->touch_order_count == 1 ? "" : "s");
    for (size_t i = 0; i < m->touch_order_count && i < 16; i++)
      printf (" %" PRIu64, m->touch_order[i]);
    printf ("%s\n", m->touch_order_count > 16 ? " ..." : "");
  }
}

/* 64-bit values that a JSON reader may hold in a double (sizes are below
 * 2^63 but can exceed 2^53) are still written as integers, as qemu-img
 * does; the digest, an identifier, is a hex string. */
static void
print_json (const struct info *in)
{
  const struct snap_metadata *m = in->meta;
  char region[24] = "null";     /* format 1.0 has no regions */

  if (m->region_size != 0)
    snprintf (region, sizeof region, "%" PRIu32, m->region_size);
  printf ("{\n  \"filename\": ");
  tool_print_json_string (stdout, in->path);
  printf (",\n  \"format\": \"memdisk-snapshot\",\n"
          "  \"format-version\": \"%u.%u\",\n"
          "  \"virtual-size\": %" PRIu64 ",\n"
          "  \"page-size\": %" PRIu32 ",\n"
          "  \"region-size\": %s,\n"
          "  \"allocated-size\": %" PRIu64 ",\n"
          "  \"file-size\": %" PRIu64 ",\n"
          "  \"compression-ratio\": %.2f,\n"
          "  \"frames\": %zu,\n"
          "  \"compression-level\": %" PRId64 ",\n"
          "  \"creator\": ",
          m->version_major, m->version_minor, m->virtual_size, m->page_size,
          region, m->allocated_size, in->file_size, in->ratio, in->frames,
          m->compression_level);
  tool_print_json_string (stdout, m->creator);
  printf (",\n  \"creation-time\": %" PRIu64 ",\n  \"created\": ", m->creation_time);
  if (in->created[0])
    printf ("\"%s\"", in->created);
  else
    printf ("null");
  printf (",\n  \"digest\": \"%016" PRIx64 "\",\n  \"touch-order\": [", m->content_digest);
  for (size_t i = 0; i < m->touch_order_count; i++)
    printf ("%s%" PRIu64, i ? ", " : "", m->touch_order[i]);
  printf ("]\n}\n");
}

int
cmd_info (int argc, char **argv)
{
  bool json;
  const char *path;
  int status = tool_parse_json_file ("info", info_usage, argc, argv, &json, &path);

  if (status != -1)
    return status;

  char shown[1024];
  struct info in = { .path = tool_shown_name (path, shown, sizeof shown) };
  struct snap_reader *reader = tool_open_snapshot (path);
  if (reader == NULL)
    return TOOL_EXIT_FAILURE;
  in.meta = snap_reader_metadata (reader);
  in.frames = snap_reader_index (reader)->frame_count;
  in.file_size = snap_reader_file_size (reader);
  in.ratio = (double) in.meta->allocated_size / (double) in.file_size;
  (void) md_format_utc (in.meta->creation_time > INT64_MAX ? -1 : (int64_t) in.meta->creation_time,
                        in.created);
  if (json)
    print_json (&in);
  else
    print_human (&in);
  snap_reader_close (reader);
  return tool_finish_stdout ();
}
