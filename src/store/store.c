/* The store's I/O path: read, write, zero, trim, extents and loading on
 * the page table (pagetable.c), with a reader/writer spinlock per page.
 * store/internal.h draws it and says what guards what; cow.c holds what a
 * running snapshot needs (epochs, copy-on-write records, the walk). */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "common/iszero.h"
#include "store/internal.h"

/* ---- creation -------------------------------------------------------- */

struct store *
store_create (uint64_t size, uint32_t page_size)
{
  return store_create_regions (size, page_size, STORE_DEFAULT_REGION_SIZE);
}

struct store *
store_create_regions (uint64_t size, uint32_t page_size, uint32_t region_size)
{
  struct store *store;
  uint64_t max_index;
  unsigned index_bits;

  if (!md_page_size_valid (page_size)) {
    md_error_set ("page size %" PRIu32 " is not a power of two between %u and %u",
                  page_size, MD_MIN_PAGE_SIZE, MD_MAX_PAGE_SIZE);
    errno = EINVAL;
    return NULL;
  }
  if (!md_region_size_valid (region_size, page_size)) {
    md_error_set ("region size %" PRIu32 " is not a power of two from the page size (%"
                  PRIu32 " bytes) to 64 MiB", region_size, page_size);
    errno = EINVAL;
    return NULL;
  }
  if (size > STORE_MAX_SIZE) {
    md_error_set ("size %" PRIu64 " is larger than the maximum %" PRIu64,
                  size, STORE_MAX_SIZE);
    errno = EINVAL;
    return NULL;
  }

  /* Aligned: the fields in cache lines of their own must start lines. */
  store = aligned_alloc (_Alignof (struct store), sizeof *store);
  if (store == NULL) {
    md_error_set ("out of memory creating the store");
    return NULL;
  }
  memset (store, 0, sizeof *store);
  store->size = size;
  store->page_size = page_size;
  store->page_shift = (unsigned) __builtin_ctz (page_size);
  store->npages = (size + page_size - 1) >> store->page_shift;

  max_index = store->npages > 0 ? store->npages - 1 : 0;
  index_bits = max_index > 0 ? 64 - (unsigned) __builtin_clzll (max_index) : 1;
  store->inner_levels = index_bits > LEVEL_BITS
                        ? (index_bits - 1) / LEVEL_BITS : 0;

  /* A region is whole pages.  A leaf keeps a stamp per region it covers,
   * or one for its part of a region that spans several leaves
   * (regions.c). */
  store->region_shift = (unsigned) __builtin_ctz (region_size) - store->page_shift;
  store->stamp_shift = store->region_shift < LEVEL_BITS ? store->region_shift : LEVEL_BITS;
  store->leaf_size = sizeof (struct leaf)
                     + (FANOUT >> store->stamp_shift) * sizeof (struct region_stamp);
  /* Epochs start at 1: a region stamp of 0 means "not changed since the
   * store was made (or loaded)". */
  atomic_init (&store->epoch, 1);
  atomic_init (&store->snap_cursor, UINT64_MAX);
  pthread_mutex_init (&store->snapshot_lock, NULL);
  page_pool_init (&store->pages, page_size);
  return store;
}

int
store_start_refiller (struct store *store)
{
  if (store->preallocated)
    return 0;                   /* no page is allocated after the start */
  if (page_pool_start_refiller (&store->pages) == -1) {
    md_error_set ("starting the page refiller thread: %s", strerror (errno));
    return -1;
  }
  return 0;
}

void
store_destroy (struct store *store)
{
  if (store == NULL)
    return;
  store_table_free (store);
  page_pool_destroy (&store->pages);
  cow_pools_destroy (store);
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

uint64_t
store_in_file_bytes (const struct store *store)
{
  return atomic_load_explicit (&store->infile_pages, memory_order_relaxed)
         << store->page_shift;
}

uint64_t
store_resident_bytes (const struct store *store)
{
  uint64_t allocated = atomic_load_explicit (&store->allocated_pages, memory_order_relaxed);
  uint64_t infile = atomic_load_explicit (&store->infile_pages, memory_order_relaxed);

  /* Two loads, not one instant: never below zero. */
  return (allocated > infile ? allocated - infile : 0) << store->page_shift;
}

/* The change flag: set by every change, cleared by a snapshot or a load. */
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

/* Copy [OFFSET, OFFSET+LEN) out, page by page under each slot's lock. */
static int
read_pages (struct store *store, uint8_t *out, uint64_t len, uint64_t offset)
{
  while (len > 0) {
    uint64_t page_index = offset >> store->page_shift;
    uint32_t in_page = offset & (store->page_size - 1);
    uint64_t n = store->page_size - in_page;
    uint64_t hole_pages;
    struct leaf *leaf;

    if (n > len)
      n = len;
    leaf = store_leaf_find (store, page_index, false, &hole_pages);
    if (leaf == NULL) {
      /* A whole missing subtree reads as zeros in one go. */
      n = hole_run_bytes (store, page_index, hole_pages, n, len);
      memset (out, 0, n);
    }
    else {
      unsigned slot = page_index & SLOT_MASK;
      uint8_t *page;
      if (store_fault_in (store, leaf, slot, page_index, true) == -1)
        return -1;
      page_read_lock (&leaf->lock[slot]);
      page = atomic_load_explicit (&leaf->data[slot], memory_order_relaxed);
      if (page && page != PAGE_IN_FILE)
        memcpy (out, page + in_page, n);
      else if (page == NULL)
        memset (out, 0, n);
      page_read_unlock (&leaf->lock[slot]);
      if (page == PAGE_IN_FILE)
        continue;               /* cannot happen once faulted in; retry */
    }
    out += n;
    offset += n;
    len -= n;
  }
  return 0;
}

/* Counted in flight: a reset's instant waits for it (reset.c). */
int
store_read (struct store *store, void *buf, uint64_t len, uint64_t offset)
{
  if (check_range (store, len, offset, "read") == -1)
    return -1;
  struct inflight_shard *shard = epoch_shard (store);
  uint64_t epoch = epoch_enter_read (store, shard);
  int r = read_pages (store, buf, len, offset);
  epoch_exit (shard, epoch);
  return r;
}

/* A change to one page, in steps: find its slot, lock it holding a page
 * or a hole (a page still in the file is loaded first), hand what the
 * change overwrites to a running snapshot that still needs it, change the
 * page, record the epoch.  SRC non-NULL: a write of N bytes at IN_PAGE;
 * NULL: a zero (or trim). */

/* Take SLOT's write lock once it holds a page or a hole, in *PAGE.  A page
 * still in the file is loaded first: the bytes the change does not
 * overwrite are the file's.  Loading it is no change: the region is
 * stamped after, for the change itself (again on a retry: harmless). */
static int
slot_lock_for_change (struct store *store, struct leaf *leaf, unsigned slot,
                      uint64_t page_index, uint64_t epoch, uint8_t **page)
{
  for (;;) {
    if (store_fault_in (store, leaf, slot, page_index, true) == -1)
      return -1;
    region_stamp (store, leaf, page_index, epoch);
    page_write_lock (&leaf->lock[slot]);
    *page = atomic_load_explicit (&leaf->data[slot], memory_order_relaxed);
    if (*page != PAGE_IN_FILE)
      return 0;
    page_write_unlock (&leaf->lock[slot]);      /* loaded meanwhile? retry */
  }
}

/* Whether zeroing [IN_PAGE, IN_PAGE+N) leaves PAGE all zeros. */
static bool
zero_empties_page (const struct store *store, const uint8_t *page, uint32_t in_page,
                   uint32_t n)
{
  return n == store->page_size
         || (snap_is_zero (page, in_page)
             && snap_is_zero (page + in_page + n, store->page_size - in_page - n));
}

/* Change the locked SLOT, which holds PAGE (NULL: a hole); COW is what a
 * running snapshot keeps of it (NULL: nothing).  -1 on ENOMEM. */
static int
slot_change (struct store *store, struct leaf *leaf, unsigned slot, uint8_t *page,
             struct cow_record *cow, uint32_t in_page, uint32_t n, const uint8_t *src)
{
  uint8_t *copy;

  if (page == NULL) {
    if (src == NULL || snap_is_zero (src, n))
      return 0;                 /* still a hole */
    if ((copy = page_alloc (&store->pages)) == NULL)
      return -1;
    memcpy (copy + in_page, src, n);    /* the rest: zeros already */
    atomic_store_explicit (&leaf->data[slot], copy, memory_order_release);
    atomic_fetch_add_explicit (&store->allocated_pages, 1, memory_order_relaxed);
  }
  else if (src == NULL && !store->preallocated
           && zero_empties_page (store, page, in_page, n)) {
    /* Zero or trim that leaves the page all zeros frees it (or hands it to
     * the snapshot): a zeroed range costs no memory, like a hole. */
    atomic_store_explicit (&leaf->data[slot], NULL, memory_order_release);
    atomic_fetch_sub_explicit (&store->allocated_pages, 1, memory_order_relaxed);
    if (cow)
      cow_take_page (store, cow, page);
    else
      page_free (&store->pages, page);
  }
  else if (cow && n == store->page_size && !store->preallocated) {
    /* A whole-page write: the snapshot takes the old page, clients get a
     * new one (no copy of the old contents).  A preallocated store keeps
     * its pages: its blocks are kept instead, below, in the snapshot's
     * pool, which goes when the snapshot ends. */
    if ((copy = page_alloc (&store->pages)) == NULL)
      return -1;
    memcpy (copy, src, n);
    atomic_store_explicit (&leaf->data[slot], copy, memory_order_release);
    cow_take_page (store, cow, page);
  }
  else {
    /* In place (a preallocated store's zero and trim too); first keep
     * the blocks it overwrites if the snapshot still needs them. */
    if (cow && cow_save_blocks (store, cow, page, in_page, n) == -1)
      return -1;
    if (src)
      memcpy (page + in_page, src, n);
    else
      memset (page + in_page, 0, n);
  }
  return 0;
}

static int
page_change (struct store *store, uint64_t epoch, uint64_t page_index,
             uint32_t in_page, uint32_t n, const uint8_t *src)
{
  unsigned slot = page_index & SLOT_MASK;
  struct leaf *leaf = store_leaf_find (store, page_index, src != NULL, NULL);
  struct cow_record *cow;
  uint8_t *page;
  bool failed;
  int r;

  if (leaf == NULL)
    return src ? -1 : 0;  /* zeroing a missing subtree: nothing to do */
  /* Zeroing a hole changes nothing.  (Requests of other epochs never run
   * concurrently with this one, so skipping here orders it consistently.) */
  if (src == NULL && atomic_load_explicit (&leaf->data[slot], memory_order_acquire) == NULL)
    return 0;
  if (slot_lock_for_change (store, leaf, slot, page_index, epoch, &page) == -1)
    return -1;
  cow = cow_for_change (store, leaf, slot, page_index, epoch, page, &failed);
  r = failed ? -1 : slot_change (store, leaf, slot, page, cow, in_page, n, src);
  /* Even a slot that stays a hole records the epoch: to a running snapshot
   * it says "changed since the instant, and what was there is in cow[]"
   * (NULL there: it was a hole). */
  if (r == 0)
    leaf->written_epoch[slot] = epoch;
  page_write_unlock (&leaf->lock[slot]);
  if (r == -1) {
    md_error_set ("out of memory allocating a %" PRIu32 "-byte page", store->page_size);
    errno = ENOMEM;
  }
  return r;
}

/* Write (SRC non-NULL) or zero (SRC NULL) the range, page by page. */
static int
store_change (struct store *store, const uint8_t *src, uint64_t len, uint64_t offset)
{
  struct inflight_shard *shard = epoch_shard (store);
  uint64_t epoch = epoch_enter (store, shard);
  int r = 0;

  while (len > 0) {
    uint64_t page_index = offset >> store->page_shift;
    uint32_t in_page = offset & (store->page_size - 1);
    uint64_t n = store->page_size - in_page;
    uint64_t hole_pages;

    if (n > len)
      n = len;
    /* Zeroing skips whole missing subtrees without visiting each page. */
    if (src == NULL && store_leaf_find (store, page_index, false, &hole_pages) == NULL)
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

  epoch_exit (shard, epoch);
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
    struct leaf *leaf = store_leaf_find (store, page_index, false, &hole_pages);

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
      if (have_run) {
        int r = fn (opaque, run_start, offset - run_start, run_allocated);
        if (r != 0)
          return r == STORE_EXTENTS_STOP ? 0 : -1;
      }
      run_start = offset;
      run_allocated = allocated;
      have_run = true;
    }
    offset = next;
  }
  if (have_run && fn (opaque, run_start, end - run_start, run_allocated) == -1)
    return -1;
  return 0;                     /* a stop at the last run ends the walk too */
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
  leaf = store_leaf_find (store, page_index, true, NULL);
  if (leaf == NULL)
    return NULL;
  page = atomic_load_explicit (&leaf->data[slot], memory_order_acquire);
  if (page == NULL) {
    page = page_alloc (&store->pages);   /* all zeros */
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

