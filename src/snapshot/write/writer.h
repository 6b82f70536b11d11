/* Writing snapshot files (docs/snapshot-format.md).
 *
 * The writer pulls pages from a callback, skips all-zero pages, and
 * compresses frames on several threads.  The file is the same byte for
 * byte whatever the thread count: frame boundaries depend only on the
 * pages, and frames are written in order.
 *
 * The callback is called only from the thread that called the writer.
 * It has the shape of store_snapshot_next: it copies the next page into
 * BUF (page_size bytes), sets *PAGE_INDEX (strictly increasing, below the
 * disk's page count) and returns 1; returns 0 at the end, or -1 with
 * md_error set on failure.
 *
 * Error messages do not name the target file; callers add it.
 */
#ifndef MEMDISK_SNAPWRITE_H
#define MEMDISK_SNAPWRITE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/threads.h"
#include "common/timeline.h"
#include "files/replace.h"

typedef int (*snap_next_page_fn) (void *opaque, uint64_t *page_index, void *buf);

/* What the page source may return instead of 1 (a page): "frame
 * *PAGE_INDEX of options->previous comes next", to be copied as it is (a
 * region that did not change since that file).  The writer reads it and
 * checks its checksum as it copies it; a mismatch fails the save. */
#define SNAP_NEXT_COPY 2

struct snap_reader;

struct snap_write_stats {
  uint64_t pages_read;          /* pages the callback returned */
  uint64_t pages_written;       /* non-zero pages stored */
  uint64_t allocated_bytes;     /* pages_written * page_size */
  uint64_t file_bytes;          /* size of the snapshot file */
  uint64_t frames;
  uint64_t frames_copied;       /* of which taken from options->previous */
  uint64_t frames_cloned;       /* of those, shared with it (FICLONERANGE)
                                   rather than copied */
  int clone_refused_errno;      /* the file system refused to clone (then
                                   the frames were copied): its errno; 0
                                   when it did not refuse or was not asked */
  uint64_t content_digest;
};

/* What to write: the caller's, read and never changed by the writer. */
struct snap_write_options {
  uint64_t virtual_size;        /* 0 .. 2^63-1 */
  uint32_t page_size;           /* power of two, 4096 .. 1 MiB */
  uint32_t region_size;         /* the frames' regions (docs/snapshot-format.md
                                   section 4): a power of two from the page
                                   size to 64 MiB; 0: SNAP_DEFAULT_REGION_SIZE */
  int level;                    /* zstd level; 0 means zstd's default (3) */
  unsigned threads;             /* compression threads; 0 means online CPUs */
  const char *creator;          /* "name version"; NULL: "libmemdisk VERSION" */
  bool compress_at_nice_19;      /* the compression threads run at nice
                                   19, the lowest CPU priority, so that a
                                   server's clients come first; the
                                   caller's thread, which takes page locks,
                                   and the emitter, which paces it, keep
                                   their own */
  const struct snap_reader *previous; /* where SNAP_NEXT_COPY frames come from:
                                         a 2.0 file of the same page size,
                                         virtual size, level and zstd version
                                         (snap_write_can_copy) */
  bool keep_fd;                 /* snap_write_file: keep a read-only
                                   descriptor of the new file
                                   (result->kept_fd) */
  const uint64_t *touch_order;  /* optional: the "touch-order" metadata key
                                   (snapshot/format/touchorder.h), regions of
                                   region_size bytes, distinct, at
                                   most SNAP_MAX_TOUCH_ORDER */
  size_t touch_order_count;     /* 0: no key */
};

/* What a write did, for a caller that asks (a RESULT argument may be
 * NULL).  The writer sets every field but the timeline, whatever the
 * outcome; the timeline it only marks, so a caller zeroes it first and
 * may mark its own phases around the write. */
struct snap_write_result {
  struct snap_write_stats stats;        /* on success; zero otherwise */
  enum snap_replace_state replaced;     /* snap_write_file: what PATH is
                                           after the call */
  bool previous_bad;            /* a frame of options->previous failed its
                                   check (the write failed) */
  int kept_fd;                  /* options->keep_fd and success: the new
                                   file, read-only, the caller's to close;
                                   else -1 */
  struct snap_timeline timeline; /* snap_write_file marks the written,
                                    fsynced and renamed phases */
};

/* RESULT before a write: nothing written, PATH untouched, no file kept
 * (the timeline is the caller's). */
static inline void
snap_write_result_clear (struct snap_write_result *result)
{
  result->stats = (struct snap_write_stats) { 0 };
  result->replaced = SNAP_REPLACE_UNTOUCHED;
  result->previous_bad = false;
  result->kept_fd = -1;
}

/* Whether PREVIOUS's frames are the ones this writer makes with OPTIONS
 * (docs/snapshot-format.md section 4): format 2, and the same region
 * size, page size, virtual size, level and zstd version.
 * When not, *WHY says what differs. */
/* The region size OPTIONS mean (their region_size, or the default). */
uint32_t snap_write_region_size (const struct snap_write_options *options);

bool snap_write_can_copy (const struct snap_reader *previous,
                          const struct snap_write_options *options, const char **why);

/* Write a snapshot to PATH atomically: a temporary file in the same folder
 * (mode 0600 for a new file), fsync'd and renamed over PATH, then the
 * folder fsync'd.  On an error before the rename PATH is untouched and the
 * temporary removed; a failed fsync of the folder after it leaves the new
 * file (RESULT->replaced says which).  Returns 0, or -1 with md_error
 * set, naming the step. */
int snap_write_file (const char *path, const struct snap_write_options *options,
                     snap_next_page_fn next_page, void *opaque,
                     struct snap_write_result *result);

/* Write a snapshot sequentially to FD (a new file, or a pipe), which the
 * caller owns.  Returns 0, or -1 with md_error set.  Of RESULT it sets
 * the stats and previous_bad (replaced and kept_fd concern a path). */
int snap_write_fd (int fd, const struct snap_write_options *options,
                   snap_next_page_fn next_page, void *opaque,
                   struct snap_write_result *result);

#endif
