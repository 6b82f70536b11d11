/* Unit tests of common/threads: thread counts, and a group's first
 * failure (the message kept is the first one; every waiter wakes). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "common/threads.h"

static void
test_counts (void **state)
{
  (void) state;
  long cpus = sysconf (_SC_NPROCESSORS_ONLN);
  unsigned want = cpus < 1 ? 1 : cpus > SNAP_MAX_THREADS ? SNAP_MAX_THREADS : (unsigned) cpus;

  assert_int_equal (snap_default_threads (), want);
  assert_int_equal (snap_resolve_threads (0), want);
  assert_int_equal (snap_resolve_threads (1), 1);
  assert_int_equal (snap_resolve_threads (7), 7);
  assert_int_equal (snap_resolve_threads (SNAP_MAX_THREADS), SNAP_MAX_THREADS);
  assert_int_equal (snap_resolve_threads (SNAP_MAX_THREADS + 1), SNAP_MAX_THREADS);
  assert_int_equal (snap_resolve_threads (100000), SNAP_MAX_THREADS);
}

struct group {
  pthread_mutex_t lock;
  pthread_cond_t a, b;
  struct snap_group_failure failure;
  int waiting;                  /* waiters inside the wait loop, under lock */
  pthread_cond_t ready;         /* signalled as each waiter gets there */
  int woken;
};

struct waiter {
  struct group *g;
  pthread_cond_t *cond;
};

static void *
wait_for_failure (void *arg)
{
  struct waiter *w = arg;

  pthread_mutex_lock (&w->g->lock);
  /* Counted under the lock that pthread_cond_wait releases: once the
   * test holds the lock and sees both counted, both are waiting. */
  w->g->waiting++;
  pthread_cond_signal (&w->g->ready);
  while (!w->g->failure.failed)
    pthread_cond_wait (w->cond, &w->g->lock);
  w->g->woken++;
  pthread_mutex_unlock (&w->g->lock);
  return NULL;
}

static void *
fail_second (void *arg)
{
  struct group *g = arg;
  pthread_cond_t *const conds[] = { &g->a, &g->b };

  md_error_set ("the second failure");
  snap_group_fail (&g->lock, &g->failure, conds, 2);
  return NULL;
}

/* Join T, failing the test if it has not ended within 10 s: a waiter that
 * no broadcast woke would otherwise hang the test instead of failing it. */
static void
join_within (pthread_t t)
{
  struct timespec deadline;

  clock_gettime (CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  assert_int_equal (pthread_timedjoin_np (t, NULL, &deadline), 0);
}

static void
test_first_failure_wakes_everyone (void **state)
{
  (void) state;
  struct group g = { .lock = PTHREAD_MUTEX_INITIALIZER };
  struct waiter wa = { &g, &g.a }, wb = { &g, &g.b };
  pthread_cond_t *const conds[] = { &g.a, &g.b };
  pthread_t ta, tb, tc;

  pthread_cond_init (&g.a, NULL);
  pthread_cond_init (&g.b, NULL);
  pthread_cond_init (&g.ready, NULL);
  assert_int_equal (pthread_create (&ta, NULL, wait_for_failure, &wa), 0);
  assert_int_equal (pthread_create (&tb, NULL, wait_for_failure, &wb), 0);
  /* Fail only once both wait, so that only the broadcast can wake them. */
  pthread_mutex_lock (&g.lock);
  while (g.waiting < 2)
    pthread_cond_wait (&g.ready, &g.lock);
  pthread_mutex_unlock (&g.lock);
  md_error_set ("frame 2: the first failure");
  snap_group_fail (&g.lock, &g.failure, conds, 2);
  /* A later failure, from another thread, keeps the first message. */
  assert_int_equal (pthread_create (&tc, NULL, fail_second, &g), 0);
  join_within (tc);
  join_within (ta);
  join_within (tb);
  assert_true (g.failure.failed);
  assert_int_equal (g.woken, 2);
  assert_string_equal (g.failure.message, "frame 2: the first failure");
  pthread_cond_destroy (&g.a);
  pthread_cond_destroy (&g.b);
  pthread_cond_destroy (&g.ready);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_counts),
    cmocka_unit_test (test_first_failure_wakes_everyone),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
