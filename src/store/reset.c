/* Reset: the disk goes back to its base, the snapshot file it last loaded
 * or saved, at a cost proportional to what changed since (issue 25).
 *
 *   CHANGED region ──store_region_to_file, under each slot's lock──►
 *       IN-FILE (the base has a frame for the page) or EMPTY (a hole)
 *
 * A reset is an instant, like a snapshot's (cow.c): it sets `resetting`,
 * moves the epoch with a drain (requests in flight, reads included, finish
 * first), and keeps new requests waiting (modifying ones in epoch_enter,
 * reads in epoch_enter_read) until every changed region is put back.  So
 * no request sees a region half reset, and every request that starts
 * after store_reset returns sees the base.
 *
 * Which regions changed is the region stamps' (regions.c): a region whose
 * latest change is of an epoch at or after the base's instant.  The walk
 * visits only the leaves that exist (store_next_leaf): a region never
 * written has no leaf and was not changed.  A region put back gets the
 * stamps 0, below any base's epoch: "unchanged since the base", so the
 * next incremental save copies its frame again.
 *
 * Resets and snapshots never run at once (snapshot_running): no
 * copy-on-write record exists while a region is put back.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "common/error.h"
#include "store/internal.h"

/* The pages [FIRST, END) of one leaf back to the file (IN_FILE) or holes;
 * the part's stamp back to "never changed".  0, or -1 for memory. */
static int
part_to_file (struct store *store, uint64_t first, uint64_t end, store_in_file_fn in_file,
              void *opaque)
{
  struct leaf *leaf = store_leaf_find (store, first, in_file != NULL, NULL);

  if (leaf == NULL) {
    if (in_file == NULL)
      return 0;                 /* no leaf: holes already, never stamped */
    md_error_set ("out of memory putting pages from %" PRIu64 " back to the file", first);
    errno = ENOMEM;
    return -1;
  }
  for (uint64_t p = first; p < end; p++) {
    unsigned slot = p & SLOT_MASK;
    uint8_t *want = in_file != NULL && in_file (opaque, p) ? PAGE_IN_FILE : NULL;

    page_write_lock (&leaf->lock[slot]);
    uint8_t *old = atomic_load_explicit (&leaf->data[slot], memory_order_relaxed);
    /* Release: a thread that sees the sentinel without the lock (the
     * fault-in's test) sees the hook set before it. */
    atomic_store_explicit (&leaf->data[slot], want, memory_order_release);
    leaf->written_epoch[slot] = 0;
    page_write_unlock (&leaf->lock[slot]);
    if ((old == NULL) != (want == NULL)) {
      if (want == NULL)
        atomic_fetch_sub_explicit (&store->allocated_pages, 1, memory_order_relaxed);
      else
        atomic_fetch_add_explicit (&store->allocated_pages, 1, memory_order_relaxed);
    }
    if (old != NULL && old != PAGE_IN_FILE)
      page_free (&store->pages, old);
  }
  struct region_stamp *st = &leaf->regions[(first & SLOT_MASK) >> store->stamp_shift];
  atomic_store_explicit (&st->epoch_at_snap, 0, memory_order_relaxed);
  atomic_store_explicit (&st->epoch, 0, memory_order_release);
  return 0;
}

int
store_region_to_file (struct store *store, uint64_t region, store_in_file_fn in_file,
                      void *opaque)
{
  const uint64_t first = region << store->region_shift;
  uint64_t end = first + (UINT64_C (1) << store->region_shift);

  if (end > store->npages)
    end = store->npages;
  /* Leaf by leaf: a region of more pages than a leaf holds spans several,
   * with a stamp in each. */
  for (uint64_t part = first; part < end; part = (part | SLOT_MASK) + 1) {
    uint64_t part_end = (part | SLOT_MASK) + 1 < end ? (part | SLOT_MASK) + 1 : end;
    if (part_to_file (store, part, part_end, in_file, opaque) == -1)
      return -1;
  }
  return 0;
}

/* Hand every region changed since SINCE to FN, walking the leaves that
 * exist.  -1 if FN failed for any (the others are put back all the
 * same). */
static int
reset_changed_regions (struct store *store, uint64_t since, store_reset_fn fn,
                       void *opaque)
{
  /* A stamp covers 2^stamp_shift pages: a whole region, or a region's
   * part in this leaf when a region spans several leaves (a region put
   * back zeroes the stamps of all its parts, so it is handed over once). */
  const unsigned per_leaf = FANOUT >> store->stamp_shift;
  uint64_t index = 0;
  int r = 0;
  char first_error[256] = "";

  for (struct leaf *leaf; (leaf = store_next_leaf (store, &index)) != NULL;) {
    uint64_t leaf_first = index & ~(uint64_t) SLOT_MASK;
    for (unsigned i = 0; i < per_leaf; i++) {
      uint64_t region = (leaf_first + ((uint64_t) i << store->stamp_shift)) >> store->region_shift;
      uint64_t stamp = atomic_load_explicit (&leaf->regions[i].epoch, memory_order_acquire);
      if (stamp < since || (region << store->region_shift) >= store->npages)
        continue;
      int done = fn != NULL ? fn (opaque, region)
                            : store_region_to_file (store, region, NULL, NULL);
      if (done == -1 && r == 0) {
        r = -1;
        snprintf (first_error, sizeof first_error, "%s", md_error ());
      }
    }
    index = leaf_first + FANOUT;
  }
  if (r == -1)
    md_error_set ("%s", first_error);
  return r;
}

int
store_reset (struct store *store, uint64_t since, store_reset_fn fn, void *opaque)
{
  unsigned spins = 0;

  pthread_mutex_lock (&store->snapshot_lock);
  if (store->snapshot_running) {
    pthread_mutex_unlock (&store->snapshot_lock);
    md_error_set ("a snapshot or reset of this disk is running");
    errno = EBUSY;
    return -1;
  }
  store->snapshot_running = true;
  pthread_mutex_unlock (&store->snapshot_lock);

  /* The instant: reads that come now wait (resetting, set first), changes
   * of the new epoch wait while it "drains" (draining_epoch, held until
   * the end); those in flight in the old epoch are waited for. */
  uint64_t old_epoch = atomic_load (&store->epoch);
  atomic_store (&store->resetting, true);
  atomic_store (&store->draining_epoch, old_epoch + 1);
  atomic_store (&store->epoch, old_epoch + 1);
  while (epoch_inflight (store, old_epoch & 1) != 0)
    spin_backoff (&spins);

  int r = fn != NULL ? fn (opaque, STORE_RESET_INSTANT) : 0;
  if (r == 0)
    r = reset_changed_regions (store, since, fn, opaque);
  /* Cleared before any request of the new epoch runs, which sets it
   * again. */
  if (r == 0)
    atomic_store (&store->changed, false);
  atomic_store (&store->resetting, false);
  atomic_store (&store->draining_epoch, 0);

  pthread_mutex_lock (&store->snapshot_lock);
  store->snapshot_running = false;
  pthread_mutex_unlock (&store->snapshot_lock);
  return r;
}
