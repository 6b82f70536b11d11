/* Page sizes.  A page is the unit the store allocates and the snapshot
 * format stores (docs/snapshot-format.md section 1); both take any power
 * of two in this range, so a store can take the page size of the snapshot
 * it loads.  The one definition of the bounds. */
#ifndef MEMDISK_PAGESIZE_H
#define MEMDISK_PAGESIZE_H

#include <stdbool.h>
#include <stdint.h>

#define MD_MIN_PAGE_SIZE 4096u
#define MD_MAX_PAGE_SIZE 1048576u

/* Whether PAGE_SIZE is a power of two from MD_MIN_PAGE_SIZE to
 * MD_MAX_PAGE_SIZE. */
static inline bool
md_page_size_valid (uint64_t page_size)
{
  return page_size >= MD_MIN_PAGE_SIZE && page_size <= MD_MAX_PAGE_SIZE
         && (page_size & (page_size - 1)) == 0;
}

#endif
