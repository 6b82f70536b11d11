/* Pages still in the snapshot file: what a lazy load leaves in the page
 * table until the page is first touched.  The store knows nothing of
 * snapshots: a marked slot holds the sentinel PAGE_IN_FILE, and the I/O
 * path calls the fault hook (a function pointer and an opaque, set by the
 * snapshot side) when it meets one; the hook hands the loaded bytes back
 * through store_install_page.
 *
 *   data[i] == PAGE_IN_FILE ──(hook: store_install_page, under lock[i])──► page
 *   page (unchanged since the base) ──(store_region_give_back, giveback.c; reset.c's store_region_to_file under a drain)──► PAGE_IN_FILE
 *
 * Both moves happen under the slot's write lock.  After a give-back the
 * hook may say "loaded" before the caller made the frame loadable again:
 * store_fault_in then yields and asks again.
 * Every path that would use the page tests for it (an atomic load), calls
 * store_fault_in outside the slot lock, then takes the lock and tests
 * again.  A change (write, zero, trim) faults the page in first, so the
 * bytes it does not overwrite are the file's, and a copy-on-write record
 * never holds the sentinel.  docs/design.md, "Lazy load", has the whole
 * protocol.
 */
#include <errno.h>
#include <sched.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/internal.h"

uint8_t store_page_in_file_marker;

void
store_set_fault_hook (struct store *store, store_fault_fn fn, void *opaque)
{
  store->fault_fn = fn;
  store->fault_opaque = opaque;
}

int
store_mark_in_file (struct store *store, uint64_t first_page, uint64_t page_count)
{
  if (store->fault_fn == NULL) {
    md_error_set ("marking pages in the file: no fault hook is set");
    errno = EINVAL;
    return -1;
  }
  if (first_page > store->npages || page_count > store->npages - first_page) {
    md_error_set ("pages %" PRIu64 " + %" PRIu64 " are beyond the end of the disk "
                  "(%" PRIu64 " pages)", first_page, page_count, store->npages);
    errno = EINVAL;
    return -1;
  }
  for (uint64_t p = first_page; p < first_page + page_count; p++) {
    struct leaf *leaf = store_leaf_find (store, p, true, NULL);
    unsigned slot = p & SLOT_MASK;

    if (leaf == NULL)
      return -1;
    if (atomic_load_explicit (&leaf->data[slot], memory_order_relaxed) != NULL) {
      md_error_set ("marking page %" PRIu64 " in the file: it is not a hole", p);
      errno = EINVAL;
      return -1;
    }
    atomic_store_explicit (&leaf->data[slot], PAGE_IN_FILE, memory_order_relaxed);
    atomic_fetch_add_explicit (&store->allocated_pages, 1, memory_order_relaxed);
    atomic_fetch_add_explicit (&store->infile_pages, 1, memory_order_relaxed);
  }
  return 0;
}

int
store_install_page (struct store *store, uint64_t page_index, const void *data)
{
  struct leaf *leaf;
  unsigned slot = page_index & SLOT_MASK;
  uint8_t *page;

  if (!store_page_in_file (store, page_index))
    return 0;                   /* never marked, or loaded: nothing to install */
  page = page_alloc (&store->pages);
  if (page == NULL) {
    md_error_set ("out of memory allocating a %" PRIu32 "-byte page", store->page_size);
    errno = ENOMEM;
    return -1;
  }
  memcpy (page, data, store->page_size);
  leaf = store_leaf_find (store, page_index, false, NULL);
  page_write_lock (&leaf->lock[slot]);
  if (atomic_load_explicit (&leaf->data[slot], memory_order_relaxed) == PAGE_IN_FILE) {
    /* Same contents as at any instant since the load: no epoch stamp and
     * no copy-on-write, this is not a change. */
    atomic_store_explicit (&leaf->data[slot], page, memory_order_release);
    page = NULL;
    atomic_fetch_sub_explicit (&store->infile_pages, 1, memory_order_relaxed);
  }
  page_write_unlock (&leaf->lock[slot]);
  page_free (&store->pages, page);
  return 0;
}

bool
store_page_in_file (struct store *store, uint64_t page_index)
{
  struct leaf *leaf;

  if (page_index >= store->npages
      || (leaf = store_leaf_find (store, page_index, false, NULL)) == NULL)
    return false;
  return atomic_load_explicit (&leaf->data[page_index & SLOT_MASK],
                               memory_order_acquire) == PAGE_IN_FILE;
}

int
store_fault_in (struct store *store, struct leaf *leaf, unsigned slot, uint64_t page_index,
                bool by_client)
{
  for (bool again = false;
       atomic_load_explicit (&leaf->data[slot], memory_order_acquire) == PAGE_IN_FILE;
       again = true) {
    /* Still in the file after the hook said it was loaded: the page went
     * back to the file (giveback.c) and its frame is not loadable yet. */
    if (again)
      sched_yield ();
    md_error_clear ();
    errno = 0;
    if (store->fault_fn (store->fault_opaque, page_index, by_client) == -1) {
      if (md_error ()[0] == '\0')
        md_error_set ("page %" PRIu64 " could not be loaded from the file", page_index);
      if (errno == 0)
        errno = EIO;
      return -1;
    }
  }
  return 0;
}
