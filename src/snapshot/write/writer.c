/* The snapshot writer: a three-stage pipeline.
 *
 *   producer (the caller's thread): pulls pages from the callback, drops
 *     all-zero ones, and fills a slot with the next frame's pages;
 *   workers (N threads): compress a slot into a zstd frame, hash it, and
 *     hash its 4 KiB blocks for the content digest;
 *   emitter (1 thread): writes finished frames in order, builds the index
 *     and folds the digest records.
 *
 * Slots form a ring: frame number SEQ lives in slots[SEQ % nslots].  The
 * counters below only grow and satisfy
 *     next_write <= next_compress <= produced <= next_write + nslots,
 * so a slot is owned by exactly one stage at a time: the producer owns
 * slots[produced % nslots], a worker owns the slot it took until it marks
 * it done, the emitter owns slots[next_write % nslots] once it is done.
 * Writer.lock protects the counters, slot states, input_done and the
 * failure; slot contents are touched only by their owner.
 *
 * A frame holds the stored pages of one region (format 2.0, section 4):
 * the producer cuts frames where the page index enters another region, so
 * the output depends on the pages alone, not on the thread count or
 * timing, and a region's frame does not depend on the other regions.
 *
 * The file's fixed parts (header, metadata, index, footer) are encoded by
 * skippable.c; this file writes the header, runs the pipeline, then has
 * the trailer written.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zstd.h>

#include "common/error.h"
#include "common/iszero.h"
#include "common/xxh64.h"
#include "snapshot/format/digest.h"
#include "snapshot/format/format.h"
#include "snapshot/format/index.h"
#include "snapshot/format/metadata.h"
#include "snapshot/read/decoder.h"
#include "snapshot/read/reader.h"
#include "files/replace.h"
#include "snapshot/write/skippable.h"
#include "snapshot/write/writer.h"
#include "snapshot/write/writer-internal.h"

enum slot_state { SLOT_FREE, SLOT_FILLED, SLOT_DONE };

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

  /* Owned by the producer. */
  uint64_t pages_read;
  uint64_t frames_copied;
};

/* Record the first failure (the message is in this thread's md_error) and
 * wake every stage so that it stops. */
static void
writer_fail (struct writer *w)
{
  pthread_cond_t *const conds[] = { &w->work_ready, &w->frame_done, &w->slot_free };

  snap_group_fail (&w->lock, &w->failure, conds, sizeof conds / sizeof conds[0]);
}

/* ---- workers ---- */

/* A frame to be copied from the previous file: what its index entry says
 * of it.  The emitter copies the bytes (copy_frame_bytes). */
static void
describe_copied_slot (struct writer *w, struct slot *s)
{
  const struct snap_frame *f = &snap_reader_index (w->previous)->frames[s->copy_frame];

  s->out_len = f->compressed_size;
  s->checksum = f->checksum;
  s->region = f->region;
  s->region_digest = f->region_digest;
}

static int
compress_slot (struct writer *w, ZSTD_CCtx *cctx, struct slot *s)
{
  if (s->copy) {
    describe_copied_slot (w, s);
    return 0;
  }
  s->nrecords = 0;
  for (size_t i = 0; i < s->npages; i++)
    s->nrecords += snap_digest_page (s->page_index[i], w->page_size,
                                     s->pages + i * w->page_size,
                                     s->records + s->nrecords);

  size_t r = ZSTD_compress2 (cctx, s->out, s->out_cap, s->pages,
                             s->npages * w->page_size);
  if (ZSTD_isError (r)) {
    md_error_set ("compressing a frame of %zu pages: %s", s->npages,
                  ZSTD_getErrorName (r));
    return -1;
  }
  s->out_len = r;
  s->checksum = snap_xxh64 (s->out, s->out_len, 0);
  s->region_digest = snap_region_digest (s->records, s->nrecords);
  return 0;
}

static ZSTD_CCtx *
create_cctx (int level)
{
  ZSTD_CCtx *cctx = ZSTD_createCCtx ();
  if (cctx == NULL) {
    md_error_set ("creating a zstd compression context: out of memory");
    return NULL;
  }
  /* Each frame carries its content size and checksum (format section 4). */
  size_t r = ZSTD_CCtx_setParameter (cctx, ZSTD_c_compressionLevel, level);
  if (!ZSTD_isError (r))
    r = ZSTD_CCtx_setParameter (cctx, ZSTD_c_checksumFlag, 1);
  if (!ZSTD_isError (r))
    r = ZSTD_CCtx_setParameter (cctx, ZSTD_c_contentSizeFlag, 1);
  if (ZSTD_isError (r)) {
    md_error_set ("setting zstd level %d: %s", level, ZSTD_getErrorName (r));
    ZSTD_freeCCtx (cctx);
    return NULL;
  }
  return cctx;
}

/* Lower the calling thread to nice 19.  Nice 19 rather than SCHED_IDLE:
 * on a machine busy with other work the save must still finish.  Linux
 * applies nice per thread.  Best effort: a failure just keeps the
 * priority. */
static void
writer_thread_nice_19 (void)
{
  if (setpriority (PRIO_PROCESS, (id_t) syscall (SYS_gettid), 19) == -1) {
    /* keep going at normal priority */
  }
}

static void *
worker_main (void *arg)
{
  struct writer *w = arg;
  ZSTD_CCtx *cctx = create_cctx (w->level);

  /* Only the compressors step back: they hold no page lock, so a client
   * that needs the CPU does not wait behind them.  (The producer, which
   * takes page locks, keeps its priority, or a client spinning on a page
   * lock could starve it; so does the emitter, which paces the producer
   * through the slot ring: at nice 19 it made saves 1.5-2x longer, and
   * copy-on-write records live until the walk passes them.) */
  pthread_setname_np (pthread_self (), "md-compress");
  if (w->compress_at_nice_19)
    writer_thread_nice_19 ();

  if (cctx == NULL) {
    writer_fail (w);
    return NULL;
  }
  for (;;) {
    pthread_mutex_lock (&w->lock);
    while (!w->failure.failed && w->next_compress == w->produced && !w->input_done)
      pthread_cond_wait (&w->work_ready, &w->lock);
    if (w->failure.failed || w->next_compress == w->produced) {
      pthread_mutex_unlock (&w->lock);
      break;
    }
    struct slot *s = &w->slots[w->next_compress++ % w->nslots];
    pthread_mutex_unlock (&w->lock);

    if (compress_slot (w, cctx, s) == -1) {
      writer_fail (w);
      break;
    }

    pthread_mutex_lock (&w->lock);
    s->state = SLOT_DONE;
    pthread_cond_broadcast (&w->frame_done);
    pthread_mutex_unlock (&w->lock);
  }
  ZSTD_freeCCtx (cctx);
  return NULL;
}

/* ---- emitter ---- */

/* Ask the kernel to start writing what we wrote so far, every few MiB, so
 * that the final fsync finds little left to do.  A hint only: on a pipe it
 * fails harmlessly, and real errors surface at fsync. */
#define WRITEBACK_STEP (8u << 20)

/* Copied frames pass through this much at a time: small enough to stay
 * in a core's L2 cache between the read, the hash and the write, large
 * enough that a frame takes a few reads and writes (in 128 KiB pieces
 * the copy of the /usr/share fixture took more CPU time, measured A/B). */
#define COPY_BUFFER_SIZE (1024u << 10)

static void
start_writeback (struct writer *w)
{
  if (w->file_offset - w->writeback_offset < WRITEBACK_STEP)
    return;
  (void) sync_file_range (w->fd, (off_t) w->writeback_offset,
                          (off_t) (w->file_offset - w->writeback_offset),
                          SYNC_FILE_RANGE_WRITE);
  w->writeback_offset = w->file_offset;
}

static int
write_to_file (void *opaque, const void *data, size_t len)
{
  const struct writer *w = opaque;

  return snap_write_bytes (w->fd, data, len);
}

/* A copied frame's bytes, from the previous file to ours through one
 * small buffer, checked against the previous index's checksum as they
 * pass (what is checked is what is written).  The emitter does it, in
 * place of a worker's read and its own write of a whole frame: each byte
 * is read from the page cache once, into a buffer that stays in this
 * core's cache for the hash and the write.  A mismatch fails the save
 * after some of the frame's bytes are in the temporary file, which is
 * then removed. */
static int
copy_frame_bytes (struct writer *w, const struct slot *s)
{
  bool source_bad;

  if (snap_reader_pass_frame_bytes (w->previous, s->copy_frame, w->copy_buf,
                                    COPY_BUFFER_SIZE, write_to_file, w, &source_bad) == 0)
    return 0;
  if (source_bad) {
    md_error_set ("copying from the previous snapshot: %s", md_error ());
    if (w->previous_bad != NULL)
      *w->previous_bad = true;
  }
  return -1;
}

static int
emit_slot (struct writer *w, struct slot *s)
{
  if (s->copy ? copy_frame_bytes (w, s) : snap_write_bytes (w->fd, s->out, s->out_len))
    return -1;
  if (s->copy ? snap_index_copy_frame (&w->index, w->file_offset,
                                       snap_reader_index (w->previous), s->copy_frame)
              : snap_index_add_frame (&w->index, w->file_offset, s->out_len, s->checksum,
                                      s->region_digest, s->page_index, s->npages))
    return -1;
  snap_digest_add_region (&w->digest, s->region, s->region_digest);
  w->file_offset += s->out_len;
  start_writeback (w);
  return 0;
}

static void *
emitter_main (void *arg)
{
  struct writer *w = arg;

  pthread_setname_np (pthread_self (), "md-emit");
  for (;;) {
    pthread_mutex_lock (&w->lock);
    struct slot *s = &w->slots[w->next_write % w->nslots];
    while (!w->failure.failed && !(w->next_write < w->produced && s->state == SLOT_DONE)
           && !(w->input_done && w->next_write == w->produced))
      pthread_cond_wait (&w->frame_done, &w->lock);
    if (w->failure.failed || w->next_write == w->produced) {
      pthread_mutex_unlock (&w->lock);
      break;
    }
    pthread_mutex_unlock (&w->lock);

    if (emit_slot (w, s) == -1) {
      writer_fail (w);
      break;
    }

    pthread_mutex_lock (&w->lock);
    s->state = SLOT_FREE;
    s->npages = 0;
    s->copy = false;
    w->next_write++;
    pthread_cond_signal (&w->slot_free);
    pthread_mutex_unlock (&w->lock);
  }
  return NULL;
}

/* ---- producer ---- */

static int
slot_allocate (struct writer *w, struct slot *s)
{
  size_t frame_bytes = w->frame_pages * w->page_size;

  if (s->pages != NULL)
    return 0;
  s->out_cap = ZSTD_compressBound (frame_bytes);
  s->pages = malloc (frame_bytes);
  s->page_index = malloc (w->frame_pages * sizeof *s->page_index);
  s->out = malloc (s->out_cap);
  s->records = malloc (frame_bytes / SNAP_DIGEST_BLOCK_SIZE * sizeof *s->records);
  if (s->pages == NULL || s->page_index == NULL || s->out == NULL || s->records == NULL) {
    md_error_set ("writing a snapshot: out of memory for frame buffers");
    return -1;
  }
  return 0;
}

/* The slot for the next frame, once the emitter has freed it; NULL when
 * another stage failed or memory ran out. */
static struct slot *
acquire_slot (struct writer *w)
{
  pthread_mutex_lock (&w->lock);
  while (!w->failure.failed && w->produced - w->next_write >= w->nslots)
    pthread_cond_wait (&w->slot_free, &w->lock);
  bool failed = w->failure.failed;
  struct slot *s = &w->slots[w->produced % w->nslots];
  pthread_mutex_unlock (&w->lock);

  if (failed)
    return NULL;
  if (slot_allocate (w, s) == -1) {
    writer_fail (w);
    return NULL;
  }
  return s;
}

static void
publish_slot (struct writer *w, struct slot *s)
{
  pthread_mutex_lock (&w->lock);
  s->state = SLOT_FILLED;
  w->produced++;
  pthread_cond_signal (&w->work_ready);
  pthread_mutex_unlock (&w->lock);
}

static bool
writer_failed (struct writer *w)
{
  pthread_mutex_lock (&w->lock);
  bool failed = w->failure.failed;
  pthread_mutex_unlock (&w->lock);
  return failed;
}

/* The source said: frame K of the previous file comes next.  Publish the
 * frame being filled, if any, then the copy; return the next slot to fill
 * (NULL when another stage failed). */
static struct slot *
produce_copy (struct writer *w, struct slot *s, uint64_t k, bool *first, uint64_t *previous)
{
  const struct snap_index *pidx = w->previous ? snap_reader_index (w->previous) : NULL;

  if (pidx == NULL || k >= pidx->frame_count) {
    md_error_set ("writing a snapshot: the page source asked to copy frame %llu "
                  "of a previous file that has %zu", (unsigned long long) k,
                  pidx ? pidx->frame_count : 0);
    writer_fail (w);
    return NULL;
  }
  const struct snap_frame *f = &pidx->frames[k];
  const struct snap_run *last = &pidx->runs[f->first_run + f->run_count - 1];
  if (!*first && pidx->runs[f->first_run].first_page <= *previous) {
    md_error_set ("writing a snapshot: the page source asked to copy frame %llu "
                  "(from page %llu) after page %llu", (unsigned long long) k,
                  (unsigned long long) pidx->runs[f->first_run].first_page,
                  (unsigned long long) *previous);
    writer_fail (w);
    return NULL;
  }
  if (s->npages > 0) {
    publish_slot (w, s);
    s = acquire_slot (w);
    if (s == NULL)
      return NULL;
  }
  s->copy = true;
  s->copy_frame = (size_t) k;
  publish_slot (w, s);
  *first = false;
  *previous = last->first_page + last->page_count - 1;
  w->frames_copied++;
  return acquire_slot (w);
}

/* Pull pages until the callback says the end, filling and publishing
 * slots.  Returns with input_done set, whatever happened. */
static void
produce (struct writer *w, snap_next_page_fn next_page, void *opaque)
{
  struct slot *s = acquire_slot (w);
  uint64_t previous = 0;
  bool first = true;

  while (s != NULL) {
    unsigned char *buf = s->pages + s->npages * w->page_size;
    uint64_t page_index;
    md_error_clear ();
    int r = next_page (opaque, &page_index, buf);
    if (r == 0)
      break;
    if (r == SNAP_NEXT_COPY) {
      s = produce_copy (w, s, page_index, &first, &previous);
      continue;
    }
    if (r != 1) {
      if (r != -1 || md_error ()[0] == '\0')
        md_error_set ("writing a snapshot: the page source failed");
      writer_fail (w);
      s = NULL;
      break;
    }
    if (snap_writer_check_page (w->virtual_size, w->page_size, page_index, first,
                                previous, buf) == -1) {
      writer_fail (w);
      s = NULL;
      break;
    }
    first = false;
    previous = page_index;
    w->pages_read++;
    if (snap_is_zero (buf, w->page_size))
      continue;
    uint64_t region = page_index / w->frame_pages;
    if (s->npages > 0 && region != s->region) {
      /* The page begins the next frame: it was read past the end of this
       * one (which has room: a full slot is published at once). */
      publish_slot (w, s);
      s = acquire_slot (w);
      if (s == NULL)
        break;
      memcpy (s->pages, buf, w->page_size);
    }
    s->region = region;
    s->page_index[s->npages++] = page_index;
    if (s->npages == w->frame_pages) {
      publish_slot (w, s);
      s = acquire_slot (w);
    }
  }
  if (s != NULL && s->npages > 0 && !writer_failed (w))
    publish_slot (w, s);

  pthread_mutex_lock (&w->lock);
  w->input_done = true;
  pthread_cond_broadcast (&w->work_ready);
  pthread_cond_broadcast (&w->frame_done);
  pthread_mutex_unlock (&w->lock);
}

/* ---- putting it together ---- */

/* A region holds whole pages: at least one of the largest. */
_Static_assert (SNAP_REGION_SIZE >= MD_MAX_PAGE_SIZE, "a region must hold a page");

static void
writer_free (struct writer *w)
{
  if (w->slots != NULL)
    for (size_t i = 0; i < w->nslots; i++) {
      free (w->slots[i].pages);
      free (w->slots[i].page_index);
      free (w->slots[i].out);
      free (w->slots[i].records);
    }
  free (w->slots);
  free (w->copy_buf);
  snap_index_free (&w->index);
  pthread_mutex_destroy (&w->lock);
  pthread_cond_destroy (&w->work_ready);
  pthread_cond_destroy (&w->frame_done);
  pthread_cond_destroy (&w->slot_free);
}

/* Start the workers and the emitter, produce, and wait for them all. */
static int
run_pipeline (struct writer *w, snap_next_page_fn next_page, void *opaque)
{
  pthread_t *threads = calloc (w->nworkers + 1, sizeof *threads);
  size_t started = 0;

  if (threads == NULL) {
    md_error_set ("writing a snapshot: out of memory");
    return -1;
  }
  for (; started < w->nworkers + 1; started++) {
    int err = pthread_create (&threads[started], NULL,
                              started == 0 ? emitter_main : worker_main, w);
    if (err != 0) {
      md_error_set ("writing a snapshot: cannot start a thread: %s", strerror (err));
      writer_fail (w);
      break;
    }
  }
  if (started == w->nworkers + 1)
    produce (w, next_page, opaque);
  else {
    pthread_mutex_lock (&w->lock);
    w->input_done = true;
    pthread_mutex_unlock (&w->lock);
  }
  for (size_t i = 0; i < started; i++)
    pthread_join (threads[i], NULL);
  free (threads);

  if (w->failure.failed) {
    md_error_set ("%s", w->failure.message);
    return -1;
  }
  return 0;
}

int
snap_write_fd (int fd, const struct snap_write_options *options,
               snap_next_page_fn next_page, void *opaque)
{
  struct writer w = { .fd = fd };
  struct snap_metadata meta = { 0 };
  const char *why;
  int level, r = -1;

  if (snap_writer_check_options (options, &level) == -1)
    return -1;
  if (snap_meta_creation_time (&meta.creation_time) == -1)
    return -1;

  w.page_size = options->page_size;
  w.virtual_size = options->virtual_size;
  w.frame_pages = SNAP_REGION_SIZE / options->page_size;   /* >= 1: see above */
  w.level = level;
  w.previous = options->previous;
  w.previous_bad = options->previous_bad;
  if (w.previous != NULL && !snap_write_can_copy (w.previous, options, &why)) {
    md_error_set ("writing a snapshot: cannot copy frames from the previous file: %s", why);
    return -1;
  }
  w.compress_at_nice_19 = options->compress_at_nice_19;
  w.nworkers = snap_resolve_threads (options->threads);
  w.nslots = w.nworkers + 2;
  pthread_mutex_init (&w.lock, NULL);
  pthread_cond_init (&w.work_ready, NULL);
  pthread_cond_init (&w.frame_done, NULL);
  pthread_cond_init (&w.slot_free, NULL);
  snap_index_init_regions (&w.index, SNAP_REGION_SIZE, options->page_size);
  snap_digest_init_composed (&w.digest, SNAP_REGION_SIZE);
  w.slots = calloc (w.nslots, sizeof *w.slots);
  if (w.previous != NULL)
    w.copy_buf = malloc (COPY_BUFFER_SIZE);
  if (w.slots == NULL || (w.previous != NULL && w.copy_buf == NULL)) {
    md_error_set ("writing a snapshot: out of memory");
    goto out;
  }

  if (snap_write_header (w.fd, &w.file_offset) == -1 || run_pipeline (&w, next_page, opaque) == -1)
    goto out;

  meta.version_major = SNAP_VERSION_MAJOR;
  meta.version_minor = SNAP_VERSION_MINOR;
  meta.virtual_size = options->virtual_size;
  meta.page_size = options->page_size;
  meta.region_size = SNAP_REGION_SIZE;
  meta.zstd_version = ZSTD_versionNumber ();
  meta.allocated_size = w.index.page_count * options->page_size;
  meta.compression_level = level;
  snprintf (meta.creator, sizeof meta.creator, "%s",
            options->creator ? options->creator : "libmemdisk " MEMDISK_VERSION);
  meta.content_digest = snap_digest_final (&w.digest);
  meta.touch_order_count = options->touch_order_count;
  if (options->touch_order_count > 0)
    memcpy (meta.touch_order, options->touch_order,
            options->touch_order_count * sizeof *meta.touch_order);
  if (snap_write_trailer (w.fd, &w.file_offset, &meta, &w.index) == -1)
    goto out;

  if (options->stats != NULL)
    *options->stats = (struct snap_write_stats) {
      .pages_read = w.pages_read,
      .pages_written = w.index.page_count,
      .allocated_bytes = meta.allocated_size,
      .file_bytes = w.file_offset,
      .frames = w.index.frame_count,
      .frames_copied = w.frames_copied,
      .content_digest = meta.content_digest,
    };
  r = 0;
out:
  writer_free (&w);
  return r;
}
