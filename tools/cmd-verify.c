/* memdisk-tool verify: every checksum and structural rule of a snapshot. */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "common/error.h"
#include "snapshot/read/reader.h"
#include "tool.h"

static void
verify_usage (FILE *out)
{
  fprintf (out,
           "Usage: memdisk-tool verify [-T THREADS] FILE\n"
           "\n"
           "Check that FILE is a good memdisk snapshot: its header, footer,\n"
           "metadata and index, every data frame's checksum and contents, and\n"
           "the digest of the whole disk.\n"
           "\n"
           "  -T, --threads=N   decompress on N threads (default 0: all CPUs)\n"
           "  -h, --help        show this help\n"
           "\n"
           "Exit status: 0 when FILE is good, 1 when it is damaged or cannot be\n"
           "read (the message names the problem and its byte offset), 2 on a\n"
           "usage error.\n");
}

int
cmd_verify (int argc, char **argv)
{
  static const struct option longopts[] = {
    { "threads", required_argument, NULL, 'T' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  unsigned threads = 0;
  int c;

  while ((c = getopt_long (argc, argv, ":T:h", longopts, NULL)) != -1) {
    switch (c) {
    case 'T':
      if (tool_parse_threads (optarg, &threads) == -1)
        return TOOL_EXIT_USAGE;
      break;
    case 'h':
      verify_usage (stdout);
      return TOOL_EXIT_OK;
    default:
      return tool_option_error ("verify", c, argv);
    }
  }
  if (argc - optind != 1)
    return tool_usage_error ("verify", "expected one FILE");
  const char *path = argv[optind];
  char buf[1024];
  const char *shown = tool_shown_name (path, buf, sizeof buf);

  struct snap_reader *reader = tool_open_snapshot (path);
  if (reader == NULL)
    return TOOL_EXIT_FAILURE;
  if (snap_reader_verify (reader, threads) == -1) {
    tool_error ("%s: %s", shown, md_error ());
    snap_reader_close (reader);
    return TOOL_EXIT_FAILURE;
  }

  const struct snap_metadata *m = snap_reader_metadata (reader);
  const struct snap_index *ix = snap_reader_index (reader);
  char disk[32], data[32], file[32];
  printf ("%s: OK: format %u.%u, %s disk, %s of data in %zu frame%s, %s file, "
          "digest %016" PRIx64 "\n", tool_safe_text (shown), m->version_major, m->version_minor,
          tool_format_size (m->virtual_size, disk),
          tool_format_size (m->allocated_size, data), ix->frame_count,
          ix->frame_count == 1 ? "" : "s",
          tool_format_size (snap_reader_file_size (reader), file), m->content_digest);
  snap_reader_close (reader);
  return TOOL_EXIT_OK;
}
