/* The store: a sparse in-memory disk of up to 2^63-1 bytes.
 *
 * Unallocated pages read as zeros and cost no memory.  There is no global
 * lock on the I/O path: each page has its own reader/writer spinlock, and
 * the page table is a radix tree whose nodes are installed with
 * compare-and-swap and never freed while the store lives.
 *
 * Snapshots are point-in-time without fork(): store_snapshot_begin fixes
 * an instant; a client write that reaches a page the snapshot has not yet
 * visited first hands the 4 KiB blocks it overwrites to the snapshot
 * (copy-on-write), so extra memory is bounded by the data written during
 * the walk.  See docs/design.md for the protocol and what protects what.
 *
 * A lazily loaded store starts with its pages "still in the file": a
 * request that reaches such a page first has the fault hook load it
 * (store_set_fault_hook, store_mark_in_file, store_install_page).
 *
 * All functions are safe to call from many threads at once, except
 * store_create/store_destroy, store_page_for_load, store_set_fault_hook
 * and store_mark_in_file (see there).
 */
#ifndef MEMDISK_STORE_H
#define MEMDISK_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/pagesize.h"

#define STORE_DEFAULT_PAGE_SIZE 32768u
#define STORE_MAX_SIZE ((uint64_t) INT64_MAX)

struct store;

/* A store of SIZE bytes (0 .. STORE_MAX_SIZE) with pages of PAGE_SIZE
 * bytes (a power of two in MD_MIN_PAGE_SIZE .. MD_MAX_PAGE_SIZE).
 * Returns NULL with md_error() set on bad arguments or ENOMEM. */
struct store *store_create (uint64_t size, uint32_t page_size);
/* store_create with regions (the unit of change tracking, below) of
 * REGION_SIZE bytes: a power of two from the page size to 64 MiB
 * (md_region_size_valid); store_create takes STORE_DEFAULT_REGION_SIZE. */
struct store *store_create_regions (uint64_t size, uint32_t page_size, uint32_t region_size);
void store_destroy (struct store *store);

/* Start the thread that faults page memory in before first writes need
 * it (src/store/pages.c, "The refiller"), stopped by store_destroy.  Call
 * it after any fork, at most once.  0, or -1 with md_error() set: the
 * store then works as before, each first write faulting its own memory. */
int store_start_refiller (struct store *store);

uint64_t store_size (const struct store *store);
uint32_t store_page_size (const struct store *store);
/* Bytes held in allocated pages (a multiple of the page size), pages
 * still in the snapshot file included. */
uint64_t store_allocated_bytes (const struct store *store);
/* Of those, the bytes still in the snapshot file (no memory yet) and the
 * bytes in memory. */
uint64_t store_in_file_bytes (const struct store *store);
uint64_t store_resident_bytes (const struct store *store);

/* I/O.  OFFSET+LEN must lie within the store (else -1, EINVAL).
 * Writes may fail with ENOMEM.  Return 0 or -1 with md_error() set. */
int store_read (struct store *store, void *buf, uint64_t len, uint64_t offset);
int store_write (struct store *store, const void *buf, uint64_t len, uint64_t offset);
/* Zero the range: whole pages are freed, partial pages zeroed in place.
 * Trim has the same effect (a trimmed range reads back as zeros). */
int store_zero (struct store *store, uint64_t len, uint64_t offset);
int store_trim (struct store *store, uint64_t len, uint64_t offset);

/* Report the range [OFFSET, OFFSET+LEN) as maximal runs of allocated
 * (data) or unallocated (hole, reads as zeros) bytes, in order, clipped
 * to the range.  FN returns 0 for the next run, STORE_EXTENTS_STOP to end
 * the walk early (store_extents then returns 0), or -1 to fail it
 * (store_extents then returns -1; FN reports its own error). */
#define STORE_EXTENTS_STOP 1
typedef int (*store_extent_fn) (void *opaque, uint64_t offset, uint64_t len,
                                bool allocated);
int store_extents (struct store *store, uint64_t offset, uint64_t len,
                   store_extent_fn fn, void *opaque);

/* Change tracking, for "save only when something changed".  Every write,
 * zero or trim sets the flag; store_snapshot_begin clears it at the
 * snapshot's instant.  After a failed save call store_mark_changed so the
 * next trigger retries; after loading call store_clear_changed. */
bool store_changed (const struct store *store);
void store_mark_changed (struct store *store);
void store_clear_changed (struct store *store);

/* Point-in-time snapshots.  One at a time per store.
 *
 * store_snapshot_begin fixes the instant: it waits only for writes already
 * in flight to finish (microseconds) and never blocks new ones.  Every
 * write acknowledged before the call is in the snapshot; no write that
 * starts after it returns is.
 *
 * store_snapshot_next copies the next page that was allocated at the
 * instant, in increasing page index order, into BUF (page_size bytes) and
 * sets *PAGE_INDEX.  Returns 1 for a page, 0 at the end, -1 with md_error
 * set when a page still in the file cannot be loaded (the fault hook's
 * error: a damaged frame).  Pages that were
 * allocated but hold only zeros are returned too; skipping them is the
 * writer's choice.
 *
 * store_snapshot_end finishes or abandons the snapshot and frees every
 * page still kept for it.  Returns NULL from begin with md_error()
 * set (EBUSY) when another snapshot is running. */
struct store_snapshot;
struct store_snapshot *store_snapshot_begin (struct store *store);
/* store_snapshot_next, but returning 0 rather than a page at or past
 * LIMIT (the walk then stands at LIMIT, or at the disk's end). */
int store_snapshot_next_before (struct store_snapshot *snap, uint64_t limit,
                                uint64_t *page_index, void *buf);
static inline int
store_snapshot_next (struct store_snapshot *snap, uint64_t *page_index, void *buf)
{
  return store_snapshot_next_before (snap, UINT64_MAX, page_index, buf);
}
void store_snapshot_end (struct store_snapshot *snap);
/* Whether the store had changed since the previous snapshot (or load) at
 * the instant this snapshot began. */
bool store_snapshot_had_changes (const struct store_snapshot *snap);
/* Bytes of page data kept right now for the running snapshot
 * (copy-on-write): old 4 KiB blocks that clients overwrote, and whole
 * pages they replaced or freed. */
uint64_t store_snapshot_preserved_bytes (const struct store_snapshot *snap);

/* Change tracking by region: region R is the store's region size of bytes
 * from R * region size (whole pages), the unit of a snapshot file's data
 * frames.  Exact: a region counts as unchanged only
 * if no write, zero or trim touched it (regions.c).
 *
 * An epoch names an instant: store_snapshot_epoch, the instant of a
 * snapshot (the file it writes holds exactly what was changed before it);
 * store_load_epoch, called after loading and before any client I/O, the
 * instant the loaded file stands for. */
#define STORE_DEFAULT_REGION_SIZE (4u * 1024u * 1024u)
uint32_t store_region_size (const struct store *store);
uint64_t store_region_count (const struct store *store);
uint64_t store_snapshot_epoch (const struct store_snapshot *snap);
uint64_t store_load_epoch (const struct store *store);
/* Whether region R was, at SNAP's instant, as it was at the instant of
 * epoch SINCE (an earlier instant): no change to it in between. */
bool store_snapshot_region_unchanged (const struct store_snapshot *snap, uint64_t region,
                                      uint64_t since);
/* Where SNAP's walk is: the pages below it are visited (or passed over). */
uint64_t store_snapshot_position (const struct store_snapshot *snap);
/* Move SNAP's walk past region R, where it must stand (at or past R's
 * first page, before its end), without copying its pages: the caller has
 * them elsewhere.  Copy-on-write stops there, and what was kept for it is
 * freed. */
void store_snapshot_skip_region (struct store_snapshot *snap, uint64_t region);
/* Move SNAP's walk, which stands at the first page of a region, past the
 * regions before region LIMIT that are unchanged since SINCE, as
 * store_snapshot_skip_region does each; stop at the first changed one.
 * What the store never allocated is passed over in one step: the cost is
 * the allocated part of the range, not its size (a 2^63-byte disk has
 * 2^41 regions). */
void store_snapshot_skip_unchanged (struct store_snapshot *snap, uint64_t since,
                                    uint64_t limit);

/* allocator=malloc (store/prealloc.c): every page of the disk in memory
 * from the start, as nbdkit's memory plugin's allocator=malloc has it.
 * store_preallocate_bytes is the memory that store_preallocate would take:
 * the pages of the disk not in memory yet (holes and pages still in the
 * file).  store_preallocate gives every hole a page and puts aside a page
 * for each page still in the file (its frame's load takes them), all
 * faulted in now; from then on no page is allocated or freed: a zero or
 * trim clears pages in place, extents report the whole disk as data, and
 * memory stays at the disk's size (a running save's copy-on-write blocks
 * aside).  After loading, before any client or the refiller (which it
 * makes unneeded: store_start_refiller then starts nothing).  0, or -1
 * with md_error set (ENOMEM; the pages taken so far stay the store's). */
uint64_t store_preallocate_bytes (const struct store *store);
int store_preallocate (struct store *store);

/* Reset (src/store/reset.c): the disk goes back to its base, the file it
 * last loaded or saved, whose instant is the epoch SINCE
 * (store_load_epoch, store_snapshot_epoch); a disk without a base passes
 * FN NULL and goes back to all zeros.
 *
 * store_reset is an instant like a snapshot's: requests in flight (reads
 * too) finish first; requests that start later wait until the reset
 * returns and then see the base; no request sees a region half reset.
 * Meanwhile FN (OPAQUE, STORE_RESET_INSTANT) is called once, when no
 * request runs (to change what the fault hook serves from), then every
 * region changed since SINCE, and only those (found by a walk over the
 * allocated leaves, store_next_leaf), is handed to FN (OPAQUE, REGION),
 * which puts it back (store_region_to_file); with FN NULL,
 * store_region_to_file (STORE, REGION, NULL, NULL).  Unchanged
 * regions, loaded or not, are not touched.  The change flag is cleared.
 * Not while a snapshot runs (EBUSY): the caller serializes them.
 * 0, or -1 with md_error set when FN failed for a region (the other
 * regions are reset; the disk stays marked changed). */
#define STORE_RESET_INSTANT UINT64_MAX
typedef int (*store_reset_fn) (void *opaque, uint64_t region);
int store_reset (struct store *store, uint64_t since, store_reset_fn fn, void *opaque);

/* Put region REGION back to the file: each of its pages for which
 * IN_FILE (OPAQUE, PAGE_INDEX) is true becomes "in the file" (faulted in
 * on its next touch, store_set_fault_hook), every other page a hole; the
 * pages it held are freed, and the region counts as unchanged since any
 * instant (its stamps go to 0).  IN_FILE NULL: every page a hole.  Each
 * slot changes under its write lock, so a read sees a page before or
 * after, never a torn one; that no request sees the region half done, and
 * that no change of the region runs meanwhile, is the caller's (the
 * reset's drain).  0, or -1 with md_error set (ENOMEM for a leaf). */
typedef bool (*store_in_file_fn) (void *opaque, uint64_t page_index);
int store_region_to_file (struct store *store, uint64_t region, store_in_file_fn in_file,
                          void *opaque);

/* Loading: the page PAGE_INDEX, allocated (zero-filled) if absent, for the
 * caller to fill in place.  Only while no client I/O or snapshot runs;
 * safe to call from several loader threads on distinct pages.  Returns
 * NULL with md_error() set on ENOMEM or an index beyond the store. */
void *store_page_for_load (struct store *store, uint64_t page_index);

/* Lazy loading: pages still in the snapshot file (store/infile.c).
 *
 * A slot marked "in the file" counts as allocated and reads as data in
 * store_extents, but holds no memory yet.  The first read, write, zero,
 * trim or snapshot walk that reaches it calls the fault hook FN (OPAQUE,
 * PAGE_INDEX, BY_CLIENT) without any store lock held (BY_CLIENT: a
 * request, not the snapshot walk: the touch order records clients only); the hook loads the page's
 * frame and calls store_install_page for each of its pages, then returns
 * 0, or -1 with md_error and errno set (the request then fails with that
 * errno, EIO for a damaged frame).  The hook is called concurrently, for
 * the same page too: sharing one load among them is the hook's job.
 * Pages already loaded never call it.
 *
 * store_set_fault_hook and store_mark_in_file: before any other thread
 * uses the store.  Marking needs the hook set; the pages must be holes.
 * Returns 0, or -1 with md_error set (ENOMEM, EINVAL). */
typedef int (*store_fault_fn) (void *opaque, uint64_t page_index, bool by_client);
void store_set_fault_hook (struct store *store, store_fault_fn fn, void *opaque);
int store_mark_in_file (struct store *store, uint64_t first_page, uint64_t page_count);
/* Give page PAGE_INDEX its loaded contents (DATA, page_size bytes, copied)
 * if it is still in the file; a page that is not is left alone.  Safe
 * with concurrent I/O.  0, or -1 with md_error set (ENOMEM). */
int store_install_page (struct store *store, uint64_t page_index, const void *data);
/* Whether page PAGE_INDEX is still in the file (for tests and progress). */
bool store_page_in_file (struct store *store, uint64_t page_index);

/* Region R back to the file (store/giveback.c): each of its pages that no
 * write, zero or trim changed since the instant of epoch SINCE (the base
 * file's: store_load_epoch or a save's) goes back to "in the file", its
 * memory freed, as the region state machine's CLEAN -> IN-FILE move
 * (docs/design.md).  Nothing moves when the region changed since SINCE,
 * when a running save's walk has not passed it, or in a preallocated
 * store; a change that gets in meanwhile stops the move at that page.
 * Returns the pages moved; *WHOLE is true when the whole region is back
 * and still unchanged.  The caller then makes the region's frame loadable
 * again (the fault hook must load it on the next touch): until then a
 * request that meets one of those pages waits.  Safe with concurrent I/O
 * and a running save; one caller per region at a time. */
uint64_t store_region_give_back (struct store *store, uint64_t region, uint64_t since,
                                 bool *whole);

#endif
