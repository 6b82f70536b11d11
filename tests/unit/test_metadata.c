/* Unit tests of snapshot/format/metadata: encoding round trip, the rules decoding
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
#include "snapshot/format/metadata.h"
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

/* A 2.0 sample of 1 GiB: 256 regions of 4 MiB. */
static struct snap_metadata
sample_v2 (void)
{
  struct snap_metadata m = sample ();

  m.version_major = 2;
  m.region_size = 4u << 20;
  m.zstd_version = 10502;
  return m;
}

static void
test_touch_order_round_trip (void **state)
{
  (void) state;
  struct snap_metadata in = sample_v2 (), out;
  struct snap_cbor_buffer b;

  /* None: no key at all, the bytes of a file written before the key. */
  snap_cbor_buffer_init (&b);
  assert_int_equal (snap_meta_encode (&in, &b), 0);
  assert_null (memmem (b.data, b.len, "touch-order", 11));
  snap_cbor_buffer_free (&b);
  assert_int_equal (round_trip (&in, &out), 0);
  assert_int_equal (out.touch_order_count, 0);

  /* The order is kept as it is, not sorted; the last region is in. */
  const uint64_t order[] = { 9, 2, 255, 0, 5 };
  in.touch_order_count = 5;
  memcpy (in.touch_order, order, sizeof order);
  assert_int_equal (round_trip (&in, &out), 0);
  assert_int_equal (out.touch_order_count, 5);
  assert_memory_equal (out.touch_order, order, sizeof order);

  /* The longest: every metadata key still fits in 64 KiB. */
  in.virtual_size = SNAP_MAX_VIRTUAL_SIZE;
  in.touch_order_count = SNAP_MAX_TOUCH_ORDER;
  for (size_t i = 0; i < SNAP_MAX_TOUCH_ORDER; i++)
    in.touch_order[i] = (SNAP_MAX_VIRTUAL_SIZE >> 22) - i;     /* 9-byte CBOR each */
  snap_cbor_buffer_init (&b);
  assert_int_equal (snap_meta_encode (&in, &b), 0);
  assert_true (b.len <= SNAP_MAX_METADATA_SIZE);
  assert_int_equal (snap_meta_decode (b.data, b.len, 0, &out), 0);
  assert_int_equal (out.touch_order_count, SNAP_MAX_TOUCH_ORDER);
  assert_memory_equal (out.touch_order, in.touch_order, sizeof in.touch_order);
  snap_cbor_buffer_free (&b);

  /* A 1.0 file is never given the key (it has no regions). */
  in = sample ();
  in.touch_order_count = 1;
  snap_cbor_buffer_init (&b);
  assert_int_equal (snap_meta_encode (&in, &b), 0);
  assert_null (memmem (b.data, b.len, "touch-order", 11));
  snap_cbor_buffer_free (&b);
}

/* Which region sizes each version allows: 2.0 from 1 MiB (so that a 2.0
 * reader, which checks that, refuses the smaller regions of a 2.1 file
 * instead of misreading it), 2.1 from 4 KiB; always a power of two, at
 * least the page size, at most 64 MiB. */
static void
test_region_size_by_version (void **state)
{
  (void) state;
  static const struct { uint16_t minor; uint32_t region, page; int ok; } cases[] = {
    { 0, 1u << 20, 4096, 0 }, { 0, 4u << 20, 32768, 0 }, { 0, 64u << 20, 4096, 0 },
    { 0, 512u << 10, 4096, -1 }, { 0, 4096, 4096, -1 }, { 0, 128u << 20, 4096, -1 },
    { 1, 4096, 4096, 0 }, { 1, 256u << 10, 32768, 0 }, { 1, 64u << 20, 32768, 0 },
    { 1, 16384, 32768, -1 }, { 1, 2048, 4096, -1 }, { 1, 3u << 20, 4096, -1 },
    { 1, 128u << 20, 4096, -1 }, { 2, 8192, 4096, 0 },
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct snap_metadata in = sample_v2 (), out;
    in.version_minor = cases[i].minor;
    in.region_size = cases[i].region;
    in.page_size = cases[i].page;
    if (round_trip (&in, &out) != cases[i].ok)
      fail_msg ("format 2.%u, region %u, page %u: want %d", cases[i].minor, cases[i].region,
                cases[i].page, cases[i].ok);
    if (cases[i].ok == 0)
      assert_int_equal (out.region_size, cases[i].region);
    else if (cases[i].minor == 0 && cases[i].region == 512u << 10)
      assert_error_contains ("smaller regions need format 2.1");
    else
      assert_error_contains ("region-size must be a power of two");
  }
}

/* The sample_v2 metadata with "touch-order" holding VALUE (built by PUT). */
static int
decode_with_touch_order (void (*put) (struct snap_cbor_buffer *), struct snap_metadata *out,
                         int version_major)
{
  struct snap_metadata in = sample_v2 ();
  struct snap_cbor_buffer b;
  int r;

  in.version_major = (uint16_t) version_major;
  snap_cbor_buffer_init (&b);
  assert_int_equal (snap_meta_encode (&in, &b), 0);
  /* One more pair in the map: its head is one byte (fewer than 24 pairs). */
  b.data[0]++;
  snap_cbor_put_text (&b, "touch-order");
  put (&b);
  r = snap_meta_decode (b.data, b.len, 500, out);
  snap_cbor_buffer_free (&b);
  return r;
}

static void put_text (struct snap_cbor_buffer *b) { snap_cbor_put_text (b, "9,2"); }
static void put_negative (struct snap_cbor_buffer *b)
{
  snap_cbor_put_array (b, 2);
  snap_cbor_put_uint (b, 1);
  snap_cbor_put_int (b, -1);
}
static void put_beyond (struct snap_cbor_buffer *b)
{
  snap_cbor_put_array (b, 2);
  snap_cbor_put_uint (b, 3);
  snap_cbor_put_uint (b, 256);  /* a 1 GiB disk has regions 0 .. 255 */
}
static void put_twice (struct snap_cbor_buffer *b)
{
  snap_cbor_put_array (b, 3);
  snap_cbor_put_uint (b, 7);
  snap_cbor_put_uint (b, 8);
  snap_cbor_put_uint (b, 7);
}
static void put_too_long (struct snap_cbor_buffer *b)
{
  snap_cbor_put_array (b, SNAP_MAX_TOUCH_ORDER + 1);
  for (unsigned i = 0; i <= SNAP_MAX_TOUCH_ORDER; i++)
    snap_cbor_put_uint (b, i % 256);
}
static void put_good (struct snap_cbor_buffer *b)
{
  snap_cbor_put_array (b, 2);
  snap_cbor_put_uint (b, 4);
  snap_cbor_put_uint (b, 1);
}

static void
test_touch_order_rules (void **state)
{
  (void) state;
  struct snap_metadata out;

  assert_int_equal (decode_with_touch_order (put_good, &out, 2), 0);
  assert_int_equal (out.touch_order_count, 2);
  assert_int_equal (out.touch_order[0], 4);

  assert_int_equal (decode_with_touch_order (put_text, &out, 2), -1);
  assert_error_contains ("touch-order");
  assert_error_contains ("metadata at byte");
  assert_int_equal (decode_with_touch_order (put_negative, &out, 2), -1);
  assert_error_contains ("touch-order entry");
  assert_int_equal (decode_with_touch_order (put_beyond, &out, 2), -1);
  assert_error_contains ("touch-order entry 1, region 256, is beyond the disk's 256 regions");
  assert_int_equal (decode_with_touch_order (put_twice, &out, 2), -1);
  assert_error_contains ("touch-order entry 2, region 7: the region is listed twice");
  assert_int_equal (decode_with_touch_order (put_too_long, &out, 2), -1);
  assert_error_contains ("touch-order lists 1025 regions, more than 1024");

  /* In a 1.0 file it is an unknown key, ignored whatever it holds. */
  assert_int_equal (decode_with_touch_order (put_text, &out, 1), 0);
  assert_int_equal (out.touch_order_count, 0);
  assert_int_equal (decode_with_touch_order (put_good, &out, 1), 0);
  assert_int_equal (out.touch_order_count, 0);
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
    cmocka_unit_test (test_touch_order_round_trip),
    cmocka_unit_test (test_region_size_by_version),
    cmocka_unit_test (test_touch_order_rules),
    cmocka_unit_test (test_creation_time),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
