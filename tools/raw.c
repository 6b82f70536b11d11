/* Raw disk images as a page source for the writer and a page sink for
 * the reader (raw.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fullio.h"
#include "snapshot/format/format.h"
#include "raw.h"
#include "common/iszero.h"

/* ---- source ---- */

int
snap_raw_source_init (struct snap_raw_source *src, int fd, uint32_t page_size)
{
  struct stat st;

  memset (src, 0, sizeof *src);
  src->fd = fd;
  src->page_size = page_size;
  if (fstat (fd, &st) == -1) {
    md_error_set ("cannot stat the raw image: %s", strerror (errno));
    return -1;
  }
  if (S_ISREG (st.st_mode)) {
    src->size = (uint64_t) st.st_size;
    src->seek_data = true;
  }
  else {
    off_t end = lseek (fd, 0, SEEK_END);
    if (end == -1) {
      md_error_set ("cannot find the raw image's size: %s", strerror (errno));
      return -1;
    }
    src->size = (uint64_t) end;
  }
  if (src->size > SNAP_MAX_VIRTUAL_SIZE) {
    md_error_set ("the raw image is larger than 2^63-1 bytes");
    return -1;
  }
  src->data_end = src->seek_data ? 0 : src->size;
  posix_fadvise (fd, 0, 0, POSIX_FADV_SEQUENTIAL);
  return 0;
}

/* Move to the next data region at or after src->pos.  Returns 0 at the
 * end of the data, 1 when there is data at src->pos. */
static int
find_data (struct snap_raw_source *src)
{
  off_t data = lseek (src->fd, (off_t) src->pos, SEEK_DATA);
  if (data == -1 && errno == ENXIO)
    return 0;
  if (data == -1) {
    /* The file system cannot say where its holes are: read it all. */
    src->seek_data = false;
    src->data_end = src->size;
    return 1;
  }
  off_t hole = lseek (src->fd, data, SEEK_HOLE);
  if (hole == -1) {
    md_error_set ("raw image: SEEK_HOLE failed: %s", strerror (errno));
    return -1;
  }
  /* Start at the page holding the data, unless that page was returned. */
  uint64_t page_start = (uint64_t) data - (uint64_t) data % src->page_size;
  if (page_start > src->pos)
    src->pos = page_start;
  src->data_end = (uint64_t) hole;
  return 1;
}

int
snap_raw_source_next (void *opaque, uint64_t *page_index, void *buf)
{
  struct snap_raw_source *src = opaque;

  if (src->pos >= src->size)
    return 0;
  if (src->pos >= src->data_end) {
    int r = find_data (src);
    if (r <= 0)
      return r;
  }

  uint64_t want = src->size - src->pos < src->page_size ? src->size - src->pos
                                                         : src->page_size;
  unsigned char *p = buf;
  size_t done;
  if (md_pread_full (src->fd, p, want, src->pos, &done) == -1) {
    md_error_set ("raw image at byte %llu: %s", (unsigned long long) (src->pos + done),
                  errno == 0 ? "unexpected end of file" : strerror (errno));
    return -1;
  }
  memset (p + want, 0, src->page_size - want);
  src->bytes_read += want;
  *page_index = src->pos / src->page_size;
  src->pos += src->page_size;
  return 1;
}

/* ---- sink ---- */

int
snap_raw_sink_init (struct snap_raw_sink *sink, int fd, uint64_t virtual_size,
                    uint32_t page_size, bool sequential)
{
  memset (sink, 0, sizeof *sink);
  sink->fd = fd;
  sink->virtual_size = virtual_size;
  sink->page_size = page_size;
  sink->sequential = sequential;
  if (!sequential && ftruncate (fd, (off_t) virtual_size) == -1) {
    md_error_set ("cannot set the raw image's size to %llu bytes: %s",
                  (unsigned long long) virtual_size, strerror (errno));
    return -1;
  }
  return 0;
}

static int
write_at (int fd, const unsigned char *p, size_t len, uint64_t offset)
{
  size_t done;

  if (md_pwrite_full (fd, p, len, offset, &done) == -1) {
    uint64_t at = offset + done;
    md_error_set ("writing the raw image at byte %llu: %s", (unsigned long long) at,
                  errno == 0 ? "no progress" : strerror (errno));
    return -1;
  }
  return 0;
}

static int
write_seq (struct snap_raw_sink *sink, const unsigned char *p, size_t len)
{
  size_t done;
  int r = md_write_full (sink->fd, p, len, &done);

  sink->pos += done;
  if (r == -1) {
    md_error_set ("writing the raw image at byte %llu: %s",
                  (unsigned long long) sink->pos,
                  errno == 0 ? "no progress" : strerror (errno));
    return -1;
  }
  return 0;
}

static int
write_zeros_until (struct snap_raw_sink *sink, uint64_t end)
{
  static const unsigned char zeros[65536];

  while (sink->pos < end) {
    size_t n = end - sink->pos < sizeof zeros ? end - sink->pos : sizeof zeros;
    if (write_seq (sink, zeros, n) == -1)
      return -1;
  }
  return 0;
}

/* Start writing [OFFSET, OFFSET+LEN) to disk now, without waiting, so that
 * the final fsync has little left to do and the disk works while the CPUs
 * decompress.  Only a hint: errors surface at fsync. */
static void
start_writeback (int fd, uint64_t offset, uint64_t len)
{
  (void) sync_file_range (fd, (off_t) offset, (off_t) len, SYNC_FILE_RANGE_WRITE);
}

/* Write LEN bytes at OFFSET, skipping 4 KiB blocks of zeros so that they
 * stay holes, and coalescing the rest into as few writes as possible. */
static int
write_sparse (int fd, const unsigned char *p, size_t len, uint64_t offset)
{
  const size_t block = SNAP_DIGEST_BLOCK_SIZE;
  size_t start = 0, i = 0;

  while (i < len) {
    size_t n = len - i < block ? len - i : block;
    if (snap_is_zero (p + i, n)) {
      if (i > start && write_at (fd, p + start, i - start, offset + start) == -1)
        return -1;
      start = i + n;
    }
    i += n;
  }
  if (len > start && write_at (fd, p + start, len - start, offset + start) == -1)
    return -1;
  start_writeback (fd, offset, len);
  return 0;
}

int
snap_raw_sink_write (void *opaque, uint64_t first_page, uint64_t page_count,
                     const void *data)
{
  struct snap_raw_sink *sink = opaque;
  uint64_t offset = first_page * sink->page_size;
  uint64_t len = page_count * sink->page_size;

  /* The reader has checked the pages lie within the disk's page count; the
   * last may stick out past its end. */
  if (offset + len > sink->virtual_size)
    len = sink->virtual_size - offset;
  if (!sink->sequential)
    return write_sparse (sink->fd, data, len, offset);

  if (offset < sink->pos) {
    md_error_set ("writing the raw image: pages out of order at page %llu",
                  (unsigned long long) first_page);
    return -1;
  }
  if (write_zeros_until (sink, offset) == -1)
    return -1;
  return write_seq (sink, data, len);
}

int
snap_raw_sink_finish (struct snap_raw_sink *sink)
{
  if (!sink->sequential)
    return 0;
  return write_zeros_until (sink, sink->virtual_size);
}
