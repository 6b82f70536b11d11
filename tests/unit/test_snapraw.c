/* Unit tests of raw images as page source and sink (tools/raw.h): only
 * the data regions of a sparse file are read; written images are sparse
 * where the disk is zero; a sequential sink writes every byte in order. */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "raw.h"
#include "test_snaphelp.h"

static void
pwrite_pattern (int fd, uint64_t offset, size_t len, unsigned char seed)
{
  unsigned char *buf = malloc (len);
  for (size_t i = 0; i < len; i++)
    buf[i] = (unsigned char) (seed + i % 251) | 1;
  assert_int_equal (pwrite (fd, buf, len, (off_t) offset), (ssize_t) len);
  free (buf);
}

/* A 64 MiB sparse file with three small data regions reads a few pages. */
static void
test_source_reads_only_data (void **state)
{
  (void) state;
  const char *path = scratch_path ("sparse.img");
  const uint32_t ps = 32768;
  const uint64_t size = 64 << 20;
  int fd = open (path, O_RDWR | O_CREAT | O_TRUNC, 0600);

  assert_true (fd >= 0);
  assert_int_equal (ftruncate (fd, (off_t) size), 0);
  pwrite_pattern (fd, 0, 10, 1);
  pwrite_pattern (fd, 20 << 20, 1 << 20, 2);
  pwrite_pattern (fd, ps * 100 - 100, 200, 3);   /* straddles pages 99 and 100 */
  pwrite_pattern (fd, size - 5, 5, 4);

  struct snap_raw_source src;
  assert_int_equal (snap_raw_source_init (&src, fd, ps), 0);
  assert_int_equal (src.size, size);

  uint64_t expected[] = { 0, 99, 100 }, index, previous = 0;
  unsigned char *buf = malloc (ps), *want = malloc (ps);
  size_t n = 0;
  int r;
  while ((r = snap_raw_source_next (&src, &index, buf)) == 1) {
    if (n > 0)
      assert_true (index > previous);
    if (n < 3)
      assert_int_equal (index, expected[n]);
    else if (n < 3 + 32)
      assert_int_equal (index, (20 << 20) / ps + (n - 3));
    else
      assert_int_equal (index, size / ps - 1);
    assert_int_equal (pread (fd, want, ps, (off_t) (index * ps)), ps);
    assert_memory_equal (buf, want, ps);
    previous = index;
    n++;
  }
  assert_int_equal (r, 0);
  assert_int_equal (n, 3 + 32 + 1);
  /* Holes were skipped: only the pages returned were read. */
  assert_int_equal (src.bytes_read, n * ps);
  close (fd);
  free (buf);
  free (want);
}

/* A size that is not a whole number of pages: the last page is padded. */
static void
test_source_partial_last_page (void **state)
{
  (void) state;
  const char *path = scratch_path ("odd.img");
  int fd = open (path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  unsigned char buf[4096];
  uint64_t index;

  pwrite_pattern (fd, 0, 10000, 7);
  struct snap_raw_source src;
  assert_int_equal (snap_raw_source_init (&src, fd, 4096), 0);
  for (uint64_t p = 0; p < 3; p++) {
    memset (buf, 0xee, sizeof buf);
    assert_int_equal (snap_raw_source_next (&src, &index, buf), 1);
    assert_int_equal (index, p);
  }
  /* Bytes 10000 - 8192 = 1808 onwards are past the end: zero. */
  for (size_t i = 1808; i < sizeof buf; i++)
    assert_int_equal (buf[i], 0);
  assert_int_equal (snap_raw_source_next (&src, &index, buf), 0);
  assert_int_equal (src.bytes_read, 10000);
  close (fd);
}

/* Pages with zero 4 KiB blocks leave holes; the file has the disk's size. */
static void
test_sink_writes_sparse (void **state)
{
  (void) state;
  const char *path = scratch_path ("out.img");
  const uint32_t ps = 16384;
  const uint64_t size = 64 << 20;
  unsigned char *pages = calloc (2, ps);
  int fd = open (path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  struct snap_raw_sink sink;
  struct stat st;

  /* Page A: blocks 0 and 3 hold data; page B: block 2. */
  memset (pages, 1, 4096);
  memset (pages + 3 * 4096, 2, 4096);
  memset (pages + ps + 2 * 4096, 3, 4096);
  assert_int_equal (snap_raw_sink_init (&sink, fd, size, ps, false), 0);
  assert_int_equal (snap_raw_sink_write (&sink, 1000, 2, pages), 0);
  assert_int_equal (snap_raw_sink_finish (&sink), 0);

  assert_int_equal (fstat (fd, &st), 0);
  assert_int_equal (st.st_size, size);
  assert_true ((uint64_t) st.st_blocks * 512 <= 3 * 4096 + 8192);
  unsigned char *back = malloc (2 * ps);
  assert_int_equal (pread (fd, back, 2 * ps, 1000 * ps), 2 * ps);
  assert_memory_equal (back, pages, 2 * ps);
  close (fd);
  free (back);
  free (pages);
}

/* A sequential sink writes zeros between runs and up to the disk's end,
 * and clips the last page to the disk. */
static void
test_sink_sequential (void **state)
{
  (void) state;
  const char *path = scratch_path ("seq.img");
  const uint64_t size = 5 * 4096 + 100;
  unsigned char page[4096];
  int fd = open (path, O_RDWR | O_CREAT | O_TRUNC, 0600);
  struct snap_raw_sink sink;

  memset (page, 9, sizeof page);
  assert_int_equal (snap_raw_sink_init (&sink, fd, size, 4096, true), 0);
  assert_int_equal (snap_raw_sink_write (&sink, 1, 1, page), 0);
  memset (page + 100, 0, sizeof page - 100);
  assert_int_equal (snap_raw_sink_write (&sink, 5, 1, page), 0);
  assert_int_equal (snap_raw_sink_finish (&sink), 0);
  /* Out of order is refused. */
  assert_int_equal (snap_raw_sink_write (&sink, 2, 1, page), -1);
  assert_error_contains ("out of order at page 2");

  size_t len;
  unsigned char *img = read_file (path, &len);
  assert_int_equal (len, size);
  for (size_t i = 0; i < len; i++)
    assert_int_equal (img[i], (i >= 4096 && i < 8192) || i >= 5 * 4096 ? 9 : 0);
  free (img);
  close (fd);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_source_reads_only_data),
    cmocka_unit_test (test_source_partial_last_page),
    cmocka_unit_test (test_sink_writes_sparse),
    cmocka_unit_test (test_sink_sequential),
  };
  return cmocka_run_group_tests (tests, scratch_group_setup, scratch_group_teardown);
}
