/* snapshot/format/touchorder.c: the rules of the "touch-order" key, the
 * lock-free recorder (many threads, each region once, the first 1024
 * kept) and the merge of a run's order with the loaded file's. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapshot/format/touchorder.h"

static void
test_check (void **state)
{
  (void) state;
  const uint64_t good[] = { 9, 2, 0, 255 };
  const uint64_t beyond[] = { 9, 256 };
  const uint64_t twice[] = { 4, 8, 1, 8 };
  static uint64_t too_long[SNAP_MAX_TOUCH_ORDER + 1];
  const char *why = NULL;
  size_t bad = 99;

  assert_int_equal (snap_touch_order_check (NULL, 0, 0, &bad, &why), 0);
  assert_int_equal (snap_touch_order_check (good, 4, 256, &bad, &why), 0);
  assert_int_equal (snap_touch_order_check (beyond, 2, 256, &bad, &why), -1);
  assert_int_equal (bad, 1);
  assert_string_equal (why, "the region is beyond the end of the disk");
  assert_int_equal (snap_touch_order_check (good, 1, 0, &bad, &why), -1);
  assert_int_equal (snap_touch_order_check (twice, 4, 256, &bad, &why), -1);
  assert_int_equal (bad, 3);
  assert_string_equal (why, "the region is listed twice");
  for (size_t i = 0; i <= SNAP_MAX_TOUCH_ORDER; i++)
    too_long[i] = i;
  assert_int_equal (snap_touch_order_check (too_long, SNAP_MAX_TOUCH_ORDER, 1u << 20,
                                            &bad, &why), 0);
  assert_int_equal (snap_touch_order_check (too_long, SNAP_MAX_TOUCH_ORDER + 1, 1u << 20,
                                            &bad, &why), -1);
  assert_string_equal (why, "it lists more than 1024 regions");
}

static void
test_region_count (void **state)
{
  (void) state;
  assert_int_equal (snap_touch_region_count (0, 4u << 20), 0);
  assert_int_equal (snap_touch_region_count (1, 4u << 20), 1);
  assert_int_equal (snap_touch_region_count (4u << 20, 4u << 20), 1);
  assert_int_equal (snap_touch_region_count ((4u << 20) + 1, 4u << 20), 2);
}

static void
test_merge (void **state)
{
  (void) state;
  const uint64_t first[] = { 5, 2 };
  const uint64_t earlier[] = { 7, 2, 9, 5, 1 };
  static uint64_t many[SNAP_MAX_TOUCH_ORDER];
  uint64_t out[SNAP_MAX_TOUCH_ORDER];

  assert_int_equal (snap_touch_order_merge (first, 2, earlier, 5, out), 5);
  const uint64_t want[] = { 5, 2, 7, 9, 1 };
  assert_memory_equal (out, want, sizeof want);
  /* Nothing this run: the file's order as it was. */
  assert_int_equal (snap_touch_order_merge (NULL, 0, earlier, 5, out), 5);
  assert_memory_equal (out, earlier, sizeof earlier);
  assert_int_equal (snap_touch_order_merge (NULL, 0, NULL, 0, out), 0);
  /* Bounded: this run's first, the file's fill what is left. */
  for (size_t i = 0; i < SNAP_MAX_TOUCH_ORDER - 1; i++)
    many[i] = 1000 + i;
  assert_int_equal (snap_touch_order_merge (many, SNAP_MAX_TOUCH_ORDER - 1, earlier, 5, out),
                    SNAP_MAX_TOUCH_ORDER);
  assert_int_equal (out[SNAP_MAX_TOUCH_ORDER - 2], 1000 + SNAP_MAX_TOUCH_ORDER - 2);
  assert_int_equal (out[SNAP_MAX_TOUCH_ORDER - 1], 7);
}

#define THREADS 8
#define PER_THREAD 200          /* 1600 in all: more than the 1024 kept */

static struct snap_touch_recorder recorder;

static void *
record_main (void *arg)
{
  uint64_t t = (uint64_t) (uintptr_t) arg;

  for (uint64_t i = 0; i < PER_THREAD; i++)
    snap_touch_record (&recorder, t * PER_THREAD + i);
  return NULL;
}

/* A reader during the recording sees a prefix of distinct regions. */
static void
test_recorder_threads (void **state)
{
  (void) state;
  pthread_t threads[THREADS];
  static uint64_t out[SNAP_MAX_TOUCH_ORDER];
  static bool seen[THREADS * PER_THREAD];
  size_t n;

  memset (&recorder, 0, sizeof recorder);
  assert_int_equal (snap_touch_recorded (&recorder, out), 0);
  for (uintptr_t t = 0; t < THREADS; t++)
    assert_int_equal (pthread_create (&threads[t], NULL, record_main, (void *) t), 0);
  n = snap_touch_recorded (&recorder, out);     /* while they record */
  assert_true (n <= SNAP_MAX_TOUCH_ORDER);
  for (size_t t = 0; t < THREADS; t++)
    pthread_join (threads[t], NULL);
  n = snap_touch_recorded (&recorder, out);
  assert_int_equal (n, SNAP_MAX_TOUCH_ORDER);
  for (size_t i = 0; i < n; i++) {
    assert_true (out[i] < THREADS * PER_THREAD);
    assert_false (seen[out[i]]);
    seen[out[i]] = true;
  }
  /* Each thread's own regions in its order. */
  uint64_t last[THREADS];
  memset (last, 0xff, sizeof last);
  for (size_t i = 0; i < n; i++) {
    uint64_t t = out[i] / PER_THREAD;
    assert_true (last[t] == UINT64_MAX || out[i] > last[t]);
    last[t] = out[i];
  }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_check),
    cmocka_unit_test (test_region_count),
    cmocka_unit_test (test_merge),
    cmocka_unit_test (test_recorder_threads),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
