/* Unit tests of snapshot/metadata: encoding round trip, the rules decoding
 * enforces (each named with its byte offset), and the creation time from
 * SOURCE_DATE_EPOCH. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "common/error.h"
#include "snapshot/metadata.h"
#include "test_snaphelp.h"      /* assert_error_contains */

static struct snap_metadata
sample (void)
{
  struct snap_metadata m = {
    .version_major = 1, .version_minor = 0, .virtual_size = 1u << 30,
    .page_size = 32768, .allocated_size = 3 * 32768, .compression_level = -5,
    .creation_time = 1700000000, .content_digest = 0x0123456789ABCDEFull,
  };
  strcpy (m.creator, "memdisk-tests 1");
  return m;
}

static int
round_trip (const struct snap_metadata *in, struct snap_metadata *out)
{
  struct snap_cbor_buffer b;
  int r;

  snap_cbor_buffer_init (&b);
  assert_int_equal (snap_meta_encode (in, &b), 0);
  r = snap_meta_decode (b.data, b.len, 1000, out);
  snap_cbor_buffer_free (&b);
  return r;
}

static void
test_round_trip (void **state)
{
  (void) state;
  struct snap_metadata in = sample (), out;

  assert_int_equal (round_trip (&in, &out), 0);
  assert_int_equal (out.version_major, 1);
  assert_int_equal (out.version_minor, 0);
  assert_int_equal (out.virtual_size, in.virtual_size);
  assert_int_equal (out.page_size, in.page_size);
  assert_int_equal (out.allocated_size, in.allocated_size);
  assert_int_equal (out.compression_level, -5);
  assert_string_equal (out.creator, in.creator);
  assert_int_equal (out.creation_time, in.creation_time);
  assert_int_equal (out.content_digest, in.content_digest);
  /* The largest disk, every page stored. */
  in.virtual_size = SNAP_MAX_VIRTUAL_SIZE;
  in.page_size = MD_MAX_PAGE_SIZE;
  in.allocated_size = (SNAP_MAX_VIRTUAL_SIZE / MD_MAX_PAGE_SIZE) * MD_MAX_PAGE_SIZE;
  assert_int_equal (round_trip (&in, &out), 0);
  assert_int_equal (out.allocated_size, in.allocated_size);
}

static void
test_rules (void **state)
{
  (void) state;
  struct snap_metadata in, out;
  const uint32_t bad_sizes[] = { 0, 2048, 4095, 4097, 3 * 4096, 2 * MD_MAX_PAGE_SIZE };

  for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++) {
    in = sample ();
    in.page_size = bad_sizes[i];
    in.allocated_size = 0;
    assert_int_equal (round_trip (&in, &out), -1);
    assert_error_contains ("is not a power of two from 4096 to 1048576");
    assert_error_contains ("metadata at byte 1000");
  }
  in = sample ();
  in.virtual_size = SNAP_MAX_VIRTUAL_SIZE + 1;
  assert_int_equal (round_trip (&in, &out), -1);
  assert_error_contains ("larger than 2^63-1");
  in = sample ();
  in.allocated_size = 32768 + 1;
  assert_int_equal (round_trip (&in, &out), -1);
  assert_error_contains ("not a whole number of pages within the disk");
  in = sample ();
  in.virtual_size = 2 * 32768;          /* 3 pages stored on a 2-page disk */
  assert_int_equal (round_trip (&in, &out), -1);
  assert_error_contains ("not a whole number of pages within the disk");
}

static void
test_missing_key (void **state)
{
  (void) state;
  struct snap_cbor_buffer b;
  struct snap_metadata out;

  snap_cbor_buffer_init (&b);
  snap_cbor_put_map (&b, 1);
  snap_cbor_put_text (&b, "virtual-size");
  snap_cbor_put_uint (&b, 4096);
  assert_int_equal (snap_meta_decode (b.data, b.len, 0, &out), -1);
  assert_error_contains ("is missing");
  snap_cbor_buffer_free (&b);
  /* Not CBOR at all. */
  assert_int_equal (snap_meta_decode ("\xff\xff", 2, 77, &out), -1);
  assert_error_contains ("77");
}

static void
test_creation_time (void **state)
{
  (void) state;
  uint64_t t;

  assert_int_equal (setenv ("SOURCE_DATE_EPOCH", "123", 1), 0);
  assert_int_equal (snap_meta_creation_time (&t), 0);
  assert_int_equal (t, 123);
  assert_int_equal (setenv ("SOURCE_DATE_EPOCH", "12abc", 1), 0);
  assert_int_equal (snap_meta_creation_time (&t), -1);
  assert_error_contains ("SOURCE_DATE_EPOCH=\"12abc\" is not a number of seconds");
  assert_int_equal (unsetenv ("SOURCE_DATE_EPOCH"), 0);
  uint64_t before = (uint64_t) time (NULL);
  assert_int_equal (snap_meta_creation_time (&t), 0);
  assert_true (t >= before && t <= (uint64_t) time (NULL));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_round_trip),
    cmocka_unit_test (test_rules),
    cmocka_unit_test (test_missing_key),
    cmocka_unit_test (test_creation_time),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
