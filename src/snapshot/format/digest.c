/* The content digest (digest.h, docs/snapshot-format.md section 7):
 * records per non-zero 4 KiB block, folded in block order, flat or
 * composed by region. */
#include "common/iszero.h"
#include "snapshot/format/digest.h"
#include "snapshot/format/format.h"

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

/* Feed COUNT pairs (u64le a || u64le b) of RECORDS into STATE, in batches. */
static void
fold_pairs (struct snap_xxh64_state *state, const struct snap_digest_record *records,
            size_t count)
{
  unsigned char bytes[16 * 64];
  size_t filled = 0;

  for (size_t i = 0; i < count; i++) {
    snap_put_le64 (bytes + filled, records[i].block);
    snap_put_le64 (bytes + filled + 8, records[i].hash);
    filled += 16;
    if (filled == sizeof bytes) {
      snap_xxh64_update (state, bytes, filled);
      filled = 0;
    }
  }
  snap_xxh64_update (state, bytes, filled);
}

uint64_t
snap_region_digest (const struct snap_digest_record *records, size_t count)
{
  struct snap_xxh64_state state;

  snap_xxh64_init (&state, 0);
  fold_pairs (&state, records, count);
  return snap_xxh64_final (&state);
}

void
snap_digest_init (struct snap_digest *digest)
{
  snap_xxh64_init (&digest->state, 0);
  digest->blocks_per_region = 0;
  digest->region_open = false;
  digest->region = 0;
}

void
snap_digest_init_composed (struct snap_digest *digest, uint32_t region_size)
{
  snap_digest_init (digest);
  digest->blocks_per_region = region_size / SNAP_DIGEST_BLOCK_SIZE;
}

/* Fold the open region's pair into the file's digest. */
static void
close_region (struct snap_digest *digest)
{
  if (!digest->region_open)
    return;
  struct snap_digest_record pair = {
    digest->region, snap_xxh64_final (&digest->region_state)
  };
  fold_pairs (&digest->state, &pair, 1);
  digest->region_open = false;
}

void
snap_digest_add (struct snap_digest *digest,
                 const struct snap_digest_record *records, size_t count)
{
  if (digest->blocks_per_region == 0) {
    fold_pairs (&digest->state, records, count);
    return;
  }
  for (size_t i = 0; i < count;) {
    uint64_t region = records[i].block / digest->blocks_per_region;
    size_t j = i + 1;
    while (j < count && records[j].block / digest->blocks_per_region == region)
      j++;
    if (!digest->region_open || digest->region != region) {
      close_region (digest);
      snap_xxh64_init (&digest->region_state, 0);
      digest->region = region;
      digest->region_open = true;
    }
    fold_pairs (&digest->region_state, records + i, j - i);
    i = j;
  }
}

void
snap_digest_add_region (struct snap_digest *digest, uint64_t region,
                        uint64_t region_digest)
{
  struct snap_digest_record pair = { region, region_digest };

  close_region (digest);
  fold_pairs (&digest->state, &pair, 1);
}

uint64_t
snap_digest_final (const struct snap_digest *digest)
{
  struct snap_digest copy = *digest;

  close_region (&copy);
  return snap_xxh64_final (&copy.state);
}
