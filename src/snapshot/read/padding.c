/* Format 2.1's padding frames (docs/snapshot-format.md section 4): the gap
 * before each data frame is a skippable frame of fixed contents.  The
 * decoder reads a frame's padding with the frame (one read: they are
 * adjacent) and checks it here, so every byte of the file is checked by
 * whatever reads it (a verification, an eager or a lazy load), and a file
 * that passed is one `zstd -t` accepts.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "snapshot/format/format.h"
#include "snapshot/read/reader-internal.h"

uint64_t
snap_reader_padding_start (const struct snap_reader *r, size_t k)
{
  const struct snap_frame *f = r->index.frames;

  if (!snap_frames_aligned (r->meta.version_major, r->meta.version_minor))
    return f[k].offset;
  return k == 0 ? SNAP_HEADER_SIZE : f[k - 1].offset + f[k - 1].compressed_size;
}

int
snap_padding_check (const unsigned char *got, size_t gap, uint64_t at, size_t k)
{
  unsigned char want[SNAP_MAX_PADDING];

  if (gap == 0)
    return 0;
  snap_padding_fill (want, gap);    /* the index decoder bounded GAP */
  for (size_t i = 0; i < gap; i++)
    if (got[i] != want[i]) {
      md_error_set ("padding before frame %zu at byte %" PRIu64 ": byte %" PRIu64
                    " is %02x, not %02x (a padding frame is the skippable magic, "
                    "its size, then zeros)", k, at, at + i, got[i], want[i]);
      return -1;
    }
  return 0;
}
