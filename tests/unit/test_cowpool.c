/* Unit tests of store/cowpool (and the slab core under it): units are
 * distinct, never overlap, hold what was written, are reused after a free
 * before a new slab is mapped, and threads that allocate and free at once
 * (clients and the snapshot's walk) never get the same unit. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/cowpool.h"

static int
address_order (const void *a, const void *b)
{
  uintptr_t x = (uintptr_t) *(void *const *) a, y = (uintptr_t) *(void *const *) b;

  return x < y ? -1 : x > y;
}

/* UNITS[0..N) sorted by address: no two of SIZE bytes overlap. */
static void
assert_apart (void **units, size_t n, size_t size)
{
  qsort (units, n, sizeof *units, address_order);
  for (size_t i = 1; i < n; i++)
    assert_true ((uintptr_t) units[i] >= (uintptr_t) units[i - 1] + size);
}

static void
test_units_distinct_and_kept (void **state)
{
  enum { N = 3000 };            /* more than one 2 MiB slab of 4 KiB units */
  struct cow_pool *pool = cow_pool_new (4096);
  unsigned char **units = calloc (N, sizeof *units);

  (void) state;
  assert_non_null (pool);
  for (int i = 0; i < N; i++) {
    units[i] = cow_pool_alloc (pool);
    assert_non_null (units[i]);
    assert_int_equal ((uintptr_t) units[i] % 64, 0);
    memset (units[i], i & 0xff, 4096);
  }
  for (int i = 0; i < N; i++) {
    unsigned char expect[4096];
    memset (expect, i & 0xff, sizeof expect);
    assert_memory_equal (units[i], expect, sizeof expect);
  }
  assert_apart ((void **) units, N, 4096);
  cow_pool_destroy (pool);
  free (units);
}

static void
test_freed_units_reused (void **state)
{
  enum { N = 1000 };
  struct cow_pool *pool = cow_pool_new (72);    /* a record: rounded to 128 */
  void *units[N];

  (void) state;
  void *first[N];
  for (int i = 0; i < N; i++) {
    units[i] = cow_pool_alloc (pool);
    assert_non_null (units[i]);
    memset (units[i], 0xA5, 72);
    first[i] = units[i];
  }
  assert_apart (first, N, 128);
  for (int round = 0; round < 20; round++) {
    for (int i = 0; i < N; i++)
      cow_pool_free (pool, units[i]);
    for (int i = 0; i < N; i++) {
      units[i] = cow_pool_calloc (pool);
      assert_non_null (units[i]);
      for (int b = 0; b < 72; b++)
        assert_int_equal (((unsigned char *) units[i])[b], 0);
      /* Reused, not cut from a new slab: a pool that reuses holds no
       * more than the most units live at once. */
      if (bsearch (&units[i], first, N, sizeof *first, address_order) == NULL)
        fail_msg ("unit %d of round %d is not one of the freed units", i, round);
    }
  }
  cow_pool_free (pool, NULL);
  cow_pool_destroy (pool);
  cow_pool_destroy (NULL);
}

struct worker {
  struct cow_pool *pool;
  unsigned char tag;
  int bad;
};

/* Allocate, stamp with our tag, check the stamp survived the others'
 * work, free; a unit handed to two threads at once shows a foreign tag. */
static void *
churn (void *arg)
{
  struct worker *w = arg;
  enum { LIVE = 64, ROUNDS = 2000 };
  unsigned char *live[LIVE] = { 0 };

  for (int r = 0; r < ROUNDS; r++) {
    int i = r % LIVE;
    if (live[i] != NULL) {
      for (int b = 0; b < 4096; b += 512)
        if (live[i][b] != w->tag)
          w->bad++;
      cow_pool_free (w->pool, live[i]);
    }
    live[i] = cow_pool_alloc (w->pool);
    if (live[i] == NULL) {
      w->bad++;
      continue;
    }
    memset (live[i], w->tag, 4096);
  }
  for (int i = 0; i < LIVE; i++)
    cow_pool_free (w->pool, live[i]);
  return NULL;
}

static void
test_threads_never_share_a_unit (void **state)
{
  enum { THREADS = 4 };
  struct cow_pool *pool = cow_pool_new (4096);
  struct worker workers[THREADS];
  pthread_t threads[THREADS];

  (void) state;
  for (int t = 0; t < THREADS; t++) {
    workers[t] = (struct worker) { .pool = pool, .tag = (unsigned char) (t + 1) };
    assert_int_equal (pthread_create (&threads[t], NULL, churn, &workers[t]), 0);
  }
  for (int t = 0; t < THREADS; t++) {
    pthread_join (threads[t], NULL);
    assert_int_equal (workers[t].bad, 0);
  }
  cow_pool_destroy (pool);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_units_distinct_and_kept),
    cmocka_unit_test (test_freed_units_reused),
    cmocka_unit_test (test_threads_never_share_a_unit),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
