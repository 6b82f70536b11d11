/* What writer.c shares with writer-checks.c.  Not for use outside
 * src/snapshot/. */
#ifndef MEMDISK_SNAPWRITE_INTERNAL_H
#define MEMDISK_SNAPWRITE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <zstd.h>

#include "snapshot/writer.h"

/* OPTIONS are valid; *LEVEL is the zstd level they mean.  -1 with md_error
 * set otherwise. */
int snap_writer_check_options (const struct snap_write_options *options, int *level);

/* The page source returned PAGE_INDEX (after PREVIOUS unless FIRST) with
 * BUF's contents: a valid index in increasing order, no data past the end
 * of the disk.  -1 with md_error set otherwise. */
int snap_writer_check_page (uint64_t virtual_size, uint32_t page_size, uint64_t page_index,
                            bool first, uint64_t previous, const unsigned char *buf);

/* A compressor's zstd context for LEVEL, NULL with md_error set. */
ZSTD_CCtx *snap_writer_cctx (int level);
/* Compress SRC (SRC_SIZE bytes) into one zstd frame in DST (DST_CAP at
 * least ZSTD_compressBound): the bytes ZSTD_compress2 gives, a block at a
 * time with a chance for other threads between blocks.  0 with
 * *OUT_LEN set, or a zstd error code. */
size_t snap_writer_compress (ZSTD_CCtx *cctx, void *dst, size_t dst_cap, const void *src,
                             size_t src_size, size_t *out_len);

#endif
