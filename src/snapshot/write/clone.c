/* Sharing a copied frame's blocks with the previous file (format 2.1's
 * aligned frames, docs/design.md "Cloned frames"): FICLONERANGE asks a
 * copy-on-write file system (XFS with reflink, btrfs) to make the new
 * file's range point at the previous file's blocks, so that an unchanged
 * frame costs no write at all.
 *
 * What is shared: the frame and, when the previous file has a frame after
 * it, the padding up to that frame (it ends on a 4 KiB boundary; the
 * padding is a function of where the frame ends, so it is the padding this
 * file needs there too).  After the previous file's last frame the range
 * ends on the next boundary (or at that file's end), and whatever follows
 * the frame in that block is written over by the emitter.
 *
 * What is checked: the new file's bytes, read back (the range is shared,
 * so they come from the blocks, not from the previous file's page cache):
 * the frame against the previous index's checksum, the padding against its
 * fixed value.  A mismatch is the previous file's fault (previous_bad), as
 * on the copy path, and the save is made again, full.
 *
 * Where the file system cannot clone (ext4, tmpfs: EOPNOTSUPP; another
 * file system: EXDEV; a block size above 4 KiB: EINVAL), the first refusal
 * turns cloning off for the rest of the save and the frame is copied; the
 * cause is kept for the save's log line.
 */
#include <errno.h>
#include <linux/fs.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fullio.h"
#include "common/xxh64.h"
#include "snapshot/format/format.h"
#include "snapshot/read/reader.h"
#include "snapshot/write/pipeline.h"

void
snap_writer_clone_init (struct writer *w)
{
  struct stat st;

  w->clone_state = CLONE_OFF;
  if (w->previous == NULL || fstat (w->fd, &st) == -1 || !S_ISREG (st.st_mode))
    return;
  const struct snap_metadata *m = snap_reader_metadata (w->previous);
  if (snap_frames_aligned (m->version_major, m->version_minor))
    w->clone_state = CLONE_TRYING;
}

/* Errors that say "this file system (or this pair of files) cannot share
 * these blocks", as opposed to a failure of the file or the device. */
static bool
clone_unsupported (int err)
{
  return err == EOPNOTSUPP || err == ENOTTY || err == EXDEV || err == EINVAL
         || err == ENOSYS;
}

/* The bytes the clone placed at DEST..DEST+LEN of our file hash to
 * CHECKSUM (FRAME) or, for the padding (CHECKSUM unused), are the padding
 * a frame ending at DEST needs. */
static int
check_cloned (struct writer *w, size_t k, uint64_t dest, uint64_t len, uint64_t checksum,
              bool padding)
{
  struct snap_xxh64_state state;
  unsigned char expected[SNAP_MAX_PADDING];

  if (padding)
    snap_padding_fill (expected, (size_t) len);
  snap_xxh64_init (&state, 0);
  for (uint64_t done = 0; done < len;) {
    size_t n = len - done < COPY_BUFFER_SIZE ? (size_t) (len - done) : COPY_BUFFER_SIZE;
    if (md_pread_full (w->fd, w->copy_buf, n, dest + done, NULL) == -1) {
      md_error_set ("reading back frame %zu cloned from the previous snapshot: %s", k,
                    errno == 0 ? "unexpected end of file" : strerror (errno));
      return -1;
    }
    if (padding && memcmp (w->copy_buf, expected + done, n) != 0)
      goto bad;
    snap_xxh64_update (&state, w->copy_buf, n);
    done += n;
  }
  if (padding || snap_xxh64_final (&state) == checksum)
    return 0;
bad:
  md_error_set ("cloning from the previous snapshot: frame %zu: the cloned %s "
                "fails its check", k, padding ? "padding after it" : "bytes");
  if (w->previous_bad != NULL)
    *w->previous_bad = true;
  return -1;
}

int
snap_writer_clone_frame (struct writer *w, size_t k)
{
  const struct snap_index *pi = snap_reader_index (w->previous);
  const struct snap_frame *f = &pi->frames[k];
  uint64_t dest = w->file_offset, len, padded_to = 0;

  if (w->clone_state != CLONE_TRYING || f->offset % SNAP_FRAME_ALIGN != 0
      || dest % SNAP_FRAME_ALIGN != 0)
    return 1;
  if (k + 1 < pi->frame_count) {
    len = pi->frames[k + 1].offset - f->offset;         /* frame and padding */
    padded_to = dest + len;
  }
  else {
    len = (f->compressed_size + SNAP_FRAME_ALIGN - 1) / SNAP_FRAME_ALIGN * SNAP_FRAME_ALIGN;
    if (f->offset + len > snap_reader_file_size (w->previous))
      len = snap_reader_file_size (w->previous) - f->offset;  /* to its end */
  }
  struct file_clone_range range = {
    .src_fd = snap_reader_fd (w->previous), .src_offset = f->offset,
    .src_length = len, .dest_offset = dest,
  };
  if (ioctl (w->fd, FICLONERANGE, &range) == -1) {
    if (!clone_unsupported (errno)) {
      md_error_set ("cloning frame %zu of the previous snapshot: %s", k, strerror (errno));
      return -1;
    }
    w->clone_state = CLONE_REFUSED;
    w->clone_errno = errno;
    return 1;
  }
  w->cloned = true;
  if (check_cloned (w, k, dest, f->compressed_size, f->checksum, false) == -1
      || (padded_to != 0
          && check_cloned (w, k, dest + f->compressed_size,
                           padded_to - dest - f->compressed_size, 0, true) == -1))
    return -1;
  if (lseek (w->fd, (off_t) (dest + f->compressed_size), SEEK_SET) == -1) {
    md_error_set ("writing the snapshot: seeking past a cloned frame: %s", strerror (errno));
    return -1;
  }
  w->padded_to = padded_to;
  w->frames_cloned++;
  return 0;
}

int
snap_writer_clone_finish (struct writer *w)
{
  if (w->cloned && ftruncate (w->fd, (off_t) w->file_offset) == -1) {
    md_error_set ("writing the snapshot: cutting what a clone left past its end: %s",
                  strerror (errno));
    return -1;
  }
  return 0;
}
