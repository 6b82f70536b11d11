/* Unit tests of the snapshot reader (src/snapshot/read/reader.h) against damaged and
 * hostile files: truncation at every part boundary, bit flips in every
 * section (every bit of a small file), and forged files whose checksums
 * are right but whose contents break the format's rules.  Each case must
 * fail with a message naming the part and the byte offset.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <zstd.h>

#include "snapshot/format/cbor.h"
#include "snapshot/format/format.h"
#include "snapshot/format/index.h"
#include "snapshot/format/metadata.h"
#include "common/xxh64.h"
#include "test_snaphelp.h"

/* The parts of a good file, from its footer. */
struct parts {
  unsigned char *bytes;
  size_t len;
  uint64_t meta_offset, meta_len;
  uint64_t index_offset, index_len;
  uint64_t footer_offset;
  struct snap_metadata meta;
  struct snap_index index;
};

static void
parts_load (const char *path, struct parts *p)
{
  p->bytes = read_file (path, &p->len);
  p->footer_offset = p->len - SNAP_FOOTER_SIZE;
  p->meta_offset = snap_get_le64 (p->bytes + p->footer_offset + SNAP_FOOTER_OFF_META_OFFSET);
  p->index_offset = snap_get_le64 (p->bytes + p->footer_offset + SNAP_FOOTER_OFF_INDEX_OFFSET);
  p->meta_len = p->index_offset - p->meta_offset - SNAP_SKIPPABLE_HEADER_SIZE;
  p->index_len = p->footer_offset - p->index_offset - SNAP_SKIPPABLE_HEADER_SIZE;
  assert_int_equal (snap_meta_decode (p->bytes + p->meta_offset + 8, p->meta_len,
                                      p->meta_offset + 8, &p->meta), 0);
  assert_int_equal (snap_index_decode (p->bytes + p->index_offset + 8, p->index_len,
                                       p->index_offset + 8, &p->meta, p->meta_offset,
                                       &p->index), 0);
}

static void
parts_free (struct parts *p)
{
  free (p->bytes);
  snap_index_free (&p->index);
}

/* A snapshot with three frames (4 MiB regions of 1 MiB pages, then one page),
 * pages that compress well so the file stays small. */
static const char *
make_multi_frame (void)
{
  static const uint64_t pages[] = { 0, 1, 2, 3, 4, 5, 6, 7, 40 };
  const char *path = scratch_path ("multi.snap");
  write_pattern_snapshot (path, 41 << 20, 1 << 20, pages, 9, 2, NULL);
  return path;
}

/* ---- truncation ---- */

static void
test_truncation_at_every_boundary (void **state)
{
  (void) state;
  struct parts p;
  const char *bad = scratch_path ("truncated.snap");

  parts_load (make_multi_frame (), &p);
  assert_int_equal (p.index.frame_count, 3);

  uint64_t cuts[16];
  size_t n = 0;
  cuts[n++] = 0;
  cuts[n++] = 1;
  cuts[n++] = SNAP_HEADER_SIZE - 1;
  for (size_t f = 0; f < p.index.frame_count; f++)
    cuts[n++] = p.index.frames[f].offset;
  cuts[n++] = p.meta_offset;
  cuts[n++] = p.index_offset;
  cuts[n++] = p.footer_offset;
  cuts[n++] = p.len - 1;

  for (size_t i = 0; i < n; i++) {
    write_file (bad, p.bytes, cuts[i]);
    assert_null (snap_reader_open (bad));
    if (cuts[i] < SNAP_MIN_FILE_SIZE)
      assert_error_contains ("too small to be a memdisk snapshot");
    else {
      char expected[80];
      snprintf (expected, sizeof expected, "footer at byte %" PRIu64 ": no snapshot footer",
                cuts[i] - SNAP_FOOTER_SIZE);
      assert_error_contains (expected);
    }
  }

  /* A byte appended is as bad as one missing. */
  unsigned char *longer = malloc (p.len + 1);
  memcpy (longer, p.bytes, p.len);
  longer[p.len] = 0;
  write_file (bad, longer, p.len + 1);
  assert_null (snap_reader_open (bad));
  assert_error_contains ("no snapshot footer");
  free (longer);
  parts_free (&p);
}

/* ---- bit flips ---- */

/* Flip bit BIT of byte AT, write the file, expect open or verify to fail
 * with NEEDLE in the message. */
static void
expect_flip_detected (const struct parts *p, uint64_t at, int bit, const char *needle)
{
  const char *bad = scratch_path ("flipped.snap");

  p->bytes[at] ^= (unsigned char) (1 << bit);
  write_file (bad, p->bytes, p->len);
  p->bytes[at] ^= (unsigned char) (1 << bit);
  if (open_and_verify (bad) == 0)
    fail_msg ("a flip of bit %d at byte %" PRIu64 " went unnoticed", bit, at);
  if (strstr (md_error (), needle) == NULL)
    fail_msg ("flip at byte %" PRIu64 ": expected \"%s\" in \"%s\"", at, needle, md_error ());
}

static void
test_bit_flip_in_each_section (void **state)
{
  (void) state;
  struct parts p;
  char needle[160];

  parts_load (make_multi_frame (), &p);
  for (uint64_t at = 0; at < SNAP_HEADER_SIZE; at += 3)
    expect_flip_detected (&p, at, (int) at % 8, "header at byte");
  for (size_t f = 0; f < p.index.frame_count; f++) {
    const struct snap_frame *fr = &p.index.frames[f];
    snprintf (needle, sizeof needle, "frame %zu at byte %" PRIu64 ": checksum mismatch",
              f, fr->offset);
    for (uint64_t at = fr->offset; at < fr->offset + fr->compressed_size;
         at += 1 + fr->compressed_size / 16)
      expect_flip_detected (&p, at, (int) at % 8, needle);
  }
  snprintf (needle, sizeof needle, "metadata at byte %" PRIu64, p.meta_offset);
  for (uint64_t at = p.meta_offset; at < p.index_offset; at += 5)
    expect_flip_detected (&p, at, (int) at % 8, needle);
  snprintf (needle, sizeof needle, "index at byte %" PRIu64, p.index_offset);
  for (uint64_t at = p.index_offset; at < p.footer_offset; at += 3)
    expect_flip_detected (&p, at, (int) at % 8, needle);
  snprintf (needle, sizeof needle, "footer at byte %" PRIu64, p.footer_offset);
  for (uint64_t at = p.footer_offset; at < p.len; at += 3)
    expect_flip_detected (&p, at, (int) at % 8, needle);
  parts_free (&p);
}

/* Every single bit of a small file. */
static void
test_every_bit_flip_detected (void **state)
{
  (void) state;
  const uint64_t pages[] = { 3 };
  const char *path = scratch_path ("small.snap");
  const char *bad = scratch_path ("small-flipped.snap");
  size_t len;

  write_pattern_snapshot (path, 1 << 20, 4096, pages, 1, 1, NULL);
  unsigned char *bytes = read_file (path, &len);
  assert_int_equal (open_and_verify (path), 0);
  for (size_t at = 0; at < len; at++)
    for (int bit = 0; bit < 8; bit++) {
      /* Format 2.1's padding before frame 0 (bytes 32 to 4095) is checked
       * byte by byte against fixed contents: one bit of each byte (a
       * different one from byte to byte) is enough there, and keeps the
       * test's time what it was before the padding came. */
      if (at >= SNAP_HEADER_SIZE + SNAP_SKIPPABLE_HEADER_SIZE && at < SNAP_FRAME_ALIGN
          && bit != (int) (at % 8))
        continue;
      bytes[at] ^= (unsigned char) (1 << bit);
      write_file (bad, bytes, len);
      bytes[at] ^= (unsigned char) (1 << bit);
      if (open_and_verify (bad) == 0)
        fail_msg ("a flip of bit %d at byte %zu of %zu went unnoticed", bit, at, len);
      if (strstr (md_error (), " at byte ") == NULL)
        fail_msg ("flip at byte %zu: no offset in \"%s\"", at, md_error ());
    }
  free (bytes);
}

/* ---- forged files: right checksums, wrong contents ---- */

/* Rebuild P's file with HEADER (32 bytes, checksum recomputed), the data
 * frames DATA (or P's own), and the given metadata and index payloads. */
static void
forge (const struct parts *p, const unsigned char *header, const void *data,
       size_t data_len, const struct snap_cbor_buffer *meta,
       const struct snap_cbor_buffer *index, const char *path)
{
  size_t len = SNAP_HEADER_SIZE + data_len + 8 + meta->len + 8 + index->len
               + SNAP_FOOTER_SIZE;
  unsigned char *out = calloc (1, len), *q = out;

  memcpy (q, header, SNAP_HEADER_SIZE);
  snap_put_le64 (q + SNAP_HEADER_OFF_CHECKSUM, snap_xxh64 (q + 8, 16, 0));
  q += SNAP_HEADER_SIZE;
  memcpy (q, data, data_len);
  q += data_len;
  uint64_t meta_offset = (uint64_t) (q - out);
  snap_put_le32 (q, SNAP_SKIPPABLE_MAGIC);
  snap_put_le32 (q + 4, (uint32_t) meta->len);
  memcpy (q + 8, meta->data, meta->len);
  q += 8 + meta->len;
  uint64_t index_offset = (uint64_t) (q - out);
  snap_put_le32 (q, SNAP_SKIPPABLE_MAGIC);
  snap_put_le32 (q + 4, (uint32_t) index->len);
  memcpy (q + 8, index->data, index->len);
  q += 8 + index->len;
  snap_put_le32 (q, SNAP_SKIPPABLE_MAGIC);
  snap_put_le32 (q + 4, SNAP_FOOTER_PAYLOAD_SIZE);
  memcpy (q + 8, SNAP_FOOTER_SIGNATURE, 8);
  snap_put_le64 (q + 16, meta_offset);
  snap_put_le64 (q + 24, snap_xxh64 (meta->data, meta->len, 0));
  snap_put_le64 (q + 32, index_offset);
  snap_put_le64 (q + 40, snap_xxh64 (index->data, index->len, 0));
  snap_put_le64 (q + 48, snap_xxh64 (q + 8, 40, 0));
  write_file (path, out, len);
  free (out);
  (void) p;
}

/* P's own parts, re-encoded from the parsed structures. */
static void
forge_from (const struct parts *p, const struct snap_metadata *meta,
            const struct snap_index *index, const char *path)
{
  struct snap_cbor_buffer m, i;

  snap_cbor_buffer_init (&m);
  snap_cbor_buffer_init (&i);
  assert_int_equal (snap_meta_encode (meta, &m), 0);
  assert_int_equal (snap_index_encode (index, &i), 0);
  forge (p, p->bytes, p->bytes + SNAP_HEADER_SIZE, p->meta_offset - SNAP_HEADER_SIZE,
         &m, &i, path);
  snap_cbor_buffer_free (&m);
  snap_cbor_buffer_free (&i);
}

/* Open (and verify) PATH: must fail with NEEDLE. */
static void
expect_rejected (const char *path, const char *needle)
{
  if (open_and_verify (path) == 0)
    fail_msg ("a forged file was accepted (expected \"%s\")", needle);
  assert_error_contains (needle);
}

static void
test_forged_header (void **state)
{
  (void) state;
  struct parts p;
  const char *bad = scratch_path ("forged.snap");
  struct snap_cbor_buffer m, i;

  parts_load (make_multi_frame (), &p);
  snap_cbor_buffer_init (&m);
  snap_cbor_buffer_init (&i);
  snap_meta_encode (&p.meta, &m);
  snap_index_encode (&p.index, &i);

  /* The forger itself makes a good file. */
  forge (&p, p.bytes, p.bytes + 32, p.meta_offset - 32, &m, &i, bad);
  assert_int_equal (open_and_verify (bad), 0);

  unsigned char header[SNAP_HEADER_SIZE];
  memcpy (header, p.bytes, sizeof header);
  snap_put_le16 (header + SNAP_HEADER_OFF_MAJOR, 3);
  snap_put_le16 (header + SNAP_HEADER_OFF_MINOR, 7);
  forge (&p, header, p.bytes + 32, p.meta_offset - 32, &m, &i, bad);
  expect_rejected (bad, "format version 3.7, newer than this program supports (2.x)");

  /* A newer minor version is fine, but the metadata must agree. */
  memcpy (header, p.bytes, sizeof header);
  snap_put_le16 (header + SNAP_HEADER_OFF_MINOR, 3);
  forge (&p, header, p.bytes + 32, p.meta_offset - 32, &m, &i, bad);
  expect_rejected (bad, "format version 2.1 differs from the header's 2.3");
  struct snap_metadata meta = p.meta;
  meta.version_minor = 3;
  snap_cbor_buffer_free (&m);
  snap_cbor_buffer_init (&m);
  snap_meta_encode (&meta, &m);
  forge (&p, header, p.bytes + 32, p.meta_offset - 32, &m, &i, bad);
  assert_int_equal (open_and_verify (bad), 0);

  memcpy (header, p.bytes, sizeof header);
  snap_put_le32 (header + SNAP_HEADER_OFF_FEATURES, SNAP_FEATURE_DELTA);
  forge (&p, header, p.bytes + 32, p.meta_offset - 32, &m, &i, bad);
  expect_rejected (bad, "requires features this program does not support (flags 0x1, delta snapshot)");

  memcpy (header, p.bytes, sizeof header);
  snap_put_le16 (header + SNAP_HEADER_OFF_MAJOR, 0);
  forge (&p, header, p.bytes + 32, p.meta_offset - 32, &m, &i, bad);
  expect_rejected (bad, "format version 0.1 is not valid");

  snap_cbor_buffer_free (&m);
  snap_cbor_buffer_free (&i);
  parts_free (&p);
}

/* Metadata payloads built by hand. */
static void
put_required_keys_except (struct snap_cbor_buffer *b, const struct snap_metadata *m,
                          const char *skip)
{
  if (strcmp (skip, "format-version") != 0) {
    snap_cbor_put_text (b, "format-version");
    snap_cbor_put_array (b, 2);
    snap_cbor_put_uint (b, m->version_major);
    snap_cbor_put_uint (b, m->version_minor);
  }
  const struct { const char *key; uint64_t value; } keys[] = {
    { "virtual-size", m->virtual_size }, { "page-size", m->page_size },
    { "region-size", m->region_size },
    { "allocated-size", m->allocated_size }, { "compression-level", 1 },
    { "creation-time", 0 }, { "content-digest", m->content_digest },
  };
  for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
    if (strcmp (skip, keys[k].key) != 0) {
      snap_cbor_put_text (b, keys[k].key);
      snap_cbor_put_uint (b, keys[k].value);
    }
  if (strcmp (skip, "creator") != 0) {
    snap_cbor_put_text (b, "creator");
    snap_cbor_put_text (b, "forger 1");
  }
}

static void
forge_meta_bytes (const struct parts *p, const struct snap_cbor_buffer *m, const char *path)
{
  struct snap_cbor_buffer i;

  snap_cbor_buffer_init (&i);
  snap_index_encode (&p->index, &i);
  forge (p, p->bytes, p->bytes + 32, p->meta_offset - 32, m, &i, path);
  snap_cbor_buffer_free (&i);
}

static void
test_forged_metadata (void **state)
{
  (void) state;
  struct parts p;
  const char *bad = scratch_path ("forged.snap");
  struct snap_cbor_buffer m;
  struct snap_metadata meta;

  parts_load (make_multi_frame (), &p);

  /* Unknown keys with nested values are skipped (later minor versions). */
  snap_cbor_buffer_init (&m);
  snap_cbor_put_map (&m, 10);
  snap_cbor_put_text (&m, "from-the-future");
  snap_cbor_put_map (&m, 1);
  snap_cbor_put_text (&m, "x");
  snap_cbor_put_array (&m, 3);
  snap_cbor_put_int (&m, -5);
  snap_cbor_put_text (&m, "y");
  snap_cbor_put_uint (&m, UINT64_MAX);
  put_required_keys_except (&m, &p.meta, "");
  forge_meta_bytes (&p, &m, bad);
  assert_int_equal (open_and_verify (bad), 0);
  snap_cbor_buffer_free (&m);

  snap_cbor_buffer_init (&m);
  snap_cbor_put_map (&m, 8);
  put_required_keys_except (&m, &p.meta, "content-digest");
  forge_meta_bytes (&p, &m, bad);
  expect_rejected (bad, "required key \"content-digest\" is missing");
  snap_cbor_buffer_free (&m);

  snap_cbor_buffer_init (&m);
  snap_cbor_put_map (&m, 10);
  put_required_keys_except (&m, &p.meta, "");
  snap_cbor_put_text (&m, "page-size");
  snap_cbor_put_uint (&m, 4096);
  forge_meta_bytes (&p, &m, bad);
  expect_rejected (bad, "key \"page-size\" appears twice");
  snap_cbor_buffer_free (&m);

  /* A map claiming more pairs than the bytes could hold. */
  snap_cbor_buffer_init (&m);
  snap_cbor_put_map (&m, UINT64_MAX);
  put_required_keys_except (&m, &p.meta, "");
  forge_meta_bytes (&p, &m, bad);
  expect_rejected (bad, "claims 18446744073709551615 entries");
  snap_cbor_buffer_free (&m);

  /* Indefinite-length map: not allowed. */
  snap_cbor_buffer_init (&m);
  unsigned char indef = 0xbf;
  snap_cbor_put_map (&m, 0);
  m.data[0] = indef;
  forge_meta_bytes (&p, &m, bad);
  expect_rejected (bad, "indefinite-length");
  snap_cbor_buffer_free (&m);

  /* Trailing bytes after the map. */
  snap_cbor_buffer_init (&m);
  snap_cbor_put_map (&m, 9);
  put_required_keys_except (&m, &p.meta, "");
  snap_cbor_put_uint (&m, 0);
  forge_meta_bytes (&p, &m, bad);
  expect_rejected (bad, "1 unexpected bytes after the CBOR data");
  snap_cbor_buffer_free (&m);

  meta = p.meta;
  meta.page_size = 3000;
  forge_from (&p, &meta, &p.index, bad);
  expect_rejected (bad, "page size 3000 is not a power of two");

  meta = p.meta;
  meta.virtual_size = (uint64_t) INT64_MAX + 1;
  forge_from (&p, &meta, &p.index, bad);
  expect_rejected (bad, "larger than 2^63-1");

  meta = p.meta;
  meta.allocated_size += meta.page_size;
  forge_from (&p, &meta, &p.index, bad);
  expect_rejected (bad, "the frames hold 9 pages but the metadata's allocated size is 10 pages");

  meta = p.meta;
  meta.content_digest ^= 1;
  forge_from (&p, &meta, &p.index, bad);
  expect_rejected (bad, "content digest mismatch");

  /* A disk too small for the pages the index lists. */
  meta = p.meta;
  meta.virtual_size = 40 << 20;
  forge_from (&p, &meta, &p.index, bad);
  expect_rejected (bad, "a run of 1 page at page 40 lies beyond the disk's 40 pages");
  parts_free (&p);
}

/* Copy P's index with one change applied by EDIT, then re-encode. */
static void
forge_index (const struct parts *p, void (*edit) (struct snap_index *), const char *path)
{
  struct snap_index ix;

  snap_index_init_regions (&ix, p->index.region_size, p->index.page_size);
  for (size_t f = 0; f < p->index.frame_count; f++) {
    const struct snap_frame *fr = &p->index.frames[f];
    uint64_t pages[64];
    size_t n = 0;
    for (size_t r = 0; r < fr->run_count; r++)
      for (uint64_t j = 0; j < p->index.runs[fr->first_run + r].page_count; j++)
        pages[n++] = p->index.runs[fr->first_run + r].first_page + j;
    assert_int_equal (snap_index_add_frame (&ix, fr->offset, fr->compressed_size,
                                            fr->checksum, fr->region_digest,
                                            pages, n), 0);
  }
  edit (&ix);
  forge_from (p, &p->meta, &ix, path);
  snap_index_free (&ix);
}

static void
edit_overlap (struct snap_index *ix)
{
  ix->runs[ix->frames[1].first_run].first_page = 3;
}
static void
edit_offset (struct snap_index *ix)
{
  ix->frames[1].offset += 1;
}
static void
edit_size (struct snap_index *ix)
{
  ix->frames[2].compressed_size += 1;
}
static void
edit_checksum (struct snap_index *ix)
{
  ix->frames[0].checksum ^= 1;
}
static void
edit_more_pages (struct snap_index *ix)
{
  /* Frame 2 claims pages 40 and 41; the disk gets 42 pages below. */
  ix->runs[ix->frames[2].first_run].page_count = 2;
}
static void
edit_empty_run (struct snap_index *ix)
{
  ix->runs[ix->frames[2].first_run].page_count = 0;
}
static void
edit_huge_frame (struct snap_index *ix)
{
  ix->runs[ix->frames[2].first_run].page_count = 65;
}

static void
test_forged_index (void **state)
{
  (void) state;
  struct parts p;
  const char *bad = scratch_path ("forged.snap");
  struct snap_cbor_buffer m, i;

  parts_load (make_multi_frame (), &p);

  forge_index (&p, edit_overlap, bad);
  expect_rejected (bad, "frame 1: run at page 3 overlaps or precedes the previous run");
  forge_index (&p, edit_offset, bad);
  expect_rejected (bad, "frame 1: offset");
  forge_index (&p, edit_size, bad);
  expect_rejected (bad, "runs past the data frames' end");
  forge_index (&p, edit_empty_run, bad);
  expect_rejected (bad, "frame 2: a run of zero pages");
  forge_index (&p, edit_checksum, bad);
  char needle[160];
  /* Format 2.1: the first frame starts at the first 4 KiB boundary. */
  assert_int_equal (p.index.frames[0].offset, SNAP_FRAME_ALIGN);
  snprintf (needle, sizeof needle, "frame 0 at byte %u: checksum mismatch", SNAP_FRAME_ALIGN);
  expect_rejected (bad, needle);

  /* More pages than the zstd frame holds: metadata adjusted to match. */
  forge_index (&p, edit_more_pages, scratch_path ("tmp.snap"));
  struct parts q = { 0 };
  q.bytes = read_file (scratch_path ("tmp.snap"), &q.len);
  struct snap_metadata meta = p.meta;
  meta.virtual_size = 42 << 20;
  meta.allocated_size += meta.page_size;
  snap_cbor_buffer_init (&m);
  snap_cbor_buffer_init (&i);
  snap_meta_encode (&meta, &m);
  uint64_t q_footer = q.len - SNAP_FOOTER_SIZE;
  uint64_t q_index = snap_get_le64 (q.bytes + q_footer + SNAP_FOOTER_OFF_INDEX_OFFSET);
  i.data = q.bytes + q_index + 8;
  i.len = q_footer - q_index - 8;
  forge (&p, p.bytes, p.bytes + 32, p.meta_offset - 32, &m, &i, bad);
  snprintf (needle, sizeof needle, "frame 2 at byte %" PRIu64 ": the zstd frame header "
            "declares 1048576 bytes, the index 2097152", p.index.frames[2].offset);
  expect_rejected (bad, needle);
  snap_cbor_buffer_free (&m);
  free (q.bytes);

  /* 65 pages of 1 MiB: more than a frame may hold. */
  forge_index (&p, edit_huge_frame, bad);
  expect_rejected (bad, "run of 65 pages at page 40 lies beyond the disk's 41 pages");
  meta = p.meta;
  meta.virtual_size = 200 << 20;
  meta.allocated_size = 73 * meta.page_size;
  snap_cbor_buffer_init (&m);
  snap_meta_encode (&meta, &m);
  forge_index (&p, edit_huge_frame, scratch_path ("tmp.snap"));
  q.bytes = read_file (scratch_path ("tmp.snap"), &q.len);
  q_footer = q.len - SNAP_FOOTER_SIZE;
  q_index = snap_get_le64 (q.bytes + q_footer + SNAP_FOOTER_OFF_INDEX_OFFSET);
  i.data = q.bytes + q_index + 8;
  i.len = q_footer - q_index - 8;
  forge (&p, p.bytes, p.bytes + 32, p.meta_offset - 32, &m, &i, bad);
  expect_rejected (bad, "frame 2 holds more than 67108864 bytes of pages");
  snap_cbor_buffer_free (&m);
  free (q.bytes);

  /* An index array claiming 2^64-1 frames. */
  snap_cbor_buffer_init (&i);
  snap_cbor_put_array (&i, UINT64_MAX);
  snap_cbor_buffer_init (&m);
  snap_meta_encode (&p.meta, &m);
  forge (&p, p.bytes, p.bytes + 32, p.meta_offset - 32, &m, &i, bad);
  expect_rejected (bad, "the index claims 18446744073709551615 entries");
  snap_cbor_buffer_free (&i);
  snap_cbor_buffer_free (&m);
  parts_free (&p);
}

/* A data frame that zstd accepts but the format does not: no checksum. */
static void
test_frame_without_checksum (void **state)
{
  (void) state;
  const char *bad = scratch_path ("forged.snap");
  unsigned char page[4096], frame[8192];
  struct snap_metadata meta = {
    .version_major = 1, .virtual_size = 1 << 20, .page_size = 4096,
    .allocated_size = 4096, .creator = "forger 1",
  };
  struct snap_index ix;
  struct snap_cbor_buffer m, i;
  struct snap_digest digest;
  struct snap_digest_record rec[1];
  struct parts p = { 0 };
  const uint64_t page_index = 7;

  fill_page (page, page_index, sizeof page, 1);
  size_t len = ZSTD_compress (frame, sizeof frame, page, sizeof page, 1);
  assert_false (ZSTD_isError (len));
  snap_digest_init (&digest);
  snap_digest_add (&digest, rec, snap_digest_page (page_index, 4096, page, rec));
  meta.content_digest = snap_digest_final (&digest);
  snap_index_init (&ix);
  snap_index_add_frame (&ix, SNAP_HEADER_SIZE, len, snap_xxh64 (frame, len, 0), 0,
                        &page_index, 1);
  snap_cbor_buffer_init (&m);
  snap_cbor_buffer_init (&i);
  snap_meta_encode (&meta, &m);
  snap_index_encode (&ix, &i);

  unsigned char header[SNAP_HEADER_SIZE] = { 0 };
  snap_put_le32 (header, SNAP_SKIPPABLE_MAGIC);
  snap_put_le32 (header + 4, SNAP_HEADER_PAYLOAD_SIZE);
  memcpy (header + 8, SNAP_HEADER_SIGNATURE, 8);
  snap_put_le16 (header + SNAP_HEADER_OFF_MAJOR, 1);
  forge (&p, header, frame, len, &m, &i, bad);
  expect_rejected (bad, "frame 0 at byte 32: the zstd frame has no content checksum");

  snap_index_free (&ix);
  snap_cbor_buffer_free (&m);
  snap_cbor_buffer_free (&i);
}

/* A stored page of zeros, in a frame that is right in every other way
 * (checksums, digest): the format forbids it, the reader rejects it. */
static void
test_zero_page_rejected (void **state)
{
  (void) state;
  const char *bad = scratch_path ("zero-page.snap");
  unsigned char page[4096] = { 0 }, frame[8192];
  struct snap_metadata meta = {
    .version_major = 1, .virtual_size = 1 << 20, .page_size = 4096,
    .allocated_size = 4096, .creator = "forger 1",
    .content_digest = 0xEF46DB3751D8E999ull,    /* XXH64 (""): no data */
  };
  struct snap_index ix;
  struct snap_cbor_buffer m, i;
  struct parts p = { 0 };
  const uint64_t page_index = 3;

  ZSTD_CCtx *cctx = ZSTD_createCCtx ();
  assert_non_null (cctx);
  assert_false (ZSTD_isError (ZSTD_CCtx_setParameter (cctx, ZSTD_c_checksumFlag, 1)));
  size_t len = ZSTD_compress2 (cctx, frame, sizeof frame, page, sizeof page);
  assert_false (ZSTD_isError (len));
  ZSTD_freeCCtx (cctx);
  snap_index_init (&ix);
  snap_index_add_frame (&ix, SNAP_HEADER_SIZE, len, snap_xxh64 (frame, len, 0), 0,
                        &page_index, 1);
  snap_cbor_buffer_init (&m);
  snap_cbor_buffer_init (&i);
  snap_meta_encode (&meta, &m);
  snap_index_encode (&ix, &i);

  unsigned char header[SNAP_HEADER_SIZE] = { 0 };
  snap_put_le32 (header, SNAP_SKIPPABLE_MAGIC);
  snap_put_le32 (header + 4, SNAP_HEADER_PAYLOAD_SIZE);
  memcpy (header + 8, SNAP_HEADER_SIGNATURE, 8);
  snap_put_le16 (header + SNAP_HEADER_OFF_MAJOR, 1);
  forge (&p, header, frame, len, &m, &i, bad);
  expect_rejected (bad, "frame 0 at byte 32: page 3 is all zeros; a snapshot must not "
                   "store an all-zero page");

  snap_index_free (&ix);
  snap_cbor_buffer_free (&m);
  snap_cbor_buffer_free (&i);
}

/* A frame whose zstd content checksum is wrong but whose bytes match the
 * index: verify rejects it; loading (which checks the digest instead)
 * gets the right pages. */
static void *
discard_dest (void *opaque, uint64_t page_index)
{
  (void) page_index;
  return opaque;
}

static void
test_zstd_checksum_checked_by_verify (void **state)
{
  (void) state;
  struct parts p;
  const char *bad = scratch_path ("forged.snap");
  struct snap_cbor_buffer m, i;

  parts_load (make_multi_frame (), &p);
  /* The last 4 bytes of frame 1 are its zstd content checksum. */
  struct snap_frame *f = &p.index.frames[1];
  unsigned char *frame = p.bytes + f->offset;
  frame[f->compressed_size - 1] ^= 0x10;
  f->checksum = snap_xxh64 (frame, f->compressed_size, 0);
  snap_cbor_buffer_init (&m);
  snap_cbor_buffer_init (&i);
  snap_meta_encode (&p.meta, &m);
  snap_index_encode (&p.index, &i);
  forge (&p, p.bytes, p.bytes + 32, p.meta_offset - 32, &m, &i, bad);

  char needle[80];
  snprintf (needle, sizeof needle, "frame 1 at byte %" PRIu64 ": cannot decompress", f->offset);
  expect_rejected (bad, needle);
  assert_error_contains ("checksum");

  struct snap_reader *r = snap_reader_open (bad);
  assert_non_null (r);
  void *page = malloc (1 << 20);
  /* One thread: every page lands in the same scratch buffer. */
  if (snap_reader_load (r, 1, discard_dest, page) == -1)
    fail_msg ("load: %s", md_error ());
  free (page);
  snap_reader_close (r);
  snap_cbor_buffer_free (&m);
  snap_cbor_buffer_free (&i);
  parts_free (&p);
}

/* Reading in order through the run sink gives runs in increasing order. */
struct order_check {
  uint64_t next;
  uint64_t pages;
};

static int
order_sink (void *opaque, uint64_t first_page, uint64_t page_count, const void *data)
{
  struct order_check *c = opaque;
  (void) data;
  if (first_page < c->next) {
    md_error_set ("run at %" PRIu64 " out of order", first_page);
    return -1;
  }
  c->next = first_page + page_count;
  c->pages += page_count;
  return 0;
}

static void
test_in_order_runs (void **state)
{
  (void) state;
  uint64_t pages[3000];
  const char *path = scratch_path ("order.snap");

  for (size_t i = 0; i < 3000; i++)
    pages[i] = i * 3;
  write_pattern_snapshot (path, 9000 * 4096, 4096, pages, 3000, 4, NULL);
  struct snap_reader *r = snap_reader_open (path);
  assert_non_null (r);
  for (int round = 0; round < 5; round++) {
    struct order_check c = { 0, 0 };
    if (snap_reader_read_runs (r, 8, true, order_sink, &c) == -1)
      fail_msg ("%s", md_error ());
    assert_int_equal (c.pages, 3000);
  }
  snap_reader_close (r);
}

/* A page destination that fails and sets no message. */
static void *
silent_failing_dest (void *opaque, uint64_t page_index)
{
  (void) opaque, (void) page_index;
  return NULL;
}

/* A destination that fails without a message, after an earlier error in
 * the loading thread: the loader names the page, not the stale message. */
static void
test_load_failure_message (void **state)
{
  (void) state;
  const uint64_t pages[] = { 7 };
  const char *path = scratch_path ("dest.snap");

  write_pattern_snapshot (path, 64 * 4096, 4096, pages, 1, 1, NULL);
  struct snap_reader *r = snap_reader_open (path);
  assert_non_null (r);
  md_error_set ("an earlier, unrelated error");
  assert_int_equal (snap_reader_load (r, 1, silent_failing_dest, NULL), -1);
  assert_error_contains ("no memory for page 7");
  snap_reader_close (r);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_truncation_at_every_boundary),
    cmocka_unit_test (test_bit_flip_in_each_section),
    cmocka_unit_test (test_every_bit_flip_detected),
    cmocka_unit_test (test_forged_header),
    cmocka_unit_test (test_forged_metadata),
    cmocka_unit_test (test_forged_index),
    cmocka_unit_test (test_frame_without_checksum),
    cmocka_unit_test (test_zero_page_rejected),
    cmocka_unit_test (test_zstd_checksum_checked_by_verify),
    cmocka_unit_test (test_in_order_runs),
    cmocka_unit_test (test_load_failure_message),
  };
  return cmocka_run_group_tests (tests, scratch_group_setup, scratch_group_teardown);
}
