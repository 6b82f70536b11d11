/* Unit tests of the store's change tracking by region (src/store/regions.c,
 * store_snapshot_region_unchanged, store_snapshot_skip_region and
 * store_snapshot_skip_unchanged): a region counts as unchanged since an
 * instant exactly when no write, zero or trim touched it since then,
 * whether the change came before the new snapshot's instant or during its
 * walk; skipping a region stops copy-on-write there and frees what was
 * kept; passing over unchanged regions stops at the first changed one.
 * At several region and page sizes: regions of one page, many regions per
 * page-table leaf (a leaf spans 4096 pages), and 64 MiB regions of 4 KiB
 * pages, which span four leaves (a change in any of them changes the
 * region).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "store/store.h"

/* The region size of the store under test, set by each loop below. */
static uint64_t region_size_now;
#define REGION region_size_now
#define DISK (8 * REGION + REGION / 2 + 17)   /* 9 regions, the last partial */

static const uint32_t region_sizes[] = { 4096, 262144, 1048576, STORE_DEFAULT_REGION_SIZE,
                                         64u << 20 };
static const uint32_t page_sizes[] = { 4096, 32768, 1048576 };
#define NCONFIGS (sizeof region_sizes / sizeof region_sizes[0] \
                  * (sizeof page_sizes / sizeof page_sizes[0]))

/* Configuration I: a store of DISK bytes with its page and region sizes
 * (REGION set), or NULL when the page is larger than the region. */
static struct store *
config_store (size_t i, uint32_t *page_size)
{
  const size_t npage = sizeof page_sizes / sizeof page_sizes[0];

  region_size_now = region_sizes[i / npage];
  *page_size = page_sizes[i % npage];
  if (*page_size > REGION)
    return NULL;
  struct store *st = store_create_regions (DISK, *page_size, (uint32_t) REGION);
  assert_non_null (st);
  assert_int_equal (store_region_size (st), REGION);
  return st;
}

static void
write_byte (struct store *st, uint64_t offset, unsigned char value)
{
  assert_int_equal (store_write (st, &value, 1, offset), 0);
}

/* Which regions of SNAP are unchanged since SINCE, as a bit set. */
static unsigned
unchanged_set (const struct store_snapshot *snap, const struct store *st, uint64_t since)
{
  unsigned set = 0;

  assert_int_equal (store_region_count (st), 9);
  for (uint64_t r = 0; r < store_region_count (st); r++)
    if (store_snapshot_region_unchanged (snap, r, since))
      set |= 1u << r;
  return set;
}

static void
test_changes_since (void **state)
{
  (void) state;
  for (size_t i = 0; i < NCONFIGS; i++) {
    uint32_t ps;
    struct store *st = config_store (i, &ps);
    if (st == NULL)
      continue;
    const uint64_t loaded = store_load_epoch (st);

    /* Before the first snapshot: data in regions 1, 3 and 8. */
    write_byte (st, 1 * REGION + 5, 1);
    write_byte (st, 3 * REGION, 2);
    write_byte (st, DISK - 1, 3);
    struct store_snapshot *s1 = store_snapshot_begin (st);
    assert_non_null (s1);
    assert_int_equal (unchanged_set (s1, st, loaded), 0x1FF & ~0x10A);
    /* During the walk: a write to region 0, a zero of region 1, a trim of
     * region 3; none is at s1's instant. */
    write_byte (st, 7, 4);
    assert_int_equal (store_zero (st, 1, 1 * REGION + 5), 0);
    assert_int_equal (store_trim (st, ps, 3 * REGION), 0);
    assert_int_equal (unchanged_set (s1, st, loaded), 0x1FF & ~0x10A);
    const uint64_t e1 = store_snapshot_epoch (s1);
    store_snapshot_end (s1);

    /* Since s1's instant: regions 0, 1, 3 changed (during s1's walk). */
    struct store_snapshot *s2 = store_snapshot_begin (st);
    assert_int_equal (unchanged_set (s2, st, e1), 0x1FF & ~0x00B);
    /* Since the load: 0, 1, 3, 8. */
    assert_int_equal (unchanged_set (s2, st, loaded), 0x1FF & ~0x10B);
    const uint64_t e2 = store_snapshot_epoch (s2);
    store_snapshot_end (s2);

    /* Nothing since s2; then a zero of a hole in region 5 changes nothing
     * there, a write to region 5 does, and one to region 4's last byte (its
     * last leaf when a region spans several) changes region 4. */
    struct store_snapshot *s3 = store_snapshot_begin (st);
    assert_int_equal (unchanged_set (s3, st, e2), 0x1FF);
    store_snapshot_end (s3);
    assert_int_equal (store_zero (st, REGION, 5 * REGION), 0);
    write_byte (st, 6 * REGION - 1, 9);
    write_byte (st, 5 * REGION - 1, 10);
    struct store_snapshot *s4 = store_snapshot_begin (st);
    assert_int_equal (unchanged_set (s4, st, e2), 0x1FF & ~0x30);
    store_snapshot_end (s4);
    store_destroy (st);
  }
}

/* Skipping region 1 while a client writes there during the walk: the walk
 * returns the pages of regions 0 and 2 only, and nothing stays kept. */
static void
test_skip_region (void **state)
{
  (void) state;
  for (size_t i = 0; i < NCONFIGS; i++) {
    uint32_t ps;
    struct store *st = config_store (i, &ps);
    if (st == NULL)
      continue;
    unsigned char *buf = malloc (ps);
    uint64_t page;

    assert_non_null (buf);
    for (uint64_t r = 0; r < 3; r++) {
      write_byte (st, r * REGION, (unsigned char) (r + 1));
      write_byte (st, r * REGION + REGION - 1, (unsigned char) (r + 1));
    }
    struct store_snapshot *snap = store_snapshot_begin (st);
    /* Region 0's pages, up to region 1. */
    assert_int_equal (store_snapshot_next_before (snap, REGION / ps, &page, buf), 1);
    assert_int_equal (page, 0);
    if (REGION > ps) {
      assert_int_equal (store_snapshot_next_before (snap, REGION / ps, &page, buf), 1);
      assert_int_equal (page, REGION / ps - 1);
    }
    assert_int_equal (store_snapshot_next_before (snap, REGION / ps, &page, buf), 0);
    assert_true (store_snapshot_position (snap) <= REGION / ps);
    /* A change to region 1 after the instant is kept for the walk (in its
     * first and its last page, which lie in different leaves when the
     * region spans several) ... */
    write_byte (st, REGION + 1, 0x55);
    write_byte (st, 2 * REGION - 2, 0x77);
    assert_int_equal (store_snapshot_preserved_bytes (snap), REGION > 4096 ? 8192 : 4096);
    /* ... until the walk skips the region. */
    store_snapshot_skip_region (snap, 1);
    assert_int_equal (store_snapshot_position (snap), 2 * (REGION / ps));
    assert_int_equal (store_snapshot_preserved_bytes (snap), 0);
    write_byte (st, REGION + 2, 0x66);
    assert_int_equal (store_snapshot_preserved_bytes (snap), 0);
    assert_int_equal (store_snapshot_next (snap, &page, buf), 1);
    assert_int_equal (page, 2 * (REGION / ps));
    assert_int_equal (buf[0], 3);
    if (REGION > ps) {
      assert_int_equal (store_snapshot_next (snap, &page, buf), 1);
      assert_int_equal (page, 3 * (REGION / ps) - 1);
    }
    assert_int_equal (store_snapshot_next (snap, &page, buf), 0);
    store_snapshot_end (snap);
    /* The client's writes are there. */
    assert_int_equal (store_read (st, buf, 3, REGION), 0);
    assert_int_equal (buf[0], 2);
    assert_int_equal (buf[1], 0x55);
    assert_int_equal (buf[2], 0x66);
    assert_int_equal (store_read (st, buf, 2, 2 * REGION - 2), 0);
    assert_int_equal (buf[0], 0x77);
    assert_int_equal (buf[1], 2);
    free (buf);
    store_destroy (st);
  }
}

/* Passing over unchanged regions: the walk stops at the first region
 * changed since the earlier instant (or at the limit), frees what was
 * kept for the regions it passed, and passes over regions never written
 * and a disk's end without a page left. */
static void
test_skip_unchanged (void **state)
{
  (void) state;
  for (size_t i = 0; i < NCONFIGS; i++) {
    uint32_t ps;
    struct store *st = config_store (i, &ps);
    if (st == NULL)
      continue;
    const uint64_t rpp = REGION / ps;
    unsigned char *buf = malloc (ps);
    uint64_t page;

    assert_non_null (buf);
    write_byte (st, 2 * REGION, 2);
    write_byte (st, 6 * REGION, 6);
    struct store_snapshot *s1 = store_snapshot_begin (st);
    const uint64_t since = store_snapshot_epoch (s1);
    while (store_snapshot_next (s1, &page, buf) == 1)
      ;
    store_snapshot_end (s1);

    write_byte (st, 6 * REGION + 1, 7);
    struct store_snapshot *s2 = store_snapshot_begin (st);
    /* After the instant: kept for the walk until it passes region 2. */
    write_byte (st, 2 * REGION + 1, 8);
    assert_int_equal (store_snapshot_preserved_bytes (s2), 4096);
    store_snapshot_skip_unchanged (s2, since, 4);
    assert_int_equal (store_snapshot_position (s2), 4 * rpp);   /* the limit */
    assert_int_equal (store_snapshot_preserved_bytes (s2), 0);
    store_snapshot_skip_unchanged (s2, since, UINT64_MAX);
    assert_int_equal (store_snapshot_position (s2), 6 * rpp);   /* changed */
    store_snapshot_skip_unchanged (s2, since, UINT64_MAX);
    assert_int_equal (store_snapshot_position (s2), 6 * rpp);
    assert_int_equal (store_snapshot_next_before (s2, 7 * rpp, &page, buf), 1);
    assert_int_equal (page, 6 * rpp);
    assert_int_equal (buf[0], 6);
    assert_int_equal (buf[1], 7);
    assert_int_equal (store_snapshot_next_before (s2, 7 * rpp, &page, buf), 0);
    assert_int_equal (store_snapshot_position (s2), 7 * rpp);
    store_snapshot_skip_unchanged (s2, since, UINT64_MAX);
    assert_int_equal (store_snapshot_position (s2), (DISK + ps - 1) / ps);
    store_snapshot_end (s2);
    free (buf);
    store_destroy (st);
  }
}

/* Region sizes the store refuses: not a power of two, below the page,
 * above 64 MiB. */
static void
test_bad_region_size (void **state)
{
  (void) state;
  static const struct { uint32_t region, page; } bad[] = {
    { 3 << 20, 4096 }, { 16384, 32768 }, { 128u << 20, 4096 }, { 0, 4096 }, { 2048, 4096 },
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_null (store_create_regions (1 << 30, bad[i].page, bad[i].region));
    assert_non_null (strstr (md_error (), "region size"));
  }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_changes_since),
    cmocka_unit_test (test_skip_region),
    cmocka_unit_test (test_skip_unchanged),
    cmocka_unit_test (test_bad_region_size),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
