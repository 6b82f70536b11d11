/* Unit tests of snapshot/digest (docs/snapshot-format.md section 7): one
 * record per non-zero 4 KiB block, numbered by byte offset; the digest of
 * nothing is XXH64(""); the digest of a disk does not depend on its page
 * size, nor on how records are fed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/xxh64.h"
#include "snapshot/digest.h"
#include "snapshot/format.h"

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

static uint64_t
digest_with_pages (const unsigned char *disk, uint32_t page_size, size_t batch)
{
  struct snap_digest dg;
  struct snap_digest_record *rec = malloc (DISK / 4096 * sizeof *rec);
  size_t n = 0;

  assert_non_null (rec);
  for (uint64_t p = 0; p < DISK / page_size; p++)
    n += snap_digest_page (p, page_size, disk + p * page_size, rec + n);
  assert_int_equal (n, 6);
  snap_digest_init (&dg);
  for (size_t i = 0; i < n; i += batch)
    snap_digest_add (&dg, rec + i, n - i < batch ? n - i : batch);
  free (rec);
  return snap_digest_final (&dg);
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

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_records),
    cmocka_unit_test (test_digest),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
