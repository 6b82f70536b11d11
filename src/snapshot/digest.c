/* The content digest (digest.h, docs/snapshot-format.md section 7):
 * records per non-zero 4 KiB block, folded in block order. */
#include "snapshot/digest.h"
#include "snapshot/format.h"
#include "common/iszero.h"

size_t
snap_digest_page (uint64_t page_index, uint32_t page_size, const void *data,
                  struct snap_digest_record *out)
{
  const unsigned char *p = data;
  const uint32_t blocks = page_size / SNAP_DIGEST_BLOCK_SIZE;
  const uint64_t first_block = page_index * blocks;
  size_t n = 0;

  for (uint32_t b = 0; b < blocks; b++, p += SNAP_DIGEST_BLOCK_SIZE) {
    if (snap_is_zero (p, SNAP_DIGEST_BLOCK_SIZE))
      continue;
    out[n].block = first_block + b;
    out[n].hash = snap_xxh64 (p, SNAP_DIGEST_BLOCK_SIZE, 0);
    n++;
  }
  return n;
}

void
snap_digest_init (struct snap_digest *digest)
{
  snap_xxh64_init (&digest->state, 0);
}

void
snap_digest_add (struct snap_digest *digest,
                 const struct snap_digest_record *records, size_t count)
{
  unsigned char bytes[16 * 64];
  size_t filled = 0;

  /* Serialise as u64le block || u64le hash, in batches. */
  for (size_t i = 0; i < count; i++) {
    snap_put_le64 (bytes + filled, records[i].block);
    snap_put_le64 (bytes + filled + 8, records[i].hash);
    filled += 16;
    if (filled == sizeof bytes) {
      snap_xxh64_update (&digest->state, bytes, filled);
      filled = 0;
    }
  }
  snap_xxh64_update (&digest->state, bytes, filled);
}

uint64_t
snap_digest_final (const struct snap_digest *digest)
{
  return snap_xxh64_final (&digest->state);
}
