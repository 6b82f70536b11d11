/* Unit tests of common/error: the message is per thread, errno survives
 * md_error_set, long messages are cut, not overflowed. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"

static void
test_message_is_kept (void **state)
{
  (void) state;
  md_error_set ("frame %d at byte %s: %s", 3, "1234", "checksum mismatch");
  assert_string_equal (md_error (), "frame 3 at byte 1234: checksum mismatch");
  md_error_set ("second");
  assert_string_equal (md_error (), "second");
}

static void
test_errno_preserved (void **state)
{
  (void) state;
  errno = ENOSPC;
  md_error_set ("writing: %s", strerror (errno));
  assert_int_equal (errno, ENOSPC);
  assert_string_equal (md_error (), "writing: No space left on device");
}

struct per_thread {
  pthread_barrier_t *barrier;
  const char *mine;
  char seen_before[64];
  char seen_after[64];
};

static void *
set_and_check (void *arg)
{
  struct per_thread *t = arg;

  /* A new thread starts with no message. */
  snprintf (t->seen_before, sizeof t->seen_before, "%s", md_error ());
  md_error_set ("%s", t->mine);
  /* Both threads have set theirs before either looks again. */
  pthread_barrier_wait (t->barrier);
  snprintf (t->seen_after, sizeof t->seen_after, "%s", md_error ());
  return NULL;
}

static void
test_message_is_per_thread (void **state)
{
  (void) state;
  pthread_barrier_t barrier;
  struct per_thread a = { .barrier = &barrier, .mine = "thread a" };
  struct per_thread b = { .barrier = &barrier, .mine = "thread b" };
  pthread_t ta, tb;

  md_error_set ("main thread");
  pthread_barrier_init (&barrier, NULL, 2);
  assert_int_equal (pthread_create (&ta, NULL, set_and_check, &a), 0);
  assert_int_equal (pthread_create (&tb, NULL, set_and_check, &b), 0);
  pthread_join (ta, NULL);
  pthread_join (tb, NULL);
  pthread_barrier_destroy (&barrier);
  assert_string_equal (a.seen_before, "");
  assert_string_equal (b.seen_before, "");
  assert_string_equal (a.seen_after, "thread a");
  assert_string_equal (b.seen_after, "thread b");
  assert_string_equal (md_error (), "main thread");
}

static void
test_long_message_is_cut (void **state)
{
  (void) state;
  char big[5000];

  memset (big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  md_error_set ("%s", big);
  size_t len = strlen (md_error ());
  assert_true (len > 0 && len < sizeof big - 1);
  assert_int_equal (md_error ()[0], 'x');
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_message_is_kept),
    cmocka_unit_test (test_errno_preserved),
    cmocka_unit_test (test_message_is_per_thread),
    cmocka_unit_test (test_long_message_is_cut),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
