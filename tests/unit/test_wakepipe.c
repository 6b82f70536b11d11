/* Unit tests of common/wakepipe: pokes wake a poll, pile up into one
 * wake-up that a drain takes at once, never block on a full pipe, keep
 * errno, and do nothing once the pipe is closed. */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/wakepipe.h"

static int
readable (const struct md_wakepipe *w)
{
  struct pollfd pfd = { .fd = md_wakepipe_fd (w), .events = POLLIN };

  return poll (&pfd, 1, 0);
}

static void
test_pokes_coalesce (void **state)
{
  struct md_wakepipe w = MD_WAKEPIPE_CLOSED;

  (void) state;
  assert_int_equal (md_wakepipe_open (&w), 0);
  assert_int_equal (readable (&w), 0);
  assert_false (md_wakepipe_drain (&w));
  for (int i = 0; i < 3; i++)
    md_wakepipe_poke (&w);
  assert_int_equal (readable (&w), 1);
  assert_true (md_wakepipe_drain (&w));
  /* One drain took all three. */
  assert_int_equal (readable (&w), 0);
  assert_false (md_wakepipe_drain (&w));
  md_wakepipe_close (&w);
  assert_int_equal (w.fd[0], -1);
  assert_int_equal (w.fd[1], -1);
}

/* More pokes than a pipe holds (64 KiB): none blocks, one drain empties
 * it, errno is what it was. */
static void
test_full_pipe_never_blocks (void **state)
{
  struct md_wakepipe w = MD_WAKEPIPE_CLOSED;

  (void) state;
  assert_int_equal (md_wakepipe_open (&w), 0);
  errno = ENOENT;
  for (int i = 0; i < 200000; i++)
    md_wakepipe_poke (&w);
  assert_int_equal (errno, ENOENT);
  assert_true (md_wakepipe_drain (&w));
  assert_int_equal (readable (&w), 0);
  md_wakepipe_close (&w);
  /* Closed: a poke (a late signal) writes nowhere. */
  md_wakepipe_poke (&w);
  md_wakepipe_close (&w);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_pokes_coalesce),
    cmocka_unit_test (test_full_pipe_never_blocks),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
