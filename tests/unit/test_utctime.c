/* Unit tests of common/utctime: ISO 8601 UTC text at the epoch, an
 * ordinary instant, a leap day and the last four-digit year; "" and -1
 * before the epoch and past year 9999. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/utctime.h"

static void
expect_text (int64_t seconds, const char *text)
{
  char buf[MD_UTC_TEXT_SIZE];

  assert_int_equal (md_format_utc (seconds, buf), 0);
  assert_string_equal (buf, text);
}

static void
expect_none (int64_t seconds)
{
  char buf[MD_UTC_TEXT_SIZE] = "not cleared";

  assert_int_equal (md_format_utc (seconds, buf), -1);
  assert_string_equal (buf, "");
}

static void
test_instants (void **state)
{
  (void) state;
  expect_text (0, "1970-01-01T00:00:00Z");
  expect_text (1796086800, "2026-12-01T01:00:00Z");
  expect_text (951782400, "2000-02-29T00:00:00Z");
  expect_text (INT64_C (253402300799), "9999-12-31T23:59:59Z");
}

static void
test_out_of_range (void **state)
{
  (void) state;
  expect_none (-1);
  expect_none (INT64_C (253402300800));
  expect_none (INT64_MAX);
  expect_none (INT64_MIN);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_instants),
    cmocka_unit_test (test_out_of_range),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
