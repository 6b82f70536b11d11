/* Unit tests of XXH64 as memdisk uses it (common/xxh64.h, libxxhash):
 * the specification's test values; agreement on every length 0 .. 300
 * and on a few MiB with the algorithm as docs/snapshot-format.md section
 * 12 writes it down (transcribed below, as the document's own check) and
 * with zstd's content checksums (the low 32 bits of XXH64(content, 0),
 * computed by zstd's own copy of xxHash); streaming in pieces of every
 * size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zstd.h>

#include "common/xxh64.h"

/* ---- section 12, step by step ---- */

#define P1 0x9E3779B185EBCA87ull
#define P2 0xC2B2AE3D27D4EB4Full
#define P3 0x165667B19E3779F9ull
#define P4 0x85EBCA77C2B2AE63ull
#define P5 0x27D4EB2F165667C5ull

static uint64_t rotl (uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static uint64_t round64 (uint64_t acc, uint64_t x) { return rotl (acc + x * P2, 31) * P1; }
static uint64_t merge (uint64_t acc, uint64_t v) { return (acc ^ round64 (0, v)) * P1 + P4; }

static uint64_t
le (const unsigned char *p, int bytes)
{
  uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; i--)
    v = v << 8 | p[i];
  return v;
}

static uint64_t
spec_xxh64 (const unsigned char *p, size_t len, uint64_t s)
{
  size_t i = 0;
  uint64_t h;

  if (len >= 32) {
    uint64_t v[4] = { s + P1 + P2, s + P2, s, s - P1 };
    for (; i + 32 <= len; i += 32)
      for (int k = 0; k < 4; k++)
        v[k] = round64 (v[k], le (p + i + 8 * k, 8));
    h = rotl (v[0], 1) + rotl (v[1], 7) + rotl (v[2], 12) + rotl (v[3], 18);
    for (int k = 0; k < 4; k++)
      h = merge (h, v[k]);
  }
  else
    h = s + P5;
  h += len;
  for (; i + 8 <= len; i += 8)
    h = rotl (h ^ round64 (0, le (p + i, 8)), 27) * P1 + P4;
  if (i + 4 <= len) {
    h = rotl (h ^ (le (p + i, 4) * P1), 23) * P2 + P3;
    i += 4;
  }
  for (; i < len; i++)
    h = rotl (h ^ (p[i] * P5), 11) * P1;
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

/* ---- inputs ---- */

#define BIG (3u * 1024 * 1024 + 17)

static unsigned char *
make_input (size_t len)
{
  unsigned char *data = malloc (len ? len : 1);
  uint64_t x = 0x0123456789ABCDEFull;

  assert_non_null (data);
  for (size_t i = 0; i < len; i++) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    data[i] = (unsigned char) (x >> 56);
  }
  return data;
}

/* zstd's checksum of DATA: the last 4 bytes of a frame with the checksum
 * flag. */
static uint32_t
zstd_checksum (ZSTD_CCtx *cctx, const unsigned char *data, size_t len)
{
  size_t cap = ZSTD_compressBound (len);
  unsigned char *frame = malloc (cap);
  size_t n;
  uint32_t sum;

  assert_non_null (frame);
  n = ZSTD_compress2 (cctx, frame, cap, data, len);
  assert_false (ZSTD_isError (n));
  sum = (uint32_t) frame[n - 4] | (uint32_t) frame[n - 3] << 8
        | (uint32_t) frame[n - 2] << 16 | (uint32_t) frame[n - 1] << 24;
  free (frame);
  return sum;
}

/* ---- tests ---- */

static void
test_known_values (void **state)
{
  (void) state;
  assert_int_equal (snap_xxh64 ("", 0, 0), 0xEF46DB3751D8E999ull);
  assert_int_equal (snap_xxh64 ("abc", 3, 0), 0x44BC2CF5AD770999ull);
  /* The transcription below is right where the document says. */
  assert_int_equal (spec_xxh64 ((const unsigned char *) "", 0, 0), 0xEF46DB3751D8E999ull);
  assert_int_equal (spec_xxh64 ((const unsigned char *) "abc", 3, 0), 0x44BC2CF5AD770999ull);
}

static void
test_agrees_with_spec (void **state)
{
  (void) state;
  unsigned char *data = make_input (BIG);

  for (size_t len = 0; len <= 300; len++)
    for (uint64_t seed = 0; seed < 3; seed++)
      assert_int_equal (snap_xxh64 (data, len, seed * 0x9E3779B97F4A7C15ull),
                        spec_xxh64 (data, len, seed * 0x9E3779B97F4A7C15ull));
  assert_int_equal (snap_xxh64 (data, BIG, 0), spec_xxh64 (data, BIG, 0));
  /* Unaligned starts. */
  for (size_t off = 1; off < 8; off++)
    assert_int_equal (snap_xxh64 (data + off, 1000, 0), spec_xxh64 (data + off, 1000, 0));
  free (data);
}

static void
test_agrees_with_zstd (void **state)
{
  (void) state;
  unsigned char *data = make_input (BIG);
  ZSTD_CCtx *cctx = ZSTD_createCCtx ();

  assert_non_null (cctx);
  assert_false (ZSTD_isError (ZSTD_CCtx_setParameter (cctx, ZSTD_c_checksumFlag, 1)));
  for (size_t len = 0; len <= 300; len++)
    assert_int_equal ((uint32_t) snap_xxh64 (data, len, 0), zstd_checksum (cctx, data, len));
  for (size_t len = 1024 * 1024 - 1; len <= BIG; len += 1024 * 1024)
    assert_int_equal ((uint32_t) snap_xxh64 (data, len, 0), zstd_checksum (cctx, data, len));
  assert_int_equal ((uint32_t) snap_xxh64 (data, BIG, 0), zstd_checksum (cctx, data, BIG));
  ZSTD_freeCCtx (cctx);
  free (data);
}

static void
test_streaming_matches_one_shot (void **state)
{
  (void) state;
  unsigned char data[300];

  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (unsigned char) (i * 7 + 1);
  for (size_t piece = 1; piece <= 40; piece++) {
    struct snap_xxh64_state st;
    snap_xxh64_init (&st, 99);
    for (size_t off = 0; off < sizeof data; off += piece)
      snap_xxh64_update (&st, data + off,
                         sizeof data - off < piece ? sizeof data - off : piece);
    assert_int_equal (snap_xxh64_final (&st), snap_xxh64 (data, sizeof data, 99));
  }
  /* The seed matters, and so does every byte. */
  assert_true (snap_xxh64 (data, sizeof data, 0) != snap_xxh64 (data, sizeof data, 1));
  uint64_t before = snap_xxh64 (data, sizeof data, 0);
  data[150] ^= 1;
  assert_true (snap_xxh64 (data, sizeof data, 0) != before);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_known_values),
    cmocka_unit_test (test_agrees_with_spec),
    cmocka_unit_test (test_agrees_with_zstd),
    cmocka_unit_test (test_streaming_matches_one_shot),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
