/* store/reserve.c: the reserve of touched pages.  Empty until started;
 * once started it fills to its target with writable page_size blocks the
 * caller owns (free()d here, so ASan sees a leak or a double free);
 * retired, it holds nothing and gives nothing. */
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/reserve.h"

#define PAGE 32768u
#define TARGET 16

/* The next page, waiting for the refill thread: polls the reserve (the
 * event is a page in it), giving up after very many tries. */
static void *
take_waiting (struct page_reserve *r)
{
  for (unsigned long i = 0; i < 100000000ul; i++) {
    void *page = page_reserve_take (r);
    if (page != NULL)
      return page;
    sched_yield ();
  }
  fail_msg ("the reserve's thread gave no page");
  return NULL;
}

static void
test_empty_until_started (void **state)
{
  (void) state;
  struct page_reserve *r = page_reserve_new (PAGE, TARGET);

  assert_non_null (r);
  assert_null (page_reserve_take (r));
  page_reserve_free (r);
  page_reserve_free (NULL);
}

static void
test_started_gives_pages (void **state)
{
  (void) state;
  struct page_reserve *r = page_reserve_new (PAGE, TARGET);
  void *pages[3 * TARGET];

  assert_non_null (r);
  assert_int_equal (page_reserve_start (r), 0);
  /* More than the target: the thread refills as pages are taken. */
  for (unsigned i = 0; i < 3 * TARGET; i++) {
    pages[i] = take_waiting (r);
    memset (pages[i], (int) i, PAGE);
  }
  for (unsigned i = 0; i < 3 * TARGET; i++) {
    unsigned char *p = pages[i];
    assert_int_equal (p[0], (unsigned char) i);
    assert_int_equal (p[PAGE - 1], (unsigned char) i);
    for (unsigned j = 0; j < i; j++)
      assert_ptr_not_equal (pages[i], pages[j]);
  }
  for (unsigned i = 0; i < 3 * TARGET; i++)
    free (pages[i]);
  /* Freed with pages still in it (the thread may be filling). */
  page_reserve_free (r);
}

static void
test_retired_gives_nothing (void **state)
{
  (void) state;
  struct page_reserve *r = page_reserve_new (PAGE, TARGET);

  assert_non_null (r);
  assert_int_equal (page_reserve_start (r), 0);
  free (take_waiting (r));
  page_reserve_retire (r);
  for (unsigned i = 0; i < 1000; i++) {
    assert_null (page_reserve_take (r));
    sched_yield ();
  }
  page_reserve_free (r);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_empty_until_started),
    cmocka_unit_test (test_started_gives_pages),
    cmocka_unit_test (test_retired_gives_nothing),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
