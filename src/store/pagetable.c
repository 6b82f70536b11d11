/* The page table: a radix tree from page index to page slot (internal.h
 * draws it).  Nodes are installed with compare-and-swap and never freed
 * while the store lives, so any thread walks it without a lock, and a
 * subtree missing now was missing at every earlier instant.
 *
 * Walks cost what is allocated, not what is addressable: a 2^63-byte disk
 * has 2^41 regions of 4 MiB and up to 2^51 pages, so a walk over the disk
 * (a save, the end of a snapshot, a reset) skips each missing subtree in
 * one step with store_next_leaf, which scans the child arrays of the
 * nodes that exist.
 */
#include <stdlib.h>

#include "common/error.h"
#include "store/internal.h"

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

struct leaf *
store_leaf_find (struct store *store, uint64_t page_index, bool create,
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
      node = node_install (slot, level == 0 ? store->leaf_size
                                            : sizeof (struct inner));
      if (node == NULL)
        return NULL;
    }
    if (level == 0)
      return node;
    slot = &((struct inner *) node)->child[(page_index >> (LEVEL_BITS * level)) & SLOT_MASK];
  }
}

/* The first page at or after PAGE_INDEX (within NODE, of LEVEL) whose
 * leaf exists, that leaf in *LEAF; UINT64_MAX when NODE has none. */
static uint64_t
subtree_next_leaf (void *node, unsigned level, uint64_t page_index, struct leaf **leaf)
{
  const struct inner *inner = node;
  const unsigned shift = LEVEL_BITS * level;

  if (level == 0) {
    *leaf = node;
    return page_index;
  }
  for (unsigned i = (page_index >> shift) & SLOT_MASK; i < FANOUT; i++) {
    void *child = atomic_load_explicit (&inner->child[i], memory_order_acquire);
    if (child != NULL) {
      uint64_t found = subtree_next_leaf (child, level - 1, page_index, leaf);
      if (found != UINT64_MAX)
        return found;
    }
    page_index = ((page_index >> shift) + 1) << shift;     /* the next child's first */
  }
  return UINT64_MAX;
}

struct leaf *
store_next_leaf (struct store *store, uint64_t *page_index)
{
  void *root = atomic_load_explicit (&store->root, memory_order_acquire);
  struct leaf *leaf = NULL;
  uint64_t found = UINT64_MAX;

  if (root != NULL && *page_index < store->npages)
    found = subtree_next_leaf (root, store->inner_levels, *page_index, &leaf);
  if (found >= store->npages) {
    *page_index = store->npages;
    return NULL;
  }
  *page_index = found;
  return leaf;
}

static void
node_free (struct store *store, void *node, unsigned level)
{
  if (node == NULL)
    return;
  if (level == 0) {
    struct leaf *leaf = node;
    for (unsigned i = 0; i < FANOUT; i++) {
      /* The pages go with the pool (store_destroy). */
      cow_record_free (store, leaf->cow[i]);
    }
  }
  else {
    struct inner *inner = node;
    for (unsigned i = 0; i < FANOUT; i++)
      node_free (store, atomic_load_explicit (&inner->child[i], memory_order_relaxed), level - 1);
  }
  free (node);
}

void
store_table_free (struct store *store)
{
  node_free (store, atomic_load_explicit (&store->root, memory_order_relaxed),
             store->inner_levels);
}
