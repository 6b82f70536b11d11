/* Unit tests of common/pagesize: exactly the powers of two from 4 KiB to
 * 1 MiB are page sizes, for the store and the format alike. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/pagesize.h"
#include "store/store.h"

static void
test_valid_sizes (void **state)
{
  (void) state;
  unsigned valid = 0;

  for (unsigned bit = 0; bit < 64; bit++) {
    uint64_t p = UINT64_C (1) << bit;
    bool want = p >= 4096 && p <= 1048576;
    assert_int_equal (md_page_size_valid (p), want);
    valid += want;
    /* Neighbours of a power of two are never page sizes. */
    assert_false (md_page_size_valid (p + 1));
    if (p > 2)
      assert_false (md_page_size_valid (p - 1));
  }
  assert_int_equal (valid, 9);          /* 4K 8K ... 1M */
  assert_false (md_page_size_valid (0));
  assert_false (md_page_size_valid (3 * 4096));
  assert_true (md_page_size_valid (STORE_DEFAULT_PAGE_SIZE));
  assert_true (md_page_size_valid (MD_MIN_PAGE_SIZE));
  assert_true (md_page_size_valid (MD_MAX_PAGE_SIZE));
}

/* The store takes exactly these. */
static void
test_store_agrees (void **state)
{
  (void) state;
  const uint32_t sizes[] = { 2048, 4095, 4096, 6144, 65536, 1048576, 2097152 };

  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    struct store *s = store_create (1 << 20, sizes[i]);
    assert_int_equal (s != NULL, md_page_size_valid (sizes[i]));
    store_destroy (s);
  }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_valid_sizes),
    cmocka_unit_test (test_store_agrees),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
