/* XXH64, the 64-bit xxHash, implemented from its specification (restated in
 * docs/snapshot-format.md section 12).  The snapshot format uses it, with
 * seed 0, for every checksum and for the content digest; it is the hash zstd
 * uses for its own content checksums, so the two agree on the low 32 bits.
 */
#ifndef MEMDISK_SNAPXXH64_H
#define MEMDISK_SNAPXXH64_H

#include <stddef.h>
#include <stdint.h>

uint64_t snap_xxh64 (const void *data, size_t len, uint64_t seed);

/* Streaming form: feeding the bytes in any number of pieces gives the
 * same result as snap_xxh64 over their concatenation. */
struct snap_xxh64_state {
  uint64_t v[4];
  uint64_t seed;
  uint64_t total_len;
  unsigned char buffer[32];
  size_t buffered;
};

void snap_xxh64_init (struct snap_xxh64_state *state, uint64_t seed);
void snap_xxh64_update (struct snap_xxh64_state *state, const void *data, size_t len);
uint64_t snap_xxh64_final (const struct snap_xxh64_state *state);

#endif
