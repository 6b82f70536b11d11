/* allocator=malloc: every page of the disk in memory from the start.
 *
 * nbdkit's memory plugin with allocator=malloc holds the disk as one
 * flat array, allocated and zeroed (so faulted in) whole when the server
 * starts: no allocation on a first write, memory at the disk's size from
 * the first second, a zero or trim a memset.  The store gives the same
 * on its own structures, without a second I/O path:
 *
 *   hole (NULL)        ──► a page, all zeros, faulted in now
 *   PAGE_IN_FILE       ──► stays; a page is put aside for it in the page
 *                          pool (freed list), which its frame's load takes
 *   page               ──► stays
 *
 * and then, for the store's life (store->preallocated, pages.c's
 * keep_resident): a zero or trim clears the bytes in place instead of
 * freeing the page (store.c, slot_change), a whole-page write during a
 * save keeps the old blocks in the snapshot's pool instead of taking the
 * page (that pool goes when the save ends), and a page freed anyway (a
 * load that lost a race) is zeroed and stays resident for the next.  So
 * the page table has no hole, extents report the disk as data (as
 * memory's malloc allocator does), and RSS stays at the disk's size.
 *
 * The pages come from the page pool's slabs (pages.c), each faulted in by
 * one madvise(MADV_POPULATE_WRITE) when it is mapped: a 1 GiB disk is 512
 * slabs.  The caller checks the memory first (store_preallocate_bytes).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include "common/error.h"
#include "store/internal.h"

uint64_t
store_preallocate_bytes (const struct store *store)
{
  return (store->npages << store->page_shift) - store_resident_bytes (store);
}

static int
prealloc_failed (const struct store *store)
{
  md_error_set ("out of memory allocating the %" PRIu64 " pages of the disk "
                "(allocator=malloc)", store->npages);
  errno = ENOMEM;
  return -1;
}

/* Give every hole among the first SLOTS slots of LEAF a page; count its
 * pages still in the file in *IN_FILE. */
static int
prealloc_leaf (struct store *store, struct leaf *leaf, unsigned slots, uint64_t *in_file)
{
  for (unsigned slot = 0; slot < slots; slot++) {
    uint8_t *page = atomic_load_explicit (&leaf->data[slot], memory_order_relaxed);

    if (page == PAGE_IN_FILE)
      ++*in_file;
    else if (page == NULL) {
      if ((page = page_alloc (&store->pages)) == NULL)
        return prealloc_failed (store);
      atomic_store_explicit (&leaf->data[slot], page, memory_order_release);
      atomic_fetch_add_explicit (&store->allocated_pages, 1, memory_order_relaxed);
    }
  }
  return 0;
}

/* Put COUNT pages aside in the pool for the pages still in the file:
 * taken all first (each a new one), then handed back. */
static int
prealloc_reserve (struct store *store, uint64_t count)
{
  void **pages;
  uint64_t taken = 0;
  int r = 0;

  if (count == 0)
    return 0;
  if (count > SIZE_MAX / sizeof *pages || (pages = malloc (count * sizeof *pages)) == NULL)
    return prealloc_failed (store);
  for (; taken < count; taken++)
    if ((pages[taken] = page_alloc (&store->pages)) == NULL) {
      r = prealloc_failed (store);
      break;
    }
  for (uint64_t i = 0; i < taken; i++)
    page_free (&store->pages, pages[i]);
  free (pages);
  return r;
}

int
store_preallocate (struct store *store)
{
  uint64_t in_file = 0;

  page_pool_keep_resident (&store->pages);
  for (uint64_t p = 0; p < store->npages; p += FANOUT) {
    struct leaf *leaf = store_leaf_find (store, p, true, NULL);
    uint64_t left = store->npages - p;

    if (leaf == NULL)
      return prealloc_failed (store);
    if (prealloc_leaf (store, leaf, left < FANOUT ? (unsigned) left : FANOUT, &in_file) == -1)
      return -1;
  }
  if (prealloc_reserve (store, in_file) == -1)
    return -1;
  store->preallocated = true;
  return 0;
}
