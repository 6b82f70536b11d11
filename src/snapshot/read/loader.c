/* Decoding all frames of a snapshot on several threads.
 *
 * Workers take frames in file order (next_frame), decode them with their
 * own decoder and deliver the pages.  The content digest must see the
 * frames in order, so each worker parks its frame's digest records in a
 * ring of WINDOW slots and whoever completes the lowest pending frame
 * folds all consecutive finished ones.  A worker may take frame K only when
 * K < folded + WINDOW, which bounds the memory held by parked records and
 * means slot K % WINDOW is free when K is taken.
 *
 * For in-order delivery a worker waits, before calling the sink, until all
 * earlier frames are delivered; frames are taken in order, so the frame it
 * waits for is already in another worker's hands and the wait ends.
 *
 * Loader.lock protects next_frame, delivered, folded, the ring's done
 * flags, the digest and the failure; a slot's records are written only by
 * the worker that owns frame K before it sets done, and read only under
 * the lock after.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "snapshot/read/decoder.h"
#include "snapshot/read/reader.h"

/* DELIVER_NOTHING is verification: it also checks zstd's content checksums. */
enum delivery { DELIVER_PAGES, DELIVER_RUNS, DELIVER_NOTHING };

struct parked {
  bool done;
  struct snap_digest_record *records;
  size_t count;
  size_t cap;
};

struct loader {
  struct snap_reader *reader;
  const struct snap_index *index;
  uint32_t page_size;
  enum delivery delivery;
  bool in_order;
  snap_page_dest_fn page_dest;
  snap_run_sink_fn sink;
  void *opaque;

  pthread_mutex_t lock;
  pthread_cond_t changed;       /* any counter moved, or failed */
  size_t next_frame;
  size_t delivered;
  size_t folded;
  size_t window;
  struct parked *ring;
  struct snap_digest digest;
  struct snap_group_failure failure;
};

static void
loader_fail (struct loader *l)
{
  pthread_cond_t *const conds[] = { &l->changed };

  snap_group_fail (&l->lock, &l->failure, conds, 1);
}

static int
deliver_pages (struct loader *l, const struct snap_frame *f, const unsigned char *data)
{
  for (size_t i = 0; i < f->run_count; i++) {
    const struct snap_run *run = &l->index->runs[f->first_run + i];
    for (uint64_t j = 0; j < run->page_count; j++, data += l->page_size) {
      md_error_clear ();
      void *dst = l->page_dest (l->opaque, run->first_page + j);
      if (dst == NULL) {
        if (md_error ()[0] == '\0')
          md_error_set ("no memory for page %llu",
                        (unsigned long long) (run->first_page + j));
        return -1;
      }
      memcpy (dst, data, l->page_size);
    }
  }
  return 0;
}

static int
deliver_runs (struct loader *l, const struct snap_frame *f, const unsigned char *data)
{
  for (size_t i = 0; i < f->run_count; i++) {
    const struct snap_run *run = &l->index->runs[f->first_run + i];
    if (l->sink (l->opaque, run->first_page, run->page_count, data) == -1)
      return -1;
    data += run->page_count * l->page_size;
  }
  return 0;
}

/* Hand frame K's pages on, in frame order when asked to. */
static int
deliver (struct loader *l, size_t k, const unsigned char *data)
{
  const struct snap_frame *f = &l->index->frames[k];
  int r;

  if (l->delivery == DELIVER_NOTHING)
    return 0;
  if (l->delivery == DELIVER_PAGES)
    return deliver_pages (l, f, data);
  if (!l->in_order)
    return deliver_runs (l, f, data);

  pthread_mutex_lock (&l->lock);
  while (!l->failure.failed && l->delivered != k)
    pthread_cond_wait (&l->changed, &l->lock);
  bool failed = l->failure.failed;
  pthread_mutex_unlock (&l->lock);
  if (failed)
    return 0;                   /* someone else reports the error */

  r = deliver_runs (l, f, data);
  pthread_mutex_lock (&l->lock);
  l->delivered++;
  pthread_cond_broadcast (&l->changed);
  pthread_mutex_unlock (&l->lock);
  return r;
}

/* Park frame K's digest records and fold every finished frame in order. */
static int
park_and_fold (struct loader *l, size_t k, const struct snap_frame_decoder *decoder)
{
  struct parked *p = &l->ring[k % l->window];
  size_t count;
  const struct snap_digest_record *records = snap_frame_decoder_records (decoder, &count);

  if (count > p->cap) {
    void *grown = realloc (p->records, count * sizeof *records);
    if (grown == NULL) {
      md_error_set ("reading a snapshot: out of memory");
      return -1;
    }
    p->records = grown;
    p->cap = count;
  }
  if (count > 0)
    memcpy (p->records, records, count * sizeof *records);
  p->count = count;

  pthread_mutex_lock (&l->lock);
  p->done = true;
  while (l->folded < l->index->frame_count && l->ring[l->folded % l->window].done) {
    struct parked *q = &l->ring[l->folded % l->window];
    snap_digest_add (&l->digest, q->records, q->count);
    q->done = false;
    l->folded++;
  }
  pthread_cond_broadcast (&l->changed);
  pthread_mutex_unlock (&l->lock);
  return 0;
}

static void *
worker_main (void *arg)
{
  struct loader *l = arg;
  struct snap_frame_decoder *decoder
    = snap_frame_decoder_new (l->delivery == DELIVER_NOTHING);

  if (decoder == NULL) {
    loader_fail (l);
    return NULL;
  }
  for (;;) {
    pthread_mutex_lock (&l->lock);
    while (!l->failure.failed && l->next_frame < l->index->frame_count
           && l->next_frame >= l->folded + l->window)
      pthread_cond_wait (&l->changed, &l->lock);
    if (l->failure.failed || l->next_frame == l->index->frame_count) {
      pthread_mutex_unlock (&l->lock);
      break;
    }
    size_t k = l->next_frame++;
    pthread_mutex_unlock (&l->lock);

    const unsigned char *data = snap_reader_decode_frame (l->reader, k, decoder);
    if (data == NULL || deliver (l, k, data) == -1
        || park_and_fold (l, k, decoder) == -1) {
      loader_fail (l);
      break;
    }
  }
  snap_frame_decoder_free (decoder);
  return NULL;
}

static int
run_loader (struct snap_reader *reader, unsigned threads, struct loader *l)
{
  int r = -1;

  l->reader = reader;
  l->index = snap_reader_index (reader);
  l->page_size = snap_reader_metadata (reader)->page_size;
  threads = snap_resolve_threads (threads);
  if (threads > l->index->frame_count)
    threads = l->index->frame_count > 0 ? (unsigned) l->index->frame_count : 1;
  l->window = 2 * (size_t) threads + 2;
  pthread_mutex_init (&l->lock, NULL);
  pthread_cond_init (&l->changed, NULL);
  snap_reader_digest_init (reader, &l->digest);

  pthread_t *tids = calloc (threads, sizeof *tids);
  l->ring = calloc (l->window, sizeof *l->ring);
  if (tids == NULL || l->ring == NULL) {
    md_error_set ("reading a snapshot: out of memory");
    goto out;
  }

  /* The calling thread is worker 0. */
  unsigned started = 1;
  for (; started < threads; started++) {
    int err = pthread_create (&tids[started], NULL, worker_main, l);
    if (err != 0) {
      md_error_set ("reading a snapshot: cannot start a thread: %s", strerror (err));
      loader_fail (l);
      break;
    }
  }
  worker_main (l);
  for (unsigned i = 1; i < started; i++)
    pthread_join (tids[i], NULL);

  if (l->failure.failed)
    md_error_set ("%s", l->failure.message);
  else
    r = snap_reader_check_digest (reader, &l->digest);

out:
  if (l->ring != NULL)
    for (size_t i = 0; i < l->window; i++)
      free (l->ring[i].records);
  free (l->ring);
  free (tids);
  pthread_mutex_destroy (&l->lock);
  pthread_cond_destroy (&l->changed);
  return r;
}

int
snap_reader_load (struct snap_reader *reader, unsigned threads,
                  snap_page_dest_fn page_dest, void *opaque)
{
  struct loader l = {
    .delivery = DELIVER_PAGES, .page_dest = page_dest, .opaque = opaque,
  };
  return run_loader (reader, threads, &l);
}

int
snap_reader_read_runs (struct snap_reader *reader, unsigned threads, bool in_order,
                       snap_run_sink_fn sink, void *opaque)
{
  struct loader l = {
    .delivery = DELIVER_RUNS, .in_order = in_order, .sink = sink, .opaque = opaque,
  };
  return run_loader (reader, threads, &l);
}

int
snap_reader_verify (struct snap_reader *reader, unsigned threads)
{
  struct loader l = { .delivery = DELIVER_NOTHING };
  return run_loader (reader, threads, &l);
}
