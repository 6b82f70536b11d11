/* Unit tests of the slab core (store/slab.c) under both of its users'
 * policies: units are cut in order from a slab, whole, and none past its
 * end; a freed unit is handed out again before the bump range (through
 * the list in the units, or the array apart); under AddressSanitizer
 * every unit not handed out (the bump range, a freed unit) is poisoned and
 * a unit handed out is not; slab_arena_release leaves the arena empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "store/slab.h"

#if defined(__SANITIZE_ADDRESS__)
#define TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEST_ASAN 1
#endif
#endif
#ifdef TEST_ASAN
#include <sanitizer/asan_interface.h>
#define poisoned(p) __asan_address_is_poisoned (p)
#else
#define poisoned(p) ((void) (p), -1)    /* unknown without ASan */
#endif

/* Assert the poisoning of byte P is WANT (under ASan only). */
static void
assert_poisoned (const void *p, int want)
{
  int got = poisoned (p);

  if (got != -1 && got != want)
    fail_msg ("byte %p is %spoisoned", p, got ? "" : "not ");
}

static void
check_policy (const struct slab_policy *policy)
{
  struct slab_arena arena = SLAB_ARENA_INIT;
  const size_t per_slab = policy->slab_bytes / policy->unit;

  unsigned char *first = slab_arena_alloc (&arena, policy);
  assert_non_null (first);
  assert_int_equal (arena.nslabs, 1);
  assert_poisoned (first, 0);
  assert_poisoned (first + policy->unit - 1, 0);
  if (per_slab > 1)
    assert_poisoned (first + policy->unit, 1);        /* still to be cut */
  memset (first, 0x5A, policy->unit);

  /* The slab is cut in order, to its last whole unit; then nothing. */
  unsigned char *last = first;
  for (size_t i = 1; i < per_slab; i++) {
    unsigned char *u = slab_arena_take (&arena, policy);
    assert_ptr_equal (u, first + i * policy->unit);
    last = u;
  }
  assert_null (slab_arena_take (&arena, policy));
  assert_poisoned (last + policy->unit - 1, 0);

  /* A freed unit is poisoned, and comes back first, whole. */
  assert_int_equal (slab_arena_give (&arena, policy, first), 0);
  assert_poisoned (first, 1);
  assert_poisoned (first + policy->unit - 1, 1);
  assert_ptr_equal (slab_arena_take (&arena, policy), first);
  assert_poisoned (first, 0);
  assert_poisoned (first + policy->unit - 1, 0);
  assert_null (slab_arena_take (&arena, policy));

  /* A new slab when the first is used up. */
  unsigned char *next = slab_arena_alloc (&arena, policy);
  assert_non_null (next);
  assert_int_equal (arena.nslabs, 2);
  assert_true (next + policy->unit <= first || next >= first + policy->slab_bytes);

  slab_arena_release (&arena, policy);
  assert_int_equal (arena.nslabs, 0);
  assert_null (arena.slabs);
  assert_null (slab_arena_take (&arena, policy));
}

static void
test_list_policy (void **state)
{
  (void) state;
  /* cowpool's: records of 128 bytes, freed units linked through them. */
  check_policy (&(struct slab_policy) { .unit = 128, .slab_bytes = SLAB_BYTES,
                                        .no_huge_pages = true });
  /* A slab that does not end on a unit boundary. */
  check_policy (&(struct slab_policy) { .unit = 192, .slab_bytes = SLAB_BYTES });
}

static void
test_apart_policy (void **state)
{
  (void) state;
  /* pages.c's: page-sized units, populated slabs, freed apart. */
  check_policy (&(struct slab_policy) { .unit = 32768, .slab_bytes = SLAB_BYTES,
                                        .populate = true, .freed_apart = true });
  /* A page larger than a slab: a slab per page. */
  check_policy (&(struct slab_policy) { .unit = 4u << 20, .slab_bytes = 4u << 20,
                                        .populate = true, .freed_apart = true });
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_list_policy),
    cmocka_unit_test (test_apart_policy),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
