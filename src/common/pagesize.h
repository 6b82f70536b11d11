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

/* Region sizes.  A region is the unit of the store's change tracking and
 * of a snapshot's data frames (docs/snapshot-format.md section 4): a
 * power of two from a page (at least MD_MIN_PAGE_SIZE) to
 * MD_MAX_REGION_SIZE, the most a data frame may hold. */
#define MD_MAX_REGION_SIZE (64u * 1024u * 1024u)

/* Whether REGION_SIZE is a power of two from max(PAGE_SIZE,
 * MD_MIN_PAGE_SIZE) to MD_MAX_REGION_SIZE. */
static inline bool
md_region_size_valid (uint64_t region_size, uint32_t page_size)
{
  return region_size >= MD_MIN_PAGE_SIZE && region_size >= page_size
         && region_size <= MD_MAX_REGION_SIZE && (region_size & (region_size - 1)) == 0;
}

#endif
