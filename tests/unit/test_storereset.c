/* snapshot/storereset.c and read/lazyreset.c: a store reset to the file it
 * last loaded or saved.  After random writes, zeroes and trims the store
 * must read exactly what a fresh load of that file reads, whether the
 * base was loaded lazily (frames still unloaded), eagerly, or written by
 * a save (the base is then the new file, not the loaded one), and a
 * store without a file goes back to zeros; at several page sizes; and
 * while a background loader decodes frames.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "test_snaphelp.h"
#include "snapshot/read/lazy.h"
#include "snapshot/storefile.h"
#include "snapshot/storereset.h"
#include "store/store.h"

#define SIZE ((uint64_t) 40 << 20)      /* 10 regions, 7 of them with data */

/* Data in regions 0-2, 4-6 and 8, a hole elsewhere. */
static struct store *
make_original (uint32_t page_size)
{
  struct store *s = store_create (SIZE, page_size);
  unsigned char *buf = malloc (page_size);

  assert_non_null (s);
  assert_non_null (buf);
  for (uint64_t p = 0; p < SIZE / page_size; p++) {
    uint64_t region = p * page_size / STORE_DEFAULT_REGION_SIZE;
    if (region == 3 || region == 7 || region == 9)
      continue;
    fill_page (buf, p, page_size, 5);
    assert_int_equal (store_write (s, buf, page_size, p * page_size), 0);
  }
  free (buf);
  return s;
}

static const char *
save_to (struct store *s, const char *name)
{
  const char *path = scratch_path (name);
  struct snap_write_options o = { .level = 1, .threads = 2 };

  assert_int_equal (save_store (s, path, &o), 0);
  return path;
}

/* What a fresh eager load of PATH reads. */
static struct store *
fresh_load (const char *path)
{
  uint64_t vsize;
  struct store *s = snapstore_load (path, 0, 0, 2, &vsize, NULL);

  assert_non_null (s);
  return s;
}

/* Scattered 64 KiB writes, zeroes and trims, in regions with data and
 * in holes (SEED picks them), never in region 1. */
static void
change_randomly (struct store *s, unsigned seed)
{
  static unsigned char buf[65536];
  uint64_t x = seed * 2654435761u + 1;

  for (int i = 0; i < 40; i++) {
    x = x * 6364136223846793005u + 1442695040888963407u;
    uint64_t off = (x >> 20) % (SIZE - sizeof buf);
    if ((off + sizeof buf) / STORE_DEFAULT_REGION_SIZE >= 1 && off / STORE_DEFAULT_REGION_SIZE <= 1)
      off += 4 * STORE_DEFAULT_REGION_SIZE;     /* region 1 stays unchanged */
    memset (buf, (int) (x >> 56) | 1, sizeof buf);
    switch (i % 3) {
    case 0: assert_int_equal (store_write (s, buf, sizeof buf, off), 0); break;
    case 1: assert_int_equal (store_zero (s, sizeof buf - 100, off + 7), 0); break;
    default: assert_int_equal (store_trim (s, sizeof buf, off), 0); break;
    }
  }
}

static void
reset_lazy_base (uint32_t page_size)
{
  struct store *orig = make_original (page_size), *disk;
  const char *path = save_to (orig, "lazy.snap");
  struct snapstore_previous previous = { 0 };
  uint64_t vsize, regions;
  struct snap_lazy *lazy = snap_lazy_open (path, 0, 0, &disk, &vsize);

  assert_non_null (lazy);
  struct snapstore_base *base = snapstore_base_new (disk, lazy, path);
  assert_non_null (base);
  snapstore_previous_from_lazy (&previous, lazy, disk);
  /* Region 1 loaded and unchanged: it stays resident. */
  unsigned char b;
  assert_int_equal (store_read (disk, &b, 1, STORE_DEFAULT_REGION_SIZE + 5), 0);
  change_randomly (disk, page_size);
  assert_int_equal (snapstore_reset (base, &previous, true, &regions), 0);
  assert_true (regions > 0);
  assert_false (store_changed (disk));
  assert_false (store_page_in_file (disk, STORE_DEFAULT_REGION_SIZE / page_size));
  assert_stores_equal (disk, orig);
  /* Nothing changed since: nothing to put back. */
  assert_int_equal (snapstore_reset (base, &previous, true, &regions), 0);
  assert_int_equal (regions, 0);
  /* Again, with the reset regions now loaded by the comparison. */
  change_randomly (disk, page_size + 1);
  assert_int_equal (snapstore_reset (base, &previous, true, &regions), 0);
  assert_stores_equal (disk, orig);

  store_destroy (disk);
  snapstore_base_free (base);
  snap_lazy_free (lazy);
  store_destroy (orig);
}

static void
test_lazy_base (void **state)
{
  (void) state;
  reset_lazy_base (4096);
  reset_lazy_base (32768);
  reset_lazy_base (1024 * 1024);
}

static void
test_eager_base (void **state)
{
  (void) state;
  struct store *orig = make_original (32768);
  const char *path = save_to (orig, "eager.snap");
  struct snapstore_previous previous = { 0 };
  uint64_t vsize, regions;
  struct store *disk = snapstore_load (path, 0, 0, 2, &vsize, &previous);

  assert_non_null (disk);
  struct snapstore_base *base = snapstore_base_new (disk, NULL, path);
  assert_non_null (base);
  change_randomly (disk, 7);
  assert_int_equal (snapstore_reset (base, &previous, true, &regions), 0);
  assert_true (regions > 0);
  assert_true (store_allocated_bytes (disk) == store_allocated_bytes (orig));
  assert_stores_equal (disk, orig);
  change_randomly (disk, 8);
  assert_int_equal (snapstore_reset (base, &previous, true, NULL), 0);
  assert_stores_equal (disk, orig);

  store_destroy (disk);
  snapstore_base_free (base);
  snapstore_previous_close (&previous);
  store_destroy (orig);
}

/* Lazily loaded X, changed, saved to Y: the base is Y.  Changed again and
 * reset, the store reads Y; changed, saved to Z and reset: Z. */
static void
test_base_after_save (void **state)
{
  (void) state;
  struct store *orig = make_original (4096), *disk;
  const char *path = save_to (orig, "x.snap");
  struct snapstore_previous previous = { 0 };
  struct snap_write_options o = { .level = 1, .threads = 2 };
  uint64_t vsize;
  struct snap_lazy *lazy = snap_lazy_open (path, 0, 0, &disk, &vsize);

  assert_non_null (lazy);
  struct snapstore_base *base = snapstore_base_new (disk, lazy, path);
  snapstore_previous_from_lazy (&previous, lazy, disk);
  for (unsigned round = 0; round < 3; round++) {
    char name[32];
    snprintf (name, sizeof name, "y%u.snap", round);
    const char *saved = scratch_path (name);
    change_randomly (disk, 100 + round);
    assert_int_equal (snapstore_save (disk, saved, &o, NULL, &previous, NULL, NULL), 0);
    change_randomly (disk, 200 + round);
    assert_int_equal (snapstore_reset (base, &previous, true, NULL), 0);
    struct store *want = fresh_load (saved);
    assert_stores_equal (disk, want);
    store_destroy (want);
  }
  /* The loaded file decodes nothing more once the base moved on, and
   * says so (the loader then reports no unread frame as an error). */
  struct snap_lazy_progress p;
  assert_true (snap_lazy_complete (lazy));
  snap_lazy_get_progress (lazy, &p);
  assert_true (p.retired);
  assert_int_equal (snap_lazy_load_frame (lazy, 0), 0);

  store_destroy (disk);
  snapstore_base_free (base);
  snapstore_previous_close (&previous);
  snap_lazy_free (lazy);
  store_destroy (orig);
}

static void
test_no_file (void **state)
{
  (void) state;
  struct store *disk = store_create (SIZE, 32768), *zeros = store_create (SIZE, 32768);
  struct snapstore_previous previous = { 0 };

  assert_non_null (disk);
  struct snapstore_base *base = snapstore_base_new (disk, NULL, "new.snap");
  change_randomly (disk, 3);
  assert_int_equal (snapstore_reset (base, &previous, false, NULL), 0);
  assert_int_equal (store_allocated_bytes (disk), 0);
  assert_stores_equal (disk, zeros);
  /* A disk that had a file, whose descriptor a failed save let go of:
   * the reset says so and changes nothing. */
  change_randomly (disk, 4);
  assert_int_equal (snapstore_reset (base, &previous, true, NULL), -1);
  assert_error_contains ("save first");
  assert_true (store_changed (disk));
  store_destroy (disk);
  store_destroy (zeros);
  snapstore_base_free (base);
}

/* ---- a reset while the background loader decodes ---- */

struct loader {
  struct snap_lazy *lazy;
  _Atomic bool stop;
};

static void *
loader_main (void *arg)
{
  struct loader *l = arg;

  while (!atomic_load (&l->stop))
    for (size_t k = 0; k < snap_lazy_frame_count (l->lazy); k++)
      if (snap_lazy_try_load_frame (l->lazy, k) == -1)
        fail_msg ("frame %zu: %s", k, md_error ());
  return NULL;
}

static void
test_reset_during_lazy_load (void **state)
{
  (void) state;
  struct store *orig = make_original (4096), *disk;
  const char *path = save_to (orig, "during.snap");
  struct snapstore_previous previous = { 0 };
  uint64_t vsize;
  pthread_t thread;
  struct loader l = { 0 };

  l.lazy = snap_lazy_open (path, 0, 0, &disk, &vsize);
  assert_non_null (l.lazy);
  struct snapstore_base *base = snapstore_base_new (disk, l.lazy, path);
  snapstore_previous_from_lazy (&previous, l.lazy, disk);
  assert_int_equal (pthread_create (&thread, NULL, loader_main, &l), 0);
  for (unsigned round = 0; round < 10; round++) {
    change_randomly (disk, 300 + round);
    assert_int_equal (snapstore_reset (base, &previous, true, NULL), 0);
  }
  atomic_store (&l.stop, true);
  pthread_join (thread, NULL);
  assert_stores_equal (disk, orig);

  store_destroy (disk);
  snapstore_base_free (base);
  snap_lazy_free (l.lazy);
  store_destroy (orig);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_lazy_base),
    cmocka_unit_test (test_eager_base),
    cmocka_unit_test (test_base_after_save),
    cmocka_unit_test (test_no_file),
    cmocka_unit_test (test_reset_during_lazy_load),
  };
  scratch_create ();
  int r = cmocka_run_group_tests (tests, NULL, NULL);
  scratch_remove ();
  return r;
}
