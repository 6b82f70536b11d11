/* A region back to the file: the CLEAN -> IN-FILE move of the region
 * state machine (docs/design.md, "The life of a region"), for a memory
 * budget that gives back what the base file still holds, and for a
 * reset that drops what it must reload.
 *
 *   slot of region r:  page (unchanged since the base) ──► PAGE_IN_FILE
 *                      hole, PAGE_IN_FILE              ──► stays
 *                      page changed since the base     ──► stop: r is CHANGED
 *
 * The guard, as the state machine's table has it:
 *   - the region's stamp (regions.c) says "unchanged since the base's
 *     epoch" before the first slot is touched, and is read again after
 *     the last one: a writer stamps the region before it takes a slot's
 *     lock, so one that got in meanwhile is seen;
 *   - each slot moves under its write lock, only if written_epoch[i] is
 *     below the base's epoch (no change since) and no copy-on-write
 *     record hangs on it;
 *   - never while a running save's walk has not passed the region (the
 *     walk's cursor is read before and under each slot's lock): the walk
 *     copies a page it has not reached, and a give-back must not change
 *     what it finds.
 * The page's memory is freed after the slot's lock is released.  A slot
 * back in the file is what a lazy load starts with, so every path meets
 * it as one (store_fault_in): the caller makes the region's frame
 * loadable again (a lazy load's frame state back to absent) once the call
 * returns, and until then a request that meets the sentinel waits for it.
 */
#include "store/internal.h"

enum slot_move { SLOT_BACK, SLOT_PASSED, SLOT_CHANGED };

/* Whether a running save's walk has not passed PAGE_INDEX yet. */
static bool
walk_not_past (struct store *store, uint64_t page_index)
{
  uint64_t cursor = atomic_load (&store->snap_cursor);

  return cursor != UINT64_MAX && cursor <= page_index;
}

/* The epoch of the latest change to the region of FIRST (its first page). */
static uint64_t
region_last_change (const struct store *store, const struct leaf *leaf, uint64_t first)
{
  const struct region_stamp *st = &leaf->regions[(first & SLOT_MASK) >> store->region_shift];

  return atomic_load_explicit (&st->epoch, memory_order_acquire);
}

/* Move one slot back to the file under its lock; *FREED gets the page to
 * free once the lock is released. */
static enum slot_move
slot_to_file (struct store *store, struct leaf *leaf, uint64_t page_index, uint64_t since,
              uint8_t **freed)
{
  unsigned slot = page_index & SLOT_MASK;
  enum slot_move move = SLOT_PASSED;
  uint8_t *page;

  page_write_lock (&leaf->lock[slot]);
  page = atomic_load_explicit (&leaf->data[slot], memory_order_relaxed);
  if (page == NULL || page == PAGE_IN_FILE)
    move = SLOT_PASSED;
  else if (leaf->written_epoch[slot] >= since || leaf->cow[slot] != NULL
           || walk_not_past (store, page_index))
    move = SLOT_CHANGED;
  else {
    atomic_store_explicit (&leaf->data[slot], PAGE_IN_FILE, memory_order_release);
    atomic_fetch_add_explicit (&store->infile_pages, 1, memory_order_relaxed);
    *freed = page;
    move = SLOT_BACK;
  }
  page_write_unlock (&leaf->lock[slot]);
  return move;
}

/* Whether the part of the region in LEAF from FIRST changed since SINCE:
 * a region larger than a leaf has a stamp in each leaf it spans. */
static bool
part_changed (const struct store *store, const struct leaf *leaf, uint64_t first,
              uint64_t since)
{
  return region_last_change (store, leaf, first) >= since;
}

uint64_t
store_region_give_back (struct store *store, uint64_t region, uint64_t since, bool *whole)
{
  const uint64_t first = region << store->region_shift;
  uint64_t end = first + (UINT64_C (1) << store->region_shift), back = 0;

  *whole = false;
  if (first >= store->npages || store->preallocated)
    return 0;
  if (end > store->npages)
    end = store->npages;
  if (walk_not_past (store, end - 1))
    return 0;
  /* Leaf by leaf: a region of more pages than a leaf holds spans several. */
  for (uint64_t part = first; part < end; part = (part | SLOT_MASK) + 1) {
    const uint64_t part_end = (part | SLOT_MASK) + 1 < end ? (part | SLOT_MASK) + 1 : end;
    struct leaf *leaf = store_leaf_find (store, part, false, NULL);

    if (leaf == NULL)
      continue;                 /* holes: nothing to give back */
    if (part_changed (store, leaf, part, since))
      return back;
    for (uint64_t p = part; p < part_end; p++) {
      uint8_t *freed = NULL;
      enum slot_move move = slot_to_file (store, leaf, p, since, &freed);

      page_free (&store->pages, freed);
      if (move == SLOT_CHANGED)
        return back;
      back += move == SLOT_BACK;
    }
  }
  /* No change got in while the slots moved: every part's stamp again. */
  for (uint64_t part = first; part < end; part = (part | SLOT_MASK) + 1) {
    struct leaf *leaf = store_leaf_find (store, part, false, NULL);

    if (leaf != NULL && part_changed (store, leaf, part, since))
      return back;
  }
  *whole = true;
  return back;
}
