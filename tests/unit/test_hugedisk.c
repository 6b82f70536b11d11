/* Unit tests of saves of huge sparse disks: a store of 2^63-1 bytes with
 * writes scattered over the whole range is saved in full, changed, and
 * saved incrementally; the store is loaded from that file and saved
 * incrementally again (the exit save of a server started on it).  Each
 * file verifies and holds the bytes written.  Every walk must cost what is
 * allocated, not what is addressable: before the walks skipped what the
 * page table never allocated, an incremental save passed over each of the
 * 2^41 regions of 4 MiB one by one and never ended (ctest's timeout for
 * this test, tests/CMakeLists.txt, fails it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "snapshot/storefile.h"
#include "test_snaphelp.h"

#define SPOTS 48

/* Where change ROUND writes its SPOTS bytes: spread over the whole disk,
 * to its last byte; rounds of one parity write the same bytes, rounds of
 * the other other bytes, in other regions but the last one. */
static uint64_t
spot (const struct store *st, unsigned round, unsigned i)
{
  const uint64_t size = store_size (st);

  if (i == SPOTS - 1)
    return size - 1 - round % 2;
  return (size / SPOTS) * i + (uint64_t) (round % 2) * (size / (3 * SPOTS))
         + (uint64_t) i * 4099;
}

static unsigned char
spot_value (unsigned round, unsigned i)
{
  return (unsigned char) (1 + (round * 31 + i * 7) % 250);
}

static void
change (struct store *st, unsigned round)
{
  for (unsigned i = 0; i < SPOTS; i++) {
    unsigned char v = spot_value (round, i);
    assert_int_equal (store_write (st, &v, 1, spot (st, round, i)), 0);
  }
}

/* ST holds what rounds 0 .. ROUNDS-1 wrote (a later round's value wins). */
static void
check_holds (struct store *st, unsigned rounds)
{
  for (unsigned round = 0; round < rounds; round++)
    for (unsigned i = 0; i < SPOTS; i++) {
      unsigned char want = spot_value (round, i), got;
      for (unsigned later = round + 2; later < rounds; later += 2)
        want = spot_value (later, i);
      assert_int_equal (store_read (st, &got, 1, spot (st, round, i)), 0);
      assert_int_equal (got, want);
    }
}

static struct snapstore_save_counts
save (struct store *st, const char *path, struct snapstore_previous *previous)
{
  struct snap_write_options options = { .level = 1, .threads = 2 };
  struct snapstore_save_counts counts;

  if (snapstore_save (st, path, &options, NULL, previous, &counts, NULL) == -1)
    fail_msg ("saving %s: %s", path, md_error ());
  assert_int_equal (open_and_verify (path), 0);
  return counts;
}

static void
test_incremental_saves (void **state)
{
  (void) state;
  const uint32_t page_sizes[] = { 4096, 32768 };

  for (size_t p = 0; p < sizeof page_sizes / sizeof page_sizes[0]; p++) {
    struct store *st = store_create (STORE_MAX_SIZE, page_sizes[p]);
    struct snapstore_previous previous = { 0 };
    const char *path = scratch_path ("huge.snap");
    uint64_t file_size;

    assert_non_null (st);
    change (st, 0);
    struct snapstore_save_counts c = save (st, path, &previous);
    assert_int_equal (c.regions_copied, 0);             /* the first is full */
    assert_int_equal (c.regions_compressed, SPOTS);
    change (st, 1);
    c = save (st, path, &previous);                     /* incremental */
    assert_int_equal (c.regions_copied, SPOTS - 1);     /* not the last */
    assert_int_equal (c.regions_compressed, SPOTS);
    snapstore_previous_close (&previous);
    store_destroy (st);

    /* A server started on the file, changed, and stopped: its saves
     * build on the file it loaded. */
    st = snapstore_load (path, 0, 0, 2, &file_size, &previous);
    assert_non_null (st);
    assert_int_equal (file_size, STORE_MAX_SIZE);
    check_holds (st, 2);
    c = save (st, path, &previous);                     /* nothing changed */
    assert_int_equal (c.regions_copied, 2 * SPOTS - 1);
    assert_int_equal (c.regions_compressed, 0);
    change (st, 2);
    c = save (st, path, &previous);
    assert_int_equal (c.regions_copied, SPOTS - 1);
    assert_int_equal (c.regions_compressed, SPOTS);
    snapstore_previous_close (&previous);
    store_destroy (st);

    st = snapstore_load (path, 0, 0, 2, &file_size, NULL);
    assert_non_null (st);
    check_holds (st, 3);
    store_destroy (st);
  }
}

/* A snapshot abandoned at its start, with changes kept for it all over
 * the disk, ends without visiting every page. */
static void
test_abandoned_snapshot (void **state)
{
  (void) state;
  struct store *st = store_create (STORE_MAX_SIZE, 4096);
  uint64_t page;
  unsigned char buf[4096];

  assert_non_null (st);
  change (st, 0);
  change (st, 1);
  struct store_snapshot *snap = store_snapshot_begin (st);
  assert_non_null (snap);
  change (st, 2);
  assert_true (store_snapshot_preserved_bytes (snap) >= SPOTS * 4096);
  assert_int_equal (store_snapshot_next (snap, &page, buf), 1);
  store_snapshot_end (snap);
  check_holds (st, 3);
  store_destroy (st);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_incremental_saves),
    cmocka_unit_test (test_abandoned_snapshot),
  };

  return cmocka_run_group_tests (tests, scratch_group_setup, scratch_group_teardown);
}
