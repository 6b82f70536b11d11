/* What the writer's pipeline files share (writer.h; not for use outside
 * src/snapshot/write/): the writer and its slots.
 *
 *   producer (the caller's thread, produce.c): pulls pages from the
 *     callback, drops all-zero ones, and fills a slot with the next
 *     frame's pages;
 *   workers (N threads, compress.c): compress a slot into a zstd frame,
 *     hash it, and hash its 4 KiB blocks for the content digest;
 *   emitter (1 thread, emit.c): writes finished frames in order, builds
 *     the index and folds the digest records.
 *
 * Slots form a ring: frame number SEQ lives in slots[SEQ % nslots].  The
 * counters below only grow and satisfy
 *     next_write <= next_compress <= produced <= next_write + nslots,
 * so a slot is owned by exactly one stage at a time: the producer owns
 * slots[produced % nslots], a worker owns the slot it took until it marks
 * it done, the emitter owns slots[next_write % nslots] once it is done.
 * Writer.lock protects the counters, slot states, input_done and the
 * failure; slot contents are touched only by their owner.
 */
#ifndef MEMDISK_SNAPWRITE_PIPELINE_H
#define MEMDISK_SNAPWRITE_PIPELINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/threads.h"
#include "snapshot/format/digest.h"
#include "snapshot/format/index.h"
#include "snapshot/write/writer.h"

/* Copied frames pass through this much at a time: small enough to stay
 * in a core's L2 cache between the read, the hash and the write, large
 * enough that a frame takes a few reads and writes (in 128 KiB pieces
 * the copy of the /usr/share fixture took more CPU time, measured A/B). */
#define COPY_BUFFER_SIZE (1024u << 10)

enum slot_state { SLOT_FREE, SLOT_FILLED, SLOT_DONE };

/* Cloning copied frames (clone.c): not tried (no previous file, not a
 * regular file, or a 2.0 previous file whose frames are not aligned),
 * trying, or refused by the file system once (then copied). */
enum clone_state { CLONE_OFF, CLONE_TRYING, CLONE_REFUSED };

struct slot {
  enum slot_state state;
  unsigned char *pages;         /* frame_pages * page_size bytes */
  uint64_t *page_index;         /* frame_pages entries */
  size_t npages;
  unsigned char *out;           /* the compressed frame */
  size_t out_cap;
  size_t out_len;
  uint64_t checksum;            /* XXH64 of out[0..out_len) */
  uint64_t region;              /* the region whose pages it holds */
  bool copy;                    /* out is frame copy_frame of the previous file */
  size_t copy_frame;
  uint64_t region_digest;       /* of records[0..nrecords) */
  struct snap_digest_record *records;
  size_t nrecords;
};

struct writer {
  int fd;
  uint32_t page_size;
  uint64_t virtual_size;
  uint32_t region_size;         /* bytes of disk per frame */
  size_t frame_pages;           /* pages per region: the most a frame holds */
  int level;
  const struct snap_reader *previous;   /* where copied frames come from */
  bool *previous_bad;           /* written by the emitter only */
  unsigned char *copy_buf;      /* the emitter's, COPY_BUFFER_SIZE bytes */
  unsigned nworkers;
  bool compress_at_nice_19;

  struct slot *slots;
  size_t nslots;

  pthread_mutex_t lock;
  pthread_cond_t work_ready;    /* produced grew, or input_done, or failed */
  pthread_cond_t frame_done;    /* a slot became SLOT_DONE, or ... */
  pthread_cond_t slot_free;     /* next_write grew, or failed */
  uint64_t produced;
  uint64_t next_compress;
  uint64_t next_write;
  bool input_done;
  struct snap_group_failure failure;

  /* Owned by the emitter while threads run, by the caller afterwards. */
  uint64_t file_offset;
  uint64_t writeback_offset;    /* bytes before this were handed to writeback */
  struct snap_index index;
  struct snap_digest digest;
  enum clone_state clone_state;
  int clone_errno;              /* CLONE_REFUSED: why */
  bool cloned;                  /* some range was cloned: cut the file at its end */
  uint64_t padded_to;           /* the last clone put the padding up to here */
  uint64_t frames_cloned;

  /* Owned by the producer. */
  uint64_t pages_read;
  uint64_t frames_copied;
};

/* Record the first failure (the message is in this thread's md_error) and
 * wake every stage so that it stops. */
static inline void
writer_fail (struct writer *w)
{
  pthread_cond_t *const conds[] = { &w->work_ready, &w->frame_done, &w->slot_free };

  snap_group_fail (&w->lock, &w->failure, conds, sizeof conds / sizeof conds[0]);
}

static inline bool
writer_failed (struct writer *w)
{
  pthread_mutex_lock (&w->lock);
  bool failed = w->failure.failed;
  pthread_mutex_unlock (&w->lock);
  return failed;
}

/* The stages' threads (ARG is the writer), and the producer, which the
 * caller's thread runs: it returns with input_done set, whatever
 * happened. */
void *snap_writer_compress_main (void *arg);
void *snap_writer_emit_main (void *arg);
void snap_writer_produce (struct writer *w, snap_next_page_fn next_page, void *opaque);

/* clone.c: whether to try cloning (once W's fd and previous are set). */
void snap_writer_clone_init (struct writer *w);
/* Clone frame K of the previous file to W's file offset (a 4 KiB
 * boundary) and check what the new file holds there; the file's position
 * is then the frame's end.  0 done; 1 not possible (copy it instead); -1
 * with md_error set (and *previous_bad when the cloned bytes are wrong). */
int snap_writer_clone_frame (struct writer *w, size_t k);
/* After the trailer: cut the file at W's offset if a clone left more. */
int snap_writer_clone_finish (struct writer *w);

#endif
