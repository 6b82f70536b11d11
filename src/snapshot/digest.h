/* The content digest of a disk (docs/snapshot-format.md section 7).
 *
 * Two steps, so the expensive one runs in parallel: snap_digest_page turns
 * a page into one record per non-zero 4096-byte block (any thread, any
 * order); snap_digest_add folds records into the digest, which must happen
 * in increasing block order. */
#ifndef MEMDISK_SNAPDIGEST_H
#define MEMDISK_SNAPDIGEST_H

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

struct snap_digest {
  struct snap_xxh64_state state;
};

void snap_digest_init (struct snap_digest *digest);
void snap_digest_add (struct snap_digest *digest,
                      const struct snap_digest_record *records, size_t count);
uint64_t snap_digest_final (const struct snap_digest *digest);

#endif
