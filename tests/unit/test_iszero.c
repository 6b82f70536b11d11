/* Unit tests of common/iszero: every length 0 .. 200 at every alignment,
 * a single non-zero byte anywhere is seen, and lengths across the 4 KiB
 * block it compares against. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/iszero.h"

static void
test_short_lengths_every_alignment (void **state)
{
  (void) state;
  unsigned char buf[256 + 16];

  for (size_t align = 0; align < 16; align++)
    for (size_t len = 0; len <= 200; len++) {
      unsigned char *p = buf + align;
      memset (buf, 0, sizeof buf);
      assert_true (snap_is_zero (p, len));
      for (size_t at = 0; at < len; at++) {
        p[at] = 0x80;
        if (snap_is_zero (p, len))
          fail_msg ("length %zu, alignment %zu: byte %zu set, reported zero",
                    len, align, at);
        p[at] = 0;
      }
      /* Bytes just outside the buffer do not count. */
      if (align > 0)
        p[-1] = 1;
      p[len] = 1;
      assert_true (snap_is_zero (p, len));
    }
}

static void
test_long_lengths (void **state)
{
  (void) state;
  const size_t lens[] = { 4095, 4096, 4097, 8192, 32768, 32768 + 3, 1048576 };

  for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    size_t len = lens[i];
    unsigned char *buf = calloc (1, len + 1);
    unsigned char *p = buf + 1;          /* unaligned */
    const size_t spots[] = { 0, 1, 4095, 4096, len / 2, len - 1 };

    assert_non_null (buf);
    assert_true (snap_is_zero (p, len));
    for (size_t s = 0; s < sizeof spots / sizeof spots[0]; s++) {
      if (spots[s] >= len)
        continue;
      p[spots[s]] = 1;
      assert_false (snap_is_zero (p, len));
      p[spots[s]] = 0;
    }
    free (buf);
  }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_short_lengths_every_alignment),
    cmocka_unit_test (test_long_lengths),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
