/* Unit tests of snapshot/format/digest (docs/snapshot-format.md section 7): one
 * record per non-zero 4 KiB block, numbered by byte offset; the digest of
 * nothing is XXH64(""); the digest of a disk does not depend on its page
 * size, nor on how records are fed in; the composed form of format 2.0. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/xxh64.h"
#include "snapshot/format/digest.h"
#include "snapshot/format/format.h"

#define DISK (256u * 1024)

/* A disk with data in a few 4 KiB blocks only. */
static unsigned char *
make_disk (void)
{
  unsigned char *d = calloc (1, DISK);
  const size_t blocks[] = { 0, 3, 8, 9, 40, 63 };

  assert_non_null (d);
  for (size_t i = 0; i < sizeof blocks / sizeof blocks[0]; i++)
    for (size_t j = 0; j < 4096; j += 97)
      d[blocks[i] * 4096 + j] = (unsigned char) (i + j + 1);
  return d;
}

/* The digest of DISK in pages of PAGE_SIZE, records fed BATCH at a time:
 * flat (REGION_SIZE 0, format 1.0) or composed by regions of REGION_SIZE. */
static uint64_t
digest_in_form (const unsigned char *disk, uint32_t page_size, size_t batch,
                uint32_t region_size)
{
  struct snap_digest dg;
  struct snap_digest_record *rec = malloc (DISK / 4096 * sizeof *rec);
  size_t n = 0;

  assert_non_null (rec);
  for (uint64_t p = 0; p < DISK / page_size; p++)
    n += snap_digest_page (p, page_size, disk + p * page_size, rec + n);
  assert_int_equal (n, 6);
  if (region_size == 0)
    snap_digest_init (&dg);
  else
    snap_digest_init_composed (&dg, region_size);
  for (size_t i = 0; i < n; i += batch)
    snap_digest_add (&dg, rec + i, n - i < batch ? n - i : batch);
  free (rec);
  return snap_digest_final (&dg);
}

static uint64_t
digest_with_pages (const unsigned char *disk, uint32_t page_size, size_t batch)
{
  return digest_in_form (disk, page_size, batch, 0);
}

static void
test_records (void **state)
{
  (void) state;
  unsigned char *disk = make_disk ();
  struct snap_digest_record rec[8];

  /* Page 1 of 32 KiB holds blocks 8 .. 15: data in 8 and 9. */
  assert_int_equal (snap_digest_page (1, 32768, disk + 32768, rec), 2);
  assert_int_equal (rec[0].block, 8);
  assert_int_equal (rec[1].block, 9);
  assert_int_equal (rec[0].hash, snap_xxh64 (disk + 8 * 4096, 4096, 0));
  assert_int_equal (rec[1].hash, snap_xxh64 (disk + 9 * 4096, 4096, 0));
  /* An all-zero page: no record. */
  assert_int_equal (snap_digest_page (2, 32768, disk + 2 * 32768, rec), 0);
  free (disk);
}

static void
test_digest (void **state)
{
  (void) state;
  unsigned char *disk = make_disk ();
  struct snap_digest dg;
  uint64_t d4k = digest_with_pages (disk, 4096, 100);

  snap_digest_init (&dg);
  assert_int_equal (snap_digest_final (&dg), 0xEF46DB3751D8E999ull);
  /* The same disk in 32 KiB and 64 KiB pages, records fed one at a time
   * or all together. */
  assert_int_equal (digest_with_pages (disk, 32768, 1), d4k);
  assert_int_equal (digest_with_pages (disk, 65536, 3), d4k);
  /* The digest is XXH64 of (u64le block, u64le hash) records. */
  unsigned char bytes[16];
  struct snap_digest_record one;
  assert_int_equal (snap_digest_page (0, 4096, disk, &one), 1);
  snap_put_le64 (bytes, one.block);
  snap_put_le64 (bytes + 8, one.hash);
  snap_digest_init (&dg);
  snap_digest_add (&dg, &one, 1);
  assert_int_equal (snap_digest_final (&dg), snap_xxh64 (bytes, 16, 0));
  /* Any byte of data changes it. */
  disk[40 * 4096 + 5] ^= 0x10;
  assert_true (digest_with_pages (disk, 4096, 100) != d4k);
  free (disk);
}

/* Format 2.0: XXH64 of (region, region digest) pairs, a region digest
 * being XXH64 of its records; the same whatever the page size or batching;
 * a region's digest can stand for its records (snap_digest_add_region).
 * Regions of 64 KiB here (16 blocks), so that the small disk has several:
 * blocks 0, 3, 8, 9 in region 0, 40 in region 2, 63 in region 3. */
static void
test_composed (void **state)
{
  (void) state;
  unsigned char *disk = make_disk ();
  const uint32_t region = 65536;
  struct snap_digest_record rec[6];
  size_t n = 0;

  for (uint64_t p = 0; p < DISK / 4096; p++)
    n += snap_digest_page (p, 4096, disk + p * 4096, rec + n);
  assert_int_equal (n, 6);

  /* By hand, from the spec's definition. */
  struct { uint64_t region; size_t first, count; } groups[] = {
    { 0, 0, 4 }, { 2, 4, 1 }, { 3, 5, 1 },
  };
  unsigned char pairs[3 * 16];
  for (size_t g = 0; g < 3; g++) {
    unsigned char bytes[4 * 16];
    for (size_t i = 0; i < groups[g].count; i++) {
      snap_put_le64 (bytes + 16 * i, rec[groups[g].first + i].block);
      snap_put_le64 (bytes + 16 * i + 8, rec[groups[g].first + i].hash);
    }
    uint64_t rd = snap_xxh64 (bytes, 16 * groups[g].count, 0);
    assert_int_equal (snap_region_digest (rec + groups[g].first, groups[g].count), rd);
    snap_put_le64 (pairs + 16 * g, groups[g].region);
    snap_put_le64 (pairs + 16 * g + 8, rd);
  }
  uint64_t want = snap_xxh64 (pairs, sizeof pairs, 0);

  assert_int_equal (digest_in_form (disk, 4096, 100, region), want);
  assert_int_equal (digest_in_form (disk, 4096, 1, region), want);
  assert_int_equal (digest_in_form (disk, 32768, 2, region), want);
  assert_int_equal (digest_in_form (disk, 65536, 5, region), want);
  assert_true (want != digest_with_pages (disk, 4096, 100));

  /* Region 2 given by its digest, the others by records. */
  struct snap_digest dg;
  snap_digest_init_composed (&dg, region);
  snap_digest_add (&dg, rec, 4);
  snap_digest_add_region (&dg, 2, snap_region_digest (rec + 4, 1));
  snap_digest_add (&dg, rec + 5, 1);
  assert_int_equal (snap_digest_final (&dg), want);
  /* final does not end the digest: more may follow. */
  snap_digest_init_composed (&dg, region);
  snap_digest_add (&dg, rec, 5);
  (void) snap_digest_final (&dg);
  snap_digest_add (&dg, rec + 5, 1);
  assert_int_equal (snap_digest_final (&dg), want);
  /* Nothing: XXH64(""), as the flat form. */
  snap_digest_init_composed (&dg, region);
  assert_int_equal (snap_digest_final (&dg), 0xEF46DB3751D8E999ull);
  free (disk);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_records),
    cmocka_unit_test (test_digest),
    cmocka_unit_test (test_composed),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
