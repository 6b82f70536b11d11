/* memdisk-tool create: a snapshot of an all-zero disk, no pages stored. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "snapshot/format/format.h"
#include "snapshot/write/writer.h"
#include "store/store.h"
#include "tool.h"

static void
create_usage (FILE *out)
{
  fprintf (out,
           "Usage: memdisk-tool create -s SIZE [--page-size=SIZE] [--region-size=SIZE]\n"
           "                           [-f] FILE\n"
           "\n"
           "Write a snapshot of an empty (all zero) disk of SIZE bytes to FILE;\n"
           "'-' writes to stdout.  nbdkit memdisk snapshot=FILE then serves it.\n"
           "Sizes are read as nbdkit reads them: bytes, or with one letter, b,\n"
           "s (512-byte sectors), K, M, G, T, P, E (powers of 1024): 512M, 10G.\n"
           "\n"
           "  -s, --size=SIZE       the disk's virtual size, up to 2^63-1 (required)\n"
           "      --page-size=SIZE  page size (a power of two from 4K to 1M;\n"
           "                        default 32K)\n"
           "      --region-size=SIZE  region of the disk per data frame, for the\n"
           "                        server's saves (a power of two from the page\n"
           "                        size to 64M; default 4M)\n"
           "  -f, --force           replace FILE if it exists\n"
           "  -h, --help            show this help\n"
           "\n"
           "Exit status: 0 on success, 1 when FILE exists or cannot be written,\n"
           "2 on a usage error.\n");
}

/* An empty disk has no pages. */
static int
no_pages (void *opaque, uint64_t *page_index, void *buf)
{
  (void) opaque, (void) page_index, (void) buf;
  return 0;
}

int
cmd_create (int argc, char **argv)
{
  enum { OPT_PAGE_SIZE = 256, OPT_REGION_SIZE };
  static const struct option longopts[] = {
    { "size", required_argument, NULL, 's' },
    { "page-size", required_argument, NULL, OPT_PAGE_SIZE },
    { "region-size", required_argument, NULL, OPT_REGION_SIZE },
    { "force", no_argument, NULL, 'f' },
    { "help", no_argument, NULL, 'h' },
    { NULL, 0, NULL, 0 },
  };
  uint64_t size = 0, page_size = STORE_DEFAULT_PAGE_SIZE;
  uint32_t region_size = 0;
  bool size_given = false, force = false;
  int c;

  while ((c = getopt_long (argc, argv, ":s:fh", longopts, NULL)) != -1) {
    switch (c) {
    case 's':
      /* The grammar's maximum, 2^63-1, is the format's. */
      if (tool_parse_size (optarg, "size", &size) == -1)
        return TOOL_EXIT_USAGE;
      size_given = true;
      break;
    case OPT_PAGE_SIZE:
      if (tool_parse_page_size ("create", optarg, &page_size) == -1)
        return TOOL_EXIT_USAGE;
      break;
    case OPT_REGION_SIZE:
      if (tool_parse_region_size ("create", optarg, &region_size) == -1)
        return TOOL_EXIT_USAGE;
      break;
    case 'f':
      force = true;
      break;
    case 'h':
      create_usage (stdout);
      return TOOL_EXIT_OK;
    default:
      return tool_option_error ("create", c, argv);
    }
  }
  if (!size_given)
    return tool_usage_error ("create", "--size is required");
  if (argc - optind != 1)
    return tool_usage_error ("create", "expected one FILE");
  const char *path = argv[optind];
  if (tool_check_new_output (path, force) == -1)
    return TOOL_EXIT_FAILURE;
  /* No server may write it meanwhile. */
  if (tool_lock_output (path) == -1)
    return TOOL_EXIT_FAILURE;

  struct snap_write_options options = {
    .virtual_size = size,
    .page_size = (uint32_t) page_size,
    .region_size = region_size,
    .creator = "memdisk-tool " MEMDISK_VERSION,
  };
  int r;
  if (strcmp (path, "-") == 0)
    r = snap_write_fd (STDOUT_FILENO, &options, no_pages, NULL, NULL);
  else
    r = snap_write_file (path, &options, no_pages, NULL, NULL);
  if (r == -1) {
    tool_error ("%s: %s", path, md_error ());
    return TOOL_EXIT_FAILURE;
  }
  return TOOL_EXIT_OK;
}
