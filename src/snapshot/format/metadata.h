/* The metadata part of a snapshot (docs/snapshot-format.md section 6):
 * encoding, decoding with validation, and the creation time rule. */
#ifndef MEMDISK_SNAPMETA_H
#define MEMDISK_SNAPMETA_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/format/cbor.h"
#include "snapshot/format/format.h"

struct snap_metadata {
  uint16_t version_major;
  uint16_t version_minor;
  uint64_t virtual_size;
  uint32_t page_size;
  uint32_t region_size;         /* format 2: bytes of disk per frame; 0 in 1.0 */
  uint64_t allocated_size;      /* bytes of stored pages */
  int64_t compression_level;
  uint64_t zstd_version;        /* format 2: ZSTD_versionNumber() of the
                                   writer, 0 when not recorded */
  char creator[SNAP_MAX_CREATOR_SIZE + 1];
  uint64_t creation_time;       /* seconds since the Unix epoch */
  uint64_t content_digest;      /* section 7 */
  /* Format 2, optional: the regions a run's clients touched first, in
   * that order (snapshot/format/touchorder.h); 0 when the key is absent, and
   * never written into a 1.0 file. */
  size_t touch_order_count;
  uint64_t touch_order[SNAP_MAX_TOUCH_ORDER];
};

/* The region size of a store that loads a file of META: WANTED when not
 * 0 (its saves then write WANTED), else the file's, or
 * SNAP_DEFAULT_REGION_SIZE for a 1.0 file (which has no regions). */
static inline uint32_t
snap_store_region_size (const struct snap_metadata *meta, uint32_t wanted)
{
  if (wanted != 0)
    return wanted;
  return meta->region_size != 0 ? meta->region_size : SNAP_DEFAULT_REGION_SIZE;
}

/* Append the CBOR map to OUT, with the keys of META's major version (the
 * format 2 keys only when version_major >= 2).  -1 with md_error set when out of memory. */
int snap_meta_encode (const struct snap_metadata *meta, struct snap_cbor_buffer *out);

/* Parse and validate LEN bytes of metadata found at FILE_OFFSET.
 * -1 with md_error set (naming the byte offset) when they break a rule. */
int snap_meta_decode (const void *buf, size_t len, uint64_t file_offset,
                      struct snap_metadata *meta);

/* The creation time to record: $SOURCE_DATE_EPOCH when set, else now.
 * -1 with md_error set when SOURCE_DATE_EPOCH is not a number. */
int snap_meta_creation_time (uint64_t *seconds);

#endif
