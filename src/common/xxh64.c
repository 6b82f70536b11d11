/* XXH64 from the xxHash specification.  Written for clarity first: the
 * stripe loop is the only hot part, and compilers keep its four lanes in
 * registers. */
#include <string.h>

#include "snapshot/format.h"
#include "common/xxh64.h"

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull
#define P4 0x85EBCA77C2B2AE63ull
#define P5 0x27D4EB2F165667C5ull

static inline uint64_t
rotl64 (uint64_t x, int r)
{
  return (x << r) | (x >> (64 - r));
}

static inline uint64_t
read64 (const unsigned char *p)
{
  uint64_t v;
  memcpy (&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64 (v);
#endif
  return v;
}

static inline uint64_t
xxh_round (uint64_t acc, uint64_t lane)
{
  acc += lane * P2;
  acc = rotl64 (acc, 31);
  return acc * P1;
}

static inline uint64_t
xxh_merge (uint64_t acc, uint64_t v)
{
  acc ^= xxh_round (0, v);
  return acc * P1 + P4;
}

static void
lanes_init (uint64_t v[4], uint64_t seed)
{
  v[0] = seed + P1 + P2;
  v[1] = seed + P2;
  v[2] = seed;
  v[3] = seed - P1;
}

/* Consume whole 32-byte stripes; returns the bytes consumed. */
static size_t
lanes_consume (uint64_t v[4], const unsigned char *p, size_t len)
{
  uint64_t v0 = v[0], v1 = v[1], v2 = v[2], v3 = v[3];
  size_t done = 0;

  for (; len - done >= 32; done += 32) {
    v0 = xxh_round (v0, read64 (p + done));
    v1 = xxh_round (v1, read64 (p + done + 8));
    v2 = xxh_round (v2, read64 (p + done + 16));
    v3 = xxh_round (v3, read64 (p + done + 24));
  }
  v[0] = v0, v[1] = v1, v[2] = v2, v[3] = v3;
  return done;
}

static uint64_t
lanes_fold (const uint64_t v[4])
{
  uint64_t h = rotl64 (v[0], 1) + rotl64 (v[1], 7) + rotl64 (v[2], 12)
               + rotl64 (v[3], 18);
  for (int i = 0; i < 4; i++)
    h = xxh_merge (h, v[i]);
  return h;
}

/* The tail (fewer than 32 bytes) and the final avalanche. */
static uint64_t
xxh_finish (uint64_t h, const unsigned char *p, size_t len)
{
  for (; len >= 8; p += 8, len -= 8)
    h = rotl64 (h ^ xxh_round (0, read64 (p)), 27) * P1 + P4;
  if (len >= 4) {
    h = rotl64 (h ^ ((uint64_t) snap_get_le32 (p) * P1), 23) * P2 + P3;
    p += 4;
    len -= 4;
  }
  for (; len > 0; p++, len--)
    h = rotl64 (h ^ (*p * P5), 11) * P1;

  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

uint64_t
snap_xxh64 (const void *data, size_t len, uint64_t seed)
{
  const unsigned char *p = data;
  uint64_t h;
  size_t done = 0;

  if (len >= 32) {
    uint64_t v[4];
    lanes_init (v, seed);
    done = lanes_consume (v, p, len);
    h = lanes_fold (v);
  }
  else
    h = seed + P5;
  h += len;
  return xxh_finish (h, p + done, len - done);
}

void
snap_xxh64_init (struct snap_xxh64_state *state, uint64_t seed)
{
  memset (state, 0, sizeof *state);
  state->seed = seed;
  lanes_init (state->v, seed);
}

void
snap_xxh64_update (struct snap_xxh64_state *state, const void *data, size_t len)
{
  const unsigned char *p = data;

  state->total_len += len;
  if (state->buffered > 0) {
    size_t take = 32 - state->buffered;
    if (take > len)
      take = len;
    memcpy (state->buffer + state->buffered, p, take);
    state->buffered += take;
    p += take;
    len -= take;
    if (state->buffered < 32)
      return;
    lanes_consume (state->v, state->buffer, 32);
    state->buffered = 0;
  }
  size_t done = lanes_consume (state->v, p, len);
  memcpy (state->buffer, p + done, len - done);
  state->buffered = len - done;
}

uint64_t
snap_xxh64_final (const struct snap_xxh64_state *state)
{
  uint64_t h;

  if (state->total_len >= 32)
    h = lanes_fold (state->v);
  else
    h = state->seed + P5;
  h += state->total_len;
  return xxh_finish (h, state->buffer, state->buffered);
}
