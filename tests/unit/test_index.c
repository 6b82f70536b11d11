/* Unit tests of snapshot/format/index: pages merged into runs, an encode/decode
 * round trip, and the rules decoding checks against the metadata and the
 * file's layout. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "snapshot/format/format.h"
#include "snapshot/format/index.h"
#include "test_snaphelp.h"      /* assert_error_contains */

#define PAGE 4096u

/* Two frames: pages 1-3 and 7-8, then 9 and 100; sizes small enough for
 * zstd's bound. */
static void
build (struct snap_index *ix)
{
  const uint64_t a[] = { 1, 2, 3, 7, 8 }, b[] = { 9, 100 };

  snap_index_init (ix);
  assert_int_equal (snap_index_add_frame (ix, SNAP_HEADER_SIZE, 500, 0xAAAA, 0, a, 5), 0);
  assert_int_equal (snap_index_add_frame (ix, SNAP_HEADER_SIZE + 500, 300, 0xBBBB, 0, b, 2), 0);
}

static struct snap_metadata
meta_for (uint64_t pages)
{
  struct snap_metadata m = {
    .version_major = 1, .virtual_size = 200 * (uint64_t) PAGE, .page_size = PAGE,
    .allocated_size = pages * PAGE,
  };
  return m;
}

static void
test_runs (void **state)
{
  (void) state;
  struct snap_index ix;

  build (&ix);
  assert_int_equal (ix.frame_count, 2);
  assert_int_equal (ix.page_count, 7);
  assert_int_equal (ix.run_count, 4);
  assert_int_equal (ix.frames[0].run_count, 2);
  assert_int_equal (ix.frames[0].page_count, 5);
  assert_int_equal (ix.runs[0].first_page, 1);
  assert_int_equal (ix.runs[0].page_count, 3);
  assert_int_equal (ix.runs[1].first_page, 7);
  assert_int_equal (ix.runs[1].page_count, 2);
  /* Runs do not merge across frames: 8 then 9 are two runs. */
  assert_int_equal (ix.frames[1].first_run, 2);
  assert_int_equal (ix.runs[2].first_page, 9);
  assert_int_equal (ix.runs[3].first_page, 100);
  assert_int_equal (ix.frames[1].offset, SNAP_HEADER_SIZE + 500);
  assert_int_equal (ix.frames[1].checksum, 0xBBBB);
  snap_index_free (&ix);
}

static void
test_round_trip_and_rules (void **state)
{
  (void) state;
  struct snap_index ix, out;
  struct snap_cbor_buffer b;
  struct snap_metadata meta = meta_for (7);
  const uint64_t data_end = SNAP_HEADER_SIZE + 800;

  build (&ix);
  snap_cbor_buffer_init (&b);
  assert_int_equal (snap_index_encode (&ix, &b), 0);

  assert_int_equal (snap_index_decode (b.data, b.len, 5000, &meta, data_end, &out), 0);
  assert_int_equal (out.frame_count, 2);
  assert_int_equal (out.page_count, 7);
  assert_int_equal (out.run_count, ix.run_count);
  for (size_t i = 0; i < ix.run_count; i++) {
    assert_int_equal (out.runs[i].first_page, ix.runs[i].first_page);
    assert_int_equal (out.runs[i].page_count, ix.runs[i].page_count);
  }
  for (size_t i = 0; i < ix.frame_count; i++) {
    assert_int_equal (out.frames[i].offset, ix.frames[i].offset);
    assert_int_equal (out.frames[i].compressed_size, ix.frames[i].compressed_size);
    assert_int_equal (out.frames[i].checksum, ix.frames[i].checksum);
  }
  snap_index_free (&out);

  /* The metadata counts another number of pages. */
  meta = meta_for (6);
  assert_int_equal (snap_index_decode (b.data, b.len, 5000, &meta, data_end, &out), -1);
  assert_error_contains ("the frames hold 7 pages but the metadata's allocated size is 6 pages");
  /* The frames end before the metadata starts. */
  meta = meta_for (7);
  assert_int_equal (snap_index_decode (b.data, b.len, 5000, &meta, data_end + 1, &out), -1);
  assert_error_contains ("the data frames end at 832 but the metadata starts at 833");
  /* ... or run past it. */
  assert_int_equal (snap_index_decode (b.data, b.len, 5000, &meta, data_end - 1, &out), -1);
  assert_error_contains ("runs past the data frames' end");
  /* A page beyond the disk. */
  meta.virtual_size = 100 * (uint64_t) PAGE;
  assert_int_equal (snap_index_decode (b.data, b.len, 5000, &meta, data_end, &out), -1);
  assert_error_contains ("index at byte");
  /* Truncated. */
  meta = meta_for (7);
  assert_int_equal (snap_index_decode (b.data, b.len - 1, 5000, &meta, data_end, &out), -1);
  snap_cbor_buffer_free (&b);
  snap_index_free (&ix);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_runs),
    cmocka_unit_test (test_round_trip_and_rules),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
