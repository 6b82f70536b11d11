/* What the writer checks before trusting its options and the pages its
 * source returns (writer-internal.h). */
#include <string.h>
#include <zstd.h>

#include "common/error.h"
#include "common/iszero.h"
#include "snapshot/format/format.h"
#include "snapshot/format/touchorder.h"
#include "snapshot/read/reader.h"
#include "snapshot/write/writer-internal.h"

/* Check what the callback returned before trusting it. */
int
snap_writer_check_page (uint64_t virtual_size, uint32_t page_size, uint64_t page_index,
                        bool first, uint64_t previous, const unsigned char *buf)
{
  uint64_t pages = snap_page_count (virtual_size, page_size);
  uint32_t tail = (uint32_t) (virtual_size % page_size);

  if (!first && page_index <= previous) {
    md_error_set ("writing a snapshot: the page source returned page %llu "
                  "after page %llu (indexes must increase)",
                  (unsigned long long) page_index, (unsigned long long) previous);
    return -1;
  }
  if (page_index >= pages) {
    md_error_set ("writing a snapshot: the page source returned page %llu, "
                  "beyond the disk's %llu pages", (unsigned long long) page_index,
                  (unsigned long long) pages);
    return -1;
  }
  if (page_index == pages - 1 && tail != 0
      && !snap_is_zero (buf + tail, page_size - tail)) {
    md_error_set ("writing a snapshot: page %llu holds data past the end of "
                  "the disk", (unsigned long long) page_index);
    return -1;
  }
  return 0;
}

int
snap_writer_check_options (const struct snap_write_options *o, int *level)
{
  if (o->virtual_size > SNAP_MAX_VIRTUAL_SIZE) {
    md_error_set ("writing a snapshot: virtual size %llu is larger than 2^63-1",
                  (unsigned long long) o->virtual_size);
    return -1;
  }
  if (!md_page_size_valid (o->page_size)) {
    md_error_set ("writing a snapshot: page size %u is not a power of two "
                  "from 4096 to 1048576", o->page_size);
    return -1;
  }
  if (!md_region_size_valid (snap_write_region_size (o), o->page_size)) {
    md_error_set ("writing a snapshot: region size %u is not a power of two "
                  "from the page size (%u) to 64 MiB", o->region_size, o->page_size);
    return -1;
  }
  *level = o->level == 0 ? ZSTD_CLEVEL_DEFAULT : o->level;
  if (*level < ZSTD_minCLevel () || *level > ZSTD_maxCLevel ()) {
    md_error_set ("writing a snapshot: compression level %d is outside "
                  "zstd's range %d .. %d", o->level, ZSTD_minCLevel (),
                  ZSTD_maxCLevel ());
    return -1;
  }
  if (o->creator != NULL && strlen (o->creator) > SNAP_MAX_CREATOR_SIZE) {
    md_error_set ("writing a snapshot: the creator name is longer than %u bytes",
                  SNAP_MAX_CREATOR_SIZE);
    return -1;
  }
  /* Never a key the reader would refuse. */
  size_t bad;
  const char *why;
  if (snap_touch_order_check (o->touch_order, o->touch_order_count,
                              snap_touch_region_count (o->virtual_size,
                                                       snap_write_region_size (o)),
                              &bad, &why) == -1) {
    md_error_set ("writing a snapshot: the touch order's entry %zu: %s", bad, why);
    return -1;
  }
  return 0;
}


uint32_t
snap_write_region_size (const struct snap_write_options *options)
{
  return options->region_size != 0 ? options->region_size : SNAP_DEFAULT_REGION_SIZE;
}

bool
snap_write_can_copy (const struct snap_reader *previous,
                     const struct snap_write_options *options, const char **why)
{
  const struct snap_metadata *m = snap_reader_metadata (previous);
  int level = options->level == 0 ? ZSTD_CLEVEL_DEFAULT : options->level;

  if (m->version_major != SNAP_VERSION_MAJOR)
    *why = "it is not of this format version";
  else if (m->region_size != snap_write_region_size (options))
    *why = "its region size differs";
  else if (m->page_size != options->page_size)
    *why = "its page size differs";
  else if (m->virtual_size != options->virtual_size)
    *why = "its virtual size differs";
  else if (m->compression_level != level)
    *why = "its compression level differs";
  else if (m->zstd_version != ZSTD_versionNumber ())
    *why = "it was compressed by another zstd version";
  else
    return true;
  return false;
}
