/* Lazy loading (lazy.h): frames decoded on demand into a store whose
 * pages start "in the file" (store/infile.c).
 *
 * Each frame has a state word:
 *
 *   ABSENT ──CAS by the first caller──► LOADING ──► RESIDENT
 *      ▲                                   │
 *      └── out of memory, a read error ────┴──────► DAMAGED (for good:
 *          (the next touch tries again)          the frame's bytes are wrong)
 *
 * The caller that wins the compare-and-swap decodes the frame (one
 * decoder from a small pool), installs its pages (store_install_page,
 * under each slot's lock), publishes the end state with a release store
 * and wakes the others, who wait on the state word with a futex: nobody
 * decodes a frame twice, and a frame already resident costs one acquire
 * load.  There is no lock on that path: the pool's mutex is taken only
 * to borrow and return a decoder, by the thread that decodes.
 *
 * A client's fault (the store's hook) loads the frame and records the
 * frame after it as the clients' front, which the front loader follows
 * (plugin/lazyload.c).  A client's first fault of a frame also records
 * its region in the touch order (snapshot/format/touchorder.h), which
 * the next save stores (touched[] marks the frames already recorded);
 * the file's own touch order, mapped to its frames at open, is the
 * prefetch list the loaders take next (snap_lazy_next_prefetch_frame).
 * The frame's pages come from the store's slabs (store/pages.h), faulted
 * in a slab at a time: a page fault per 4 KiB was a third of a first
 * read.
 *
 * What guards what: state[k] is atomic; message[k] is written by the
 * frame's one loader before it stores DAMAGED (release) and read only
 * after loading DAMAGED (acquire); the counters and client_front (a
 * hint, relaxed) are atomic; faults and fault_waiters are atomic
 * (sequentially consistent, see their declaration); touched[k] is
 * exchanged once per frame and the recorder is lock-free (touchorder.c);
 * the prefetch list is read-only once opened and its cursor atomic; the
 * decoder pool has its own mutex (decoderpool.h); the reader is read-only once opened (its
 * descriptor is used by pread only, and closed only once every frame is
 * in an end state, when no decode can start).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/futex.h"
#include "remote/url.h"
#include "snapshot/format/touchorder.h"
#include "snapshot/read/decoder.h"
#include "snapshot/read/decoderpool.h"
#include "snapshot/read/lazy-internal.h"
#include "snapshot/read/lazy.h"
#include "snapshot/read/reader.h"

/* ---- a client's fault ---- */

static uint64_t
frame_region (const struct snap_lazy *lazy, size_t k)
{
  return snap_index_frame_first_page (lazy->index, k) * lazy->page_size / lazy->meta->region_size;
}

/* A client touched PAGE: its frame first, and the background loader is
 * told where the client is.  A client's first touch of a frame not yet
 * loaded (or being loaded) goes into the touch order; the snapshot
 * walk's faults do not (BY_CLIENT false), nor the background loader's
 * loads, which do not fault. */
int
snap_lazy_fault (void *opaque, uint64_t page, bool by_client)
{
  struct snap_lazy *lazy = opaque;
  size_t k = snap_index_frame_of_page (lazy->index, page);

  if (by_client && lazy->records_touches
      && !atomic_exchange_explicit (&lazy->touched[k], true, memory_order_relaxed))
    snap_touch_record (lazy->recorder, frame_region (lazy, k));
  atomic_store_explicit (&lazy->client_front, k + 1, memory_order_relaxed);
  atomic_fetch_add (&lazy->faults, 1);
  if (atomic_load (&lazy->fault_waiters) > 0)
    md_futex_wake_all (&lazy->faults);
  return snap_lazy_load (lazy, k, true);
}

/* ---- loading one frame ---- */

/* The frame's pages into the store. */
static int
install_frame (struct snap_lazy *lazy, size_t k, const unsigned char *data)
{
  const struct snap_frame *f = &lazy->index->frames[k];

  for (size_t i = 0; i < f->run_count; i++) {
    const struct snap_run *run = &lazy->index->runs[f->first_run + i];
    for (uint64_t j = 0; j < run->page_count; j++, data += lazy->page_size)
      if (store_install_page (lazy->store, run->first_page + j, data) == -1)
        return -1;
  }
  return 0;
}

static void
frame_damaged_error (const struct snap_lazy *lazy, size_t k)
{
  md_error_set ("snapshot %s: %s", lazy->path,
                lazy->message[k] ? lazy->message[k] : "a frame could not be loaded");
  errno = EIO;
}

/* The winner of frame K's compare-and-swap: decode, install, publish. */
static int
load_frame_now (struct snap_lazy *lazy, size_t k)
{
  const struct snap_frame *f = &lazy->index->frames[k];
  struct snap_frame_decoder *d = snap_decoder_pool_borrow (&lazy->pool);
  const unsigned char *data = NULL;
  uint32_t end = DAMAGED;
  int r = -1, err = ENOMEM;

  atomic_fetch_add (&lazy->decodes, 1);
  if (d != NULL && (data = snap_reader_decode_frame (lazy->reader, k, d)) == NULL) {
    if (errno == EBADMSG)
      lazy->message[k] = strdup (md_error ());        /* damaged for good */
    else {
      /* A read error may pass (a device's or a network file system's
       * hiccup), like a lack of memory: the next touch tries again. */
      end = ABSENT;
      err = errno == ENOMEM ? ENOMEM : EIO;
    }
  }
  else if (d == NULL || install_frame (lazy, k, data) == -1)
    end = ABSENT;               /* out of memory: the next touch retries */
  else {
    end = RESIDENT;
    r = 0;
  }
  if (d != NULL)
    snap_decoder_pool_return (&lazy->pool, d);

  if (end == RESIDENT) {
    /* The pages are in memory now: the file's cache is not needed, so
     * memory ends at the allocated size.  (Before the count: once every
     * frame is counted, the descriptor may be closed.) */
    posix_fadvise (snap_reader_fd (lazy->reader), (off_t) f->offset, (off_t) f->compressed_size,
                   POSIX_FADV_DONTNEED);
    atomic_fetch_add (&lazy->bytes_loaded, f->page_count * lazy->page_size);
    atomic_fetch_add (&lazy->resident, 1);
  }
  else if (end == DAMAGED)
    atomic_fetch_add (&lazy->damaged, 1);
  atomic_store_explicit (&lazy->state[k], end, memory_order_release);
  md_futex_wake_all (&lazy->state[k]);

  if (end == DAMAGED)
    frame_damaged_error (lazy, k);
  else if (end == ABSENT) {
    char saved[512];
    snprintf (saved, sizeof saved, "%s", md_error ());
    md_error_set ("snapshot %s: loading frame %zu: %s", lazy->path, k, saved);
    errno = err;
  }
  return r;
}

/* 0 once frame K is resident.  -1 with md_error and errno set when it is
 * damaged (EIO, for good) or could not be loaded this time (EIO for a
 * read error, ENOMEM): then it is absent again and the next call tries
 * again (lazy.h, snap_lazy_load_frame).  Without WAIT, 1 at once when
 * another thread is loading it. */
int
snap_lazy_load (struct snap_lazy *lazy, size_t k, bool wait)
{
  _Atomic uint32_t *state = &lazy->state[k];

  for (;;) {
    uint32_t s = atomic_load_explicit (state, memory_order_acquire);
    switch (s) {
    case RESIDENT:
      return 0;
    case DAMAGED:
      frame_damaged_error (lazy, k);
      return -1;
    case ABSENT:
      if (atomic_compare_exchange_strong (state, &s, LOADING)) {
        /* Retired after the exchange: the retire waits for this frame
         * (seen LOADING), so give it back; retired before: it was not. */
        if (atomic_load (&lazy->retired)) {
          atomic_store (state, ABSENT);
          md_futex_wake_all (state);
          return 0;             /* the base moved on: nothing to load */
        }
        return load_frame_now (lazy, k);
      }
      break;
    default:                    /* LOADING: another thread decodes it */
      if (!wait)
        return 1;
      md_futex_wait (state, LOADING);
      break;
    }
  }
}

int
snap_lazy_load_frame (struct snap_lazy *lazy, size_t k)
{
  return snap_lazy_load (lazy, k, true);
}

int
snap_lazy_try_load_frame (struct snap_lazy *lazy, size_t k)
{
  uint32_t s = atomic_load_explicit (&lazy->state[k], memory_order_acquire);

  if (s == RESIDENT)
    return 0;
  return snap_lazy_load (lazy, k, false);
}

size_t
snap_lazy_client_front (const struct snap_lazy *lazy)
{
  return atomic_load_explicit (&lazy->client_front, memory_order_relaxed);
}

uint32_t
snap_lazy_fault_count (const struct snap_lazy *lazy)
{
  return atomic_load (&lazy->faults);
}

void
snap_lazy_wait_for_fault (struct snap_lazy *lazy, uint32_t seen, unsigned timeout_ms)
{
  atomic_fetch_add (&lazy->fault_waiters, 1);
  if (atomic_load (&lazy->faults) == seen)
    md_futex_wait_ms (&lazy->faults, seen, timeout_ms);
  atomic_fetch_sub (&lazy->fault_waiters, 1);
}

void
snap_lazy_wake_fault_waiters (struct snap_lazy *lazy)
{
  md_futex_wake_all (&lazy->faults);
}

bool
snap_lazy_frame_absent (const struct snap_lazy *lazy, size_t k)
{
  return atomic_load_explicit (&lazy->state[k], memory_order_relaxed) == ABSENT;
}

/* ---- the touch order ---- */

/* The frames of the file's touch order, in its order: a region that has
 * no frame in this file (no data) is left out. */
static int
prefetch_from_touch_order (struct snap_lazy *lazy)
{
  const struct snap_metadata *meta = lazy->meta;
  const uint64_t pages_per_region = meta->region_size / meta->page_size;

  if (meta->touch_order_count == 0 || lazy->index->frame_count == 0)
    return 0;
  lazy->prefetch = calloc (meta->touch_order_count, sizeof *lazy->prefetch);
  if (lazy->prefetch == NULL) {
    md_error_set ("opening a snapshot: out of memory for its touch order");
    return -1;
  }
  for (size_t i = 0; i < meta->touch_order_count; i++) {
    /* The last frame starting at or before the region's last page: the
     * region's own if it has one (its first page may lie after the
     * region's first, past a hole). */
    uint64_t last_page = (meta->touch_order[i] + 1) * pages_per_region - 1;
    size_t k = snap_index_frame_of_page (lazy->index, last_page);
    if (frame_region (lazy, k) == meta->touch_order[i])
      lazy->prefetch[lazy->prefetch_count++] = k;
  }
  return 0;
}

size_t
snap_lazy_next_prefetch_frame (struct snap_lazy *lazy)
{
  for (;;) {
    size_t i = atomic_fetch_add_explicit (&lazy->prefetch_next, 1, memory_order_relaxed);
    if (i >= lazy->prefetch_count) {
      /* Stay at the end: the counter never wraps however often asked. */
      atomic_store_explicit (&lazy->prefetch_next, lazy->prefetch_count,
                             memory_order_relaxed);
      return SNAP_LAZY_NO_FRAME;
    }
    if (snap_lazy_frame_absent (lazy, lazy->prefetch[i]))
      return lazy->prefetch[i];
  }
}

size_t
snap_lazy_prefetch_count (const struct snap_lazy *lazy)
{
  return lazy->prefetch_count;
}

size_t
snap_lazy_prefetch_frame (const struct snap_lazy *lazy, size_t i)
{
  return lazy->prefetch[i];
}

size_t
snap_lazy_touch_order (const struct snap_lazy *lazy, uint64_t *out)
{
  uint64_t recorded[SNAP_MAX_TOUCH_ORDER];
  const struct snap_metadata *meta = lazy->meta;
  size_t n;

  if (!lazy->records_touches)
    return 0;
  n = snap_touch_recorded (lazy->recorder, recorded);
  return snap_touch_order_merge (recorded, n, meta->touch_order, meta->touch_order_count, out);
}

/* ---- opening and closing ---- */

struct snap_lazy *
snap_lazy_new (const char *path, struct snap_reader *reader, uint32_t region_size)
{
  struct snap_lazy *lazy = calloc (1, sizeof *lazy);
  const struct snap_metadata *meta;
  char shown[1024];

  /* Messages name a URL without its credentials. */
  md_url_shown (path, shown, sizeof shown);
  if (lazy == NULL || (lazy->path = strdup (md_url_is_http (path) ? shown : path)) == NULL) {
    free (lazy);
    snap_reader_close (reader);
    md_error_set ("opening a snapshot: out of memory");
    return NULL;
  }
  snap_decoder_pool_init (&lazy->pool);
  lazy->client_front = SNAP_LAZY_NO_FRONT;
  lazy->reader = reader;
  if (lazy->reader == NULL)
    goto fail;
  meta = lazy->meta = snap_reader_metadata (lazy->reader);
  /* A lazy load does not check the content digest (format section 10),
   * so it needs no digest records.  A format 2 frame is checked against
   * its region digest, computed from its pages, which checks what the
   * decompressor made as the content digest would; a format 1 frame has
   * none, so zstd's content checksum does that. */
  lazy->pool.zstd_checksums = meta->version_major < 2;
  lazy->pool.records = false;
  lazy->index = snap_reader_index (lazy->reader);
  lazy->page_size = meta->page_size;
  lazy->bytes_total = lazy->index->page_count * meta->page_size;

  size_t n = lazy->index->frame_count;
  lazy->state = calloc (n ? n : 1, sizeof *lazy->state);
  lazy->message = calloc (n ? n : 1, sizeof *lazy->message);
  lazy->touched = calloc (n ? n : 1, sizeof *lazy->touched);
  lazy->recorder = calloc (1, sizeof *lazy->recorder);
  if (lazy->state == NULL || lazy->message == NULL || lazy->touched == NULL
      || lazy->recorder == NULL) {
    md_error_set ("opening a snapshot: out of memory for %zu frames", n);
    goto fail;
  }
  region_size = snap_store_region_size (meta, region_size);
  /* Only in the next saves' regions (the store's): another region size
   * counts in other units. */
  lazy->records_touches = meta->version_major >= 2 && meta->region_size == region_size;
  if (meta->version_major >= 2 && prefetch_from_touch_order (lazy) == -1)
    goto fail;
  return lazy;

 fail:
  snap_lazy_free (lazy);
  return NULL;
}

struct snap_lazy *
snap_lazy_open (const char *path, uint64_t min_size, uint32_t region_size,
                struct store **store, uint64_t *file_virtual_size)
{
  struct snap_lazy *lazy = snap_lazy_new (path, snap_reader_open (path), region_size);

  *store = NULL;
  if (lazy == NULL)
    return NULL;
  const struct snap_metadata *meta = lazy->meta;
  *file_virtual_size = meta->virtual_size;
  lazy->store = store_create_regions (meta->virtual_size > min_size ? meta->virtual_size
                                                                    : min_size,
                                      meta->page_size, snap_store_region_size (meta, region_size));
  if (lazy->store == NULL)
    goto fail;
  store_set_fault_hook (lazy->store, snap_lazy_fault, lazy);
  for (size_t i = 0; i < lazy->index->run_count; i++)
    if (store_mark_in_file (lazy->store, lazy->index->runs[i].first_page,
                            lazy->index->runs[i].page_count) == -1)
      goto fail;
  store_clear_changed (lazy->store);
  *store = lazy->store;
  return lazy;

 fail:
  store_destroy (lazy->store);
  lazy->store = NULL;
  snap_lazy_free (lazy);
  return NULL;
}

void
snap_lazy_free (struct snap_lazy *lazy)
{
  if (lazy == NULL)
    return;
  if (lazy->message != NULL && lazy->index != NULL)
    for (size_t k = 0; k < lazy->index->frame_count; k++)
      free (lazy->message[k]);
  free (lazy->message);
  free ((void *) lazy->state);
  free ((void *) lazy->touched);
  free (lazy->recorder);
  free (lazy->prefetch);
  snap_decoder_pool_destroy (&lazy->pool);
  snap_reader_close (lazy->reader);
  free (lazy->path);
  free (lazy);
}

size_t
snap_lazy_frame_count (const struct snap_lazy *lazy)
{
  return lazy->index->frame_count;
}

void
snap_lazy_get_progress (const struct snap_lazy *lazy, struct snap_lazy_progress *p)
{
  p->frames = lazy->index->frame_count;
  p->frames_resident = atomic_load (&lazy->resident);
  p->frames_damaged = atomic_load (&lazy->damaged);
  p->decodes = atomic_load (&lazy->decodes);
  p->bytes_loaded = atomic_load (&lazy->bytes_loaded);
  p->bytes_total = lazy->bytes_total;
  p->retired = atomic_load (&lazy->retired);
}

bool
snap_lazy_complete (const struct snap_lazy *lazy)
{
  return atomic_load (&lazy->retired)
         || atomic_load (&lazy->resident) + atomic_load (&lazy->damaged)
            == lazy->index->frame_count;
}

bool
snap_lazy_frame_damaged (const struct snap_lazy *lazy, size_t k)
{
  if (atomic_load_explicit (&lazy->state[k], memory_order_acquire) != DAMAGED)
    return false;
  frame_damaged_error (lazy, k);
  return true;
}

const struct snap_reader *
snap_lazy_reader (const struct snap_lazy *lazy)
{
  return lazy->reader;
}

void
snap_lazy_close_file (struct snap_lazy *lazy)
{
  snap_reader_close_file (lazy->reader);
}
