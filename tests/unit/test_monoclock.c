/* Unit tests of common/monoclock: milliseconds and seconds read the same
 * clock (CLOCK_MONOTONIC, compared with a direct read), never go back, and
 * measure a sleep as at least its length. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "common/monoclock.h"

static void
test_same_clock (void **state)
{
  struct timespec ts;

  (void) state;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  int64_t direct_ms = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
  int64_t ms = md_monotonic_ms ();
  double s = md_monotonic_seconds ();

  /* Read one after another: within a second of each other, in order. */
  assert_true (ms >= direct_ms && ms - direct_ms < 1000);
  assert_true (s * 1000 >= (double) ms - 1 && s * 1000 - (double) ms < 1000);
}

static void
test_measures_a_sleep (void **state)
{
  const struct timespec pause = { 0, 30 * 1000 * 1000 };
  (void) state;
  int64_t ms = md_monotonic_ms ();
  double s = md_monotonic_seconds ();

  nanosleep (&pause, NULL);
  int64_t ms_later = md_monotonic_ms ();
  double s_later = md_monotonic_seconds ();
  assert_true (ms_later - ms >= 30);
  assert_true (s_later - s >= 0.030);
  /* Nanoseconds count: two reads in a row differ by less than a second
   * and never go back. */
  double a = md_monotonic_seconds (), b = md_monotonic_seconds ();
  assert_true (b >= a && b - a < 1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_same_clock),
    cmocka_unit_test (test_measures_a_sleep),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
