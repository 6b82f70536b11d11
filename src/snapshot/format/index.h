/* The index of a snapshot (docs/snapshot-format.md section 8): for every
 * data frame, where it is, its checksum, and which pages it holds. */
#ifndef MEMDISK_SNAPINDEX_H
#define MEMDISK_SNAPINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/format/cbor.h"
#include "snapshot/format/metadata.h"

/* Pages first_page .. first_page + page_count - 1. */
struct snap_run {
  uint64_t first_page;
  uint64_t page_count;
};

struct snap_frame {
  uint64_t offset;              /* in the file */
  uint64_t compressed_size;
  uint64_t checksum;            /* XXH64 of the compressed bytes */
  uint64_t region;              /* format 2: the region whose pages it holds */
  uint64_t region_digest;       /* format 2: the region digest (digest.h) */
  size_t first_run;             /* into snap_index.runs */
  size_t run_count;
  uint64_t page_count;          /* sum of its runs' page counts */
};

struct snap_index {
  struct snap_frame *frames;
  size_t frame_count;
  size_t frame_cap;
  struct snap_run *runs;
  size_t run_count;
  size_t run_cap;
  uint64_t page_count;          /* pages in all frames */
  uint32_t region_size;         /* format 2: bytes of disk per frame, else 0 */
  uint32_t page_size;           /* format 2: to find a frame's region */
};

void snap_index_init (struct snap_index *index);
/* An index of format 2's layout, for regions of REGION_SIZE bytes and
 * pages of PAGE_SIZE bytes (snap_index_init's is format 1.0's). */
void snap_index_init_regions (struct snap_index *index, uint32_t region_size,
                              uint32_t page_size);
void snap_index_free (struct snap_index *index);

/* Writer side: append the frame written at OFFSET holding the pages
 * PAGES[0..NPAGES-1] (strictly increasing, NPAGES >= 1), merged into runs;
 * REGION_DIGEST is recorded in format 2's layout only. */
int snap_index_add_frame (struct snap_index *index, uint64_t offset,
                          uint64_t compressed_size, uint64_t checksum,
                          uint64_t region_digest, const uint64_t *pages, size_t npages);
/* Append frame K of SOURCE, now at OFFSET: the same size, checksum, region
 * digest and runs (a frame copied from a previous file). */
int snap_index_copy_frame (struct snap_index *index, uint64_t offset,
                           const struct snap_index *source, size_t k);
int snap_index_encode (const struct snap_index *index, struct snap_cbor_buffer *out);

/* Reader side: parse LEN bytes found at FILE_OFFSET and check them against
 * the metadata and against DATA_END, the offset where the data frames must
 * end (the metadata frame's offset). */
int snap_index_decode (const void *buf, size_t len, uint64_t file_offset,
                       const struct snap_metadata *meta, uint64_t data_end,
                       struct snap_index *index);

/* The first page of frame K. */
uint64_t snap_index_frame_first_page (const struct snap_index *index, size_t k);
/* The frame holding PAGE, by binary search: the last one whose first page
 * is not above it (frames hold pages in increasing order); 0 when there
 * is none. */
size_t snap_index_frame_of_page (const struct snap_index *index, uint64_t page);

#endif
