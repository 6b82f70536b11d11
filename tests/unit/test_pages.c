/* Unit tests of store/pages: pages are zeros, distinct and keep what was
 * written; without the refiller every slab is faulted in by its shard;
 * with it the next slab is ready before the shard needs it, and threads
 * that allocate and free while the refiller works never share a page. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "store/pages.h"

enum { PAGE = 32768, PAGES_PER_SLAB = PAGE_SLAB_SIZE / PAGE };

static bool
all_zero (const unsigned char *p, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (p[i] != 0)
      return false;
  return true;
}

/* The shard the calling thread cuts from: the one with a slab. */
static struct page_shard *
my_shard (struct page_pool *pool)
{
  for (unsigned i = 0; i < PAGE_POOL_SHARDS; i++)
    if (pool->shard[i].arena.nslabs > 0)
      return &pool->shard[i];
  fail_msg ("no shard has a slab");
  return NULL;
}

/* Wait (up to 30 s, for a slow machine) until SH has a spare slab. */
static bool
wait_for_spare (struct page_shard *sh)
{
  for (int i = 0; i < 30000; i++) {
    pthread_mutex_lock (&sh->lock);
    bool ready = sh->spare != NULL;
    pthread_mutex_unlock (&sh->lock);
    if (ready)
      return true;
    nanosleep (&(struct timespec) { 0, 1000000 }, NULL);
  }
  return false;
}

static void
test_without_refiller_no_slab_ahead (void **state)
{
  struct page_pool pool;
  enum { N = 3 * PAGES_PER_SLAB + 1 };
  unsigned char *pages[N];

  (void) state;
  page_pool_init (&pool, PAGE);
  for (int i = 0; i < N; i++) {
    pages[i] = page_alloc (&pool);
    assert_non_null (pages[i]);
    assert_true (all_zero (pages[i], PAGE));
    memset (pages[i], i + 1, PAGE);
  }
  for (int i = 0; i < N; i++)
    assert_int_equal (pages[i][PAGE - 1], (unsigned char) (i + 1));
  assert_int_equal (my_shard (&pool)->arena.nslabs, 4);
  assert_int_equal (atomic_load (&pool.slabs_ahead), 0);
  page_pool_destroy (&pool);
}

static void
test_refiller_has_next_slab_ready (void **state)
{
  struct page_pool pool;
  unsigned char *pages[2 * PAGES_PER_SLAB + 1];

  (void) state;
  page_pool_init (&pool, PAGE);
  assert_int_equal (page_pool_start_refiller (&pool), 0);
  assert_int_equal (page_pool_start_refiller (&pool), 0);   /* once only */
  pages[0] = page_alloc (&pool);        /* the first slab: the shard's own */
  assert_non_null (pages[0]);
  struct page_shard *sh = my_shard (&pool);
  for (int slab = 1; slab <= 2; slab++) {
    assert_true (wait_for_spare (sh));
    for (int i = (slab - 1) * PAGES_PER_SLAB + 1; i <= slab * PAGES_PER_SLAB; i++) {
      pages[i] = page_alloc (&pool);
      assert_non_null (pages[i]);
      assert_true (all_zero (pages[i], PAGE));
      memset (pages[i], i & 0xff, PAGE);
    }
    /* The page that began slab SLAB came from the spare. */
    assert_int_equal (atomic_load (&pool.slabs_ahead), (uint64_t) slab);
    assert_int_equal (sh->arena.nslabs, (size_t) slab + 1);
  }
  for (int i = 1; i <= 2 * PAGES_PER_SLAB; i++)
    assert_int_equal (pages[i][0], (unsigned char) (i & 0xff));
  /* The pool ends with a spare that was never cut, and the refiller running. */
  assert_true (wait_for_spare (sh));
  page_pool_destroy (&pool);
}

/* Freed pages come back as zeros, with the refiller running. */
static void
test_refiller_freed_pages_zero (void **state)
{
  struct page_pool pool;
  enum { N = 2 * PAGES_PER_SLAB };
  unsigned char *pages[N];

  (void) state;
  page_pool_init (&pool, PAGE);
  assert_int_equal (page_pool_start_refiller (&pool), 0);
  for (int round = 0; round < 3; round++) {
    for (int i = 0; i < N; i++) {
      pages[i] = page_alloc (&pool);
      assert_non_null (pages[i]);
      assert_true (all_zero (pages[i], PAGE));
      memset (pages[i], 0xa5, PAGE);
    }
    for (int i = 0; i < N; i++)
      page_free (&pool, pages[i]);
  }
  page_pool_destroy (&pool);
}

struct worker {
  struct page_pool *pool;
  unsigned char tag;
  bool ok;
};

/* Allocate, stamp, check, free, over several slabs' worth of pages. */
static void *
worker_main (void *arg)
{
  struct worker *w = arg;
  enum { HELD = PAGES_PER_SLAB + 5, ROUNDS = 6 };
  unsigned char *held[HELD];

  w->ok = true;
  for (int round = 0; round < ROUNDS && w->ok; round++) {
    for (int i = 0; i < HELD; i++) {
      held[i] = page_alloc (w->pool);
      if (held[i] == NULL || !all_zero (held[i], PAGE)) {
        w->ok = false;
        return NULL;
      }
      memset (held[i], w->tag, PAGE);
    }
    for (int i = 0; i < HELD; i++) {
      if (held[i][0] != w->tag || held[i][PAGE - 1] != w->tag)
        w->ok = false;
      if (i % 2 == round % 2)
        page_free (w->pool, held[i]);
    }
    /* Keep half: the pool keeps cutting new slabs. */
  }
  return NULL;
}

static void
test_refiller_many_threads (void **state)
{
  enum { THREADS = 6 };
  struct page_pool pool;
  struct worker w[THREADS];
  pthread_t t[THREADS];

  (void) state;
  page_pool_init (&pool, PAGE);
  assert_int_equal (page_pool_start_refiller (&pool), 0);
  for (int i = 0; i < THREADS; i++) {
    w[i] = (struct worker) { .pool = &pool, .tag = (unsigned char) (i + 1) };
    assert_int_equal (pthread_create (&t[i], NULL, worker_main, &w[i]), 0);
  }
  for (int i = 0; i < THREADS; i++) {
    pthread_join (t[i], NULL);
    assert_true (w[i].ok);
  }
  page_pool_destroy (&pool);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_without_refiller_no_slab_ahead),
    cmocka_unit_test (test_refiller_has_next_slab_ready),
    cmocka_unit_test (test_refiller_freed_pages_zero),
    cmocka_unit_test (test_refiller_many_threads),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
