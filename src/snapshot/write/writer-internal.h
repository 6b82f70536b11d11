/* What writer.c shares with writer-checks.c.  Not for use outside
 * src/snapshot/. */
#ifndef MEMDISK_SNAPWRITE_INTERNAL_H
#define MEMDISK_SNAPWRITE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "snapshot/write/writer.h"

/* OPTIONS are valid; *LEVEL is the zstd level they mean.  -1 with md_error
 * set otherwise. */
int snap_writer_check_options (const struct snap_write_options *options, int *level);

/* The page source returned PAGE_INDEX (after PREVIOUS unless FIRST) with
 * BUF's contents: a valid index in increasing order, no data past the end
 * of the disk.  -1 with md_error set otherwise. */
int snap_writer_check_page (uint64_t virtual_size, uint32_t page_size, uint64_t page_index,
                            bool first, uint64_t previous, const unsigned char *buf);

#endif
