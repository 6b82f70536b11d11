/* XXH64, the 64-bit xxHash (docs/snapshot-format.md section 12), from
 * libxxhash.  The snapshot format uses it, with seed 0, for every checksum
 * and for the content digest; it is the hash zstd uses for its own content
 * checksums, so the two agree on the low 32 bits.  These names keep the
 * format's code independent of the library's spelling; the state is
 * libxxhash's own, embedded (XXH_STATIC_LINKING_ONLY) so that a digest
 * needs no allocation.
 */
#ifndef MEMDISK_XXH64_H
#define MEMDISK_XXH64_H

#include <stddef.h>
#include <stdint.h>

#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

static inline uint64_t
snap_xxh64 (const void *data, size_t len, uint64_t seed)
{
  return XXH64 (data, len, seed);
}

/* Streaming form: feeding the bytes in any number of pieces gives the
 * same result as snap_xxh64 over their concatenation. */
struct snap_xxh64_state {
  XXH64_state_t state;
};

static inline void
snap_xxh64_init (struct snap_xxh64_state *state, uint64_t seed)
{
  XXH64_reset (&state->state, seed);
}

static inline void
snap_xxh64_update (struct snap_xxh64_state *state, const void *data, size_t len)
{
  XXH64_update (&state->state, data, len);
}

static inline uint64_t
snap_xxh64_final (const struct snap_xxh64_state *state)
{
  return XXH64_digest (&state->state);
}

#endif
