/* Saving a store to a snapshot file and loading one into a new store
 * (storefile.h): the store's snapshot walk feeds the writer, the loader
 * fills the store's pages. */
#include <errno.h>
#include <stdatomic.h>
#include <unistd.h>

#include "common/error.h"
#include "snapshot/format/format.h"
#include "snapshot/read/reader.h"
#include "snapshot/storefile.h"

struct save_source {
  struct store_snapshot *snap;
  _Atomic uint64_t *pages_done;
  /* Incremental saves: the previous file's index, and its instant. */
  const struct snap_index *previous;
  const struct snap_lazy *lazy;         /* previous is this lazy load's file */
  uint64_t since;
  uint64_t pages_per_region;
  uint64_t disk_pages;
  size_t next_frame;            /* in previous: the first of a region not yet passed */
  uint64_t region_end;          /* while a changed region's pages are read: its end */
};

static int
next_page_of (struct save_source *src, uint64_t limit, uint64_t *page_index, void *buf)
{
  int r = store_snapshot_next_before (src->snap, limit, page_index, buf);

  if (r == 1 && src->pages_done != NULL)
    atomic_fetch_add_explicit (src->pages_done, 1, memory_order_relaxed);
  return r;
}

/* The writer's page source.  Without a previous file, the snapshot walk.
 * With one, region by region where the walk stands: an unchanged region
 * is skipped in the store and its frame in the previous file (if it has
 * one: an unchanged region without a frame holds no data) is copied; a
 * changed one is read page by page. */
static int
next_snapshot_page (void *opaque, uint64_t *page_index, void *buf)
{
  struct save_source *src = opaque;

  if (src->previous == NULL)
    return next_page_of (src, UINT64_MAX, page_index, buf);
  for (;;) {
    if (src->region_end != 0) {
      int r = next_page_of (src, src->region_end, page_index, buf);
      if (r != 0)
        return r;
      src->region_end = 0;
    }
    uint64_t position = store_snapshot_position (src->snap);
    uint64_t region = position / src->pages_per_region;
    if (position >= src->disk_pages)
      return 0;
    const struct snap_index *p = src->previous;
    while (src->next_frame < p->frame_count && p->frames[src->next_frame].region < region)
      src->next_frame++;
    uint64_t framed = src->next_frame < p->frame_count
                      ? p->frames[src->next_frame].region : UINT64_MAX;
    if (!store_snapshot_region_unchanged (src->snap, region, src->since)) {
      src->region_end = (region + 1) * src->pages_per_region;
      continue;
    }
    if (framed != region) {
      /* Up to the next framed region, in one step over what the store
       * never allocated (a 2^63-byte disk has 2^41 regions). */
      store_snapshot_skip_unchanged (src->snap, src->since, framed);
      continue;
    }
    store_snapshot_skip_region (src->snap, region);
    if (src->lazy != NULL && snap_lazy_frame_damaged (src->lazy, src->next_frame))
      return -1;
    *page_index = src->next_frame++;
    return SNAP_NEXT_COPY;
  }
}

/* A save from a lazy load's file fails if any of its frames was found
 * damaged, whether this save would have copied it or faulted it in (its
 * pages stay in the file, so no client changed them): the file must not
 * carry them on.  Checked as each frame is copied and again at the end
 * of the walk, for a frame the load found damaged meanwhile. */
static int
check_lazy_damage (const struct save_source *src)
{
  if (src->lazy == NULL)
    return 0;
  for (size_t k = 0; k < src->previous->frame_count; k++)
    if (snap_lazy_frame_damaged (src->lazy, k))
      return -1;
  return 0;
}

static int
next_page_or_copy (void *opaque, uint64_t *page_index, void *buf)
{
  int r = next_snapshot_page (opaque, page_index, buf);

  return r == 0 ? check_lazy_damage (opaque) : r;
}

/* The file PREVIOUS names, or NULL. */
static const struct snap_reader *
previous_reader (const struct snapstore_previous *previous)
{
  if (previous == NULL)
    return NULL;
  return previous->lazy != NULL ? snap_lazy_reader (previous->lazy) : previous->reader;
}

/* One save: from PREVIOUS when it is usable (else full), keeping the new
 * file in RESULT->kept_fd when KEEP_FD.  *EPOCH is the save's instant. */
static int
save_once (struct store *store, const char *path, const struct snap_write_options *options,
           _Atomic uint64_t *pages_done, const struct snapstore_previous *previous,
           bool keep_fd, struct snap_write_result *result, uint64_t *epoch)
{
  struct snap_write_options opts = *options;
  struct save_source src = { .pages_done = pages_done };
  int r;

  snap_timeline_mark (&result->timeline, SNAP_PHASE_BEGIN);
  src.snap = store_snapshot_begin (store);
  snap_timeline_mark (&result->timeline, SNAP_PHASE_INSTANT);
  if (src.snap == NULL)
    return -1;
  *epoch = store_snapshot_epoch (src.snap);
  opts.virtual_size = store_size (store);
  opts.page_size = store_page_size (store);
  opts.region_size = store_region_size (store);
  opts.keep_fd = keep_fd;
  const struct snap_reader *from = previous_reader (previous);
  if (from != NULL) {
    opts.previous = from;
    src.previous = snap_reader_index (from);
    src.lazy = previous->lazy;
    src.since = previous->epoch;
    src.pages_per_region = opts.region_size / opts.page_size;
    src.disk_pages = snap_page_count (opts.virtual_size, opts.page_size);
  }
  r = snap_write_file (path, &opts, next_page_or_copy, &src, result);
  store_snapshot_end (src.snap);
  snap_timeline_mark (&result->timeline, SNAP_PHASE_RELEASED);
  if (r == -1)
    store_mark_changed (store);
  return r;
}

void
snapstore_previous_close (struct snapstore_previous *previous)
{
  snap_reader_close (previous->reader);
  previous->reader = NULL;
  previous->lazy = NULL;
}

void
snapstore_previous_from_lazy (struct snapstore_previous *previous, struct snap_lazy *lazy,
                              const struct store *store)
{
  snapstore_previous_close (previous);
  previous->lazy = lazy;
  /* Loading frames into the store stamps no region (store_install_page):
   * every stamp stays 0, below this. */
  previous->epoch = store_load_epoch (store);
}

/* Drop PREVIOUS when its frames are not the ones a save of STORE with
 * OPTIONS makes; *WHY says why a save will be full. */
static void
previous_check_fit (struct snapstore_previous *previous, const struct store *store,
                    const struct snap_write_options *options, const char **why)
{
  struct snap_write_options probe = *options;

  probe.virtual_size = store_size (store);
  probe.page_size = store_page_size (store);
  probe.region_size = store_region_size (store);
  if (previous_reader (previous) != NULL
      && !snap_write_can_copy (previous_reader (previous), &probe, why))
    snapstore_previous_close (previous);
}

int
snapstore_save (struct store *store, const char *path, const struct snap_write_options *options,
                _Atomic uint64_t *pages_done, struct snapstore_previous *previous,
                struct snapstore_save_counts *counts, struct snap_write_result *result)
{
  struct snap_write_result ignored = { 0 };
  const char *why = "no previous file";
  uint64_t epoch = 0;

  if (result == NULL)
    result = &ignored;
  /* As snap_write_file would, for a save that fails before it (no instant
   * could be taken). */
  snap_write_result_clear (result);
  previous_check_fit (previous, store, options, &why);
  int r = save_once (store, path, options, pages_done, previous, previous != NULL, result,
                     &epoch);
  if (r == -1 && result->previous_bad && previous != NULL) {
    /* The previous file was damaged behind our back: never build on it. */
    snapstore_previous_close (previous);
    why = "the previous file failed a check";
    r = save_once (store, path, options, pages_done, NULL, true, result, &epoch);
  }
  int kept = result->kept_fd;
  result->kept_fd = -1;         /* *PREVIOUS's, or closed */
  if (r == -1) {
    if (kept != -1)
      close (kept);     /* the new file is at PATH, but not durably: not a base */
    return -1;
  }
  if (counts != NULL)
    *counts = (struct snapstore_save_counts) {
      .regions_cloned = result->stats.frames_cloned,
      .regions_copied = result->stats.frames_copied - result->stats.frames_cloned,
      .regions_compressed = result->stats.frames - result->stats.frames_copied,
      .full_why = result->stats.frames_copied == 0 && previous_reader (previous) == NULL
                  ? why : NULL,
      .clone_refused_errno = result->stats.clone_refused_errno,
    };
  if (previous != NULL) {
    snapstore_previous_close (previous);
    previous->reader = snap_reader_adopt_fd (kept);
    previous->epoch = epoch;
  }
  return 0;
}

static void *
load_page_dest (void *opaque, uint64_t page_index)
{
  return store_page_for_load (opaque, page_index);
}

struct store *
snapstore_load (const char *path, uint64_t min_size, uint32_t region_size, unsigned threads,
                uint64_t *file_virtual_size, struct snapstore_previous *previous)
{
  struct snap_reader *reader;
  const struct snap_metadata *meta;
  struct store *store;

  reader = snap_reader_open (path);
  if (reader == NULL)
    return NULL;
  meta = snap_reader_metadata (reader);
  *file_virtual_size = meta->virtual_size;
  store = store_create_regions (meta->virtual_size > min_size ? meta->virtual_size : min_size,
                                meta->page_size, snap_store_region_size (meta, region_size));
  if (store == NULL)
    goto fail;
  if (snap_reader_load (reader, threads, load_page_dest, store) == -1)
    goto fail;
  store_clear_changed (store);
  if (previous != NULL) {
    previous->reader = reader;
    previous->epoch = store_load_epoch (store);
  }
  else
    snap_reader_close (reader);
  return store;

 fail:
  /* Never a half-loaded disk: the caller gets nothing to serve. */
  store_destroy (store);
  snap_reader_close (reader);
  return NULL;
}
