/* memdisk-tool map: the disk's allocated extents, from the index alone
 * (the runs of pages each frame holds), like `qemu-img map` and
 * `nbdinfo --map`. */
#include <inttypes.h>
#include <stdio.h>

#include "snapshot/read/reader.h"
#include "tool.h"

static void
map_usage (FILE *out)
{
  fprintf (out,
           "Usage: memdisk-tool map [--json] FILE\n"
           "\n"
           "List the extents of the snapshot's disk in order: 'data' where pages\n"
           "are stored, 'hole' where the disk reads as zeros.  Adjacent pages are\n"
           "merged and the last extent ends at the virtual size.  Only the index\n"
           "is read.\n"
           "\n"
           "      --json   print a JSON array like 'qemu-img map --output=json':\n"
           "               [{\"start\": 0, \"length\": 65536, \"depth\": 0,\n"
           "                 \"present\": true, \"zero\": false, \"data\": true}, ...]\n"
           "               with holes as \"data\": false, \"zero\": true\n"
           "  -h, --help   show this help\n"
           "\n"
           "Exit status: 0 on success, 1 when FILE cannot be read or is damaged,\n"
           "2 on a usage error.\n");
}

struct map_printer {
  bool json;
  int width;                    /* of the numbers in human output */
  bool first;
};

static void
map_print_extent (struct map_printer *p, uint64_t start, uint64_t length, bool data)
{
  if (length == 0)
    return;
  if (p->json)
    printf ("%s{ \"start\": %" PRIu64 ", \"length\": %" PRIu64 ", \"depth\": 0, "
            "\"present\": %s, \"zero\": %s, \"data\": %s }",
            p->first ? "[" : ",\n", start, length, data ? "true" : "false",
            data ? "false" : "true", data ? "true" : "false");
  else
    printf ("%*" PRIu64 "  %*" PRIu64 "  %s\n", p->width, start, p->width, length,
            data ? "data" : "hole");
  p->first = false;
}

/* The index's runs are in increasing page order across all frames
 * (docs/snapshot-format.md section 8), so one pass gives the map. */
static void
map_print (const struct snap_metadata *m, const struct snap_index *ix, bool json)
{
  struct map_printer p = {
    .json = json,
    .width = snprintf (NULL, 0, "%" PRIu64, m->virtual_size),
    .first = true,
  };
  uint64_t pos = 0;             /* bytes mapped so far */

  if (p.width < 6)
    p.width = 6;
  if (!json)
    printf ("%*s  %*s  %s\n", p.width, "offset", p.width, "length", "type");
  for (size_t i = 0; i < ix->run_count; ) {
    uint64_t first = ix->runs[i].first_page;
    uint64_t end = first + ix->runs[i].page_count;
    /* Merge the runs that continue this one (readers accept adjacent runs). */
    for (i++; i < ix->run_count && ix->runs[i].first_page == end; i++)
      end += ix->runs[i].page_count;
    uint64_t start = first * m->page_size;
    uint64_t stop = end * m->page_size;
    if (stop > m->virtual_size)
      stop = m->virtual_size;
    map_print_extent (&p, pos, start - pos, false);
    map_print_extent (&p, start, stop - start, true);
    pos = stop;
  }
  map_print_extent (&p, pos, m->virtual_size - pos, false);
  if (json)
    printf (p.first ? "[]\n" : "]\n");
}

int
cmd_map (int argc, char **argv)
{
  bool json;
  const char *path;
  int status = tool_parse_json_file ("map", map_usage, argc, argv, &json, &path);

  if (status != -1)
    return status;

  struct snap_reader *reader = tool_open_snapshot (path);
  if (reader == NULL)
    return TOOL_EXIT_FAILURE;
  map_print (snap_reader_metadata (reader), snap_reader_index (reader), json);
  snap_reader_close (reader);
  return tool_finish_stdout ();
}
