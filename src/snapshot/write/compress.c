/* The writer's workers (pipeline.h): each takes the next filled slot,
 * hashes its pages' 4 KiB blocks for the content digest, compresses them
 * into one zstd frame and hashes that; a slot to be copied from the
 * previous file takes only its index entry's figures.
 */
#include <pthread.h>
#include <stdbool.h>
#include <unistd.h>
#include <zstd.h>

#include "common/error.h"
#include "common/threadnice.h"
#include "common/xxh64.h"
#include "snapshot/format/digest.h"
#include "snapshot/read/reader.h"
#include "snapshot/write/pipeline.h"

/* A frame to be copied from the previous file: what its index entry says
 * of it.  The emitter copies the bytes (emit.c, copy_frame_bytes). */
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

void *
snap_writer_compress_main (void *arg)
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
  if (w->compress_at_nice_19 && md_thread_nice_19 () == -1) {
    /* best effort: keep going at normal priority */
  }

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
