/* Unit tests of the CBOR subset (src/snapshot/format/cbor.h): encoding in preferred
 * serialization, and a decoder that refuses malformed, indefinite and
 * oversized input with the part's name and the byte offset. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/error.h"
#include "snapshot/format/cbor.h"

#define assert_error_contains(needle)                                         \
  do {                                                                        \
    if (strstr (md_error (), (needle)) == NULL)                               \
      fail_msg ("expected \"%s\" in the error \"%s\"", (needle), md_error ()); \
  } while (0)

static void
test_preferred_serialization (void **state)
{
  (void) state;
  struct snap_cbor_buffer b;
  static const unsigned char expected[] = {
    0x17, 0x18, 0x18, 0x19, 0x01, 0x00, 0x1a, 0x00, 0x01, 0x00, 0x00,
    0x1b, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x20, 0x38, 0x63, 0x62, 'h', 'i', 0x82, 0xa1,
  };

  snap_cbor_buffer_init (&b);
  snap_cbor_put_uint (&b, 23);
  snap_cbor_put_uint (&b, 24);
  snap_cbor_put_uint (&b, 256);
  snap_cbor_put_uint (&b, 65536);
  snap_cbor_put_uint (&b, 1ull << 32);
  snap_cbor_put_int (&b, -1);
  snap_cbor_put_int (&b, -100);
  snap_cbor_put_text (&b, "hi");
  snap_cbor_put_array (&b, 2);
  snap_cbor_put_map (&b, 1);
  assert_false (b.failed);
  assert_int_equal (b.len, sizeof expected);
  assert_memory_equal (b.data, expected, sizeof expected);

  /* And it decodes back. */
  struct snap_cbor_reader r;
  struct snap_cbor_item item;
  uint64_t v;
  snap_cbor_reader_init (&r, b.data, b.len, 1000, "test");
  assert_int_equal (snap_cbor_expect_uint (&r, "a", &v), 0);
  assert_int_equal (v, 23);
  for (int i = 0; i < 3; i++)
    assert_int_equal (snap_cbor_expect_uint (&r, "a", &v), 0);
  assert_int_equal (snap_cbor_expect_uint (&r, "a", &v), 0);
  assert_int_equal (v, 1ull << 32);
  assert_int_equal (snap_cbor_next (&r, &item), 0);
  assert_int_equal (item.type, SNAP_CBOR_NEGINT);
  assert_int_equal (item.value, 0);
  assert_int_equal (snap_cbor_next (&r, &item), 0);
  assert_int_equal (item.value, 99);
  assert_int_equal (snap_cbor_expect (&r, SNAP_CBOR_TEXT, "t", &item), 0);
  assert_int_equal (item.value, 2);
  assert_memory_equal (item.data, "hi", 2);
  assert_int_equal (item.offset, 1000 + 23);
  snap_cbor_buffer_free (&b);
}

/* Decode BYTES with the first call of FN; expect NEEDLE in the error. */
static void
expect_decode_error (const unsigned char *bytes, size_t len, const char *needle)
{
  struct snap_cbor_reader r;

  snap_cbor_reader_init (&r, bytes, len, 500, "index");
  assert_int_equal (snap_cbor_skip (&r), -1);
  assert_error_contains (needle);
}

static void
test_hostile_input (void **state)
{
  (void) state;
  /* A text string claiming 2^64-1 bytes. */
  static const unsigned char huge_text[] = { 0x7b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 'a' };
  expect_decode_error (huge_text, sizeof huge_text, "index at byte 500: CBOR item runs past the end");
  /* An array claiming more items than bytes left. */
  static const unsigned char big_array[] = { 0x9a, 0x00, 0x10, 0x00, 0x00, 0x01, 0x02 };
  expect_decode_error (big_array, sizeof big_array, "index at byte 500: CBOR item claims more entries");
  /* Nested arrays that need more items than bytes are left. */
  static const unsigned char short_nest[] = { 0x82, 0x82, 0x01 };
  expect_decode_error (short_nest, sizeof short_nest, "index at byte 501: CBOR item claims more entries");
  /* Indefinite-length items. */
  static const unsigned char indef[] = { 0x9f, 0x01, 0xff };
  expect_decode_error (indef, sizeof indef, "index at byte 500: indefinite-length");
  static const unsigned char indef_text[] = { 0x7f, 0x61, 'a', 0xff };
  expect_decode_error (indef_text, sizeof indef_text, "indefinite-length");
  /* Reserved additional information 28..30. */
  static const unsigned char reserved[] = { 0x1c };
  expect_decode_error (reserved, sizeof reserved, "index at byte 500: malformed CBOR");
  /* A truncated integer. */
  static const unsigned char short_int[] = { 0x1b, 0x00, 0x00 };
  expect_decode_error (short_int, sizeof short_int, "runs past the end");
  /* Nothing at all. */
  expect_decode_error (NULL, 0, "CBOR data ends early");

  /* Tags, floats and simple values are skipped whole. */
  static const unsigned char skippable[] = { 0xc1, 0x82, 0xf9, 0x3c, 0x00, 0xf5, 0x01 };
  struct snap_cbor_reader r;
  snap_cbor_reader_init (&r, skippable, sizeof skippable, 0, "metadata");
  assert_int_equal (snap_cbor_skip (&r), 0);
  assert_int_equal (snap_cbor_remaining (&r), 1);
  assert_int_equal (snap_cbor_expect_end (&r), -1);
  assert_error_contains ("metadata at byte 6: 1 unexpected bytes");

  /* Counting checks against the bytes left, at MIN bytes per entry. */
  static const unsigned char three[] = { 0x83, 0x01, 0x02, 0x03 };
  uint64_t count;
  snap_cbor_reader_init (&r, three, sizeof three, 0, "index");
  assert_int_equal (snap_cbor_expect_count (&r, SNAP_CBOR_ARRAY, "x", 1, &count), 0);
  assert_int_equal (count, 3);
  snap_cbor_reader_init (&r, three, sizeof three, 0, "index");
  assert_int_equal (snap_cbor_expect_count (&r, SNAP_CBOR_ARRAY, "x", 2, &count), -1);
  assert_error_contains ("x claims 3 entries, more than the 3 bytes left can hold");
  snap_cbor_reader_init (&r, three, sizeof three, 0, "index");
  assert_int_equal (snap_cbor_expect_count (&r, SNAP_CBOR_MAP, "the thing", 1, &count), -1);
  assert_error_contains ("the thing must be a map, found an array");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_preferred_serialization),
    cmocka_unit_test (test_hostile_input),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
