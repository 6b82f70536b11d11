/* The store: a sparse page table with per-page locks and page-level
 * copy-on-write for point-in-time snapshots.  docs/design.md describes the
 * protocol; the comments here say which rule each step keeps.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/store.h"

/* Radix tree geometry: every node has 4096 slots (12 bits of the page
 * index).  Leaves hold the pages; inner nodes hold children.  The depth
 * is the least that covers the store's page count, so a 1 GiB store has
 * one inner level and a 2^63-byte store four. */
#define LEVEL_BITS 12
#define FANOUT (1u << LEVEL_BITS)
#define SLOT_MASK (FANOUT - 1)

/* A leaf: 4096 page slots.  Fields marked "lock[i]" are read and written
 * only while holding lock[i] (data[] is also read without it by extents
 * and by the zero path's hole test, hence atomic). */
struct leaf {
  _Atomic (uint8_t *) data[FANOUT];    /* live page or NULL (hole) */
  struct kept *kept[FANOUT];           /* lock[i]: what the running snapshot keeps of the page */
  uint64_t written_epoch[FANOUT];      /* lock[i]: epoch of the last change to this slot */
  _Atomic uint32_t lock[FANOUT];       /* reader/writer spinlock of this slot */
};

struct inner {
  _Atomic (void *) child[FANOUT];
};

/* Copy-on-write granularity: a client write keeps for the snapshot only
 * the 4 KiB blocks it overwrites, not the whole page, so a 4 KiB random
 * write during a save costs 4 KiB, not a page. */
#define KEEP_BLOCK 4096u

/* What a running snapshot keeps of one page that clients changed after
 * the instant and before the snapshot visited it.  Either the page as it
 * was at the instant, moved aside whole (when a change replaced or freed
 * the whole page), or the old contents of the blocks changed since: the
 * live page with those blocks put back is the page at the instant. */
struct kept {
  uint8_t *whole;
  uint8_t *blocks[];            /* page_size / KEEP_BLOCK entries */
};

/* Writers announce themselves in one of these counters, indexed by the
 * parity of the epoch they run in, so that store_snapshot_begin can wait
 * for the writes of the previous epoch to drain.  Shards spread threads
 * over cache lines. */
#define INFLIGHT_SHARDS 16
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
  _Atomic (void *) root;

  _Atomic uint64_t allocated_pages;
  _Atomic bool changed;

  /* Snapshot coordination (docs/design.md, "Point-in-time snapshots"). */
  _Atomic uint64_t epoch;              /* epoch new writes run in */
  _Atomic uint64_t draining_epoch;     /* writers of this epoch wait; 0 = none */
  _Atomic uint64_t snap_epoch;         /* epoch that began the running snapshot */
  _Atomic uint64_t snap_cursor;        /* pages below it are visited; UINT64_MAX = no snapshot */
  _Atomic uint64_t kept_bytes;         /* page data held in struct kept for the snapshot */
  pthread_mutex_t snapshot_lock;       /* guards snapshot_running */
  bool snapshot_running;

  struct inflight_shard inflight[INFLIGHT_SHARDS];
};

struct store_snapshot {
  struct store *store;
  uint64_t epoch;
  uint64_t next_index;
  bool had_changes;
};

/* ---- page locks ---------------------------------------------------- */

#define LOCK_WRITER 0x80000000u
#define LOCK_WAITING 0x40000000u

static void
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

static void
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

static void
page_read_unlock (_Atomic uint32_t *lock)
{
  atomic_fetch_sub_explicit (lock, 1, memory_order_release);
}

static void
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

static void
page_write_unlock (_Atomic uint32_t *lock)
{
  /* Clearing LOCK_WAITING too is fine: a writer still waiting sets it again. */
  atomic_store_explicit (lock, 0, memory_order_release);
}

/* ---- the radix tree -------------------------------------------------- */

/* Install a zeroed node of SIZE bytes in SLOT unless another thread won
 * the race; either way return the node now in SLOT. */
static void *
node_install (_Atomic (void *) *slot, size_t size)
{
  void *expected = NULL;
  void *node = calloc (1, size);

  if (node == NULL) {
    md_error_set ("out of memory allocating the page table");
    return NULL;
  }
  if (!atomic_compare_exchange_strong_explicit (slot, &expected, node,
                                                memory_order_acq_rel,
                                                memory_order_acquire)) {
    free (node);
    return expected;
  }
  return node;
}

/* The leaf holding PAGE_INDEX.  When the path is missing and CREATE is
 * false, return NULL and set *HOLE_PAGES to the number of pages from
 * PAGE_INDEX to the end of the missing subtree (all of them holes).  With
 * CREATE, NULL means out of memory. */
static struct leaf *
leaf_find (struct store *store, uint64_t page_index, bool create,
           uint64_t *hole_pages)
{
  _Atomic (void *) *slot = &store->root;

  for (unsigned level = store->inner_levels;; level--) {
    void *node = atomic_load_explicit (slot, memory_order_acquire);

    if (node == NULL) {
      if (!create) {
        unsigned span_bits = LEVEL_BITS * (level + 1);
        uint64_t span = span_bits >= 64 ? UINT64_MAX : UINT64_C (1) << span_bits;
        if (hole_pages)
          *hole_pages = span - (page_index & (span - 1));
        return NULL;
      }
      node = node_install (slot, level == 0 ? sizeof (struct leaf)
                                            : sizeof (struct inner));
      if (node == NULL)
        return NULL;
    }
    if (level == 0)
      return node;
    slot = &((struct inner *) node)->child[(page_index >> (LEVEL_BITS * level)) & SLOT_MASK];
  }
}

/* ---- what snapshots keep ----------------------------------------------- */

static unsigned
kept_nblocks (const struct store *store)
{
  return store->page_size / KEEP_BLOCK;
}

static struct kept *
kept_new (struct store *store)
{
  return calloc (1, sizeof (struct kept) + kept_nblocks (store) * sizeof (uint8_t *));
}

static void
kept_free (struct store *store, struct kept *kept)
{
  uint64_t bytes = 0;

  if (kept == NULL)
    return;
  if (kept->whole) {
    free (kept->whole);
    bytes += store->page_size;
  }
  for (unsigned b = 0; b < kept_nblocks (store); b++)
    if (kept->blocks[b]) {
      free (kept->blocks[b]);
      bytes += KEEP_BLOCK;
    }
  atomic_fetch_sub_explicit (&store->kept_bytes, bytes, memory_order_relaxed);
  free (kept);
}

/* Keep the old contents of the blocks of PAGE that [IN_PAGE, IN_PAGE+N)
 * touches and that are not kept yet.  -1 on ENOMEM (what was kept stays
 * right: each kept block holds the instant's contents). */
static int
kept_save_blocks (struct store *store, struct kept *kept, const uint8_t *page,
                  uint32_t in_page, uint32_t n)
{
  for (uint32_t b = in_page / KEEP_BLOCK; b <= (in_page + n - 1) / KEEP_BLOCK; b++) {
    if (kept->blocks[b])
      continue;
    kept->blocks[b] = malloc (KEEP_BLOCK);
    if (kept->blocks[b] == NULL)
      return -1;
    memcpy (kept->blocks[b], page + (size_t) b * KEEP_BLOCK, KEEP_BLOCK);
    atomic_fetch_add_explicit (&store->kept_bytes, KEEP_BLOCK, memory_order_relaxed);
  }
  return 0;
}

/* Put the kept blocks back into PAGE (a copy of the live page), making it
 * the page as it was at the instant. */
static void
kept_apply_blocks (const struct store *store, const struct kept *kept, uint8_t *page)
{
  for (unsigned b = 0; b < kept_nblocks (store); b++)
    if (kept->blocks[b])
      memcpy (page + (size_t) b * KEEP_BLOCK, kept->blocks[b], KEEP_BLOCK);
}

/* The live PAGE leaves the slot (freed or replaced whole): restore it to
 * the instant's contents and keep it whole instead of its blocks. */
static void
kept_take_page (struct store *store, struct kept *kept, uint8_t *page)
{
  kept_apply_blocks (store, kept, page);
  for (unsigned b = 0; b < kept_nblocks (store); b++)
    if (kept->blocks[b]) {
      free (kept->blocks[b]);
      kept->blocks[b] = NULL;
      atomic_fetch_sub_explicit (&store->kept_bytes, KEEP_BLOCK, memory_order_relaxed);
    }
  kept->whole = page;
  atomic_fetch_add_explicit (&store->kept_bytes, store->page_size, memory_order_relaxed);
}

static void
node_free (struct store *store, void *node, unsigned level)
{
  if (node == NULL)
    return;
  if (level == 0) {
    struct leaf *leaf = node;
    for (unsigned i = 0; i < FANOUT; i++) {
      free (atomic_load_explicit (&leaf->data[i], memory_order_relaxed));
      kept_free (store, leaf->kept[i]);
    }
  }
  else {
    struct inner *inner = node;
    for (unsigned i = 0; i < FANOUT; i++)
      node_free (store, atomic_load_explicit (&inner->child[i], memory_order_relaxed), level - 1);
  }
  free (node);
}

/* ---- creation -------------------------------------------------------- */

struct store *
store_create (uint64_t size, uint32_t page_size)
{
  struct store *store;
  uint64_t max_index;
  unsigned index_bits;

  if (page_size < STORE_MIN_PAGE_SIZE || page_size > STORE_MAX_PAGE_SIZE ||
      (page_size & (page_size - 1)) != 0) {
    md_error_set ("page size %" PRIu32 " is not a power of two between %u and %u",
                  page_size, STORE_MIN_PAGE_SIZE, STORE_MAX_PAGE_SIZE);
    errno = EINVAL;
    return NULL;
  }
  if (size > STORE_MAX_SIZE) {
    md_error_set ("size %" PRIu64 " is larger than the maximum %" PRIu64,
                  size, STORE_MAX_SIZE);
    errno = EINVAL;
    return NULL;
  }

  store = calloc (1, sizeof *store);
  if (store == NULL) {
    md_error_set ("out of memory creating the store");
    return NULL;
  }
  store->size = size;
  store->page_size = page_size;
  store->page_shift = (unsigned) __builtin_ctz (page_size);
  store->npages = (size + page_size - 1) >> store->page_shift;

  max_index = store->npages > 0 ? store->npages - 1 : 0;
  index_bits = max_index > 0 ? 64 - (unsigned) __builtin_clzll (max_index) : 1;
  store->inner_levels = index_bits > LEVEL_BITS
                        ? (index_bits - 1) / LEVEL_BITS : 0;

  atomic_init (&store->epoch, 1);
  atomic_init (&store->snap_cursor, UINT64_MAX);
  pthread_mutex_init (&store->snapshot_lock, NULL);
  return store;
}

void
store_destroy (struct store *store)
{
  if (store == NULL)
    return;
  node_free (store, atomic_load_explicit (&store->root, memory_order_relaxed),
             store->inner_levels);
  pthread_mutex_destroy (&store->snapshot_lock);
  free (store);
}

uint64_t
store_size (const struct store *store)
{
  return store->size;
}

uint32_t
store_page_size (const struct store *store)
{
  return store->page_size;
}

uint64_t
store_allocated_bytes (const struct store *store)
{
  return atomic_load_explicit (&store->allocated_pages, memory_order_relaxed)
         << store->page_shift;
}

/* ---- change tracking --------------------------------------------------- */

bool
store_changed (const struct store *store)
{
  return atomic_load (&store->changed);
}

void
store_mark_changed (struct store *store)
{
  atomic_store (&store->changed, true);
}

void
store_clear_changed (struct store *store)
{
  atomic_store (&store->changed, false);
}

/* ---- writer registration (the snapshot instant) ---------------------- */

static _Thread_local unsigned thread_shard = UINT_MAX;
static _Atomic unsigned next_shard;

static struct inflight_shard *
my_shard (struct store *store)
{
  if (thread_shard == UINT_MAX)
    thread_shard = atomic_fetch_add_explicit (&next_shard, 1, memory_order_relaxed)
                   % INFLIGHT_SHARDS;
  return &store->inflight[thread_shard];
}

/* Enter a modifying request: returns the epoch it runs in.  A request
 * counts as in flight in that epoch's counter until writer_exit, so that
 * store_snapshot_begin can wait for every request of the old epoch. */
static uint64_t
writer_enter (struct store *store, struct inflight_shard *shard)
{
  unsigned spins = 0;

  for (;;) {
    uint64_t epoch = atomic_load (&store->epoch);
    atomic_fetch_add (&shard->count[epoch & 1], 1);
    /* Re-check: had the epoch moved on before we registered, the snapshot
     * might already have stopped waiting for our old epoch. */
    if (atomic_load (&store->epoch) != epoch) {
      atomic_fetch_sub (&shard->count[epoch & 1], 1);
      continue;
    }
    /* Requests of the new epoch wait while the old epoch drains, so no
     * page sees a new-epoch change before an old-epoch one (microseconds:
     * only requests already in flight at the instant are waited for). */
    while (atomic_load (&store->draining_epoch) == epoch)
      spin_backoff (&spins);
    if (!atomic_load_explicit (&store->changed, memory_order_relaxed))
      atomic_store (&store->changed, true);
    return epoch;
  }
}

static void
writer_exit (struct inflight_shard *shard, uint64_t epoch)
{
  atomic_fetch_sub_explicit (&shard->count[epoch & 1], 1, memory_order_release);
}

/* ---- I/O ------------------------------------------------------------- */

static int
check_range (const struct store *store, uint64_t len, uint64_t offset, const char *op)
{
  if (offset > store->size || len > store->size - offset) {
    md_error_set ("%s of %" PRIu64 " bytes at offset %" PRIu64
                  " is beyond the end of the disk (%" PRIu64 " bytes)",
                  op, len, offset, store->size);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

/* Bytes from OFFSET (N of them in its page) to the end of a run of
 * HOLE_PAGES missing pages starting at PAGE_INDEX, clipped to LEN. */
static uint64_t
hole_run_bytes (const struct store *store, uint64_t page_index,
                uint64_t hole_pages, uint64_t n, uint64_t len)
{
  uint64_t bytes;

  if (hole_pages >= store->npages - page_index)
    return len;                 /* the hole reaches the end of the disk */
  bytes = ((hole_pages - 1) << store->page_shift) + n;
  return bytes < len ? bytes : len;
}

int
store_read (struct store *store, void *buf, uint64_t len, uint64_t offset)
{
  uint8_t *out = buf;

  if (check_range (store, len, offset, "read") == -1)
    return -1;

  while (len > 0) {
    uint64_t page_index = offset >> store->page_shift;
    uint32_t in_page = offset & (store->page_size - 1);
    uint64_t n = store->page_size - in_page;
    uint64_t hole_pages;
    struct leaf *leaf;

    if (n > len)
      n = len;
    leaf = leaf_find (store, page_index, false, &hole_pages);
    if (leaf == NULL) {
      /* A whole missing subtree reads as zeros in one go. */
      n = hole_run_bytes (store, page_index, hole_pages, n, len);
      memset (out, 0, n);
    }
    else {
      unsigned slot = page_index & SLOT_MASK;
      page_read_lock (&leaf->lock[slot]);
      uint8_t *page = atomic_load_explicit (&leaf->data[slot], memory_order_relaxed);
      if (page)
        memcpy (out, page + in_page, n);
      else
        memset (out, 0, n);
      page_read_unlock (&leaf->lock[slot]);
    }
    out += n;
    offset += n;
    len -= n;
  }
  return 0;
}

static bool
is_zero (const uint8_t *p, size_t n)
{
  /* Compare the buffer with itself shifted: memcmp is vectorised. */
  for (size_t i = 0; i < n && i < 16; i++)
    if (p[i] != 0)
      return false;
  return n <= 16 || memcmp (p, p + 16, n - 16) == 0;
}

/* Whether a change in EPOCH to page PAGE_INDEX must first hand what it
 * overwrites to the running snapshot: the snapshot began with this epoch
 * and has not visited the page yet.  Caller holds the slot's write lock. */
static bool
snapshot_wants (struct store *store, uint64_t page_index, uint64_t epoch)
{
  return epoch == atomic_load (&store->snap_epoch) &&
         page_index >= atomic_load (&store->snap_cursor);
}

/* The record a change in EPOCH must update before it touches the live
 * page of SLOT, or NULL when the snapshot needs nothing from this change
 * (not running, page visited, page absent at the instant, or kept whole
 * already).  Sets *FAILED on ENOMEM.  Caller holds the write lock. */
static struct kept *
kept_for_change (struct store *store, struct leaf *leaf, unsigned slot,
                 uint64_t page_index, uint64_t epoch, const uint8_t *page,
                 bool *failed)
{
  struct kept *kept;

  *failed = false;
  if (!snapshot_wants (store, page_index, epoch))
    return NULL;
  if (leaf->written_epoch[slot] < epoch) {
    /* The first change since the instant: the live page is the instant's
     * page, or there was none (then the snapshot needs nothing). */
    leaf->written_epoch[slot] = epoch;
    if (page == NULL)
      return NULL;
    kept = kept_new (store);
    if (kept == NULL) {
      /* Unchanged so far, so "changed, nothing kept" would be wrong. */
      leaf->written_epoch[slot] = epoch - 1;
      *failed = true;
      return NULL;
    }
    leaf->kept[slot] = kept;
    return kept;
  }
  kept = leaf->kept[slot];
  return kept && kept->whole == NULL ? kept : NULL;
}

/* Apply one page's share of a write (SRC non-NULL) or zero (SRC NULL). */
static int
page_change (struct store *store, uint64_t epoch, uint64_t page_index,
             uint32_t in_page, uint32_t n, const uint8_t *src)
{
  const uint32_t page_size = store->page_size;
  const bool whole = n == page_size;
  unsigned slot = page_index & SLOT_MASK;
  struct leaf *leaf;
  struct kept *kept;
  uint8_t *page, *copy;
  bool failed;

  leaf = leaf_find (store, page_index, src != NULL, NULL);
  if (leaf == NULL)
    return src ? -1 : 0;  /* zeroing a missing subtree: nothing to do */
  /* Zeroing a hole changes nothing.  (Requests of other epochs never run
   * concurrently with this one, so skipping here orders it consistently.) */
  if (src == NULL && atomic_load_explicit (&leaf->data[slot], memory_order_acquire) == NULL)
    return 0;

  page_write_lock (&leaf->lock[slot]);
  page = atomic_load_explicit (&leaf->data[slot], memory_order_relaxed);
  kept = kept_for_change (store, leaf, slot, page_index, epoch, page, &failed);
  if (failed)
    goto enomem;

  if (page == NULL) {
    if (src == NULL || is_zero (src, n))
      goto out;             /* still a hole */
    copy = malloc (page_size);
    if (copy == NULL)
      goto enomem;
    if (!whole)
      memset (copy, 0, page_size);
    memcpy (copy + in_page, src, n);
    atomic_store_explicit (&leaf->data[slot], copy, memory_order_release);
    atomic_fetch_add_explicit (&store->allocated_pages, 1, memory_order_relaxed);
  }
  else if (src == NULL &&
           (whole || (is_zero (page, in_page) &&
                      is_zero (page + in_page + n, page_size - in_page - n)))) {
    /* Zero or trim that leaves the page all zeros frees it (or hands it to
     * the snapshot): a zeroed range costs no memory, like a hole. */
    atomic_store_explicit (&leaf->data[slot], NULL, memory_order_release);
    atomic_fetch_sub_explicit (&store->allocated_pages, 1, memory_order_relaxed);
    if (kept)
      kept_take_page (store, kept, page);
    else
      free (page);
  }
  else if (kept && whole) {
    /* A whole-page write: the snapshot takes the old page, clients get a
     * new one (no copy of the old contents). */
    copy = malloc (page_size);
    if (copy == NULL)
      goto enomem;
    memcpy (copy, src, page_size);
    atomic_store_explicit (&leaf->data[slot], copy, memory_order_release);
    kept_take_page (store, kept, page);
  }
  else {
    /* In place; first keep the blocks it overwrites if the snapshot
     * still needs them. */
    if (kept && kept_save_blocks (store, kept, page, in_page, n) == -1)
      goto enomem;
    if (src)
      memcpy (page + in_page, src, n);
    else
      memset (page + in_page, 0, n);
  }

 out:
  /* Even a slot that stays a hole records the epoch: to a running snapshot
   * it says "changed since the instant, and what was there is in kept[]"
   * (NULL there: it was a hole). */
  leaf->written_epoch[slot] = epoch;
  page_write_unlock (&leaf->lock[slot]);
  return 0;

 enomem:
  page_write_unlock (&leaf->lock[slot]);
  md_error_set ("out of memory allocating a %" PRIu32 "-byte page", page_size);
  errno = ENOMEM;
  return -1;
}

/* Write (SRC non-NULL) or zero (SRC NULL) the range, page by page. */
static int
store_change (struct store *store, const uint8_t *src, uint64_t len, uint64_t offset)
{
  struct inflight_shard *shard = my_shard (store);
  uint64_t epoch = writer_enter (store, shard);
  int r = 0;

  while (len > 0) {
    uint64_t page_index = offset >> store->page_shift;
    uint32_t in_page = offset & (store->page_size - 1);
    uint64_t n = store->page_size - in_page;
    uint64_t hole_pages;

    if (n > len)
      n = len;
    /* Zeroing skips whole missing subtrees without visiting each page. */
    if (src == NULL && leaf_find (store, page_index, false, &hole_pages) == NULL)
      n = hole_run_bytes (store, page_index, hole_pages, n, len);
    else if (page_change (store, epoch, page_index, in_page, (uint32_t) n, src) == -1) {
      r = -1;
      break;
    }
    if (src)
      src += n;
    offset += n;
    len -= n;
  }

  writer_exit (shard, epoch);
  return r;
}

int
store_write (struct store *store, const void *buf, uint64_t len, uint64_t offset)
{
  if (check_range (store, len, offset, "write") == -1)
    return -1;
  return store_change (store, buf, len, offset);
}

int
store_zero (struct store *store, uint64_t len, uint64_t offset)
{
  if (check_range (store, len, offset, "zero") == -1)
    return -1;
  return store_change (store, NULL, len, offset);
}

int
store_trim (struct store *store, uint64_t len, uint64_t offset)
{
  if (check_range (store, len, offset, "trim") == -1)
    return -1;
  return store_change (store, NULL, len, offset);
}

int
store_extents (struct store *store, uint64_t offset, uint64_t len,
               store_extent_fn fn, void *opaque)
{
  uint64_t end, run_start = offset;
  bool run_allocated = false, have_run = false;

  if (check_range (store, len, offset, "extents") == -1)
    return -1;

  end = offset + len;
  while (offset < end) {
    uint64_t page_index = offset >> store->page_shift;
    uint64_t hole_pages, next;
    bool allocated;
    struct leaf *leaf = leaf_find (store, page_index, false, &hole_pages);

    if (leaf == NULL) {
      allocated = false;
      next = hole_pages >= store->npages - page_index
             ? end : (page_index + hole_pages) << store->page_shift;
    }
    else {
      allocated = atomic_load_explicit (&leaf->data[page_index & SLOT_MASK],
                                        memory_order_relaxed) != NULL;
      next = (page_index + 1) << store->page_shift;
    }
    if (next > end)
      next = end;

    if (!have_run || allocated != run_allocated) {
      if (have_run && fn (opaque, run_start, offset - run_start, run_allocated) == -1)
        return -1;
      run_start = offset;
      run_allocated = allocated;
      have_run = true;
    }
    offset = next;
  }
  if (have_run && fn (opaque, run_start, end - run_start, run_allocated) == -1)
    return -1;
  return 0;
}

/* ---- snapshots ------------------------------------------------------- */

static uint64_t
inflight_count (struct store *store, unsigned parity)
{
  uint64_t total = 0;
  for (unsigned i = 0; i < INFLIGHT_SHARDS; i++)
    total += atomic_load (&store->inflight[i].count[parity]);
  return total;
}

struct store_snapshot *
store_snapshot_begin (struct store *store)
{
  struct store_snapshot *snap;
  uint64_t old_epoch, epoch;
  unsigned spins = 0;

  snap = calloc (1, sizeof *snap);
  if (snap == NULL) {
    md_error_set ("out of memory starting a snapshot");
    return NULL;
  }

  pthread_mutex_lock (&store->snapshot_lock);
  if (store->snapshot_running) {
    pthread_mutex_unlock (&store->snapshot_lock);
    free (snap);
    md_error_set ("a snapshot of this disk is already running");
    errno = EBUSY;
    return NULL;
  }
  store->snapshot_running = true;
  pthread_mutex_unlock (&store->snapshot_lock);

  /* The instant.  Order matters: the change flag is cleared before the
   * epoch moves, so a write of the new epoch always sets it again; the
   * snapshot's epoch and cursor are published before any write can run
   * in the new epoch. */
  old_epoch = atomic_load (&store->epoch);
  epoch = old_epoch + 1;
  snap->store = store;
  snap->epoch = epoch;
  snap->had_changes = atomic_exchange (&store->changed, false);
  /* snap_epoch before the cursor: a writer of the current epoch that sees
   * the new cursor must not take this snapshot for one of its epoch. */
  atomic_store (&store->snap_epoch, epoch);
  atomic_store (&store->snap_cursor, 0);
  atomic_store (&store->draining_epoch, epoch);
  atomic_store (&store->epoch, epoch);

  /* Wait for the requests of the old epoch: they were issued before the
   * instant and belong in the snapshot whole. */
  while (inflight_count (store, old_epoch & 1) != 0)
    spin_backoff (&spins);
  atomic_store (&store->draining_epoch, 0);
  return snap;
}

int
store_snapshot_next (struct store_snapshot *snap, uint64_t *page_index, void *buf)
{
  struct store *store = snap->store;

  while (snap->next_index < store->npages) {
    uint64_t index = snap->next_index;
    uint64_t hole_pages;
    struct leaf *leaf = leaf_find (store, index, false, &hole_pages);

    if (leaf == NULL) {
      /* A subtree missing now was missing at the instant: nodes are never
       * freed.  Writers creating pages in it find them absent at the
       * instant and keep nothing. */
      snap->next_index = hole_pages >= store->npages - index
                         ? store->npages : index + hole_pages;
      atomic_store (&store->snap_cursor, snap->next_index);
      continue;
    }

    unsigned slot = index & SLOT_MASK;
    const uint8_t *source;
    struct kept *kept = NULL;

    page_read_lock (&leaf->lock[slot]);
    source = atomic_load_explicit (&leaf->data[slot], memory_order_relaxed);
    if (leaf->written_epoch[slot] >= snap->epoch) {
      /* Changed since the instant: what it overwrote was kept for us (and
       * nothing was if the slot was a hole then). */
      kept = leaf->kept[slot];
      leaf->kept[slot] = NULL;
      source = kept == NULL ? NULL : kept->whole ? kept->whole : source;
    }
    if (source) {
      memcpy (buf, source, store->page_size);
      if (kept && kept->whole == NULL)
        kept_apply_blocks (store, kept, buf);
    }
    /* Advance while holding the lock: a writer that takes the lock after
     * us sees the page as visited and keeps nothing for us. */
    snap->next_index = index + 1;
    atomic_store (&store->snap_cursor, snap->next_index);
    page_read_unlock (&leaf->lock[slot]);

    kept_free (store, kept);
    if (source) {
      *page_index = index;
      return 1;
    }
  }
  return 0;
}

void
store_snapshot_end (struct store_snapshot *snap)
{
  struct store *store;
  uint64_t index;

  if (snap == NULL)
    return;
  store = snap->store;

  /* From now on no writer keeps anything; then free what was kept for
   * the pages the walk did not reach (an abandoned snapshot). */
  index = atomic_exchange (&store->snap_cursor, UINT64_MAX);
  while (index < store->npages) {
    uint64_t hole_pages;
    struct leaf *leaf = leaf_find (store, index, false, &hole_pages);

    if (leaf == NULL) {
      index = hole_pages >= store->npages - index ? store->npages : index + hole_pages;
      continue;
    }
    unsigned slot = index & SLOT_MASK;
    page_write_lock (&leaf->lock[slot]);
    struct kept *kept = leaf->kept[slot];
    leaf->kept[slot] = NULL;
    page_write_unlock (&leaf->lock[slot]);
    kept_free (store, kept);
    index++;
  }

  pthread_mutex_lock (&store->snapshot_lock);
  store->snapshot_running = false;
  pthread_mutex_unlock (&store->snapshot_lock);
  free (snap);
}

bool
store_snapshot_had_changes (const struct store_snapshot *snap)
{
  return snap->had_changes;
}

uint64_t
store_snapshot_preserved_bytes (const struct store_snapshot *snap)
{
  return atomic_load_explicit (&snap->store->kept_bytes, memory_order_relaxed);
}

/* ---- loading --------------------------------------------------------- */

void *
store_page_for_load (struct store *store, uint64_t page_index)
{
  struct leaf *leaf;
  unsigned slot = page_index & SLOT_MASK;
  uint8_t *page;

  if (page_index >= store->npages) {
    md_error_set ("page %" PRIu64 " is beyond the end of the disk (%" PRIu64 " pages)",
                  page_index, store->npages);
    errno = EINVAL;
    return NULL;
  }
  leaf = leaf_find (store, page_index, true, NULL);
  if (leaf == NULL)
    return NULL;
  page = atomic_load_explicit (&leaf->data[slot], memory_order_acquire);
  if (page == NULL) {
    page = calloc (1, store->page_size);
    if (page == NULL) {
      md_error_set ("out of memory allocating a %" PRIu32 "-byte page", store->page_size);
      errno = ENOMEM;
      return NULL;
    }
    atomic_store_explicit (&leaf->data[slot], page, memory_order_release);
    atomic_fetch_add_explicit (&store->allocated_pages, 1, memory_order_relaxed);
  }
  return page;
}
