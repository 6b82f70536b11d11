/* Helpers shared by the snapshot codec's unit tests (test_snap*.c): a
 * scratch folder, synthetic disks as page sources, whole-file access for
 * damaging files on purpose.  Include after <cmocka.h>.
 */
#ifndef MEMDISK_TEST_SNAPHELP_H
#define MEMDISK_TEST_SNAPHELP_H

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "snapshot/read/reader.h"
#include "snapshot/storefile.h"
#include "snapshot/write/writer.h"

/* The message md_error() holds must contain NEEDLE. */
#define assert_error_contains(needle)                                         \
  do {                                                                        \
    if (strstr (md_error (), (needle)) == NULL)                               \
      fail_msg ("expected \"%s\" in the error \"%s\"", (needle), md_error ()); \
  } while (0)

/* ---- a scratch folder per test program ---- */

static char scratch_dir[256] __attribute__ ((unused));

static inline void
scratch_create (void)
{
  snprintf (scratch_dir, sizeof scratch_dir, "/tmp/memdisk-snaptest.XXXXXX");
  if (mkdtemp (scratch_dir) == NULL) {
    perror ("mkdtemp");
    exit (1);
  }
}

/* How many entries the scratch folder holds (to find leftover temporaries). */
static inline int
scratch_count (void)
{
  DIR *d = opendir (scratch_dir);
  struct dirent *e;
  int n = 0;

  assert_non_null (d);
  while ((e = readdir (d)) != NULL)
    if (strcmp (e->d_name, ".") != 0 && strcmp (e->d_name, "..") != 0)
      n++;
  closedir (d);
  return n;
}

static inline void
scratch_remove (void)
{
  DIR *d = opendir (scratch_dir);
  struct dirent *e;
  char path[512];

  if (d == NULL)
    return;
  while ((e = readdir (d)) != NULL) {
    if (strcmp (e->d_name, ".") == 0 || strcmp (e->d_name, "..") == 0)
      continue;
    snprintf (path, sizeof path, "%s/%s", scratch_dir, e->d_name);
    unlink (path);
  }
  closedir (d);
  rmdir (scratch_dir);
}

/* cmocka group fixtures: one scratch folder for a whole test program. */
static inline int
scratch_group_setup (void **state)
{
  (void) state;
  scratch_create ();
  return 0;
}

static inline int
scratch_group_teardown (void **state)
{
  (void) state;
  scratch_remove ();
  return 0;
}

static inline const char *
scratch_path (const char *name)
{
  static char path[4][512];
  static int next;
  char *p = path[next++ % 4];

  snprintf (p, sizeof path[0], "%s/%s", scratch_dir, name);
  return p;
}

/* ---- synthetic disks ---- */

/* A byte of page PAGE at offset I, for SEED; never all zero across a page. */
static inline unsigned char
pattern_byte (uint64_t page, uint32_t i, unsigned seed)
{
  uint64_t x = (page + 1) * 0x9E3779B97F4A7C15ull ^ (i / 64 + seed) * 0xBF58476D1CE4E5B9ull;
  x ^= x >> 31;
  /* Runs of 64 equal bytes compress somewhat, like real data. */
  return (unsigned char) (x % 255 + 1);
}

static inline void
fill_page (unsigned char *buf, uint64_t page, uint32_t page_size, unsigned seed)
{
  for (uint32_t i = 0; i < page_size; i++)
    buf[i] = pattern_byte (page, i, seed);
}

/* A page source over a list of page indexes: pattern pages, except those
 * listed as zero (returned, but all zeros, as the store may). */
struct list_source {
  const uint64_t *pages;
  size_t count;
  size_t next;
  uint32_t page_size;
  unsigned seed;
  const uint64_t *zero_pages;   /* optional: which of PAGES to return as zeros */
  size_t zero_count;
  size_t fail_after;            /* 0: never; else return -1 at this call */
  size_t calls;
};

static inline int
list_source_next (void *opaque, uint64_t *page_index, void *buf)
{
  struct list_source *s = opaque;

  if (s->fail_after && ++s->calls == s->fail_after) {
    md_error_set ("test source failed on purpose");
    return -1;
  }
  if (s->next == s->count)
    return 0;
  *page_index = s->pages[s->next++];
  fill_page (buf, *page_index, s->page_size, s->seed);
  for (size_t i = 0; i < s->zero_count; i++)
    if (s->zero_pages[i] == *page_index)
      memset (buf, 0, s->page_size);
  return 1;
}

/* Write a snapshot of a disk holding pattern pages PAGES[0..COUNT). */
static inline void
write_pattern_snapshot (const char *path, uint64_t virtual_size, uint32_t page_size,
                        const uint64_t *pages, size_t count, unsigned threads,
                        struct snap_write_stats *stats)
{
  struct list_source src = {
    .pages = pages, .count = count, .page_size = page_size, .seed = 1,
  };
  struct snap_write_options o = {
    .virtual_size = virtual_size, .page_size = page_size, .level = 1,
    .threads = threads, .creator = "memdisk-tests 1",
  };
  struct snap_write_result result;
  if (snap_write_file (path, &o, list_source_next, &src, &result) == -1)
    fail_msg ("snap_write_file: %s", md_error ());
  if (stats != NULL)
    *stats = result.stats;
}

/* A full save of STORE to PATH: snapstore_save without a previous file,
 * a progress counter, counts or a result. */
static inline int
save_store (struct store *store, const char *path, const struct snap_write_options *o)
{
  return snapstore_save (store, path, o, NULL, NULL, NULL, NULL);
}

/* Stores A and B read the same, MiB by MiB, over A's size. */
static inline void
assert_stores_equal (struct store *a, struct store *b)
{
  const size_t chunk = 1 << 20;
  unsigned char *x = malloc (chunk), *y = malloc (chunk);

  assert_non_null (x);
  assert_non_null (y);
  for (uint64_t off = 0; off < store_size (a); off += chunk) {
    size_t n = store_size (a) - off < chunk ? (size_t) (store_size (a) - off) : chunk;
    assert_int_equal (store_read (a, x, n, off), 0);
    assert_int_equal (store_read (b, y, n, off), 0);
    if (memcmp (x, y, n) != 0)
      fail_msg ("the stores differ in the MiB at %llu", (unsigned long long) off);
  }
  free (x);
  free (y);
}

/* ---- whole files ---- */

static inline unsigned char *
read_file (const char *path, size_t *len)
{
  struct stat st;
  int fd = open (path, O_RDONLY);

  assert_true (fd >= 0);
  assert_int_equal (fstat (fd, &st), 0);
  unsigned char *buf = malloc (st.st_size + 1);
  assert_non_null (buf);
  assert_int_equal (pread (fd, buf, st.st_size, 0), st.st_size);
  close (fd);
  *len = (size_t) st.st_size;
  return buf;
}

static inline void
write_file (const char *path, const void *buf, size_t len)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

  assert_true (fd >= 0);
  assert_int_equal (write (fd, buf, len), (ssize_t) len);
  close (fd);
}

/* Open and fully verify PATH: 0 when good, -1 with md_error set. */
static inline int
open_and_verify (const char *path)
{
  struct snap_reader *r = snap_reader_open (path);

  if (r == NULL)
    return -1;
  int err = snap_reader_verify (r, 2);
  snap_reader_close (r);
  return err;
}

#endif
