/* Unit tests of the store (src/store/store.h): I/O, zero/trim, extents, range
 * checks, create arguments, change tracking and loading.  Snapshots are
 * in test_store_snapshot.c, concurrency in test_store_stress.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "store/store.h"

#define PAGE 4096u

/* Forget the last message so a test can see that a call set a new one. */
static void
clear_error (void)
{
  md_error_set ("%s", "");
}

/* A byte that depends on its offset and a seed, never 0, so written data
 * is told apart from holes. */
static uint8_t
pattern_byte (uint64_t offset, unsigned seed)
{
  uint64_t x = offset * 0x9E3779B97F4A7C15ull + seed * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return (uint8_t) (x % 255 + 1);
}

static void
fill_pattern (uint8_t *buf, uint64_t len, uint64_t offset, unsigned seed)
{
  for (uint64_t i = 0; i < len; i++)
    buf[i] = pattern_byte (offset + i, seed);
}

/* Fail with the first differing offset instead of a cmocka memory dump. */
static void
check_bytes (const uint8_t *got, const uint8_t *want, uint64_t len, uint64_t offset)
{
  if (memcmp (got, want, len) == 0)
    return;
  for (uint64_t i = 0; i < len; i++) {
    if (got[i] != want[i])
      fail_msg ("byte at offset %" PRIu64 ": got 0x%02x, want 0x%02x",
                offset + i, got[i], want[i]);
  }
}

static void
check_zeros (const uint8_t *got, uint64_t len, uint64_t offset)
{
  for (uint64_t i = 0; i < len; i++) {
    if (got[i] != 0)
      fail_msg ("byte at offset %" PRIu64 ": got 0x%02x, want 0 (hole)",
                offset + i, got[i]);
  }
}

static void
check_read_zeros (struct store *s, uint64_t len, uint64_t offset)
{
  uint8_t *buf = malloc (len);
  assert_non_null (buf);
  memset (buf, 0xAA, len);
  assert_int_equal (store_read (s, buf, len, offset), 0);
  check_zeros (buf, len, offset);
  free (buf);
}

static void
check_read_pattern (struct store *s, uint64_t len, uint64_t offset, unsigned seed)
{
  uint8_t *buf = malloc (len), *want = malloc (len);
  assert_non_null (buf);
  assert_non_null (want);
  fill_pattern (want, len, offset, seed);
  assert_int_equal (store_read (s, buf, len, offset), 0);
  check_bytes (buf, want, len, offset);
  free (buf);
  free (want);
}

static void
write_pattern (struct store *s, uint64_t len, uint64_t offset, unsigned seed)
{
  uint8_t *buf = malloc (len);
  assert_non_null (buf);
  fill_pattern (buf, len, offset, seed);
  assert_int_equal (store_write (s, buf, len, offset), 0);
  free (buf);
}

/* Extents are collected into a list and compared with the expected runs. */
struct extent {
  uint64_t offset, len;
  bool allocated;
};

struct extent_list {
  struct extent e[64];
  size_t n;
  size_t stop_after;            /* stop after this many calls; 0 = never */
  int stop_with;                /* what to return then: STORE_EXTENTS_STOP or -1 */
  size_t calls;
};

static int
collect_extent (void *opaque, uint64_t offset, uint64_t len, bool allocated)
{
  struct extent_list *l = opaque;

  l->calls++;
  if (l->n < sizeof l->e / sizeof l->e[0])
    l->e[l->n++] = (struct extent) { offset, len, allocated };
  if (l->stop_after && l->calls >= l->stop_after)
    return l->stop_with;
  return 0;
}

static void
check_extents (struct store *s, uint64_t offset, uint64_t len,
               const struct extent *want, size_t nwant)
{
  struct extent_list l = { .n = 0 };

  assert_int_equal (store_extents (s, offset, len, collect_extent, &l), 0);
  for (size_t i = 0; i < l.n && i < nwant; i++) {
    if (l.e[i].offset != want[i].offset || l.e[i].len != want[i].len
        || l.e[i].allocated != want[i].allocated)
      fail_msg ("extent %zu of [%" PRIu64 ", +%" PRIu64 "): got %s [%" PRIu64
                ", +%" PRIu64 "), want %s [%" PRIu64 ", +%" PRIu64 ")",
                i, offset, len,
                l.e[i].allocated ? "data" : "hole", l.e[i].offset, l.e[i].len,
                want[i].allocated ? "data" : "hole", want[i].offset, want[i].len);
  }
  if (l.calls != nwant)
    fail_msg ("extents of [%" PRIu64 ", +%" PRIu64 "): got %zu runs, want %zu",
              offset, len, l.calls, nwant);
}

/* --- creation ------------------------------------------------------- */

static void
test_create_reports_geometry (void **state)
{
  (void) state;
  struct store *s = store_create (10 * PAGE + 123, PAGE);

  assert_non_null (s);
  assert_int_equal (store_size (s), 10 * PAGE + 123);
  assert_int_equal (store_page_size (s), PAGE);
  assert_int_equal (store_allocated_bytes (s), 0);
  store_destroy (s);

  s = store_create (STORE_MAX_SIZE, STORE_DEFAULT_PAGE_SIZE);
  assert_non_null (s);
  assert_int_equal (store_size (s), STORE_MAX_SIZE);
  assert_int_equal (store_page_size (s), STORE_DEFAULT_PAGE_SIZE);
  store_destroy (s);

  s = store_create (0, MD_MAX_PAGE_SIZE);
  assert_non_null (s);
  assert_int_equal (store_size (s), 0);
  store_destroy (s);
}

static void
expect_create_fails (uint64_t size, uint32_t page_size)
{
  clear_error ();
  errno = 0;
  struct store *s = store_create (size, page_size);
  if (s != NULL) {
    store_destroy (s);
    fail_msg ("store_create (%" PRIu64 ", %" PRIu32 ") succeeded", size, page_size);
  }
  if (md_error ()[0] == '\0')
    fail_msg ("store_create (%" PRIu64 ", %" PRIu32 ") failed without a message",
              size, page_size);
  if (errno != EINVAL)
    fail_msg ("store_create (%" PRIu64 ", %" PRIu32 "): errno %d, want EINVAL",
              size, page_size, errno);
}

static void
test_create_rejects_bad_arguments (void **state)
{
  (void) state;
  /* Page sizes that are not powers of two, or out of bounds. */
  expect_create_fails (1 << 20, 0);
  expect_create_fails (1 << 20, 3);
  expect_create_fails (1 << 20, PAGE + 1);
  expect_create_fails (1 << 20, 3 * PAGE);
  expect_create_fails (1 << 20, 5000);
  expect_create_fails (1 << 20, MD_MIN_PAGE_SIZE / 2);
  expect_create_fails (1 << 20, MD_MAX_PAGE_SIZE * 2);
  expect_create_fails (1 << 20, UINT32_MAX);
  expect_create_fails (1 << 20, 1u << 31);
  /* Sizes beyond 2^63-1. */
  expect_create_fails (STORE_MAX_SIZE + 1, PAGE);
  expect_create_fails (UINT64_MAX, PAGE);
}

/* --- reads and writes ----------------------------------------------- */

static void
test_unallocated_reads_zeros (void **state)
{
  (void) state;
  struct store *s = store_create (64 * PAGE + 77, PAGE);

  assert_non_null (s);
  check_read_zeros (s, 64 * PAGE + 77, 0);
  check_read_zeros (s, 1, 64 * PAGE + 76);
  check_read_zeros (s, 3 * PAGE + 5, 1001);
  assert_int_equal (store_allocated_bytes (s), 0);
  store_destroy (s);
}

static void
test_write_straddling_pages (void **state)
{
  (void) state;
  struct store *s = store_create (16 * PAGE, PAGE);

  assert_non_null (s);
  /* 10000 bytes from 6 bytes before the end of page 0: pages 0..3. */
  write_pattern (s, 10000, PAGE - 6, 1);
  assert_int_equal (store_allocated_bytes (s), 4 * PAGE);
  check_read_pattern (s, 10000, PAGE - 6, 1);
  check_read_zeros (s, PAGE - 6, 0);
  check_read_zeros (s, 16 * PAGE - (PAGE - 6 + 10000), PAGE - 6 + 10000);

  /* A read straddling written and unwritten bytes of one page. */
  uint8_t buf[40];
  assert_int_equal (store_read (s, buf, sizeof buf, PAGE - 26), 0);
  check_zeros (buf, 20, PAGE - 26);
  for (unsigned i = 20; i < 40; i++)
    assert_int_equal (buf[i], pattern_byte (PAGE - 26 + i, 1));
  store_destroy (s);
}

static void
test_unaligned_small_writes (void **state)
{
  (void) state;
  struct store *s = store_create (8 * PAGE, PAGE);
  uint8_t one;

  assert_non_null (s);
  /* Single bytes at the first and last byte of pages, and a 2-byte write
   * across a page boundary. */
  const uint64_t offsets[] = { 0, PAGE - 1, PAGE, 3 * PAGE + 17, 8 * PAGE - 1 };
  for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++)
    write_pattern (s, 1, offsets[i], 2);
  write_pattern (s, 2, 5 * PAGE - 1, 2);
  for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++) {
    assert_int_equal (store_read (s, &one, 1, offsets[i]), 0);
    assert_int_equal (one, pattern_byte (offsets[i], 2));
  }
  check_read_pattern (s, 2, 5 * PAGE - 1, 2);
  /* Pages 0, 1, 3, 4, 5, 7. */
  assert_int_equal (store_allocated_bytes (s), 6 * PAGE);
  check_read_zeros (s, PAGE - 2, 1);
  check_read_zeros (s, PAGE, 2 * PAGE);
  store_destroy (s);
}

static void
test_default_page_size_straddle (void **state)
{
  (void) state;
  const uint32_t ps = STORE_DEFAULT_PAGE_SIZE;
  struct store *s = store_create (8 * (uint64_t) ps, ps);

  assert_non_null (s);
  write_pattern (s, 3 * ps, ps / 2 + 3, 3);
  assert_int_equal (store_allocated_bytes (s), 4 * (uint64_t) ps);
  check_read_pattern (s, 3 * ps, ps / 2 + 3, 3);
  check_read_zeros (s, ps / 2 + 3, 0);
  store_destroy (s);
}

static void
test_overwrite_and_write_zeros (void **state)
{
  (void) state;
  struct store *s = store_create (4 * PAGE, PAGE);
  uint8_t zeros[3000] = { 0 };

  assert_non_null (s);
  write_pattern (s, 4 * PAGE, 0, 4);
  write_pattern (s, 1000, 2 * PAGE - 500, 5);
  check_read_pattern (s, 2 * PAGE - 500, 0, 4);
  check_read_pattern (s, 1000, 2 * PAGE - 500, 5);
  check_read_pattern (s, 2 * PAGE - 500, 2 * PAGE + 500, 4);

  /* Writing a buffer of zeros makes those bytes read as zeros. */
  assert_int_equal (store_write (s, zeros, sizeof zeros, PAGE - 1000), 0);
  check_read_zeros (s, sizeof zeros, PAGE - 1000);
  check_read_pattern (s, PAGE - 1000, 0, 4);
  check_read_pattern (s, 1000 - 500, PAGE + 2000, 4);
  store_destroy (s);
}

/* The last byte of the largest store: offsets near 2^63 must not
 * overflow and the partial last page must work. */
static void
test_last_byte_of_max_store (void **state)
{
  (void) state;
  const uint64_t size = STORE_MAX_SIZE;
  struct store *s = store_create (size, PAGE);
  const uint64_t last_page = (size - 1) / PAGE * PAGE;  /* 2^63 - 4096 */
  uint8_t byte = 0x5A, got = 0;

  assert_non_null (s);
  assert_int_equal (last_page, (UINT64_C (1) << 63) - PAGE);
  assert_int_equal (store_write (s, &byte, 1, size - 1), 0);
  assert_int_equal (store_read (s, &got, 1, size - 1), 0);
  assert_int_equal (got, 0x5A);
  assert_int_equal (store_allocated_bytes (s), PAGE);
  check_read_zeros (s, size - 1 - last_page, last_page);

  /* The last page holds PAGE-1 bytes, all data; the page before is a hole. */
  const struct extent around[] = {
    { last_page - 2 * PAGE, 2 * PAGE, false },
    { last_page, PAGE - 1, true },
  };
  check_extents (s, last_page - 2 * PAGE, size - (last_page - 2 * PAGE),
                 around, 2);
  const struct extent tail[] = { { size - 1, 1, true } };
  check_extents (s, size - 1, 1, tail, 1);

  /* A write across the last two pages. */
  write_pattern (s, 5000, size - 5000, 6);
  check_read_pattern (s, 5000, size - 5000, 6);
  assert_int_equal (store_allocated_bytes (s), 2 * PAGE);

  /* Zeroing to the end zeroes the partial last page in place. */
  assert_int_equal (store_zero (s, 10, size - 10), 0);
  check_read_zeros (s, 10, size - 10);
  check_read_pattern (s, 4990, size - 5000, 6);
  store_destroy (s);
}

/* Extents over the whole 2^63-1 byte store must skip empty regions of the
 * page table rather than visit 2^51 absent pages. */
static void
test_extents_whole_max_store (void **state)
{
  (void) state;
  const uint64_t size = STORE_MAX_SIZE;
  struct store *s = store_create (size, PAGE);
  const uint64_t last_page = (size - 1) / PAGE * PAGE;
  const uint64_t mid = UINT64_C (1) << 40;
  uint8_t byte = 1;

  assert_non_null (s);
  alarm (20);                   /* a page-by-page walk would take days */
  const struct extent empty[] = { { 0, size, false } };
  check_extents (s, 0, size, empty, 1);

  assert_int_equal (store_write (s, &byte, 1, 0), 0);
  assert_int_equal (store_write (s, &byte, 1, mid), 0);
  assert_int_equal (store_write (s, &byte, 1, size - 1), 0);
  const struct extent want[] = {
    { 0, PAGE, true },
    { PAGE, mid - PAGE, false },
    { mid, PAGE, true },
    { mid + PAGE, last_page - mid - PAGE, false },
    { last_page, PAGE - 1, true },
  };
  check_extents (s, 0, size, want, 5);
  alarm (0);
  store_destroy (s);
}

/* --- zero and trim --------------------------------------------------- */

typedef int (*zero_fn) (struct store *, uint64_t, uint64_t);

static void
check_zero_semantics (zero_fn zero, const char *name)
{
  struct store *s = store_create (8 * PAGE, PAGE);

  assert_non_null (s);
  write_pattern (s, 6 * PAGE, 0, 7);
  assert_int_equal (store_allocated_bytes (s), 6 * PAGE);

  /* Part of one page: zeroed in place, the page stays allocated. */
  assert_int_equal (zero (s, 100, 1000), 0);
  check_read_zeros (s, 100, 1000);
  check_read_pattern (s, 1000, 0, 7);
  check_read_pattern (s, PAGE - 1100, 1100, 7);
  if (store_allocated_bytes (s) != 6 * PAGE)
    fail_msg ("%s of part of page 0: allocated %" PRIu64 ", want %u",
              name, store_allocated_bytes (s), 6 * PAGE);

  /* One whole page: freed. */
  assert_int_equal (zero (s, PAGE, PAGE), 0);
  check_read_zeros (s, PAGE, PAGE);
  if (store_allocated_bytes (s) != 5 * PAGE)
    fail_msg ("%s of page 1: allocated %" PRIu64 ", want %u",
              name, store_allocated_bytes (s), 5 * PAGE);

  /* Partial page 2, whole pages 3 and 4, partial page 5. */
  assert_int_equal (zero (s, 3 * PAGE, 2 * PAGE + 100), 0);
  check_read_zeros (s, 3 * PAGE, 2 * PAGE + 100);
  check_read_pattern (s, 100, 2 * PAGE, 7);
  check_read_pattern (s, PAGE - 100, 5 * PAGE + 100, 7);
  if (store_allocated_bytes (s) != 3 * PAGE)
    fail_msg ("%s of pages 2(part),3,4,5(part): allocated %" PRIu64 ", want %u",
              name, store_allocated_bytes (s), 3 * PAGE);
  const struct extent want[] = {
    { 0, PAGE, true }, { PAGE, PAGE, false }, { 2 * PAGE, PAGE, true },
    { 3 * PAGE, 2 * PAGE, false }, { 5 * PAGE, PAGE, true },
    { 6 * PAGE, 2 * PAGE, false },
  };
  check_extents (s, 0, 8 * PAGE, want, 6);

  /* Zeroing holes allocates nothing, whole or partial. */
  assert_int_equal (zero (s, PAGE + 1, 7 * PAGE - 1), 0);
  assert_int_equal (zero (s, 10, 6 * PAGE + 5), 0);
  if (store_allocated_bytes (s) != 3 * PAGE)
    fail_msg ("%s of holes: allocated %" PRIu64 ", want %u",
              name, store_allocated_bytes (s), 3 * PAGE);

  /* The whole store. */
  assert_int_equal (zero (s, 8 * PAGE, 0), 0);
  check_read_zeros (s, 8 * PAGE, 0);
  assert_int_equal (store_allocated_bytes (s), 0);

  /* Written again after being freed: fresh page, no stale bytes. */
  write_pattern (s, 10, 3 * PAGE + 5, 8);
  check_read_zeros (s, 5, 3 * PAGE);
  check_read_pattern (s, 10, 3 * PAGE + 5, 8);
  check_read_zeros (s, PAGE - 15, 3 * PAGE + 15);
  store_destroy (s);
}

static void
test_zero_semantics (void **state)
{
  (void) state;
  check_zero_semantics (store_zero, "store_zero");
}

static void
test_trim_semantics (void **state)
{
  (void) state;
  check_zero_semantics (store_trim, "store_trim");
}

/* A store whose size is not a multiple of the page size: zeroing up to the
 * end leaves the partial last page all zeros, so it is freed. */
static void
test_zero_partial_last_page (void **state)
{
  (void) state;
  struct store *s = store_create (3 * PAGE + 100, PAGE);

  assert_non_null (s);
  write_pattern (s, 3 * PAGE + 100, 0, 9);
  assert_int_equal (store_allocated_bytes (s), 4 * PAGE);
  assert_int_equal (store_trim (s, 100, 3 * PAGE), 0);
  check_read_zeros (s, 100, 3 * PAGE);
  check_read_pattern (s, 3 * PAGE, 0, 9);
  assert_int_equal (store_allocated_bytes (s), 3 * PAGE);
  store_destroy (s);
}

/* docs/design.md: a zero or trim that leaves a page all zeros frees it,
 * even when it covers only part of the page. */
static void
test_zero_leaving_page_all_zeros_frees_it (void **state)
{
  (void) state;
  struct store *s = store_create (4 * PAGE, PAGE);

  assert_non_null (s);
  write_pattern (s, 10, PAGE + 100, 12);
  write_pattern (s, 10, 2 * PAGE + 100, 12);
  assert_int_equal (store_allocated_bytes (s), 2 * PAGE);
  assert_int_equal (store_zero (s, 20, PAGE + 95), 0);
  assert_int_equal (store_allocated_bytes (s), PAGE);
  assert_int_equal (store_trim (s, 1, 2 * PAGE + 100), 0);   /* 9 bytes left */
  assert_int_equal (store_allocated_bytes (s), PAGE);
  assert_int_equal (store_trim (s, 9, 2 * PAGE + 101), 0);
  assert_int_equal (store_allocated_bytes (s), 0);
  check_read_zeros (s, 4 * PAGE, 0);
  const struct extent want[] = { { 0, 4 * PAGE, false } };
  check_extents (s, 0, 4 * PAGE, want, 1);
  store_destroy (s);
}

/* A page freed by a trim is reused for the next new page (pages.c): a
 * small write into it must find the rest of the page zeros, not the old
 * contents, and a full disk, trimmed and written again, holds as much. */
static void
test_reused_page_reads_zeros (void **state)
{
  (void) state;
  const unsigned npages = 300;    /* more than one 2 MiB slab of 4 KiB pages */
  struct store *s = store_create (npages * PAGE, PAGE);

  assert_non_null (s);
  for (int round = 0; round < 2; round++) {
    write_pattern (s, npages * PAGE, 0, 30 + round);
    assert_int_equal (store_allocated_bytes (s), (uint64_t) npages * PAGE);
    assert_int_equal (store_trim (s, npages * PAGE, 0), 0);
    assert_int_equal (store_allocated_bytes (s), 0);
  }
  /* Every new page now is a reused one. */
  for (unsigned p = 0; p < npages; p++)
    write_pattern (s, 10, (uint64_t) p * PAGE + 1000, 40);
  assert_int_equal (store_allocated_bytes (s), (uint64_t) npages * PAGE);
  for (unsigned p = 0; p < npages; p++) {
    check_read_zeros (s, 1000, (uint64_t) p * PAGE);
    check_read_pattern (s, 10, (uint64_t) p * PAGE + 1000, 40);
    check_read_zeros (s, PAGE - 1010, (uint64_t) p * PAGE + 1010);
  }
  store_destroy (s);
}

/* docs/design.md: writing zeros into a hole leaves a hole. */
static void
test_write_zeros_into_hole (void **state)
{
  (void) state;
  struct store *s = store_create (4 * PAGE, PAGE);
  static const uint8_t zeros[2 * PAGE + 10];

  assert_non_null (s);
  assert_int_equal (store_write (s, zeros, sizeof zeros, PAGE - 5), 0);
  assert_int_equal (store_allocated_bytes (s), 0);
  check_read_zeros (s, 4 * PAGE, 0);
  store_destroy (s);
}

/* --- extents -------------------------------------------------------- */

static void
test_extents_runs_and_clipping (void **state)
{
  (void) state;
  struct store *s = store_create (10 * PAGE, PAGE);
  uint8_t byte = 1;

  assert_non_null (s);
  const struct extent empty[] = { { 0, 10 * PAGE, false } };
  check_extents (s, 0, 10 * PAGE, empty, 1);

  /* Pages 1, 2 and 5 allocated; 1 and 2 merge into one run. */
  assert_int_equal (store_write (s, &byte, 1, PAGE + 7), 0);
  assert_int_equal (store_write (s, &byte, 1, 3 * PAGE - 1), 0);
  assert_int_equal (store_write (s, &byte, 1, 5 * PAGE), 0);
  const struct extent all[] = {
    { 0, PAGE, false }, { PAGE, 2 * PAGE, true }, { 3 * PAGE, 2 * PAGE, false },
    { 5 * PAGE, PAGE, true }, { 6 * PAGE, 4 * PAGE, false },
  };
  check_extents (s, 0, 10 * PAGE, all, 5);

  /* Clipped at both ends to unaligned offsets. */
  const struct extent clipped[] = {
    { PAGE + 100, 2 * PAGE - 100, true }, { 3 * PAGE, 2 * PAGE, false },
    { 5 * PAGE, 100, true },
  };
  check_extents (s, PAGE + 100, 4 * PAGE, clipped, 3);

  /* Inside one run. */
  const struct extent inside_data[] = { { PAGE + 1, 10, true } };
  check_extents (s, PAGE + 1, 10, inside_data, 1);
  const struct extent inside_hole[] = { { 3 * PAGE + 1, PAGE, false } };
  check_extents (s, 3 * PAGE + 1, PAGE, inside_hole, 1);
  const struct extent last[] = { { 10 * PAGE - 1, 1, false } };
  check_extents (s, 10 * PAGE - 1, 1, last, 1);
  store_destroy (s);
}

static void
test_extents_stop_early (void **state)
{
  (void) state;
  struct store *s = store_create (10 * PAGE, PAGE);
  uint8_t byte = 1;

  assert_non_null (s);
  assert_int_equal (store_write (s, &byte, 1, 2 * PAGE), 0);
  assert_int_equal (store_write (s, &byte, 1, 6 * PAGE), 0);
  /* A stop ends the walk with success, a failure with -1; at any run,
   * the last one (the fifth) included. */
  for (size_t stop = 1; stop <= 5; stop++) {
    struct extent_list l = { .stop_after = stop, .stop_with = STORE_EXTENTS_STOP };
    assert_int_equal (store_extents (s, 0, 10 * PAGE, collect_extent, &l), 0);
    assert_int_equal (l.calls, stop);
    struct extent_list f = { .stop_after = stop, .stop_with = -1 };
    assert_int_equal (store_extents (s, 0, 10 * PAGE, collect_extent, &f), -1);
    assert_int_equal (f.calls, stop);
  }
  store_destroy (s);
}

/* --- range checks ----------------------------------------------------- */

static int
never_called (void *opaque, uint64_t offset, uint64_t len, bool allocated)
{
  (void) offset; (void) len; (void) allocated;
  *(int *) opaque = 1;
  return 0;
}

/* One rejected call: -1, errno EINVAL and a message. */
static void
check_range_result (const char *name, int r, int err, struct store *s,
                    uint64_t len, uint64_t offset)
{
  if (r != -1 || err != EINVAL || md_error ()[0] == '\0')
    fail_msg ("%s (len %" PRIu64 ", offset %" PRIu64 ") on a %" PRIu64
              "-byte store: returned %d, errno %d, message \"%s\"; "
              "want -1, EINVAL and a message",
              name, len, offset, store_size (s), r, err, md_error ());
}

static void
expect_range_error (struct store *s, uint64_t len, uint64_t offset)
{
  /* BUF is far smaller than most LENs here: a store that did not check
   * the range first would overrun it, which ASan reports. */
  uint8_t buf[16] = { 1 };
  int called = 0, r;

  clear_error (); errno = 0;
  r = store_read (s, buf, len, offset);
  check_range_result ("store_read", r, errno, s, len, offset);
  clear_error (); errno = 0;
  r = store_write (s, buf, len, offset);
  check_range_result ("store_write", r, errno, s, len, offset);
  clear_error (); errno = 0;
  r = store_zero (s, len, offset);
  check_range_result ("store_zero", r, errno, s, len, offset);
  clear_error (); errno = 0;
  r = store_trim (s, len, offset);
  check_range_result ("store_trim", r, errno, s, len, offset);
  clear_error (); errno = 0;
  r = store_extents (s, offset, len, never_called, &called);
  check_range_result ("store_extents", r, errno, s, len, offset);
  if (called)
    fail_msg ("store_extents (len %" PRIu64 ", offset %" PRIu64
              ") called back before failing", len, offset);
}

static void
test_out_of_range_requests_fail (void **state)
{
  (void) state;
  const uint64_t size = 4 * PAGE + 10;
  struct store *s = store_create (size, PAGE);

  assert_non_null (s);
  expect_range_error (s, 1, size);
  expect_range_error (s, 2, size - 1);
  expect_range_error (s, 16, size - 8);
  expect_range_error (s, 1, UINT64_MAX);
  expect_range_error (s, 16, UINT64_MAX - 8);      /* offset+len wraps */
  expect_range_error (s, UINT64_MAX, 1);           /* len+offset wraps */
  expect_range_error (s, UINT64_MAX, 0);
  expect_range_error (s, size + 1, 0);
  /* Nothing was written, allocated or reported as changed data. */
  assert_int_equal (store_allocated_bytes (s), 0);
  check_read_zeros (s, size, 0);

  /* A rejected write that starts inside the store writes nothing. */
  uint8_t big[2 * PAGE];
  memset (big, 0x77, sizeof big);
  clear_error ();
  assert_int_equal (store_write (s, big, sizeof big, size - PAGE), -1);
  assert_string_not_equal (md_error (), "");
  assert_int_equal (store_allocated_bytes (s), 0);
  check_read_zeros (s, size, 0);
  store_destroy (s);

  /* And near 2^63 where offset+len can exceed INT64_MAX. */
  s = store_create (STORE_MAX_SIZE, PAGE);
  assert_non_null (s);
  expect_range_error (s, 2, STORE_MAX_SIZE - 1);
  expect_range_error (s, 1, STORE_MAX_SIZE);
  expect_range_error (s, 1, UINT64_C (1) << 63);
  assert_int_equal (store_allocated_bytes (s), 0);
  store_destroy (s);
}

/* --- change tracking ------------------------------------------------ */

static void
test_changed_flag (void **state)
{
  (void) state;
  struct store *s = store_create (4 * PAGE, PAGE);
  uint8_t buf[8] = { 1 };

  assert_non_null (s);
  store_clear_changed (s);
  assert_false (store_changed (s));

  struct extent_list l = { .n = 0 };
  assert_int_equal (store_read (s, buf, sizeof buf, 0), 0);
  assert_int_equal (store_extents (s, 0, 4 * PAGE, collect_extent, &l), 0);
  assert_false (store_changed (s));   /* reads and extents change nothing */

  assert_int_equal (store_write (s, buf, sizeof buf, 100), 0);
  assert_true (store_changed (s));
  assert_true (store_changed (s));   /* reading the flag does not clear it */
  store_clear_changed (s);
  assert_false (store_changed (s));

  assert_int_equal (store_zero (s, 10, 100), 0);
  assert_true (store_changed (s));
  store_clear_changed (s);

  assert_int_equal (store_trim (s, PAGE, 0), 0);
  assert_true (store_changed (s));
  store_clear_changed (s);

  store_mark_changed (s);
  assert_true (store_changed (s));
  store_mark_changed (s);
  assert_true (store_changed (s));
  store_clear_changed (s);
  assert_false (store_changed (s));
  store_destroy (s);
}

/* --- loading ---------------------------------------------------------- */

static void
test_page_for_load (void **state)
{
  (void) state;
  const uint64_t size = 5 * PAGE + 100;     /* last page is partial */
  struct store *s = store_create (size, PAGE);

  assert_non_null (s);
  uint8_t *p = store_page_for_load (s, 2);
  assert_non_null (p);
  check_zeros (p, PAGE, 2 * PAGE);          /* fresh pages are zero-filled */
  fill_pattern (p, PAGE, 2 * PAGE, 10);
  assert_int_equal (store_allocated_bytes (s), PAGE);
  check_read_pattern (s, PAGE, 2 * PAGE, 10);
  check_read_zeros (s, 2 * PAGE, 0);
  check_read_zeros (s, size - 3 * PAGE, 3 * PAGE);

  /* The same page again: its content is kept. */
  p = store_page_for_load (s, 2);
  assert_non_null (p);
  check_read_pattern (s, PAGE, 2 * PAGE, 10);
  assert_int_equal (store_allocated_bytes (s), PAGE);

  /* The partial last page: only its first 100 bytes are in the store. */
  p = store_page_for_load (s, 5);
  assert_non_null (p);
  fill_pattern (p, 100, 5 * PAGE, 11);
  check_read_pattern (s, 100, 5 * PAGE, 11);
  assert_int_equal (store_allocated_bytes (s), 2 * PAGE);
  const struct extent want[] = {
    { 0, 2 * PAGE, false }, { 2 * PAGE, PAGE, true },
    { 3 * PAGE, 2 * PAGE, false }, { 5 * PAGE, 100, true },
  };
  check_extents (s, 0, size, want, 4);

  /* Beyond the store. */
  const uint64_t bad[] = { 6, 7, UINT64_MAX, UINT64_C (1) << 52 };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    clear_error ();
    if (store_page_for_load (s, bad[i]) != NULL)
      fail_msg ("store_page_for_load (%" PRIu64 ") on a 6-page store succeeded",
                bad[i]);
    assert_string_not_equal (md_error (), "");
  }
  assert_int_equal (store_allocated_bytes (s), 2 * PAGE);
  store_destroy (s);

  /* A size that is a multiple of the page size has no page SIZE/PAGE. */
  s = store_create (4 * PAGE, PAGE);
  assert_non_null (s);
  assert_non_null (store_page_for_load (s, 3));
  assert_null (store_page_for_load (s, 4));
  store_destroy (s);
}

/* --- a random sequence checked against a model ---------------------- */

/* Random writes, zeros, trims and reads of a small store with a partial
 * last page, compared after every operation with a flat copy of the disk
 * and a per-page allocation map (a page is allocated once written with
 * non-zero bytes, freed when a zero or trim leaves it all zeros). */
static uint64_t rng_state = 0x243F6A8885A308D3ull;

static uint64_t
rng_next (void)
{
  uint64_t x = rng_state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return rng_state = x;
}

struct model_check {
  const bool *allocated;
  uint64_t end, next;           /* end of the requested range */
  int error;
};

static int
model_extent (void *opaque, uint64_t offset, uint64_t len, bool allocated)
{
  struct model_check *m = opaque;

  if (offset != m->next || len == 0) {
    m->error = 1;
    return 0;
  }
  for (uint64_t o = offset; o < offset + len; o = (o / PAGE + 1) * PAGE) {
    if (m->allocated[o / PAGE] != allocated)
      m->error = 2;
  }
  /* Maximal: a run ends at a page boundary where the state changes, or at
   * the end of the range. */
  if (offset + len < m->end
      && ((offset + len) % PAGE != 0 || m->allocated[(offset + len) / PAGE] == allocated))
    m->error = 3;
  m->next = offset + len;
  return 0;
}

static void
test_random_ops_match_model (void **state)
{
  (void) state;
  const uint64_t size = 40 * PAGE + 1234;
  const uint64_t npages = (size + PAGE - 1) / PAGE;
  struct store *s = store_create (size, PAGE);
  uint8_t *disk = calloc (size, 1), *buf = malloc (size);
  bool *allocated = calloc (npages, sizeof *allocated);

  assert_non_null (s);
  assert_non_null (disk);
  assert_non_null (buf);
  assert_non_null (allocated);
  for (int op = 0; op < 3000; op++) {
    uint64_t offset = rng_next () % size;
    uint64_t max = size - offset < 6 * PAGE ? size - offset : 6 * PAGE;
    uint64_t len = rng_next () % max + 1;
    unsigned kind = rng_next () % 4;

    switch (kind) {
    case 0: case 1:
      fill_pattern (disk + offset, len, offset, op + 100);
      assert_int_equal (store_write (s, disk + offset, len, offset), 0);
      for (uint64_t p = offset / PAGE; p <= (offset + len - 1) / PAGE; p++)
        allocated[p] = true;
      break;
    case 2: case 3:
      memset (disk + offset, 0, len);
      assert_int_equal ((kind == 2 ? store_zero : store_trim) (s, len, offset), 0);
      for (uint64_t p = offset / PAGE; p <= (offset + len - 1) / PAGE; p++) {
        uint64_t start = p * PAGE, end = start + PAGE < size ? start + PAGE : size;
        bool all_zero = true;
        for (uint64_t i = start; i < end && all_zero; i++)
          all_zero = disk[i] == 0;
        if (all_zero)
          allocated[p] = false;
      }
      break;
    }

    uint64_t want_allocated = 0;
    for (uint64_t p = 0; p < npages; p++)
      want_allocated += allocated[p] ? PAGE : 0;
    if (store_allocated_bytes (s) != want_allocated)
      fail_msg ("op %d (%s len %" PRIu64 " at %" PRIu64 "): allocated %" PRIu64
                ", want %" PRIu64, op, kind < 2 ? "write" : kind == 2 ? "zero" : "trim",
                len, offset, store_allocated_bytes (s), want_allocated);

    uint64_t roff = rng_next () % size;
    uint64_t rlen = rng_next () % (size - roff) + 1;
    assert_int_equal (store_read (s, buf, rlen, roff), 0);
    check_bytes (buf, disk + roff, rlen, roff);

    struct model_check m = { allocated, roff + rlen, roff, 0 };
    assert_int_equal (store_extents (s, roff, rlen, model_extent, &m), 0);
    if (m.error || m.next != roff + rlen)
      fail_msg ("op %d: extents of [%" PRIu64 ", +%" PRIu64 ") disagree with the "
                "model (error %d, covered up to %" PRIu64 ")", op, roff, rlen,
                m.error, m.next);
  }
  assert_int_equal (store_read (s, buf, size, 0), 0);
  check_bytes (buf, disk, size, 0);
  free (allocated);
  free (buf);
  free (disk);
  store_destroy (s);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_create_reports_geometry),
    cmocka_unit_test (test_create_rejects_bad_arguments),
    cmocka_unit_test (test_unallocated_reads_zeros),
    cmocka_unit_test (test_write_straddling_pages),
    cmocka_unit_test (test_unaligned_small_writes),
    cmocka_unit_test (test_default_page_size_straddle),
    cmocka_unit_test (test_overwrite_and_write_zeros),
    cmocka_unit_test (test_last_byte_of_max_store),
    cmocka_unit_test (test_extents_whole_max_store),
    cmocka_unit_test (test_zero_semantics),
    cmocka_unit_test (test_trim_semantics),
    cmocka_unit_test (test_zero_partial_last_page),
    cmocka_unit_test (test_zero_leaving_page_all_zeros_frees_it),
    cmocka_unit_test (test_write_zeros_into_hole),
    cmocka_unit_test (test_reused_page_reads_zeros),
    cmocka_unit_test (test_extents_runs_and_clipping),
    cmocka_unit_test (test_extents_stop_early),
    cmocka_unit_test (test_out_of_range_requests_fail),
    cmocka_unit_test (test_changed_flag),
    cmocka_unit_test (test_page_for_load),
    cmocka_unit_test (test_random_ops_match_model),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
