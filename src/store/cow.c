/* Point-in-time snapshots without fork(): epochs, the copy-on-write
 * records that keep for a running snapshot what clients overwrite, and the
 * snapshot walk.  docs/design.md describes the protocol; the comments here
 * say which rule each step keeps.
 *
 * A client change of epoch S (the running snapshot's) to a page the walk
 * has not visited (index >= snap_cursor) first hands what it overwrites to
 * the page's struct cow_record, under the page's write lock: the old 4 KiB
 * blocks it touches, each once, or the old page whole when the change
 * replaces or frees it.  The walk takes the record under the read lock
 * and moves snap_cursor past the page before releasing it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/threads.h"
#include "store/cowpool.h"
#include "store/internal.h"

/* What a running snapshot keeps of one page that clients changed after
 * the instant and before the snapshot visited it.  Either the page as it
 * was at the instant, moved aside whole (when a change replaced or freed
 * the whole page), or the old contents of the blocks changed since: the
 * live page with those blocks put back is the page at the instant.
 * Guarded by the page's slot lock; cow_bytes counts what it holds. */
struct cow_record {
  uint8_t *whole;
  uint8_t *blocks[];            /* page_size / COW_BLOCK_SIZE entries */
};

/* ---- copy-on-write records ------------------------------------------- */

/* Records and kept blocks come from the running snapshot's pools
 * (cowpool.h: not from malloc, whose arenas the clients share), made
 * when it begins and unmapped whole when it ends.  Whole pages moved
 * aside are the store's own pages and go back to its page pool
 * (page_free). */

static unsigned
cow_nblocks (const struct store *store)
{
  return store->page_size / COW_BLOCK_SIZE;
}

static size_t
cow_record_size (const struct store *store)
{
  return sizeof (struct cow_record) + cow_nblocks (store) * sizeof (uint8_t *);
}

static struct cow_record *
cow_record_new (struct store *store)
{
  return cow_pool_calloc (store->cow_record_pool);
}

static int
cow_pools_create (struct store *store)
{
  store->cow_record_pool = cow_pool_new (cow_record_size (store));
  store->cow_block_pool = cow_pool_new (COW_BLOCK_SIZE);
  if (store->cow_record_pool == NULL || store->cow_block_pool == NULL) {
    cow_pools_destroy (store);
    md_error_set ("out of memory starting a snapshot");
    return -1;
  }
  return 0;
}

void
cow_pools_destroy (struct store *store)
{
  cow_pool_destroy (store->cow_record_pool);
  cow_pool_destroy (store->cow_block_pool);
  store->cow_record_pool = NULL;
  store->cow_block_pool = NULL;
}

void
cow_record_free (struct store *store, struct cow_record *cow)
{
  uint64_t bytes = 0;

  if (cow == NULL)
    return;
  if (cow->whole) {
    page_free (&store->pages, cow->whole);
    bytes += store->page_size;
  }
  for (unsigned b = 0; b < cow_nblocks (store); b++)
    if (cow->blocks[b]) {
      cow_pool_free (store->cow_block_pool, cow->blocks[b]);
      bytes += COW_BLOCK_SIZE;
    }
  atomic_fetch_sub_explicit (&store->cow_bytes, bytes, memory_order_relaxed);
  cow_pool_free (store->cow_record_pool, cow);
}

int
cow_save_blocks (struct store *store, struct cow_record *cow, const uint8_t *page,
                 uint32_t in_page, uint32_t n)
{
  for (uint32_t b = in_page / COW_BLOCK_SIZE; b <= (in_page + n - 1) / COW_BLOCK_SIZE; b++) {
    if (cow->blocks[b])
      continue;
    cow->blocks[b] = cow_pool_alloc (store->cow_block_pool);
    if (cow->blocks[b] == NULL)
      return -1;
    memcpy (cow->blocks[b], page + (size_t) b * COW_BLOCK_SIZE, COW_BLOCK_SIZE);
    atomic_fetch_add_explicit (&store->cow_bytes, COW_BLOCK_SIZE, memory_order_relaxed);
  }
  return 0;
}

/* Put the kept blocks back into PAGE (a copy of the live page), making it
 * the page as it was at the instant. */
static void
cow_apply_blocks (const struct store *store, const struct cow_record *cow, uint8_t *page)
{
  for (unsigned b = 0; b < cow_nblocks (store); b++)
    if (cow->blocks[b])
      memcpy (page + (size_t) b * COW_BLOCK_SIZE, cow->blocks[b], COW_BLOCK_SIZE);
}

void
cow_take_page (struct store *store, struct cow_record *cow, uint8_t *page)
{
  cow_apply_blocks (store, cow, page);
  for (unsigned b = 0; b < cow_nblocks (store); b++)
    if (cow->blocks[b]) {
      cow_pool_free (store->cow_block_pool, cow->blocks[b]);
      cow->blocks[b] = NULL;
      atomic_fetch_sub_explicit (&store->cow_bytes, COW_BLOCK_SIZE, memory_order_relaxed);
    }
  cow->whole = page;
  atomic_fetch_add_explicit (&store->cow_bytes, store->page_size, memory_order_relaxed);
}

/* Whether a change in EPOCH to page PAGE_INDEX must first hand what it
 * overwrites to the running snapshot: the snapshot began with this epoch
 * and has not visited the page yet.  Caller holds the slot's write lock.
 *
 * The cursor is read first: store_snapshot_begin publishes snap_epoch
 * before the cursor, so a writer that sees the new cursor also sees the
 * new snap_epoch.  Read the other way round, a writer still in the
 * previous snapshot's epoch (in flight at the next instant, before the
 * drain) could read that snapshot's snap_epoch, then the new cursor, and
 * keep a record no walk takes: one left behind in a pool that the next
 * snapshot's end unmaps. */
static bool
snapshot_wants (struct store *store, uint64_t page_index, uint64_t epoch)
{
  uint64_t cursor = atomic_load (&store->snap_cursor);

  return page_index >= cursor && epoch == atomic_load (&store->snap_epoch);
}

struct cow_record *
cow_for_change (struct store *store, struct leaf *leaf, unsigned slot,
                uint64_t page_index, uint64_t epoch, const uint8_t *page,
                bool *failed)
{
  struct cow_record *cow;

  *failed = false;
  if (!snapshot_wants (store, page_index, epoch))
    return NULL;
  if (leaf->written_epoch[slot] < epoch) {
    /* The first change since the instant: the live page is the instant's
     * page, or there was none (then the snapshot needs nothing). */
    leaf->written_epoch[slot] = epoch;
    if (page == NULL)
      return NULL;
    cow = cow_record_new (store);
    if (cow == NULL) {
      /* Unchanged so far, so "changed, no record" would be wrong. */
      leaf->written_epoch[slot] = epoch - 1;
      *failed = true;
      return NULL;
    }
    leaf->cow[slot] = cow;
    return cow;
  }
  cow = leaf->cow[slot];
  return cow && cow->whole == NULL ? cow : NULL;
}

/* ---- epochs: writer registration (the snapshot instant) -------------- */

struct inflight_shard *
epoch_shard (struct store *store)
{
  return &store->inflight[thread_shard_index (INFLIGHT_SHARDS)];
}

uint64_t
epoch_enter (struct store *store, struct inflight_shard *shard)
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

uint64_t
epoch_enter_read (struct store *store, struct inflight_shard *shard)
{
  unsigned spins = 0;

  for (;;) {
    uint64_t epoch = atomic_load (&store->epoch);
    atomic_fetch_add (&shard->count[epoch & 1], 1);
    /* As epoch_enter; and while a reset runs, a read that came after its
     * instant waits for its end (store_reset sets resetting before it
     * moves the epoch, so a read that sees neither is waited for). */
    if (atomic_load (&store->epoch) != epoch || atomic_load (&store->resetting)) {
      atomic_fetch_sub (&shard->count[epoch & 1], 1);
      while (atomic_load (&store->resetting))
        spin_backoff (&spins);
      continue;
    }
    return epoch;
  }
}

void
epoch_exit (struct inflight_shard *shard, uint64_t epoch)
{
  atomic_fetch_sub_explicit (&shard->count[epoch & 1], 1, memory_order_release);
}

/* ---- snapshots ------------------------------------------------------- */

uint64_t
epoch_inflight (struct store *store, unsigned parity)
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
    md_error_set ("a snapshot or reset of this disk is already running");
    errno = EBUSY;
    return NULL;
  }
  store->snapshot_running = true;
  pthread_mutex_unlock (&store->snapshot_lock);

  /* Before the epoch moves: only a change of the new epoch keeps
   * anything, and it finds the pools made. */
  if (cow_pools_create (store) == -1) {
    pthread_mutex_lock (&store->snapshot_lock);
    store->snapshot_running = false;
    pthread_mutex_unlock (&store->snapshot_lock);
    free (snap);
    return NULL;
  }

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
  while (epoch_inflight (store, old_epoch & 1) != 0)
    spin_backoff (&spins);
  atomic_store (&store->draining_epoch, 0);
  return snap;
}

int
store_snapshot_next_before (struct store_snapshot *snap, uint64_t limit,
                            uint64_t *page_index, void *buf)
{
  struct store *store = snap->store;
  const uint64_t end = limit < store->npages ? limit : store->npages;

  while (snap->next_index < end) {
    uint64_t index = snap->next_index;
    struct leaf *leaf = store_next_leaf (store, &index);

    if (index != snap->next_index) {
      /* A subtree missing now was missing at the instant: nodes are never
       * freed.  Writers creating pages in it find them absent at the
       * instant and keep nothing.  Passed over in one step, to LIMIT at
       * most. */
      snap->next_index = index < end ? index : end;
      atomic_store (&store->snap_cursor, snap->next_index);
      continue;
    }

    unsigned slot = index & SLOT_MASK;
    const uint8_t *source;
    struct cow_record *cow = NULL;

    /* A page still in the file was not changed since the load (a change
     * faults it in first), so the file's bytes are the instant's: fault
     * it in and copy it like any other. */
    if (store_fault_in (store, leaf, slot, index, false) == -1)
      return -1;
    page_read_lock (&leaf->lock[slot]);
    source = atomic_load_explicit (&leaf->data[slot], memory_order_relaxed);
    if (source == PAGE_IN_FILE) {
      page_read_unlock (&leaf->lock[slot]);
      continue;                 /* not reached once faulted in; retry */
    }
    if (leaf->written_epoch[slot] >= snap->epoch) {
      /* Changed since the instant: what it overwrote was kept for us (and
       * nothing was if the slot was a hole then). */
      cow = leaf->cow[slot];
      leaf->cow[slot] = NULL;
      source = cow == NULL ? NULL : cow->whole ? cow->whole : source;
    }
    if (source) {
      memcpy (buf, source, store->page_size);
      if (cow && cow->whole == NULL)
        cow_apply_blocks (store, cow, buf);
    }
    /* Advance while holding the lock: a writer that takes the lock after
     * us sees the page as visited and keeps nothing for us. */
    snap->next_index = index + 1;
    atomic_store (&store->snap_cursor, snap->next_index);
    page_read_unlock (&leaf->lock[slot]);

    cow_record_free (store, cow);
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
  for (;;) {
    struct leaf *leaf = store_next_leaf (store, &index);

    if (leaf == NULL)
      break;
    unsigned slot = index & SLOT_MASK;
    page_write_lock (&leaf->lock[slot]);
    struct cow_record *cow = leaf->cow[slot];
    leaf->cow[slot] = NULL;
    page_write_unlock (&leaf->lock[slot]);
    cow_record_free (store, cow);
    index++;
  }
  /* Every record is freed and no change keeps anything any more (each
   * one that could was waited for by the page lock above): the pools go
   * back to the kernel whole. */
  cow_pools_destroy (store);

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
  return atomic_load_explicit (&snap->store->cow_bytes, memory_order_relaxed);
}

