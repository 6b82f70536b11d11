/* Change tracking per region, for incremental saves: which regions of the
 * disk (the store's region size, a power of two from a page to 64 MiB)
 * changed since the instant of an earlier snapshot (or load).
 *
 * Where the stamps are: a leaf covers 4096 pages.  A region of at most
 * that many pages lies in one leaf, which has a stamp for each region it
 * covers; a larger region spans several whole leaves, and each has one
 * stamp for its part.  Such a region is unchanged iff every part is (a
 * missing leaf is a part never written), which is exact since each stamp
 * is; the I/O path stamps the page's part as it stamps a small region.
 *
 * Every modifying request stamps the region of each page it changes with
 * its epoch (region_stamp in internal.h), before it changes the page, and
 * only when the stamp differs from its epoch: one relaxed load per page on
 * the I/O path, one write per region per epoch, no lock.  The stamp it
 * replaces goes to epoch_at_snap first.
 *
 * Why the value at a snapshot's instant is exact.  Snapshot S begins epoch
 * S; requests of epoch S-1 in flight at the instant finish before any
 * request of epoch S starts (epoch_enter), and no other epoch runs until S
 * ends.  So at the walk, a region whose stamp is below S holds its value at
 * the instant; a region stamped S was changed after the instant, and the
 * first request of epoch S to stamp it put the instant's value in
 * epoch_at_snap before publishing S (release; the walk loads the stamp
 * with acquire).  Racing first requests of epoch S store the same values.
 *
 * A file written by snapshot S holds every change of an epoch below S and
 * none of epoch S or later; so region r is unchanged between that file
 * and snapshot T iff its stamp at T's instant is below S.  A loaded file
 * stands for store_load_epoch: every stamp is 0 then (epochs start at 1).
 */
#include "store/internal.h"

uint32_t
store_region_size (const struct store *store)
{
  return store->page_size << store->region_shift;
}

uint64_t
store_region_count (const struct store *store)
{
  return (store->npages + (UINT64_C (1) << store->region_shift) - 1) >> store->region_shift;
}

uint64_t
store_snapshot_epoch (const struct store_snapshot *snap)
{
  return snap->epoch;
}

uint64_t
store_load_epoch (const struct store *store)
{
  return atomic_load (&store->epoch);
}

uint64_t
store_snapshot_position (const struct store_snapshot *snap)
{
  return snap->next_index;
}

/* Whether the stamp of the part of a region that starts at page FIRST
 * (in one leaf) was below SINCE at SNAP's instant. */
static bool
part_unchanged (const struct store_snapshot *snap, uint64_t first, uint64_t since)
{
  struct store *store = snap->store;
  struct leaf *leaf = store_leaf_find (store, first, false, NULL);

  /* No leaf now, none at the instant (nodes are never freed): nothing was
   * ever written there. */
  if (leaf == NULL)
    return true;
  const struct region_stamp *st = &leaf->regions[(first & SLOT_MASK) >> store->stamp_shift];
  uint64_t stamp = atomic_load_explicit (&st->epoch, memory_order_acquire);
  if (stamp >= snap->epoch)
    stamp = atomic_load_explicit (&st->epoch_at_snap, memory_order_relaxed);
  return stamp < since;
}

bool
store_snapshot_region_unchanged (const struct store_snapshot *snap, uint64_t region,
                                 uint64_t since)
{
  const struct store *store = snap->store;
  uint64_t first = region << store->region_shift;
  uint64_t end = (region + 1) << store->region_shift;

  if (end > store->npages)
    end = store->npages;
  /* One part per leaf: at most 4 (64 MiB of 4 KiB pages). */
  for (uint64_t part = first; part < end;
       part += UINT64_C (1) << store->stamp_shift)
    if (!part_unchanged (snap, part, since))
      return false;
  return true;
}

/* Move the walk past the pages of LEAF (NULL: a missing subtree) below
 * END, as the walk does for each page, without the copy: take what was
 * kept and move the cursor past the page before the lock is released. */
static void
skip_pages (struct store_snapshot *snap, struct leaf *leaf, uint64_t end)
{
  struct store *store = snap->store;

  while (snap->next_index < end) {
    uint64_t index = snap->next_index;
    struct cow_record *cow = NULL;

    if (leaf != NULL) {
      unsigned slot = index & SLOT_MASK;
      page_read_lock (&leaf->lock[slot]);
      if (leaf->written_epoch[slot] >= snap->epoch) {
        cow = leaf->cow[slot];
        leaf->cow[slot] = NULL;
      }
      snap->next_index = index + 1;
      atomic_store (&store->snap_cursor, snap->next_index);
      page_read_unlock (&leaf->lock[slot]);
      cow_record_free (store, cow);
    }
    else {
      snap->next_index = end;
      atomic_store (&store->snap_cursor, end);
    }
  }
}

void
store_snapshot_skip_region (struct store_snapshot *snap, uint64_t region)
{
  struct store *store = snap->store;
  uint64_t end = (region + 1) << store->region_shift;

  if (end > store->npages)
    end = store->npages;
  /* Leaf by leaf: a region may span several. */
  while (snap->next_index < end) {
    uint64_t leaf_end = (snap->next_index | SLOT_MASK) + 1;
    struct leaf *leaf = store_leaf_find (store, snap->next_index, false, NULL);
    skip_pages (snap, leaf, leaf_end < end ? leaf_end : end);
  }
}

void
store_snapshot_skip_unchanged (struct store_snapshot *snap, uint64_t since, uint64_t limit)
{
  struct store *store = snap->store;
  const uint64_t end = limit < store_region_count (store)
                       ? limit << store->region_shift : store->npages;

  while (snap->next_index < end) {
    uint64_t index = snap->next_index;

    if (store_next_leaf (store, &index) == NULL || index != snap->next_index) {
      /* Never allocated: unchanged since any instant, nothing kept. */
      snap->next_index = index < end ? index : end;
      atomic_store (&store->snap_cursor, snap->next_index);
      continue;
    }
    uint64_t region = index >> store->region_shift;
    if (!store_snapshot_region_unchanged (snap, region, since))
      return;
    store_snapshot_skip_region (snap, region);
  }
}
