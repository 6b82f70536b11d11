/* Unit tests of snapshot/storefile: a store saved and loaded back is the
 * same disk; a load grows to the size asked for; a failed save marks the
 * store changed and leaves no file; a damaged or missing file loads
 * nothing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/iszero.h"
#include "snapshot/format/format.h"
#include "snapshot/storefile.h"
#include "test_snaphelp.h"

#define PAGE 32768u
#define SIZE (64u * PAGE + 1000)

static struct store *
sample_store (void)
{
  struct store *s = store_create (SIZE, PAGE);
  unsigned char buf[3 * PAGE];

  assert_non_null (s);
  for (size_t i = 0; i < sizeof buf; i++)
    buf[i] = (unsigned char) (i * 13 + 1);
  assert_int_equal (store_write (s, buf, 3 * PAGE, 5 * PAGE + 17), 0);
  assert_int_equal (store_write (s, buf, 500, SIZE - 500), 0);      /* last page */
  return s;
}

static void
assert_same_disk (struct store *a, struct store *b, uint64_t len)
{
  unsigned char *x = malloc (len), *y = malloc (len);

  assert_int_equal (store_read (a, x, len, 0), 0);
  assert_int_equal (store_read (b, y, len, 0), 0);
  assert_memory_equal (x, y, len);
  free (x);
  free (y);
}

static void
test_round_trip (void **state)
{
  (void) state;
  struct store *s = sample_store (), *l;
  const char *path = scratch_path ("disk.snap");
  struct snap_write_result result = { 0 };
  struct snap_write_options o = { .level = 1, .threads = 2 };
  uint64_t file_size = 0;

  assert_true (store_changed (s));
  assert_int_equal (snapstore_save (s, path, &o, NULL, NULL, NULL, &result), 0);
  assert_int_equal (result.stats.pages_written, 5);    /* pages 5..8, and the last */
  assert_false (store_changed (s));             /* cleared at the instant */
  assert_int_equal (open_and_verify (path), 0);

  l = snapstore_load (path, 0, 0, 2, &file_size, NULL);
  if (l == NULL)
    fail_msg ("snapstore_load: %s", md_error ());
  assert_int_equal (file_size, SIZE);
  assert_int_equal (store_size (l), SIZE);
  assert_int_equal (store_page_size (l), PAGE);
  assert_int_equal (store_allocated_bytes (l), 5 * PAGE);
  assert_false (store_changed (l));
  assert_same_disk (s, l, SIZE);
  store_destroy (l);

  /* Asked for a larger disk: the rest reads as zeros. */
  l = snapstore_load (path, 2 * (uint64_t) SIZE, 0, 1, &file_size, NULL);
  assert_non_null (l);
  assert_int_equal (file_size, SIZE);
  assert_int_equal (store_size (l), 2 * (uint64_t) SIZE);
  assert_same_disk (s, l, SIZE);
  unsigned char tail[PAGE];
  assert_int_equal (store_read (l, tail, PAGE, SIZE), 0);
  assert_true (snap_is_zero (tail, PAGE));
  store_destroy (l);
  store_destroy (s);
  unlink (path);
}

static void
test_failed_save (void **state)
{
  (void) state;
  struct store *s = sample_store ();
  struct snap_write_options o = { .level = 1 };

  assert_int_equal (save_store (s, scratch_path ("disk.snap"), &o), 0);
  assert_false (store_changed (s));
  /* A folder that does not exist: the save fails, the next one retries. */
  assert_int_equal (save_store (s, scratch_path ("none/disk.snap"), &o), -1);
  assert_error_contains ("cannot find the folder");
  assert_true (store_changed (s));
  assert_int_equal (scratch_count (), 1);
  store_destroy (s);
  unlink (scratch_path ("disk.snap"));
}

static void
test_bad_files_load_nothing (void **state)
{
  (void) state;
  struct store *s = sample_store ();
  struct snap_write_options o = { .level = 1 };
  const char *path = scratch_path ("disk.snap");
  uint64_t file_size;
  size_t len;

  assert_null (snapstore_load (scratch_path ("missing.snap"), 0, 0, 1, &file_size, NULL));
  assert_error_contains ("No such file or directory");
  assert_int_equal (save_store (s, path, &o), 0);
  unsigned char *bytes = read_file (path, &len);
  bytes[SNAP_FRAME_ALIGN + 20] ^= 0x40;           /* inside the data frame */
  write_file (path, bytes, len);
  assert_null (snapstore_load (path, 0, 0, 2, &file_size, NULL));
  assert_error_contains ("frame 0");
  free (bytes);
  store_destroy (s);
  unlink (path);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_round_trip),
    cmocka_unit_test (test_failed_save),
    cmocka_unit_test (test_bad_files_load_nothing),
  };
  int r;

  scratch_create ();
  r = cmocka_run_group_tests (tests, NULL, NULL);
  scratch_remove ();
  return r;
}
