/* The content digest of a disk (docs/snapshot-format.md section 7).
 *
 * Two steps, so the expensive one runs in parallel: snap_digest_page turns
 * a page into one record per non-zero 4096-byte block (any thread, any
 * order); snap_digest_add folds records into the digest, which must happen
 * in increasing block order.
 *
 * Two forms, made of the same records: the flat digest of format 1.0
 * (XXH64 of all the records), and the composed digest of format 2.0 (XXH64
 * of one (region, region digest) pair per region with data, a region digest
 * being XXH64 of that region's records).  The composed form lets a save
 * take an unchanged region's digest from the previous file's index instead
 * of decompressing it (snap_digest_add_region). */
#ifndef MEMDISK_SNAPDIGEST_H
#define MEMDISK_SNAPDIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/xxh64.h"

struct snap_digest_record {
  uint64_t block;               /* block number: byte offset / 4096 */
  uint64_t hash;                /* XXH64 of the block */
};

/* Records for the non-zero blocks of page PAGE_INDEX (PAGE_SIZE bytes at
 * DATA) into OUT, which has room for PAGE_SIZE / 4096 records.  Returns
 * how many were written. */
size_t snap_digest_page (uint64_t page_index, uint32_t page_size, const void *data,
                         struct snap_digest_record *out);

/* The region digest of COUNT records, all of one region (format 2.0). */
uint64_t snap_region_digest (const struct snap_digest_record *records, size_t count);

struct snap_digest {
  struct snap_xxh64_state state;        /* over records, or over region pairs */
  uint64_t blocks_per_region;           /* 0: the flat form */
  bool region_open;                     /* records of REGION are in region_state */
  uint64_t region;
  struct snap_xxh64_state region_state;
};

/* The flat digest (format 1.0). */
void snap_digest_init (struct snap_digest *digest);
/* The composed digest (format 2.0) with regions of REGION_SIZE bytes, a
 * power of two of at least 4096. */
void snap_digest_init_composed (struct snap_digest *digest, uint32_t region_size);

void snap_digest_add (struct snap_digest *digest,
                      const struct snap_digest_record *records, size_t count);
/* Composed form only: region REGION, whose digest is REGION_DIGEST, comes
 * next, whole (no record of it is added).  Regions, like records, come in
 * increasing order. */
void snap_digest_add_region (struct snap_digest *digest, uint64_t region,
                             uint64_t region_digest);
uint64_t snap_digest_final (const struct snap_digest *digest);

#endif
