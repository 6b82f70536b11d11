/* Checking format 2.1's padding frames (docs/snapshot-format.md section
 * 4): the gap before each data frame is a skippable frame of fixed
 * contents.  No loader needs it (the index gives every frame's offset),
 * so only a full verification reads it: with it, every byte of the file
 * is checked, as section 10 promises, and `zstd -t` accepts what passed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "snapshot/format/format.h"
#include "snapshot/read/readat.h"
#include "snapshot/read/reader-internal.h"
#include "snapshot/read/reader.h"

int
snap_reader_check_padding (const struct snap_reader *r)
{
  unsigned char got[SNAP_MAX_PADDING], want[SNAP_MAX_PADDING];
  uint64_t end = SNAP_HEADER_SIZE;

  if (!snap_frames_aligned (r->meta.version_major, r->meta.version_minor))
    return 0;
  for (size_t k = 0; k < r->index.frame_count; k++) {
    const struct snap_frame *f = &r->index.frames[k];
    size_t gap = (size_t) (f->offset - end);   /* the index decoder checked it */
    if (gap > 0) {
      char what[64];
      snprintf (what, sizeof what, "padding before frame %zu", k);
      if (snap_read_at (r->fd, got, gap, end, what) == -1)
        return -1;
      snap_padding_fill (want, gap);
      for (size_t i = 0; i < gap; i++)
        if (got[i] != want[i]) {
          md_error_set ("padding before frame %zu at byte %" PRIu64 ": byte %" PRIu64
                        " is %02x, not %02x (a padding frame is the skippable magic, "
                        "its size, then zeros)", k, end, end + i, got[i], want[i]);
          return -1;
        }
    }
    end = f->offset + f->compressed_size;
  }
  return 0;
}
