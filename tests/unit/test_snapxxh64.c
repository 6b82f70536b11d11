/* Unit tests of XXH64 (src/snapxxh64.h): the specification's test values,
 * agreement with zstd's content checksums (the low 32 bits of XXH64 of the
 * content), and streaming in pieces of every size. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <zstd.h>

#include "common/xxh64.h"

static void
test_known_values (void **state)
{
  (void) state;
  assert_int_equal (snap_xxh64 ("", 0, 0), 0xEF46DB3751D8E999ull);
  assert_int_equal (snap_xxh64 ("abc", 3, 0), 0x44BC2CF5AD770999ull);
}

/* zstd stores the low 32 bits of XXH64(content, 0) at the end of a frame
 * with a content checksum: an independent implementation to compare with,
 * for lengths around every branch of the algorithm. */
static void
test_agrees_with_zstd (void **state)
{
  (void) state;
  unsigned char data[1100], frame[2048];
  ZSTD_CCtx *cctx = ZSTD_createCCtx ();

  ZSTD_CCtx_setParameter (cctx, ZSTD_c_checksumFlag, 1);
  for (size_t i = 0; i < sizeof data; i++)
    data[i] = (unsigned char) (i * 131 + (i >> 3));
  for (size_t len = 0; len <= sizeof data; len += len < 100 ? 1 : 97) {
    size_t n = ZSTD_compress2 (cctx, frame, sizeof frame, data, len);
    assert_false (ZSTD_isError (n));
    uint32_t zstd_sum = (uint32_t) frame[n - 4] | (uint32_t) frame[n - 3] << 8
                        | (uint32_t) frame[n - 2] << 16 | (uint32_t) frame[n - 1] << 24;
    assert_int_equal ((uint32_t) snap_xxh64 (data, len, 0), zstd_sum);
  }
  ZSTD_freeCCtx (cctx);
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
    cmocka_unit_test (test_agrees_with_zstd),
    cmocka_unit_test (test_streaming_matches_one_shot),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
