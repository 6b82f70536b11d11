/* What the parts of the store share: the page table (pagetable.c) and
 * its slot locks (store.c), and the epochs and copy-on-write records that make
 * snapshots point-in-time (cow.c).  Not for use outside src/store/.
 *
 *   struct store
 *     root ──► inner ──► inner ──► ... ──► leaf        (0 to 4 inner levels)
 *              child[4096]                 data[4096]  ──► page (page_size bytes) or NULL
 *                                          cow[4096]   ──► struct cow_record or NULL
 *                                          written_epoch[4096]
 *                                          lock[4096]
 *                                          regions[]   (stamps of the regions it covers, or
 *                                                       one for its part of a larger region)
 *
 *   struct cow_record (only while a snapshot runs, only for pages it has
 *   not visited yet and that changed since its instant)
 *     whole ──► the page as it was at the instant, moved aside, or NULL
 *     blocks[page_size / 4096] ──► the instant's 4 KiB block, or NULL
 *
 * What guards what (docs/design.md has the whole protocol):
 *   - root and child[]: atomic, set once from NULL by compare-and-swap,
 *     never changed or freed while the store lives, so any thread may walk
 *     the tree without a lock;
 *   - data[i]: written under lock[i] held for writing; read under lock[i],
 *     except by store_extents, the zero path's hole test and the
 *     PAGE_IN_FILE test before a fault-in, which load it atomically
 *     without the lock.  It may hold PAGE_IN_FILE (a lazy load: the page
 *     is still in the snapshot file, infile.c); only store_install_page
 *     changes that, to the loaded page, and store_region_to_file
 *     (giveback.c) puts it back for a page unchanged since the base file,
 *     both under lock[i];
 *   - fault_fn, fault_opaque: set once before any client, read-only after;
 *   - pages: the page memory (pages.c), one mutex per shard inside;
 *   - cow[i], written_epoch[i]: lock[i];
 *   - lock[i]: a reader/writer spinlock in one 32-bit atomic.  Cheap
 *     because it is held for one memcpy of at most a page; uncontended
 *     unless two requests touch the same page;
 *   - cow_record_pool, cow_block_pool: the memory of cow[] records
 *     (cowpool.h, which has its own lock), set and cleared by the one
 *     running snapshot;
 *   - the counters (allocated_pages, infile_pages, cow_bytes) and the
 *     change flag: atomics;
 *   - preallocated: set by store_preallocate before any client,
 *     read-only after;
 *   - epoch, draining_epoch, snap_epoch, snap_cursor: sequentially
 *     consistent atomics, written only by the one running snapshot;
 *   - inflight[].count[]: atomics, one cache line per shard;
 *   - snapshot_running: snapshot_lock, a mutex taken only when a snapshot
 *     or a reset begins or ends (they never run at once);
 *   - resetting: atomic, written only by the one running reset (reset.c);
 *   - regions[r].epoch, .epoch_at_snap: atomics, written by a modifying
 *     request only the first time in its epoch that it changes region r
 *     (regions.c has the protocol).
 */
#ifndef MEMDISK_STORE_INTERNAL_H
#define MEMDISK_STORE_INTERNAL_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "store/pages.h"
#include "store/store.h"

/* Radix tree geometry: every node has 4096 slots (12 bits of the page
 * index).  Leaves hold the pages; inner nodes hold children.  The depth
 * is the least that covers the store's page count, so a 1 GiB store has
 * one inner level and a 2^63-byte store four. */
#define LEVEL_BITS 12
#define FANOUT (1u << LEVEL_BITS)
#define SLOT_MASK (FANOUT - 1)

/* Copy-on-write granularity: a client write keeps for the snapshot only
 * the 4 KiB blocks it overwrites, not the whole page, so a 4 KiB random
 * write during a save costs 4 KiB, not a page. */
#define COW_BLOCK_SIZE 4096u

/* What a running snapshot keeps of one page (cow.c). */
struct cow_record;

/* Change tracking per region of the store's region size (regions.c); a
 * region larger than a leaf has one stamp in each of its leaves.
 * EPOCH: the epoch of the latest change to the region; EPOCH_AT_SNAP: the
 * value EPOCH had before the first change of the current epoch, which is
 * the value at the instant of a snapshot that began that epoch.  Written
 * only when a request of a new epoch first changes the region, so no
 * cache line is written by every request. */
struct region_stamp {
  _Atomic uint64_t epoch;
  _Atomic uint64_t epoch_at_snap;
};

/* A leaf: 4096 page slots.  Fields marked "lock[i]" are read and written
 * only while holding lock[i] (data[] is also read without it by extents
 * and by the zero path's hole test, hence atomic). */
struct leaf {
  _Atomic (uint8_t *) data[FANOUT];    /* live page, NULL (hole) or PAGE_IN_FILE */
  struct cow_record *cow[FANOUT];      /* lock[i]: what the running snapshot keeps of the page */
  uint64_t written_epoch[FANOUT];      /* lock[i]: epoch of the last change to this slot */
  _Atomic uint32_t lock[FANOUT];       /* reader/writer spinlock of this slot */
  struct region_stamp regions[];       /* FANOUT >> store->stamp_shift stamps */
};

struct inner {
  _Atomic (void *) child[FANOUT];
};

/* Writers announce themselves in one of these counters, indexed by the
 * parity of the epoch they run in, so that store_snapshot_begin can wait
 * for the writes of the previous epoch to drain.  Shards spread threads
 * over cache lines: each modifying request writes its shard twice, so
 * there are about as many as threads of a busy server (nbdkit runs 16
 * threads per connection; 4 connections are 64), a thread's shard chosen
 * by a hash of its descriptor (thread_shard_index), and only the
 * snapshot's instant reads them all. */
#define INFLIGHT_SHARDS 64
struct inflight_shard {
  _Atomic uint64_t count[2];
  char pad[64 - 2 * sizeof (uint64_t)];
};

struct store {
  uint64_t size;
  uint64_t npages;
  uint32_t page_size;
  unsigned page_shift;
  unsigned inner_levels;               /* inner levels above the leaves */
  unsigned region_shift;               /* log2 of the pages per region */
  unsigned stamp_shift;                /* log2 of the pages per stamp: min(region_shift, LEVEL_BITS) */
  size_t leaf_size;                    /* with its region stamps */
  /* allocator=malloc (prealloc.c): every page allocated at start; a zero
   * or trim clears pages in place and never frees them.  Set before any
   * client, read-only after. */
  bool preallocated;
  _Atomic (void *) root;

  /* Read by every request, written once per snapshot: a cache line of
   * their own, apart from the counters below that requests write. */
  struct {
    _Atomic bool changed;
    /* Snapshot coordination (docs/design.md, "Point-in-time snapshots"). */
    _Atomic uint64_t epoch;            /* epoch new writes run in */
    _Atomic uint64_t draining_epoch;   /* writers of this epoch wait; 0 = none */
    _Atomic uint64_t snap_epoch;       /* epoch that began the running snapshot */
    _Atomic uint64_t snap_cursor;      /* pages below it are visited; UINT64_MAX = no snapshot */
    _Atomic bool resetting;            /* a reset runs: new reads wait too (reset.c) */
  } __attribute__ ((aligned (64)));

  /* Written when a page is allocated or freed, or kept for a snapshot. */
  struct {
    _Atomic uint64_t allocated_pages;  /* pages and PAGE_IN_FILE slots */
    _Atomic uint64_t infile_pages;     /* PAGE_IN_FILE slots (infile.c) */
    _Atomic uint64_t cow_bytes;        /* page data held in copy-on-write records */
  } __attribute__ ((aligned (64)));

  /* Where the running snapshot's records and kept blocks live (cowpool.h):
   * made by store_snapshot_begin before its epoch is published, destroyed
   * by store_snapshot_end after its last record is freed; used only by
   * changes the running snapshot wants and by the snapshot itself. */
  struct cow_pool *cow_record_pool;
  struct cow_pool *cow_block_pool;
  pthread_mutex_t snapshot_lock;       /* guards snapshot_running */
  bool snapshot_running;

  struct inflight_shard inflight[INFLIGHT_SHARDS] __attribute__ ((aligned (64)));

  /* Where pages come from (pages.c): page_alloc, page_free. */
  struct page_pool pages;

  /* Lazy loading (infile.c): called for a PAGE_IN_FILE slot. */
  store_fault_fn fault_fn;
  void *fault_opaque;
};

/* A running snapshot: its epoch and where its walk is (cow.c, regions.c). */
struct store_snapshot {
  struct store *store;
  uint64_t epoch;
  uint64_t next_index;
  bool had_changes;
};

/* ---- pages still in the snapshot file (infile.c) ---------------------- */

/* The sentinel of a slot whose page is still in the snapshot file: not
 * NULL, so extents report it as data and the zero path does not take it
 * for a hole; never read, written or freed as a page. */
extern uint8_t store_page_in_file_marker;
#define PAGE_IN_FILE (&store_page_in_file_marker)

/* Have the fault hook load the page of SLOT if it still is PAGE_IN_FILE.
 * Called without the slot's lock (the hook takes it to install the page).
 * BY_CLIENT: for a request (read, write, zero, trim), not the snapshot walk.
 * 0 once the slot holds a real page or a hole, -1 with md_error set. */
int store_fault_in (struct store *store, struct leaf *leaf, unsigned slot,
                    uint64_t page_index, bool by_client);

/* ---- slot locks ------------------------------------------------------ */

#define LOCK_WRITER 0x80000000u
#define LOCK_WAITING 0x40000000u

/* Spin a little, then yield: on a 2-core machine the holder may have been
 * preempted. */
static inline void
spin_backoff (unsigned *spins)
{
  if (++*spins < 64) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause ();
#endif
  }
  else
    sched_yield ();
}

static inline void
page_read_lock (_Atomic uint32_t *lock)
{
  unsigned spins = 0;

  for (;;) {
    uint32_t v = atomic_load_explicit (lock, memory_order_relaxed);
    /* Readers step aside for a waiting writer so writers cannot starve. */
    if (!(v & (LOCK_WRITER | LOCK_WAITING)) &&
        atomic_compare_exchange_weak_explicit (lock, &v, v + 1,
                                               memory_order_acquire,
                                               memory_order_relaxed))
      return;
    spin_backoff (&spins);
  }
}

static inline void
page_read_unlock (_Atomic uint32_t *lock)
{
  atomic_fetch_sub_explicit (lock, 1, memory_order_release);
}

static inline void
page_write_lock (_Atomic uint32_t *lock)
{
  unsigned spins = 0;

  for (;;) {
    uint32_t v = atomic_load_explicit (lock, memory_order_relaxed);
    if ((v & ~LOCK_WAITING) == 0) {
      if (atomic_compare_exchange_weak_explicit (lock, &v, LOCK_WRITER,
                                                 memory_order_acquire,
                                                 memory_order_relaxed))
        return;
    }
    else if (!(v & LOCK_WAITING))
      atomic_fetch_or_explicit (lock, LOCK_WAITING, memory_order_relaxed);
    spin_backoff (&spins);
  }
}

static inline void
page_write_unlock (_Atomic uint32_t *lock)
{
  /* Clearing LOCK_WAITING too is fine: a writer still waiting sets it again. */
  atomic_store_explicit (lock, 0, memory_order_release);
}

/* ---- the page table (pagetable.c) ------------------------------------ */

/* The leaf holding PAGE_INDEX.  When the path is missing and CREATE is
 * false, return NULL and set *HOLE_PAGES to the number of pages from
 * PAGE_INDEX to the end of the missing subtree (all of them holes).  With
 * CREATE, NULL means out of memory. */
struct leaf *store_leaf_find (struct store *store, uint64_t page_index, bool create,
                              uint64_t *hole_pages);
/* The leaf of the first page at or after *PAGE_INDEX that has one, with
 * *PAGE_INDEX moved to that page; NULL and *PAGE_INDEX = npages when no
 * leaf follows.  Every page it passes over is a hole now and was one at
 * every earlier instant (nodes are never freed).  Costs a scan of the
 * nodes on the way, never a step per missing page or region. */
struct leaf *store_next_leaf (struct store *store, uint64_t *page_index);
/* Free every node and the copy-on-write records in the leaves (not the
 * pages: they go with the page pool). */
void store_table_free (struct store *store);

/* ---- region stamps (regions.c) ---------------------------------------- */

/* Before a request of EPOCH changes page PAGE_INDEX of LEAF: stamp its
 * region.  One relaxed load when the region was changed in this epoch
 * already; else the previous stamp is kept in epoch_at_snap, then the
 * epoch published (release, for store_snapshot_region_unchanged).  Racing
 * requests of one epoch store the same values: requests of two epochs
 * never run at once (epoch_enter waits for the old one to drain). */
static inline void
region_stamp (const struct store *store, struct leaf *leaf, uint64_t page_index,
              uint64_t epoch)
{
  struct region_stamp *st = &leaf->regions[(page_index & SLOT_MASK) >> store->stamp_shift];
  uint64_t previous = atomic_load_explicit (&st->epoch, memory_order_relaxed);

  if (previous == epoch)
    return;
  atomic_store_explicit (&st->epoch_at_snap, previous, memory_order_relaxed);
  atomic_store_explicit (&st->epoch, epoch, memory_order_release);
}

/* ---- epochs (cow.c) -------------------------------------------------- */

/* This thread's in-flight counter shard. */
struct inflight_shard *epoch_shard (struct store *store);
/* Enter a modifying request: returns the epoch it runs in.  A request
 * counts as in flight in that epoch's counter until epoch_exit, so that
 * store_snapshot_begin can wait for every request of the old epoch. */
uint64_t epoch_enter (struct store *store, struct inflight_shard *shard);
void epoch_exit (struct inflight_shard *shard, uint64_t epoch);
/* Enter a read: counted in flight like a change, so that a reset waits
 * for it, but waiting only while a reset runs (a snapshot's drain does
 * not hold reads back).  Leave with epoch_exit. */
uint64_t epoch_enter_read (struct store *store, struct inflight_shard *shard);
/* The in-flight requests of the epochs of PARITY (cow.c). */
uint64_t epoch_inflight (struct store *store, unsigned parity);

/* ---- copy-on-write records (cow.c) ------------------------------------- */

/* The record a change in EPOCH must update before it touches the live
 * page PAGE of SLOT, or NULL when the snapshot needs nothing from this
 * change (not running, page visited, page absent at the instant, or kept
 * whole already).  Sets *FAILED on ENOMEM.  Caller holds the write lock. */
struct cow_record *cow_for_change (struct store *store, struct leaf *leaf, unsigned slot,
                                   uint64_t page_index, uint64_t epoch,
                                   const uint8_t *page, bool *failed);
/* Keep the old contents of the blocks of PAGE that [IN_PAGE, IN_PAGE+N)
 * touches and that are not kept yet.  -1 on ENOMEM (what was kept stays
 * right: each kept block holds the instant's contents). */
int cow_save_blocks (struct store *store, struct cow_record *cow, const uint8_t *page,
                     uint32_t in_page, uint32_t n);
/* The live PAGE leaves its slot (freed or replaced whole): restore it to
 * the instant's contents and keep it whole instead of its blocks. */
void cow_take_page (struct store *store, struct cow_record *cow, uint8_t *page);
/* Free a record (NULL is fine) and what it keeps. */
void cow_record_free (struct store *store, struct cow_record *cow);
/* Unmap the running snapshot's pools, whatever they still hold (after its
 * last record is freed, or when the store is destroyed). */
void cow_pools_destroy (struct store *store);

#endif
