/* The writer's producer (pipeline.h), on the caller's thread: pulls pages
 * from the source, checks them, drops all-zero ones and fills the slots,
 * cutting a frame where the page index enters another region (format
 * 2.0, section 4), so that the output depends on the pages alone; a frame
 * the source says to copy from the previous file takes a slot of its own.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/error.h"
#include "common/iszero.h"
#include "snapshot/format/format.h"
#include "snapshot/read/reader.h"
#include "snapshot/write/pipeline.h"
#include "snapshot/write/writer-internal.h"

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
void
snap_writer_produce (struct writer *w, snap_next_page_fn next_page, void *opaque)
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
