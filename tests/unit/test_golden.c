/* Golden files: the snapshot writer must produce, byte for byte, the files
 * under tests/unit/golden/, which an earlier version of the code wrote.
 * They pin the file format and the writer's choices (frame boundaries,
 * zero-page skipping, metadata encoding) across refactoring.
 *
 * Each golden disk is a deterministic mix of full pages, partial pages
 * (data in a part, zeros elsewhere), allocated pages holding only zeros,
 * and absent pages, with a partial last page.  Each is written twice, from
 * a page callback and from a store through snapstore_save, and loaded
 * back through snapstore_load.
 *
 * The bytes depend on libzstd's encoder too: a libzstd whose level-3
 * output differs would fail this test with no change of ours.  Then
 * regenerate, after checking that nothing else changed:
 *     build/tests/test_golden --regenerate tests/unit/golden
 *
 * The v1.0-*.snap files are the same disks as format 1.0 wrote them (the
 * writer before format 2.0), the v2.0-*.snap files as format 2.0 wrote
 * them (the writer before format 2.1's aligned frames: the 2.0 golden
 * files as they were, renamed).  They are never regenerated: they stand
 * for the snapshots users have, which must still load and verify, and
 * which a save (or convert) turns into exactly the current golden files;
 * an incremental save from a 2.0 file (whose frames it copies, unaligned,
 * into aligned places) too.
 *
 * At the other region sizes (a page to 64 MiB) there is no golden file
 * (the default, 4 MiB, is the golden files'): the same disks written from
 * the callback on one and three threads, from a store, and from a store
 * loaded from the 1.0 file are the same bytes; a frame holds one region's
 * pages; the file loads back and verifies, and says its region size and
 * the minor version that allows it.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "snapshot/format/format.h"
#include "snapshot/read/reader.h"
#include "snapshot/storefile.h"
#include "store/store.h"
#include "test_snaphelp.h"

#ifndef GOLDEN_DIR
#error "GOLDEN_DIR must name tests/unit/golden"
#endif

#define GOLDEN_EPOCH "1700000000"
#define GOLDEN_CREATOR "memdisk golden-test 1"
#define GOLDEN_LEVEL 3

struct golden_disk {
  const char *name;             /* file name under GOLDEN_DIR */
  const char *name_1_0;         /* the same disk in format 1.0 */
  const char *name_2_0;         /* and in format 2.0 */
  uint64_t virtual_size;
  uint32_t page_size;
};

/* Two page sizes; the 32 KiB disk spans two regions of 4 MiB, the 4 KiB
 * disk three. */
static const struct golden_disk disks[] = {
  { "mixed-32k.snap", "v1.0-mixed-32k.snap", "v2.0-mixed-32k.snap",
    4 * 1024 * 1024 + 12345, 32768 },
  { "mixed-4k.snap", "v1.0-mixed-4k.snap", "v2.0-mixed-4k.snap", 9 * 1024 * 1024 + 100, 4096 },
};

enum page_kind { PAGE_ABSENT, PAGE_ZERO, PAGE_PARTIAL, PAGE_FULL };

static uint64_t
mix (uint64_t x)
{
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  x *= 0xC4CEB9FE1A85EC53ull;
  x ^= x >> 33;
  return x;
}

static enum page_kind
page_kind (uint64_t page)
{
  switch (mix (page) % 8) {
  case 0: case 1: case 2: return PAGE_ABSENT;
  case 3: return PAGE_ZERO;
  case 4: case 5: return PAGE_PARTIAL;
  default: return PAGE_FULL;
  }
}

/* The contents of PAGE (page_size bytes): a 4 KiB pseudo-random texture,
 * shifted by the page index, repeats across pages so that the golden files
 * stay small; 4 pseudo-random bytes per page make no two pages alike. */
static void
page_contents (unsigned char *buf, const struct golden_disk *d, uint64_t page)
{
  uint32_t page_size = d->page_size;
  enum page_kind kind = page_kind (page);
  uint64_t h = mix (page + 0x1234);
  uint32_t from = 0, to = page_size;

  memset (buf, 0, page_size);
  if (kind == PAGE_ABSENT || kind == PAGE_ZERO)
    return;
  if (kind == PAGE_PARTIAL) {
    from = (uint32_t) (h % page_size);
    to = from + 1 + (uint32_t) ((h >> 32) % (page_size - from));
  }
  for (uint32_t i = from; i < to; i++)
    buf[i] = (unsigned char) (mix ((i + 64 * (page % 5)) % 4096) | 1);
  for (int k = 0; k < 4; k++) {
    uint32_t at = from + (uint32_t) (mix (h + k) % (to - from));
    buf[at] = (unsigned char) (mix (h ^ k) | 1);
  }
  /* A disk ends with zeros in its partial last page. */
  if ((page + 1) * page_size > d->virtual_size)
    memset (buf + (d->virtual_size - page * page_size), 0,
            (page + 1) * page_size - d->virtual_size);
}

/* A page callback over a golden disk: every page but the absent ones, the
 * zero ones included (the writer must skip them). */
struct golden_source {
  const struct golden_disk *disk;
  uint64_t next;
};

static int
golden_next (void *opaque, uint64_t *page_index, void *buf)
{
  struct golden_source *s = opaque;
  uint64_t count = snap_page_count (s->disk->virtual_size, s->disk->page_size);

  while (s->next < count && page_kind (s->next) == PAGE_ABSENT)
    s->next++;
  if (s->next == count)
    return 0;
  *page_index = s->next++;
  page_contents (buf, s->disk, *page_index);
  return 1;
}

static struct snap_write_options
golden_options (const struct golden_disk *d, unsigned threads)
{
  struct snap_write_options o = {
    .virtual_size = d->virtual_size, .page_size = d->page_size,
    .level = GOLDEN_LEVEL, .threads = threads, .creator = GOLDEN_CREATOR,
  };
  return o;
}

static void
write_from_callback_regions (const struct golden_disk *d, const char *path, unsigned threads,
                             uint32_t region_size)
{
  struct golden_source src = { .disk = d };
  struct snap_write_options o = golden_options (d, threads);

  o.region_size = region_size;
  assert_int_equal (setenv ("SOURCE_DATE_EPOCH", GOLDEN_EPOCH, 1), 0);
  if (snap_write_file (path, &o, golden_next, &src, NULL) == -1)
    fail_msg ("snap_write_file %s: %s", path, md_error ());
}

static void
write_from_callback (const struct golden_disk *d, const char *path, unsigned threads)
{
  struct golden_source src = { .disk = d };
  struct snap_write_options o = golden_options (d, threads);

  assert_int_equal (setenv ("SOURCE_DATE_EPOCH", GOLDEN_EPOCH, 1), 0);
  if (snap_write_file (path, &o, golden_next, &src, NULL) == -1)
    fail_msg ("snap_write_file %s: %s", path, md_error ());
}

/* The golden disk in a store: zero pages are written with data first and
 * then overwritten with zeros, so that they are allocated. */
static struct store *
golden_store_regions (const struct golden_disk *d, uint32_t region_size)
{
  struct store *st = store_create_regions (d->virtual_size, d->page_size, region_size);
  unsigned char *buf = malloc (d->page_size);
  uint64_t count = snap_page_count (d->virtual_size, d->page_size);

  assert_non_null (st);
  assert_non_null (buf);
  for (uint64_t p = 0; p < count; p++) {
    uint64_t off = p * d->page_size;
    uint64_t len = d->virtual_size - off < d->page_size ? d->virtual_size - off
                                                        : d->page_size;
    if (page_kind (p) == PAGE_ABSENT)
      continue;
    page_contents (buf, d, p);
    if (page_kind (p) == PAGE_ZERO) {
      memset (buf, 0xAA, len);
      assert_int_equal (store_write (st, buf, len, off), 0);
      memset (buf, 0, len);
    }
    assert_int_equal (store_write (st, buf, len, off), 0);
  }
  free (buf);
  return st;
}

static struct store *
golden_store (const struct golden_disk *d)
{
  return golden_store_regions (d, STORE_DEFAULT_REGION_SIZE);
}

static void
assert_same_file (const char *path, const char *golden)
{
  size_t len, golden_len;
  unsigned char *got = read_file (path, &len);
  unsigned char *want = read_file (golden, &golden_len);

  if (len != golden_len)
    fail_msg ("%s: %zu bytes, the golden file %s has %zu", path, len, golden, golden_len);
  for (size_t i = 0; i < len; i++)
    if (got[i] != want[i])
      fail_msg ("%s differs from the golden file %s at byte %zu", path, golden, i);
  free (got);
  free (want);
}

static const char *
golden_file (const char *name)
{
  static char path[1024];

  snprintf (path, sizeof path, "%s/%s", GOLDEN_DIR, name);
  return path;
}

static const char *
golden_path (const struct golden_disk *d)
{
  return golden_file (d->name);
}

static void
test_callback_writes_golden (void **state)
{
  (void) state;
  for (size_t i = 0; i < sizeof disks / sizeof disks[0]; i++)
    for (unsigned threads = 1; threads <= 3; threads += 2) {
      const char *path = scratch_path ("callback.snap");
      write_from_callback (&disks[i], path, threads);
      assert_same_file (path, golden_path (&disks[i]));
      unlink (path);
    }
}

static void
test_store_writes_golden (void **state)
{
  (void) state;
  for (size_t i = 0; i < sizeof disks / sizeof disks[0]; i++) {
    const struct golden_disk *d = &disks[i];
    struct store *st = golden_store (d);
    struct snap_write_options o = golden_options (d, 2);
    const char *path = scratch_path ("store.snap");

    assert_int_equal (setenv ("SOURCE_DATE_EPOCH", GOLDEN_EPOCH, 1), 0);
    if (save_store (st, path, &o) == -1)
      fail_msg ("snapstore_save: %s", md_error ());
    assert_same_file (path, golden_path (d));
    unlink (path);
    store_destroy (st);
  }
}

/* Loading the golden file NAME of disk D gives back the disk, page for
 * page, and the store holds no page for the absent and zero ones; the file
 * verifies and has format MAJOR.MINOR.  Returns the store, and when
 * PREVIOUS is not NULL the file stays open in it. */
static struct store *
load_golden (const struct golden_disk *d, const char *name, uint16_t major, uint16_t minor,
             struct snapstore_previous *previous)
{
  uint64_t count = snap_page_count (d->virtual_size, d->page_size);
  uint64_t file_size = 0, stored = 0;
  unsigned char *want = malloc (d->page_size), *got = malloc (d->page_size);
  const char *path = golden_file (name);
  struct store *st = snapstore_load (path, 0, 0, 2, &file_size, previous);

  if (st == NULL)
    fail_msg ("snapstore_load %s: %s", path, md_error ());
  assert_int_equal (file_size, d->virtual_size);
  assert_int_equal (store_size (st), d->virtual_size);
  assert_int_equal (store_page_size (st), d->page_size);
  assert_false (store_changed (st));
  for (uint64_t p = 0; p < count; p++) {
    uint64_t off = p * d->page_size;
    uint64_t len = d->virtual_size - off < d->page_size ? d->virtual_size - off
                                                        : d->page_size;
    page_contents (want, d, p);
    assert_int_equal (store_read (st, got, len, off), 0);
    if (memcmp (got, want, len) != 0)
      fail_msg ("%s: page %" PRIu64 " differs after loading", name, p);
    stored += page_kind (p) == PAGE_FULL || page_kind (p) == PAGE_PARTIAL;
  }
  assert_int_equal (store_allocated_bytes (st), stored * d->page_size);
  assert_int_equal (open_and_verify (path), 0);
  struct snap_reader *r = snap_reader_open (path);
  assert_non_null (r);
  assert_int_equal (snap_reader_metadata (r)->version_major, major);
  assert_int_equal (snap_reader_metadata (r)->version_minor, minor);
  snap_reader_close (r);
  free (want);
  free (got);
  return st;
}

static void
test_golden_loads (void **state)
{
  (void) state;
  for (size_t i = 0; i < sizeof disks / sizeof disks[0]; i++)
    store_destroy (load_golden (&disks[i], disks[i].name, 2, 1, NULL));
}

/* A format 1.0 file loads, verifies, and saves as the 2.0 golden file: an
 * upgrade keeps every snapshot, and converts it to the current format. */
static void
test_golden_1_0_loads_and_converts (void **state)
{
  (void) state;
  for (size_t i = 0; i < sizeof disks / sizeof disks[0]; i++) {
    const struct golden_disk *d = &disks[i];
    struct store *st = load_golden (d, d->name_1_0, 1, 0, NULL);
    struct snap_write_options o = golden_options (d, 2);
    const char *path = scratch_path ("from-1.0.snap");

    assert_int_equal (setenv ("SOURCE_DATE_EPOCH", GOLDEN_EPOCH, 1), 0);
    if (save_store (st, path, &o) == -1)
      fail_msg ("snapstore_save: %s", md_error ());
    assert_same_file (path, golden_path (d));
    unlink (path);
    store_destroy (st);
  }
}

/* Every frame of the file at PATH holds pages of one region only, in
 * increasing region order. */
static void
assert_frames_in_regions (const char *path, uint32_t region_size, uint32_t page_size)
{
  struct snap_reader *r = snap_reader_open (path);
  const uint64_t per_region = region_size / page_size;

  assert_non_null (r);
  const struct snap_index *ix = snap_reader_index (r);
  uint64_t last_region = UINT64_MAX;
  for (size_t k = 0; k < ix->frame_count; k++) {
    const struct snap_frame *f = &ix->frames[k];
    const struct snap_run *first = &ix->runs[f->first_run];
    const struct snap_run *last = &ix->runs[f->first_run + f->run_count - 1];
    uint64_t region = first->first_page / per_region;
    assert_int_equal ((last->first_page + last->page_count - 1) / per_region, region);
    assert_true (last_region == UINT64_MAX || region > last_region);
    last_region = region;
  }
  snap_reader_close (r);
}

static void
test_other_region_sizes (void **state)
{
  (void) state;
  static const uint32_t region_sizes[] = { 4096, 32768, 262144, 1048576, 64u << 20 };
  for (size_t i = 0; i < sizeof disks / sizeof disks[0]; i++)
    for (size_t j = 0; j < sizeof region_sizes / sizeof region_sizes[0]; j++) {
      const struct golden_disk *d = &disks[i];
      const uint32_t rs = region_sizes[j];
      if (rs < d->page_size)
        continue;
      char *want = strdup (scratch_path ("regions-1.snap"));
      const char *path = scratch_path ("regions-3.snap");
      write_from_callback_regions (d, want, 1, rs);
      write_from_callback_regions (d, path, 3, rs);
      assert_same_file (path, want);
      /* From a store of that region size, and from the 1.0 file loaded
       * into one. */
      struct snap_write_options o = golden_options (d, 2);
      struct store *st = golden_store_regions (d, rs);
      if (save_store (st, path, &o) == -1)
        fail_msg ("snapstore_save: %s", md_error ());
      assert_same_file (path, want);
      store_destroy (st);
      uint64_t file_size;
      st = snapstore_load (golden_file (d->name_1_0), 0, rs, 2, &file_size, NULL);
      assert_non_null (st);
      assert_int_equal (store_region_size (st), rs);
      if (save_store (st, path, &o) == -1)
        fail_msg ("snapstore_save: %s", md_error ());
      assert_same_file (path, want);
      store_destroy (st);
      /* Its regions, its version, and it loads back as the disk. */
      assert_frames_in_regions (want, rs, d->page_size);
      struct snap_reader *r = snap_reader_open (want);
      assert_non_null (r);
      assert_int_equal (snap_reader_metadata (r)->region_size, rs);
      assert_int_equal (snap_reader_metadata (r)->version_major, 2);
      assert_int_equal (snap_reader_metadata (r)->version_minor,
                        rs < 1048576 ? SNAP_SMALL_REGIONS_MINOR : SNAP_VERSION_MINOR);
      snap_reader_close (r);
      assert_int_equal (open_and_verify (want), 0);
      st = snapstore_load (want, 0, 0, 2, &file_size, NULL);
      assert_non_null (st);
      assert_int_equal (store_region_size (st), rs);
      unsigned char *page = malloc (d->page_size), *got = malloc (d->page_size);
      for (uint64_t p = 0; p < snap_page_count (d->virtual_size, d->page_size); p++) {
        uint64_t off = p * d->page_size;
        uint64_t len = d->virtual_size - off < d->page_size ? d->virtual_size - off
                                                            : d->page_size;
        page_contents (page, d, p);
        assert_int_equal (store_read (st, got, len, off), 0);
        assert_memory_equal (got, page, len);
      }
      free (page);
      free (got);
      store_destroy (st);
      free (want);
    }
}

/* A format 2.0 file loads, verifies, and saves as the 2.1 golden file,
 * full and incremental: the incremental save copies the 2.0 file's
 * unaligned frames (they are the same frames) into their aligned places,
 * with the padding between them. */
static void
test_golden_2_0_loads_and_saves (void **state)
{
  (void) state;
  for (size_t i = 0; i < sizeof disks / sizeof disks[0]; i++)
    for (int incremental = 0; incremental <= 1; incremental++) {
      const struct golden_disk *d = &disks[i];
      struct snapstore_previous previous = { 0 };
      struct snapstore_save_counts counts;
      struct store *st = load_golden (d, d->name_2_0, 2, 0, incremental ? &previous : NULL);
      struct snap_write_options o = golden_options (d, 2);
      const char *path = scratch_path ("from-2.0.snap");

      assert_int_equal (setenv ("SOURCE_DATE_EPOCH", GOLDEN_EPOCH, 1), 0);
      if (snapstore_save (st, path, &o, NULL, incremental ? &previous : NULL, &counts,
                          NULL) == -1)
        fail_msg ("snapstore_save: %s", md_error ());
      if (incremental) {
        /* Every frame taken from the 2.0 file, none cloned (unaligned). */
        assert_int_equal (counts.regions_compressed, 0);
        assert_int_equal (counts.regions_cloned, 0);
        assert_true (counts.regions_copied > 0);
      }
      assert_same_file (path, golden_path (d));
      snapstore_previous_close (&previous);
      unlink (path);
      store_destroy (st);
    }
}

static int
regenerate (const char *dir)
{
  for (size_t i = 0; i < sizeof disks / sizeof disks[0]; i++) {
    char path[1024];
    struct golden_source src = { .disk = &disks[i] };
    struct snap_write_options o = golden_options (&disks[i], 2);

    snprintf (path, sizeof path, "%s/%s", dir, disks[i].name);
    setenv ("SOURCE_DATE_EPOCH", GOLDEN_EPOCH, 1);
    if (snap_write_file (path, &o, golden_next, &src, NULL) == -1) {
      fprintf (stderr, "%s: %s\n", path, md_error ());
      return 1;
    }
    printf ("wrote %s\n", path);
  }
  return 0;
}

int
main (int argc, char **argv)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_callback_writes_golden),
    cmocka_unit_test (test_store_writes_golden),
    cmocka_unit_test (test_golden_loads),
    cmocka_unit_test (test_golden_1_0_loads_and_converts),
    cmocka_unit_test (test_other_region_sizes),
    cmocka_unit_test (test_golden_2_0_loads_and_saves),
  };
  int r;

  if (argc == 3 && strcmp (argv[1], "--regenerate") == 0)
    return regenerate (argv[2]);
  scratch_create ();
  r = cmocka_run_group_tests (tests, NULL, NULL);
  scratch_remove ();
  return r;
}
