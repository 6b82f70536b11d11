/* Unit tests of incremental saves (snapstore_save): after
 * random writes, zeroes and trims, round after round, the file an
 * incremental save writes is byte for byte the file a full save of the
 * same disk writes, while it copies the frames of the regions nothing
 * touched; a previous file of another level is not used; a previous file
 * damaged or truncated behind the saver's back is never built on (the
 * save is made again, full); one renamed away or replaced does not matter
 * (the saver reads its own descriptor); a loaded 1.0 file gives a full
 * first save, a loaded 2.0 file an incremental one.  A lazily loaded file
 * is a previous file too: its unchanged regions' frames are copied
 * whether loaded or not, and none is decoded for the save; a frame the
 * load found damaged, or one that fails its check as it is copied, makes
 * the save fail.  Every test runs at several region sizes (a page, 256 KiB,
 * 1 MiB, 4 MiB, 64 MiB: regions of one page, many per page-table leaf,
 * several leaves per region); a previous file of another region size is
 * not used.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "snapshot/format/format.h"
#include "snapshot/read/lazy.h"
#include "snapshot/storefile.h"
#include "test_snaphelp.h"

/* The region size of the stores under test: main runs the tests once per
 * size.  The disk has 24 regions and a bit, 96 MiB at least. */
static uint32_t region_now = STORE_DEFAULT_REGION_SIZE;
#define REGION ((uint64_t) region_now)
#define DISK ((REGION >= STORE_DEFAULT_REGION_SIZE ? 24 * REGION \
                                                   : 24 * (uint64_t) STORE_DEFAULT_REGION_SIZE) \
              + 5000)

static struct store *
new_store (uint32_t page_size)
{
  struct store *st = store_create_regions (DISK, page_size, region_now);

  assert_non_null (st);
  return st;
}

static uint64_t rng = 20261201;

static uint64_t
next_random (void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* A few random changes: writes of compressible and random bytes, zeroes
 * and trims, of 1 byte to 100 KiB, anywhere. */
static void
change_disk (struct store *st, unsigned changes)
{
  static unsigned char buf[100 * 1024];

  for (unsigned c = 0; c < changes; c++) {
    uint64_t len = 1 + next_random () % sizeof buf;
    uint64_t offset = next_random () % (DISK - len);
    switch (next_random () % 4) {
    case 0:
      for (uint64_t i = 0; i < len; i++)
        buf[i] = (unsigned char) next_random ();
      assert_int_equal (store_write (st, buf, len, offset), 0);
      break;
    case 1:
      memset (buf, 'a' + (int) (next_random () % 26), len);
      assert_int_equal (store_write (st, buf, len, offset), 0);
      break;
    case 2:
      assert_int_equal (store_zero (st, len, offset), 0);
      break;
    default:
      assert_int_equal (store_trim (st, len, offset), 0);
      break;
    }
  }
}

/* Every save here stores a touch order: given the same one, the full and
 * the incremental save are the same bytes (the key is metadata, written
 * the same way by both). */
static const uint64_t touch_order[] = { 24, 3, 0, 17 };

static struct snap_write_options
options (int level)
{
  struct snap_write_options o = { .level = level, .threads = 2, .creator = "incremental test",
                                  .touch_order = touch_order, .touch_order_count = 4 };
  return o;
}

/* The incremental save to PATH, then a full save to a scratch file: the
 * same bytes.  Returns the counts. */
static struct snapstore_save_counts
save_and_compare (struct store *st, const char *path, struct snapstore_previous *previous,
                  int level)
{
  struct snap_write_options o = options (level);
  struct snapstore_save_counts counts;
  char *full = strdup (scratch_path ("full.snap"));
  size_t len, full_len;
  uint64_t fitting[4];

  /* The touch order's regions that this disk has (the golden 1.0 disk is
   * smaller). */
  o.touch_order = fitting;
  o.touch_order_count = 0;
  for (size_t i = 0; i < sizeof touch_order / sizeof touch_order[0]; i++)
    if (touch_order[i] * REGION < store_size (st))
      fitting[o.touch_order_count++] = touch_order[i];

  if (snapstore_save (st, path, &o, NULL, previous, &counts, NULL) == -1)
    fail_msg ("incremental save: %s", md_error ());
  assert_non_null (previous->reader);
  if (save_store (st, full, &o) == -1)
    fail_msg ("full save: %s", md_error ());
  unsigned char *a = read_file (path, &len);
  unsigned char *b = read_file (full, &full_len);
  assert_int_equal (len, full_len);
  for (size_t i = 0; i < len; i++)
    if (a[i] != b[i])
      fail_msg ("the incremental save differs from the full one at byte %zu", i);
  free (a);
  free (b);
  free (full);
  assert_int_equal (open_and_verify (path), 0);
  return counts;
}

static void
test_equivalence_over_rounds (void **state)
{
  (void) state;
  const uint32_t page_sizes[] = { 4096, 32768, 1048576 };

  assert_int_equal (setenv ("SOURCE_DATE_EPOCH", "1700000000", 1), 0);
  for (size_t p = 0; p < sizeof page_sizes / sizeof page_sizes[0]; p++) {
    /* Every page size at the default region size; the smallest (the most
     * pages and regions) at the others, which keeps the run short. */
    if (page_sizes[p] > REGION || (REGION != STORE_DEFAULT_REGION_SIZE && p > 0))
      continue;
    struct store *st = new_store (page_sizes[p]);
    struct snapstore_previous previous = { 0 };
    char *path = strdup (scratch_path ("disk.snap"));  /* scratch_path's buffers rotate */
    uint64_t copied = 0;

    assert_non_null (st);
    change_disk (st, 60);
    struct snapstore_save_counts c = save_and_compare (st, path, &previous, 1);
    assert_int_equal (c.regions_copied, 0);     /* the first save is full */
    assert_non_null (c.full_why);
    for (unsigned round = 0; round < 12; round++) {
      change_disk (st, 1 + (unsigned) (next_random () % 6));
      c = save_and_compare (st, path, &previous, 1);
      copied += c.regions_copied;
      /* A change of at most 100 KiB touches this many regions. */
      const uint64_t per_change = (100 * 1024 + REGION - 1) / REGION + 1;
      assert_true (c.regions_compressed <= 6 * per_change + 2);
    }
    /* Nothing changed: everything is copied. */
    c = save_and_compare (st, path, &previous, 1);
    assert_int_equal (c.regions_compressed, 0);
    assert_true (c.regions_copied > 0);
    assert_true (copied > 0);
    /* Another level: the previous frames are not the ones it makes. */
    c = save_and_compare (st, path, &previous, 2);
    assert_int_equal (c.regions_copied, 0);
    assert_non_null (c.full_why);
    c = save_and_compare (st, path, &previous, 2);
    assert_int_equal (c.regions_compressed, 0);
    snapstore_previous_close (&previous);
    store_destroy (st);
    free (path);
  }
  unsetenv ("SOURCE_DATE_EPOCH");
}

/* The previous file damaged in place (the same inode the saver holds),
 * truncated, or replaced by another file under its name. */
static void
test_previous_behind_our_back (void **state)
{
  (void) state;
  struct store *st = new_store (REGION < 32768 ? (uint32_t) REGION : 32768);
  struct snapstore_previous previous = { 0 };
  char *path = strdup (scratch_path ("disk.snap"));  /* scratch_path's buffers rotate */
  struct snapstore_save_counts c;

  assert_int_equal (setenv ("SOURCE_DATE_EPOCH", "1700000000", 1), 0);
  assert_non_null (st);
  change_disk (st, 80);
  save_and_compare (st, path, &previous, 1);

  /* A byte of frame 0 changed in place: no frame is built on it. */
  const struct snap_frame *f = &snap_reader_index (previous.reader)->frames[0];
  int fd = open (path, O_WRONLY);
  assert_true (fd >= 0);
  unsigned char x = 0x5A;
  assert_int_equal (pwrite (fd, &x, 1, (off_t) (f->offset + f->compressed_size / 2)), 1);
  close (fd);
  change_disk (st, 1);
  c = save_and_compare (st, path, &previous, 1);
  assert_int_equal (c.regions_copied, 0);
  assert_string_equal (c.full_why, "the previous file failed a check");

  /* Truncated in place: the same. */
  assert_int_equal (truncate (path, 100), 0);
  change_disk (st, 1);
  c = save_and_compare (st, path, &previous, 1);
  assert_int_equal (c.regions_copied, 0);

  /* Renamed away and replaced by another file: the saver reads its own
   * descriptor, which is still the file it wrote. */
  char *moved = strdup (scratch_path ("moved.snap"));
  assert_int_equal (rename (path, moved), 0);
  fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, "not a snapshot", 14), 14);
  close (fd);
  change_disk (st, 1);
  c = save_and_compare (st, path, &previous, 1);
  assert_true (c.regions_copied > 0);
  unlink (moved);
  free (moved);
  snapstore_previous_close (&previous);
  store_destroy (st);
  free (path);
  unsetenv ("SOURCE_DATE_EPOCH");
}

/* A loaded 2.0 file is the first previous file; a loaded 1.0 file (the
 * golden one) gives a full first save. */
static void
test_loaded_previous (void **state)
{
  (void) state;
  struct store *st = new_store (4096);
  struct snapstore_previous previous = { 0 };
  char *path = strdup (scratch_path ("disk.snap"));  /* scratch_path's buffers rotate */
  struct snap_write_options o = options (3);
  uint64_t size;
  struct snapstore_save_counts c;

  assert_int_equal (setenv ("SOURCE_DATE_EPOCH", "1700000000", 1), 0);
  change_disk (st, 40);
  assert_int_equal (save_store (st, path, &o), 0);
  store_destroy (st);
  st = snapstore_load (path, 0, 0, 2, &size, &previous);
  assert_non_null (st);
  assert_int_equal (store_region_size (st), REGION);    /* the file's */
  assert_non_null (previous.reader);
  change_disk (st, 2);
  c = save_and_compare (st, path, &previous, 3);
  assert_true (c.regions_copied > 0);
  snapstore_previous_close (&previous);
  store_destroy (st);

  /* Loaded into a store of another region size: a full first save. */
  const uint32_t other = region_now == STORE_DEFAULT_REGION_SIZE ? 1048576
                                                                 : STORE_DEFAULT_REGION_SIZE;
  st = snapstore_load (path, 0, other, 2, &size, &previous);
  assert_non_null (st);
  assert_int_equal (store_region_size (st), other);
  c = save_and_compare (st, path, &previous, 3);
  assert_int_equal (c.regions_copied, 0);
  assert_string_equal (c.full_why, "its region size differs");
  c = save_and_compare (st, path, &previous, 3);
  assert_int_equal (c.regions_compressed, 0);
  snapstore_previous_close (&previous);
  store_destroy (st);

  st = snapstore_load (GOLDEN_DIR "/v1.0-mixed-4k.snap", 0, region_now, 2, &size, &previous);
  assert_non_null (st);
  c = save_and_compare (st, path, &previous, 3);
  assert_int_equal (c.regions_copied, 0);
  assert_string_equal (c.full_why, "it is not of this format version");
  c = save_and_compare (st, path, &previous, 3);
  assert_int_equal (c.regions_compressed, 0);
  snapstore_previous_close (&previous);
  store_destroy (st);
  free (path);
  unsetenv ("SOURCE_DATE_EPOCH");
}

static uint64_t
decodes (const struct snap_lazy *lazy)
{
  struct snap_lazy_progress p;

  snap_lazy_get_progress (lazy, &p);
  return p.decodes;
}

/* Where on the disk the first page the lazily loaded file's frame K
 * stores begins (pages of 4 KiB). */
static uint64_t
frame_first_byte (const struct snap_lazy *lazy, size_t k)
{
  const struct snap_index *index = snap_reader_index (snap_lazy_reader (lazy));

  return index->runs[index->frames[k].first_run].first_page * 4096;
}

/* A lazily loaded file as the previous one: frames loaded or not are
 * copied, a partial write or a zero to a page still in the file is a
 * change (its region is compressed), loading a frame is not; the file is
 * a full save's, and the save decodes nothing. */
static void
test_lazy_previous (void **state)
{
  (void) state;
  struct store *st = new_store (4096);
  struct snapstore_previous previous = { 0 };
  char *path = strdup (scratch_path ("disk.snap"));  /* scratch_path's buffers rotate */
  char *full = strdup (scratch_path ("full.snap"));
  struct snap_write_options o = options (1);
  struct snapstore_save_counts c;
  uint64_t size;
  unsigned char byte = 0xA5;

  assert_int_equal (setenv ("SOURCE_DATE_EPOCH", "1700000000", 1), 0);
  change_disk (st, 120);
  assert_int_equal (save_store (st, path, &o), 0);
  store_destroy (st);

  struct snap_lazy *lazy = snap_lazy_open (path, 0, 0, &st, &size);
  assert_non_null (lazy);
  size_t frames = snap_lazy_frame_count (lazy);
  assert_true (frames >= 8);
  snapstore_previous_from_lazy (&previous, lazy, st);
  /* Frames 0 and 1 loaded (not a change); a byte written into frame 2's
   * region, a zero in frame 3's and a trim of a page in frame 4's, all of
   * pages still in the file. */
  assert_int_equal (snap_lazy_load_frame (lazy, 0), 0);
  assert_int_equal (snap_lazy_load_frame (lazy, 1), 0);
  assert_int_equal (store_write (st, &byte, 1, frame_first_byte (lazy, 2) + 1), 0);
  assert_int_equal (store_zero (st, 512, frame_first_byte (lazy, 3) + 100), 0);
  assert_int_equal (store_trim (st, 4096, frame_first_byte (lazy, 4)), 0);
  uint64_t before = decodes (lazy);
  assert_int_equal (before, 5);
  /* This run's clients faulted frames 2, 3 and 4 (the loads were the
   * background's): the order both saves store. */
  uint64_t order[SNAP_MAX_TOUCH_ORDER];
  o.touch_order = order;
  o.touch_order_count = snap_lazy_touch_order (lazy, order);
  for (size_t k = 2; k <= 4; k++)
    assert_int_equal (order[k - 2], frame_first_byte (lazy, k) / REGION);
  size_t also = 0;                                      /* then the file's others */
  for (size_t i = 0; i < 4; i++)
    also += touch_order[i] != order[0] && touch_order[i] != order[1]
            && touch_order[i] != order[2];
  assert_int_equal (o.touch_order_count, 3 + also);

  if (snapstore_save (st, path, &o, NULL, &previous, &c, NULL) == -1)
    fail_msg ("incremental save from the lazy file: %s", md_error ());
  assert_int_equal (decodes (lazy), before);            /* nothing decoded for it */
  /* Regions of one page: the trim emptied frame 4's region, which has no
   * frame now. */
  assert_int_equal (c.regions_compressed, REGION > 4096 ? 3 : 2);
  assert_int_equal (c.regions_copied, frames - 3);
  assert_null (previous.lazy);
  assert_non_null (previous.reader);                    /* the new file now */

  assert_int_equal (save_store (st, full, &o), 0);  /* faults in the rest */
  size_t len, full_len;
  unsigned char *a = read_file (path, &len);
  unsigned char *b = read_file (full, &full_len);
  assert_int_equal (len, full_len);
  assert_memory_equal (a, b, len);
  free (a);
  free (b);
  assert_int_equal (open_and_verify (path), 0);
  assert_int_equal (snap_reader_metadata (previous.reader)->touch_order_count,
                    o.touch_order_count);

  snapstore_previous_close (&previous);
  store_destroy (st);
  snap_lazy_free (lazy);
  free (full);
  free (path);
  unsetenv ("SOURCE_DATE_EPOCH");
}

/* Frame K of the file at PATH with one byte changed in place. */
static void
damage_frame (const char *path, const struct snap_lazy *lazy, size_t k)
{
  const struct snap_frame *f = &snap_reader_index (snap_lazy_reader (lazy))->frames[k];
  unsigned char x;
  int fd = open (path, O_RDWR);

  assert_true (fd >= 0);
  assert_int_equal (pread (fd, &x, 1, (off_t) (f->offset + f->compressed_size / 2)), 1);
  x ^= 0x10;
  assert_int_equal (pwrite (fd, &x, 1, (off_t) (f->offset + f->compressed_size / 2)), 1);
  close (fd);
}

/* A lazily loaded file with a damaged frame: whether the load found it
 * (a client read it) or the save's copy does, the save fails, naming the
 * frame, and leaves the file as it was. */
static void
test_lazy_previous_damaged (void **state)
{
  (void) state;
  char *path = strdup (scratch_path ("disk.snap"));  /* scratch_path's buffers rotate */
  struct snap_write_options o = options (1);
  unsigned char page[4096] = { 1 };

  assert_int_equal (setenv ("SOURCE_DATE_EPOCH", "1700000000", 1), 0);
  for (int found_by_load = 0; found_by_load < 2; found_by_load++) {
    struct store *st = new_store (4096);
    struct snapstore_previous previous = { 0 };
    struct snapstore_save_counts c;
    uint64_t size;

    change_disk (st, 120);
    assert_int_equal (save_store (st, path, &o), 0);
    store_destroy (st);
    struct snap_lazy *lazy = snap_lazy_open (path, 0, 0, &st, &size);
    assert_non_null (lazy);
    damage_frame (path, lazy, 3);
    size_t len;
    unsigned char *old = read_file (path, &len);
    snapstore_previous_from_lazy (&previous, lazy, st);
    if (found_by_load)
      assert_int_equal (store_read (st, page, sizeof page, frame_first_byte (lazy, 3)), -1);
    assert_int_equal (store_write (st, page, 100, frame_first_byte (lazy, 0) + 10), 0);
    uint64_t before = decodes (lazy);
    assert_int_equal (snapstore_save (st, path, &o, NULL, &previous, &c, NULL), -1);
    assert_non_null (strstr (md_error (), "frame 3 "));
    /* Found by the load: the save fails at once, decoding nothing (no
     * full save is tried, which would decode every other frame). */
    if (found_by_load)
      assert_int_equal (decodes (lazy), before);
    size_t now_len;
    unsigned char *now = read_file (path, &now_len);
    assert_int_equal (now_len, len);
    assert_memory_equal (now, old, len);
    free (now);
    free (old);
    snapstore_previous_close (&previous);
    store_destroy (st);
    snap_lazy_free (lazy);
  }
  free (path);
  unsetenv ("SOURCE_DATE_EPOCH");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_equivalence_over_rounds),
    cmocka_unit_test (test_previous_behind_our_back),
    cmocka_unit_test (test_loaded_previous),
    cmocka_unit_test (test_lazy_previous),
    cmocka_unit_test (test_lazy_previous_damaged),
  };
  static const uint32_t region_sizes[] = { 4096, 262144, 1048576, STORE_DEFAULT_REGION_SIZE,
                                           64u << 20 };
  int r = 0;

  scratch_create ();
  for (size_t i = 0; i < sizeof region_sizes / sizeof region_sizes[0]; i++) {
    region_now = region_sizes[i];
    printf ("regions of %u bytes\n", region_now);
    r |= cmocka_run_group_tests (tests, NULL, NULL);
  }
  scratch_remove ();
  return r;
}
