/* Unit tests of the snapshot writer (src/snapshot/write/writer.h), read back through
 * the reader: round trips, determinism across thread counts, zero pages,
 * atomic replacement and its error paths, option checks.
 */
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdint.h>

#include <cmocka.h>

#include "snapshot/format/format.h"
#include "common/iszero.h"
#include "test_snaphelp.h"

/* ---- a destination for loaded pages: a list of (index, copy) ---- */

struct loaded {
  pthread_mutex_t lock;
  uint32_t page_size;
  uint64_t *index;
  unsigned char **data;
  size_t count, cap;
};

static void *
loaded_dest (void *opaque, uint64_t page_index)
{
  struct loaded *l = opaque;
  void *buf = malloc (l->page_size);

  pthread_mutex_lock (&l->lock);
  if (l->count == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 64;
    l->index = realloc (l->index, l->cap * sizeof *l->index);
    l->data = realloc (l->data, l->cap * sizeof *l->data);
  }
  l->index[l->count] = page_index;
  l->data[l->count++] = buf;
  pthread_mutex_unlock (&l->lock);
  return buf;
}

static void
loaded_free (struct loaded *l)
{
  for (size_t i = 0; i < l->count; i++)
    free (l->data[i]);
  free (l->index);
  free (l->data);
}

/* Load PATH with THREADS threads and check it holds exactly the pattern
 * pages PAGES[0..COUNT) of a disk of VIRTUAL_SIZE / PAGE_SIZE. */
static void
check_loads_as (const char *path, uint64_t virtual_size, uint32_t page_size,
                const uint64_t *pages, size_t count, unsigned threads)
{
  struct snap_reader *r = snap_reader_open (path);
  if (r == NULL)
    fail_msg ("open: %s", md_error ());
  const struct snap_metadata *m = snap_reader_metadata (r);
  assert_int_equal (m->virtual_size, virtual_size);
  assert_int_equal (m->page_size, page_size);
  assert_int_equal (m->allocated_size, (uint64_t) count * page_size);
  assert_string_equal (m->creator, "memdisk-tests 1");

  struct loaded l = { .page_size = page_size };
  pthread_mutex_init (&l.lock, NULL);
  if (snap_reader_load (r, threads, loaded_dest, &l) == -1)
    fail_msg ("load: %s", md_error ());
  assert_int_equal (l.count, count);

  unsigned char *expected = malloc (page_size);
  for (size_t i = 0; i < count; i++) {
    size_t j = 0;
    while (j < l.count && l.index[j] != pages[i])
      j++;
    if (j == l.count)
      fail_msg ("page %" PRIu64 " was not loaded", pages[i]);
    fill_page (expected, pages[i], page_size, 1);
    assert_memory_equal (l.data[j], expected, page_size);
  }
  free (expected);
  loaded_free (&l);
  if (snap_reader_verify (r, threads) == -1)
    fail_msg ("verify: %s", md_error ());
  snap_reader_close (r);
}

static void
test_empty_disk (void **state)
{
  (void) state;
  const char *path = scratch_path ("empty.snap");
  struct snap_write_stats st;

  write_pattern_snapshot (path, 0, 32768, NULL, 0, 2, &st);
  assert_int_equal (st.pages_written, 0);
  assert_int_equal (st.frames, 0);
  /* Section 7: a disk of zeros has the digest XXH64(""). */
  assert_int_equal (st.content_digest, 0xEF46DB3751D8E999ull);
  check_loads_as (path, 0, 32768, NULL, 0, 2);

  /* A large disk with nothing allocated is as small. */
  write_pattern_snapshot (path, (uint64_t) 1 << 40, 4096, NULL, 0, 2, &st);
  assert_true (st.file_bytes < 300);
  check_loads_as (path, (uint64_t) 1 << 40, 4096, NULL, 0, 2);
}

static void
test_one_page (void **state)
{
  (void) state;
  const char *path = scratch_path ("one.snap");
  const uint64_t pages[] = { 5 };
  struct snap_write_stats st;

  write_pattern_snapshot (path, 1 << 30, 32768, pages, 1, 1, &st);
  assert_int_equal (st.pages_written, 1);
  assert_int_equal (st.allocated_bytes, 32768);
  assert_int_equal (st.frames, 1);
  check_loads_as (path, 1 << 30, 32768, pages, 1, 1);
  check_loads_as (path, 1 << 30, 32768, pages, 1, 4);
}

/* A source of one page, given in full. */
struct one_page {
  uint64_t index;
  const unsigned char *data;
  uint32_t page_size;
  bool done;
};

static int
one_page_next (void *opaque, uint64_t *page_index, void *buf)
{
  struct one_page *p = opaque;

  if (p->done)
    return 0;
  p->done = true;
  *page_index = p->index;
  memcpy (buf, p->data, p->page_size);
  return 1;
}

/* The last page of the largest disk: index arithmetic at its limit, and a
 * last page that sticks out past the disk's end. */
static void
test_last_page_of_largest_disk (void **state)
{
  (void) state;
  const char *path = scratch_path ("huge.snap");
  const uint64_t size = (uint64_t) INT64_MAX;
  const uint32_t page_size = 32768;
  const uint64_t last = (size - 1) / page_size;
  const uint32_t tail = (uint32_t) (size % page_size);
  unsigned char *page = calloc (1, page_size);
  unsigned char *buf = malloc (page_size);
  struct snap_write_result res;

  /* Data right up to the disk's last byte, zeros beyond. */
  fill_page (page, last, page_size, 1);
  memset (page + tail, 0, page_size - tail);

  struct one_page src = { last, page, page_size, false };
  struct snap_write_options o = {
    .virtual_size = size, .page_size = page_size, .level = 3, .threads = 2,
    .creator = "memdisk-tests 1",
  };
  if (snap_write_file (path, &o, one_page_next, &src, &res) == -1)
    fail_msg ("write: %s", md_error ());
  assert_int_equal (res.stats.pages_written, 1);

  struct snap_reader *r = snap_reader_open (path);
  if (r == NULL)
    fail_msg ("open: %s", md_error ());
  assert_int_equal (snap_reader_metadata (r)->virtual_size, size);
  uint64_t index = 0;
  assert_int_equal (snap_reader_next_page (r, &index, buf), 1);
  assert_int_equal (index, last);
  assert_memory_equal (buf, page, page_size);
  assert_int_equal (snap_reader_next_page (r, &index, buf), 0);
  snap_reader_close (r);
  assert_int_equal (open_and_verify (path), 0);

  /* Data past the disk's end is refused by the writer. */
  page[page_size - 1] = 1;
  src.done = false;
  assert_int_equal (snap_write_file (path, &o, one_page_next, &src, &res), -1);
  assert_error_contains ("past the end of the disk");
  free (buf);
  free (page);
}

/* Random page sets, some of them zero, over several frames and page sizes. */
static void
test_random_patterns (void **state)
{
  (void) state;
  const char *path = scratch_path ("random.snap");
  static const uint32_t page_sizes[] = { 4096, 32768, 1048576 };
  unsigned seed = 12345;

  for (size_t p = 0; p < sizeof page_sizes / sizeof page_sizes[0]; p++) {
    const uint32_t ps = page_sizes[p];
    const uint64_t disk_pages = ps == 1048576 ? 64 : 4096;
    uint64_t *pages = malloc (disk_pages * sizeof *pages);
    uint64_t *zeros = malloc (disk_pages * sizeof *zeros);
    uint64_t *kept = malloc (disk_pages * sizeof *kept);
    size_t count = 0, nzero = 0, nkept = 0;

    for (uint64_t i = 0; i < disk_pages; i++) {
      seed = seed * 1103515245 + 12345;
      if ((seed >> 16) % 3 == 0)
        continue;
      pages[count++] = i;
      if ((seed >> 20) % 7 == 0)
        zeros[nzero++] = i;
      else
        kept[nkept++] = i;
    }
    struct list_source src = {
      .pages = pages, .count = count, .page_size = ps, .seed = 1,
      .zero_pages = zeros, .zero_count = nzero,
    };
    struct snap_write_result res;
    struct snap_write_options o = {
      .virtual_size = disk_pages * ps - 100, .page_size = ps, .level = 1,
      .threads = 3, .creator = "memdisk-tests 1",
    };
    /* The last page, if present, must be zero past the disk's end. */
    if (count > 0 && pages[count - 1] == disk_pages - 1) {
      count--;
      src.count = count;
      if (nkept > 0 && kept[nkept - 1] == disk_pages - 1)
        nkept--;
    }
    if (snap_write_file (path, &o, list_source_next, &src, &res) == -1)
      fail_msg ("write: %s", md_error ());
    assert_int_equal (res.stats.pages_read, count);
    assert_int_equal (res.stats.pages_written, nkept);
    check_loads_as (path, o.virtual_size, ps, kept, nkept, 2);
    free (pages);
    free (zeros);
    free (kept);
  }
}

/* 1, 2 and 8 threads give byte-identical files. */
static void
test_deterministic_across_threads (void **state)
{
  (void) state;
  const unsigned threads[] = { 1, 2, 8 };
  const size_t count = 10000;           /* over 20 regions of 4 MiB */
  uint64_t *pages = malloc (count * sizeof *pages);
  unsigned char *first = NULL;
  size_t first_len = 0;

  for (size_t i = 0; i < count; i++)
    pages[i] = i * 2 + (i % 5 == 0);
  setenv ("SOURCE_DATE_EPOCH", "1700000000", 1);
  for (size_t t = 0; t < 3; t++) {
    const char *path = scratch_path ("det.snap");
    size_t len;
    write_pattern_snapshot (path, 128 << 20, 4096, pages, count, threads[t], NULL);
    unsigned char *bytes = read_file (path, &len);
    if (first == NULL) {
      first = bytes;
      first_len = len;
      continue;
    }
    assert_int_equal (len, first_len);
    assert_memory_equal (bytes, first, len);
    free (bytes);
  }
  struct snap_reader *r = snap_reader_open (scratch_path ("det.snap"));
  assert_non_null (r);
  assert_int_equal (snap_reader_metadata (r)->creation_time, 1700000000);
  assert_int_equal (snap_reader_index (r)->frame_count, 20);
  snap_reader_close (r);
  unsetenv ("SOURCE_DATE_EPOCH");
  free (first);
  free (pages);
}

/* A source over a whole disk in memory. */
struct disk_source {
  const unsigned char *disk;
  uint64_t size;
  uint64_t next;
  uint32_t page_size;
  bool with_zero_pages;         /* also hand over all-zero pages */
};

static int
disk_source_next (void *opaque, uint64_t *page_index, void *buf)
{
  struct disk_source *d = opaque;

  while (d->next * d->page_size < d->size) {
    uint64_t p = d->next++;
    memcpy (buf, d->disk + p * d->page_size, d->page_size);
    if (d->with_zero_pages || !snap_is_zero (buf, d->page_size)) {
      *page_index = p;
      return 1;
    }
  }
  return 0;
}

/* The digest depends on the content only: not on the page size, nor on
 * which zero pages were handed to the writer. */
static void
test_digest_is_layout_independent (void **state)
{
  (void) state;
  const uint64_t size = 4 << 20;
  unsigned char *disk = calloc (1, size);
  uint64_t digests[3];

  for (uint64_t off = 100000; off < 1000000; off += 7)
    disk[off] = (unsigned char) off | 1;
  disk[size - 1] = 9;

  for (int variant = 0; variant < 3; variant++) {
    const uint32_t ps = variant == 0 ? 4096 : 65536;
    struct disk_source src = { disk, size, 0, ps, variant == 2 };
    struct snap_write_result res;
    struct snap_write_options o = {
      .virtual_size = size, .page_size = ps, .level = 1, .threads = 2,
      .creator = "memdisk-tests 1",
    };
    if (snap_write_file (scratch_path ("digest.snap"), &o, disk_source_next, &src, &res) == -1)
      fail_msg ("write: %s", md_error ());
    digests[variant] = res.stats.content_digest;
    assert_int_equal (open_and_verify (scratch_path ("digest.snap")), 0);
  }
  assert_int_equal (digests[0], digests[1]);
  assert_int_equal (digests[1], digests[2]);

  /* One changed byte changes it. */
  disk[500001] ^= 0x40;
  struct disk_source src = { disk, size, 0, 4096, false };
  struct snap_write_result res;
  struct snap_write_options o = {
    .virtual_size = size, .page_size = 4096, .level = 1, .threads = 2,
  };
  assert_int_equal (snap_write_file (scratch_path ("digest.snap"), &o,
                                     disk_source_next, &src, &res), 0);
  assert_true (res.stats.content_digest != digests[0]);
  free (disk);
}

/* A failing page source leaves the old file as it was and no temporary. */
/* A page source that fails at once and sets no message. */
static int
silent_failing_source (void *opaque, uint64_t *page_index, void *buf)
{
  (void) opaque, (void) page_index, (void) buf;
  return -1;
}

static void
test_failure_keeps_old_file (void **state)
{
  (void) state;
  const char *path = scratch_path ("keep.snap");
  const uint64_t pages[] = { 0, 1, 2, 3, 4, 5, 6, 7 };
  size_t old_len, new_len;

  write_pattern_snapshot (path, 1 << 20, 4096, pages, 8, 2, NULL);
  unsigned char *old = read_file (path, &old_len);
  int entries = scratch_count ();

  struct list_source src = {
    .pages = pages, .count = 8, .page_size = 4096, .seed = 2, .fail_after = 5,
  };
  struct snap_write_options o = {
    .virtual_size = 1 << 20, .page_size = 4096, .level = 1, .threads = 2,
  };
  assert_int_equal (snap_write_file (path, &o, list_source_next, &src, NULL), -1);
  assert_error_contains ("test source failed on purpose");

  /* A source that fails without a message, after an earlier error in
   * this thread: the writer says so, not the stale message. */
  md_error_set ("an earlier, unrelated error");
  assert_int_equal (snap_write_file (path, &o, silent_failing_source, NULL, NULL), -1);
  assert_error_contains ("the page source failed");

  /* Pages out of order are refused too. */
  const uint64_t backwards[] = { 3, 2 };
  struct list_source back = { .pages = backwards, .count = 2, .page_size = 4096, .seed = 1 };
  assert_int_equal (snap_write_file (path, &o, list_source_next, &back, NULL), -1);
  assert_error_contains ("page 2 after page 3");

  /* Pages beyond the disk as well. */
  const uint64_t beyond[] = { 256 };
  struct list_source far = { .pages = beyond, .count = 1, .page_size = 4096, .seed = 1 };
  assert_int_equal (snap_write_file (path, &o, list_source_next, &far, NULL), -1);
  assert_error_contains ("beyond the disk's 256 pages");

  unsigned char *now = read_file (path, &new_len);
  assert_int_equal (new_len, old_len);
  assert_memory_equal (now, old, old_len);
  assert_int_equal (scratch_count (), entries);
  free (old);
  free (now);

  /* A folder that does not exist: an error, nothing created. */
  assert_int_equal (snap_write_file (scratch_path ("no/such/dir.snap"), &o,
                                     list_source_next, &src, NULL), -1);
  assert_error_contains ("cannot find the folder");
}

static void
test_new_file_mode_0600 (void **state)
{
  (void) state;
  const char *path = scratch_path ("mode.snap");
  struct stat st;
  mode_t old_umask = umask (0);

  unlink (path);
  write_pattern_snapshot (path, 1 << 20, 4096, NULL, 0, 1, NULL);
  assert_int_equal (stat (path, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0600);

  /* Replacing a file keeps its mode. */
  assert_int_equal (chmod (path, 0640), 0);
  write_pattern_snapshot (path, 1 << 20, 4096, NULL, 0, 1, NULL);
  assert_int_equal (stat (path, &st), 0);
  assert_int_equal (st.st_mode & 0777, 0640);

  /* Only the rwx bits: never setuid, setgid or sticky. */
  assert_int_equal (chmod (path, 06757), 0);
  write_pattern_snapshot (path, 1 << 20, 4096, NULL, 0, 1, NULL);
  assert_int_equal (stat (path, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0757);

  /* Another user's file says nothing about who may read ours: 0600. */
  if (geteuid () == 0) {
    assert_int_equal (chown (path, 65534, 65534), 0);
    assert_int_equal (chmod (path, 0666), 0);
    write_pattern_snapshot (path, 1 << 20, 4096, NULL, 0, 1, NULL);
    assert_int_equal (stat (path, &st), 0);
    assert_int_equal (st.st_mode & 07777, 0600);
    assert_int_equal (st.st_uid, 0);
  }

  /* A link is followed: the file it leads to is replaced, the link stays. */
  const char *link = scratch_path ("mode-link.snap");
  unlink (link);
  assert_int_equal (symlink ("mode.snap", link), 0);
  assert_int_equal (chmod (path, 0640), 0);
  write_pattern_snapshot (link, 1 << 20, 4096, NULL, 0, 1, NULL);
  assert_int_equal (lstat (link, &st), 0);
  assert_true (S_ISLNK (st.st_mode));
  assert_int_equal (stat (path, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0640);
  unlink (link);

  /* Only a regular file is replaced. */
  const char *fifo = scratch_path ("mode-fifo.snap");
  unlink (fifo);
  assert_int_equal (mkfifo (fifo, 0600), 0);
  struct snap_write_options o = { .virtual_size = 1 << 20, .page_size = 4096, .level = 1 };
  struct list_source none = { .page_size = 4096 };
  assert_int_equal (snap_write_file (fifo, &o, list_source_next, &none, NULL), -1);
  assert_error_contains ("is a FIFO (named pipe); only a regular file is replaced");
  assert_int_equal (lstat (fifo, &st), 0);
  assert_true (S_ISFIFO (st.st_mode));
  unlink (fifo);
  umask (old_umask);
}

static void
test_bad_options (void **state)
{
  (void) state;
  struct list_source src = { .page_size = 4096 };
  struct snap_write_options o = { .virtual_size = 1 << 20, .page_size = 3000 };
  const char *path = scratch_path ("bad.snap");

  assert_int_equal (snap_write_file (path, &o, list_source_next, &src, NULL), -1);
  assert_error_contains ("page size 3000");
  o.page_size = 2 << 20;
  assert_int_equal (snap_write_file (path, &o, list_source_next, &src, NULL), -1);
  assert_error_contains ("page size");
  o.page_size = 4096;
  o.virtual_size = (uint64_t) INT64_MAX + 1;
  assert_int_equal (snap_write_file (path, &o, list_source_next, &src, NULL), -1);
  assert_error_contains ("larger than 2^63-1");
  o.virtual_size = 1 << 20;
  o.level = 1000;
  assert_int_equal (snap_write_file (path, &o, list_source_next, &src, NULL), -1);
  assert_error_contains ("compression level 1000");
  o.level = 0;
  setenv ("SOURCE_DATE_EPOCH", "yesterday", 1);
  assert_int_equal (snap_write_file (path, &o, list_source_next, &src, NULL), -1);
  assert_error_contains ("SOURCE_DATE_EPOCH");
  unsetenv ("SOURCE_DATE_EPOCH");
  assert_int_equal (access (path, F_OK), -1);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_empty_disk),
    cmocka_unit_test (test_one_page),
    cmocka_unit_test (test_last_page_of_largest_disk),
    cmocka_unit_test (test_random_patterns),
    cmocka_unit_test (test_deterministic_across_threads),
    cmocka_unit_test (test_digest_is_layout_independent),
    cmocka_unit_test (test_failure_keeps_old_file),
    cmocka_unit_test (test_new_file_mode_0600),
    cmocka_unit_test (test_bad_options),
  };
  return cmocka_run_group_tests (tests, scratch_group_setup, scratch_group_teardown);
}
