/* Lazy loading: a store that serves at once, its pages coming in from the
 * snapshot file frame by frame, on first touch (the store's fault hook)
 * or when a background thread asks (snap_lazy_load_frame).
 *
 * Opening reads and checks the header, footer, metadata and index, as an
 * eager load does; the data frames are checked when they are loaded
 * (their XXH64 against the index, zstd's content checksum, the format's
 * rules on pages).  The content digest, which needs every frame in file
 * order, is not checked: an eager load and `memdisk-tool verify` check it.
 *
 * A frame is "frame k" of the index, whatever decided its pages (a count
 * in format 1.0, a region in 2.0): a page is found through the index's
 * runs by binary search.
 */
#ifndef MEMDISK_SNAPLAZY_H
#define MEMDISK_SNAPLAZY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/read/reader.h"
#include "store/store.h"

struct snap_lazy;

/* Open PATH, check its structure, and make a store of max(its virtual
 * size, MIN_SIZE) bytes whose stored pages are all still in the file
 * (*STORE; the caller owns it and must destroy it before snap_lazy_free),
 * with regions of REGION_SIZE bytes (0: the file's; snap_store_region_size).
 * The store is marked unchanged.  *FILE_VIRTUAL_SIZE is the snapshot's.
 * NULL with md_error set when PATH is unreadable or its structure is
 * damaged. */
struct snap_lazy *snap_lazy_open (const char *path, uint64_t min_size, uint32_t region_size,
                                  struct store **store, uint64_t *file_virtual_size);
/* After store_destroy: closes the file and frees everything. */
void snap_lazy_free (struct snap_lazy *lazy);

size_t snap_lazy_frame_count (const struct snap_lazy *lazy);

/* Make frame K resident: 0 once it is (at once if it already was), -1
 * with md_error set and errno EIO when it is damaged (the message names
 * the file, the frame and the byte; it stays damaged) or could not be
 * read (the message says "read error"; a later call tries again), or
 * ENOMEM (a later call tries again).  One thread decodes a frame;
 * concurrent callers for the same frame wait for it.  Safe from any
 * thread. */
int snap_lazy_load_frame (struct snap_lazy *lazy, size_t k);
/* The same for a background loader, which has other frames to load: 1 at
 * once, loading nothing, when another thread is loading frame K. */
int snap_lazy_try_load_frame (struct snap_lazy *lazy, size_t k);
/* The frame after the one a client faulted in last (SNAP_LAZY_NO_FRONT
 * before any; may be the frame count), and whether frame K is still to
 * load (a hint: it may change at once).  For a background loader that
 * follows the clients. */
#define SNAP_LAZY_NO_FRONT SIZE_MAX
size_t snap_lazy_client_front (const struct snap_lazy *lazy);
bool snap_lazy_frame_absent (const struct snap_lazy *lazy, size_t k);
/* How many times clients faulted a page in so far (wraps), and a wait
 * until that count is no longer SEEN, at most TIMEOUT_MS (it may also
 * return early: the caller checks what it waits for).  For loaders that
 * keep out of the clients' way, or follow them. */
uint32_t snap_lazy_fault_count (const struct snap_lazy *lazy);
void snap_lazy_wait_for_fault (struct snap_lazy *lazy, uint32_t seen, unsigned timeout_ms);
/* Wake every snap_lazy_wait_for_fault now (a loader being stopped). */
void snap_lazy_wake_fault_waiters (struct snap_lazy *lazy);

/* The prefetch list: the file's touch order (snapshot/format/touchorder.h)
 * as frames, in its order (a region without a frame in this file left
 * out).  Not what clients fault in this run: that is recorded for the
 * next save (snap_lazy_touch_order).  The next frame of the list still
 * absent, one call each, or SNAP_LAZY_NO_FRAME once the list is done: for
 * the loader threads, after the clients' front and before file order.
 * Any thread. */
#define SNAP_LAZY_NO_FRAME SIZE_MAX
size_t snap_lazy_next_prefetch_frame (struct snap_lazy *lazy);
/* How many frames the prefetch list has, and its I-th (I below that
 * count), loaded or not. */
size_t snap_lazy_prefetch_count (const struct snap_lazy *lazy);
size_t snap_lazy_prefetch_frame (const struct snap_lazy *lazy, size_t i);
/* The order the next save stores, into OUT (room for
 * SNAP_MAX_TOUCH_ORDER): the regions clients faulted in during this run,
 * first fault first, then the file's order without those; 0 when the
 * file's regions are not this writer's (format 1.0, another region
 * size).  Returns how many.  Any thread. */
size_t snap_lazy_touch_order (const struct snap_lazy *lazy, uint64_t *out);

struct snap_lazy_progress {
  size_t frames, frames_resident, frames_damaged;
  size_t decodes;               /* frames decoded (or tried), for tests */
  uint64_t bytes_loaded;        /* page bytes of the resident frames */
  uint64_t bytes_total;         /* page bytes of every frame */
  bool retired;                 /* the base moved on: nothing more loads */
};
void snap_lazy_get_progress (const struct snap_lazy *lazy, struct snap_lazy_progress *progress);
/* Every frame resident or damaged: the file is not needed to serve. */
bool snap_lazy_complete (const struct snap_lazy *lazy);

/* Whether a load of frame K failed for good (the frame is damaged); then
 * md_error says where and why, as snap_lazy_load_frame did.  Any thread. */
bool snap_lazy_frame_damaged (const struct snap_lazy *lazy, size_t k);

/* Resets (lazyreset.c, docs/design.md "Reset"): the file a reset goes
 * back to is served lazily, whether it was loaded lazily, eagerly or
 * written by a save.
 *
 * snap_lazy_attach: a snap_lazy over the snapshot open on FD (dup'ed:
 * the caller keeps FD), PATH for messages, whose pages are in STORE
 * already (an eager load, a save): every frame absent, nothing marked,
 * no hook set (the caller routes the store's fault hook to
 * snap_lazy_fault with it).  NULL with md_error set. */
struct snap_lazy *snap_lazy_attach (const char *path, int fd, struct store *store);
/* The store's fault hook (store_fault_fn) for LAZY, the OPAQUE. */
int snap_lazy_fault (void *opaque, uint64_t page, bool by_client);
/* Region REGION (REGION_PAGES pages from REGION * REGION_PAGES) back to
 * this file: its frames absent again, its pages in the file or holes
 * (store_region_to_file), under the claim of those frames.  Only while
 * no request runs (a store_reset's callback).  0, or -1 with md_error
 * set. */
int snap_lazy_reset_region (struct snap_lazy *lazy, uint64_t region, uint64_t region_pages);
/* Whether the file holds page PAGE (a store_in_file_fn, OPAQUE the
 * snap_lazy). */
bool snap_lazy_holds_page (void *opaque, uint64_t page);
/* The file is no longer the base: decode nothing more from it (loads
 * return 0 at once, snap_lazy_complete says true), once the loads under
 * way have ended. */
void snap_lazy_retire (struct snap_lazy *lazy);

/* The loaded file, for whoever still needs it once everything is loaded
 * (incremental saves copy unchanged frames from it): its reader (index,
 * metadata, and descriptor: snap_reader_fd, -1 after
 * snap_lazy_close_file).  The reader's index stays valid until
 * snap_lazy_free. */
const struct snap_reader *snap_lazy_reader (const struct snap_lazy *lazy);
/* Close the file's descriptor.  Only once snap_lazy_complete: no frame
 * will be read any more. */
void snap_lazy_close_file (struct snap_lazy *lazy);

#endif
