/* Unit tests of the store's point-in-time snapshots (src/store/store.h,
 * store_snapshot_*): order and content of the walk, copy-on-write of pages
 * changed after the instant, EBUSY, abandoned snapshots, change tracking,
 * and a concurrent test that the snapshot matches a single instant while
 * writers keep writing.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "store/store.h"

#define PAGE 4096u

static void
clear_error (void)
{
  md_error_set ("%s", "");
}

/* Page contents tagged with the page index and a version, never 0. */
static void
fill_page (uint8_t *buf, uint64_t page_index, unsigned version)
{
  for (unsigned i = 0; i < PAGE; i++) {
    uint64_t x = (page_index * PAGE + i) * 0x9E3779B97F4A7C15ull
                 + version * 0xBF58476D1CE4E5B9ull;
    x ^= x >> 29;
    buf[i] = (uint8_t) (x % 255 + 1);
  }
}

static void
write_page (struct store *s, uint64_t page_index, unsigned version)
{
  uint8_t buf[PAGE];
  fill_page (buf, page_index, version);
  assert_int_equal (store_write (s, buf, PAGE, page_index * PAGE), 0);
}

static void
check_page (const uint8_t *got, uint64_t page_index, unsigned version,
            const char *where)
{
  uint8_t want[PAGE];
  fill_page (want, page_index, version);
  for (unsigned i = 0; i < PAGE; i++) {
    if (got[i] != want[i])
      fail_msg ("%s: page %" PRIu64 " byte %u is 0x%02x, want 0x%02x (version %u)",
                where, page_index, i, got[i], want[i], version);
  }
}

static void
check_live_page (struct store *s, uint64_t page_index, unsigned version)
{
  uint8_t buf[PAGE];
  assert_int_equal (store_read (s, buf, PAGE, page_index * PAGE), 0);
  check_page (buf, page_index, version, "live store");
}

/* The next page of the snapshot must be PAGE_INDEX; returns its contents. */
static void
expect_next (struct store_snapshot *snap, uint64_t page_index, uint8_t *buf)
{
  uint64_t got = UINT64_MAX;
  int r = store_snapshot_next (snap, &got, buf);

  if (r != 1)
    fail_msg ("store_snapshot_next returned %d, want page %" PRIu64, r, page_index);
  if (got != page_index)
    fail_msg ("store_snapshot_next returned page %" PRIu64 ", want page %" PRIu64,
              got, page_index);
}

static void
expect_end (struct store_snapshot *snap)
{
  uint8_t buf[PAGE];
  uint64_t got = UINT64_MAX;
  int r = store_snapshot_next (snap, &got, buf);

  if (r != 0)
    fail_msg ("store_snapshot_next returned %d (page %" PRIu64 "), want 0 (end)",
              r, got);
}

/* --- the walk ---------------------------------------------------------- */

static void
test_snapshot_empty_store (void **state)
{
  (void) state;
  struct store *s = store_create (64 * PAGE, PAGE);

  assert_non_null (s);
  struct store_snapshot *snap = store_snapshot_begin (s);
  assert_non_null (snap);
  assert_int_equal (store_snapshot_preserved_bytes (snap), 0);
  expect_end (snap);
  expect_end (snap);            /* stays at the end */
  store_snapshot_end (snap);

  /* A zero-byte store and a huge empty one. */
  store_destroy (s);
  s = store_create (0, PAGE);
  assert_non_null (s);
  snap = store_snapshot_begin (s);
  assert_non_null (snap);
  expect_end (snap);
  store_snapshot_end (snap);
  store_destroy (s);

  s = store_create (STORE_MAX_SIZE, PAGE);
  assert_non_null (s);
  alarm (20);                   /* visiting 2^51 absent pages would take days */
  snap = store_snapshot_begin (s);
  assert_non_null (snap);
  expect_end (snap);
  store_snapshot_end (snap);
  alarm (0);
  store_destroy (s);
}

static void
test_snapshot_pages_in_order (void **state)
{
  (void) state;
  struct store *s = store_create (64 * PAGE, PAGE);
  const uint64_t pages[] = { 40, 3, 17, 0, 63, 4 };
  uint8_t buf[PAGE];

  assert_non_null (s);
  for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++)
    write_page (s, pages[i], 1);
  struct store_snapshot *snap = store_snapshot_begin (s);
  assert_non_null (snap);
  const uint64_t sorted[] = { 0, 3, 4, 17, 40, 63 };
  for (size_t i = 0; i < sizeof sorted / sizeof sorted[0]; i++) {
    memset (buf, 0, sizeof buf);
    expect_next (snap, sorted[i], buf);
    check_page (buf, sorted[i], 1, "snapshot");
  }
  expect_end (snap);
  store_snapshot_end (snap);
  /* The walk changed nothing. */
  for (size_t i = 0; i < sizeof pages / sizeof pages[0]; i++)
    check_live_page (s, pages[i], 1);
  assert_int_equal (store_allocated_bytes (s), 6 * PAGE);
  store_destroy (s);
}

static int
note_allocated (void *opaque, uint64_t offset, uint64_t len, bool allocated)
{
  (void) offset; (void) len;
  *(bool *) opaque = allocated;
  return 0;
}

/* A page that is allocated but holds only zeros is still returned. */
static void
test_snapshot_allocated_zero_page (void **state)
{
  (void) state;
  struct store *s = store_create (8 * PAGE, PAGE);
  static const uint8_t zeros[PAGE];
  uint8_t buf[PAGE];
  bool allocated = false;

  assert_non_null (s);
  write_page (s, 2, 1);
  assert_int_equal (store_write (s, zeros, PAGE, 2 * PAGE), 0);
  /* Whether overwriting with zeros keeps the page is the store's choice;
   * the snapshot must agree with what extents report. */
  assert_int_equal (store_extents (s, 2 * PAGE, PAGE, note_allocated, &allocated), 0);

  struct store_snapshot *snap = store_snapshot_begin (s);
  assert_non_null (snap);
  if (allocated) {
    memset (buf, 0xAA, sizeof buf);
    expect_next (snap, 2, buf);
    assert_memory_equal (buf, zeros, PAGE);
  }
  expect_end (snap);
  store_snapshot_end (snap);
  store_destroy (s);
}

/* Pages far apart in the largest store, including its partial last page. */
static void
test_snapshot_sparse_huge_store (void **state)
{
  (void) state;
  struct store *s = store_create (STORE_MAX_SIZE, PAGE);
  const uint64_t last = (STORE_MAX_SIZE - 1) / PAGE;
  const uint64_t pages[] = { 0, 1, UINT64_C (1) << 28, (UINT64_C (1) << 40) + 5, last };
  const size_t n = sizeof pages / sizeof pages[0];
  uint8_t buf[PAGE], byte = 0x42;

  assert_non_null (s);
  alarm (20);
  for (size_t i = 0; i + 1 < n; i++)
    write_page (s, pages[i], 2);
  assert_int_equal (store_write (s, &byte, 1, STORE_MAX_SIZE - 1), 0);

  struct store_snapshot *snap = store_snapshot_begin (s);
  assert_non_null (snap);
  for (size_t i = 0; i + 1 < n; i++) {
    expect_next (snap, pages[i], buf);
    check_page (buf, pages[i], 2, "snapshot");
    /* Changing a page far ahead of the walk preserves it for the walk. */
    if (i == 1)
      write_page (s, pages[3], 3);
  }
  memset (buf, 0xAA, sizeof buf);
  expect_next (snap, last, buf);
  for (unsigned i = 0; i < PAGE - 2; i++)
    assert_int_equal (buf[i], 0);
  assert_int_equal (buf[PAGE - 2], 0x42);
  /* The byte beyond the end of the store: not part of the disk, zero. */
  assert_int_equal (buf[PAGE - 1], 0);
  expect_end (snap);
  store_snapshot_end (snap);
  check_live_page (s, pages[3], 3);
  alarm (0);
  store_destroy (s);
}

/* --- point in time ------------------------------------------------------ */

static void
test_snapshot_is_point_in_time (void **state)
{
  (void) state;
  struct store *s = store_create (16 * PAGE, PAGE);
  uint8_t buf[PAGE];

  assert_non_null (s);
  /* Pages 0..9 except 4 at version 1. */
  for (uint64_t p = 0; p < 10; p++)
    if (p != 4)
      write_page (s, p, 1);

  struct store_snapshot *snap = store_snapshot_begin (s);
  assert_non_null (snap);
  for (uint64_t p = 0; p < 3; p++) {
    expect_next (snap, p, buf);
    check_page (buf, p, 1, "snapshot");
  }
  assert_int_equal (store_snapshot_preserved_bytes (snap), 0);

  /* Pages the walk has passed. */
  write_page (s, 0, 2);
  assert_int_equal (store_zero (s, PAGE, 1 * PAGE), 0);
  assert_int_equal (store_zero (s, 100, 2 * PAGE + 50), 0);
  assert_int_equal (store_snapshot_preserved_bytes (snap), 0);

  /* Pages ahead of the walk. */
  uint8_t part[100];
  memset (part, 0x33, sizeof part);
  assert_int_equal (store_write (s, part, sizeof part, 3 * PAGE + 50), 0);
  write_page (s, 5, 2);
  write_page (s, 5, 3);                              /* twice: kept once */
  assert_int_equal (store_zero (s, 20, 6 * PAGE + 10), 0);
  assert_int_equal (store_trim (s, PAGE, 7 * PAGE), 0);
  assert_int_equal (store_trim (s, PAGE, 8 * PAGE), 0);
  write_page (s, 8, 2);                              /* freed, then rewritten */
  assert_int_equal (store_zero (s, 10, 9 * PAGE), 0);
  assert_int_equal (store_write (s, part, sizeof part, 9 * PAGE + 3900), 0);
  /* Pages absent at the instant. */
  write_page (s, 4, 2);
  write_page (s, 12, 2);
  write_page (s, 13, 2);
  assert_int_equal (store_trim (s, PAGE, 13 * PAGE), 0);

  /* One copy each of pages 3, 5, 6, 7, 8 and 9. */
  if (store_snapshot_preserved_bytes (snap) != 6 * PAGE)
    fail_msg ("preserved %" PRIu64 " bytes after changing 6 pages ahead of the "
              "walk, want %u", store_snapshot_preserved_bytes (snap), 6 * PAGE);

  const uint64_t rest[] = { 3, 5, 6, 7, 8, 9 };
  for (size_t i = 0; i < sizeof rest / sizeof rest[0]; i++) {
    expect_next (snap, rest[i], buf);
    check_page (buf, rest[i], 1, "snapshot");
  }
  expect_end (snap);
  /* The walk is over: nothing is kept, and later writes keep nothing. */
  assert_int_equal (store_snapshot_preserved_bytes (snap), 0);
  write_page (s, 9, 4);
  assert_int_equal (store_snapshot_preserved_bytes (snap), 0);
  store_snapshot_end (snap);

  /* The live store has the new contents. */
  uint8_t want[PAGE];
  check_live_page (s, 0, 2);
  assert_int_equal (store_read (s, buf, PAGE, 1 * PAGE), 0);
  memset (want, 0, PAGE);
  assert_memory_equal (buf, want, PAGE);
  fill_page (want, 2, 1);
  memset (want + 50, 0, 100);
  assert_int_equal (store_read (s, buf, PAGE, 2 * PAGE), 0);
  assert_memory_equal (buf, want, PAGE);
  fill_page (want, 3, 1);
  memset (want + 50, 0x33, 100);
  assert_int_equal (store_read (s, buf, PAGE, 3 * PAGE), 0);
  assert_memory_equal (buf, want, PAGE);
  check_live_page (s, 4, 2);
  check_live_page (s, 5, 3);
  fill_page (want, 6, 1);
  memset (want + 10, 0, 20);
  assert_int_equal (store_read (s, buf, PAGE, 6 * PAGE), 0);
  assert_memory_equal (buf, want, PAGE);
  assert_int_equal (store_read (s, buf, PAGE, 7 * PAGE), 0);
  memset (want, 0, PAGE);
  assert_memory_equal (buf, want, PAGE);
  check_live_page (s, 8, 2);
  check_live_page (s, 9, 4);
  check_live_page (s, 12, 2);

  /* A second snapshot sees the store as it is now: pages 1, 7 and 13
   * are holes, the others allocated. */
  snap = store_snapshot_begin (s);
  assert_non_null (snap);
  const uint64_t now[] = { 0, 2, 3, 4, 5, 6, 8, 9, 12 };
  for (size_t i = 0; i < sizeof now / sizeof now[0]; i++) {
    uint8_t live[PAGE];
    expect_next (snap, now[i], buf);
    assert_int_equal (store_read (s, live, PAGE, now[i] * PAGE), 0);
    assert_memory_equal (buf, live, PAGE);
  }
  expect_end (snap);
  store_snapshot_end (snap);
  store_destroy (s);
}

/* Trimming or zeroing everything after the instant: the snapshot still
 * has every page. */
static void
test_snapshot_keeps_pages_trimmed_after_begin (void **state)
{
  (void) state;
  for (int use_zero = 0; use_zero <= 1; use_zero++) {
    struct store *s = store_create (8 * PAGE + 100, PAGE);
    uint8_t buf[PAGE];

    assert_non_null (s);
    for (uint64_t p = 0; p < 8; p++)
      write_page (s, p, 5);
    struct store_snapshot *snap = store_snapshot_begin (s);
    assert_non_null (snap);
    expect_next (snap, 0, buf);
    check_page (buf, 0, 5, "snapshot");
    assert_int_equal ((use_zero ? store_zero : store_trim) (s, 8 * PAGE + 100, 0), 0);
    assert_int_equal (store_allocated_bytes (s), 0);
    for (uint64_t p = 1; p < 8; p++) {
      expect_next (snap, p, buf);
      check_page (buf, p, 5, use_zero ? "snapshot after zero" : "snapshot after trim");
    }
    expect_end (snap);
    store_snapshot_end (snap);
    store_destroy (s);
  }
}

/* --- one at a time, abandoning, change tracking ------------------------- */

static void
test_snapshot_second_begin_is_busy (void **state)
{
  (void) state;
  struct store *s = store_create (8 * PAGE, PAGE);

  assert_non_null (s);
  write_page (s, 1, 1);
  struct store_snapshot *snap = store_snapshot_begin (s);
  assert_non_null (snap);
  clear_error ();
  errno = 0;
  struct store_snapshot *second = store_snapshot_begin (s);
  assert_null (second);
  assert_int_equal (errno, EBUSY);
  assert_string_not_equal (md_error (), "");
  /* The running one is unaffected. */
  uint8_t buf[PAGE];
  expect_next (snap, 1, buf);
  check_page (buf, 1, 1, "snapshot");
  store_snapshot_end (snap);

  /* After end, a new one may begin. */
  snap = store_snapshot_begin (s);
  assert_non_null (snap);
  store_snapshot_end (snap);
  store_destroy (s);
}

static void
test_snapshot_end_early_frees_preserved (void **state)
{
  (void) state;
  struct store *s = store_create (32 * PAGE, PAGE);
  uint8_t buf[PAGE];

  assert_non_null (s);
  for (uint64_t p = 0; p < 32; p++)
    write_page (s, p, 1);

  /* Abandoned after one page. */
  struct store_snapshot *snap = store_snapshot_begin (s);
  assert_non_null (snap);
  expect_next (snap, 0, buf);
  for (uint64_t p = 0; p < 32; p++)
    write_page (s, p, 2);
  assert_int_equal (store_snapshot_preserved_bytes (snap), 31 * PAGE);
  store_snapshot_end (snap);          /* ASan reports a leak if not freed */

  /* Abandoned before the first page, with pages freed after the instant. */
  snap = store_snapshot_begin (s);
  assert_non_null (snap);
  assert_int_equal (store_snapshot_preserved_bytes (snap), 0);
  assert_int_equal (store_trim (s, 16 * PAGE, 0), 0);
  write_page (s, 20, 3);
  assert_int_equal (store_snapshot_preserved_bytes (snap), 17 * PAGE);
  store_snapshot_end (snap);

  /* The next snapshot starts from nothing and shows the live store. */
  snap = store_snapshot_begin (s);
  assert_non_null (snap);
  assert_int_equal (store_snapshot_preserved_bytes (snap), 0);
  for (uint64_t p = 16; p < 32; p++) {
    expect_next (snap, p, buf);
    check_page (buf, p, p == 20 ? 3 : 2, "snapshot after abandoned ones");
  }
  expect_end (snap);
  store_snapshot_end (snap);
  assert_int_equal (store_allocated_bytes (s), 16 * PAGE);
  store_destroy (s);
}

static void
test_snapshot_had_changes (void **state)
{
  (void) state;
  struct store *s = store_create (8 * PAGE, PAGE);
  struct store_snapshot *snap;

  assert_non_null (s);
  store_clear_changed (s);
  snap = store_snapshot_begin (s);
  assert_non_null (snap);
  assert_false (store_snapshot_had_changes (snap));
  store_snapshot_end (snap);

  write_page (s, 1, 1);
  snap = store_snapshot_begin (s);
  assert_non_null (snap);
  assert_true (store_snapshot_had_changes (snap));
  assert_false (store_changed (s));      /* cleared at the instant */
  write_page (s, 2, 1);                  /* a change during the walk ... */
  assert_true (store_changed (s));
  assert_true (store_snapshot_had_changes (snap));
  store_snapshot_end (snap);

  snap = store_snapshot_begin (s);       /* ... is one for the next snapshot */
  assert_non_null (snap);
  assert_true (store_snapshot_had_changes (snap));
  store_snapshot_end (snap);

  snap = store_snapshot_begin (s);       /* nothing since */
  assert_non_null (snap);
  assert_false (store_snapshot_had_changes (snap));
  store_snapshot_end (snap);

  store_mark_changed (s);                /* a failed save asks for a retry */
  snap = store_snapshot_begin (s);
  assert_non_null (snap);
  assert_true (store_snapshot_had_changes (snap));
  store_snapshot_end (snap);

  assert_int_equal (store_trim (s, PAGE, PAGE), 0);
  store_clear_changed (s);               /* as after a load */
  snap = store_snapshot_begin (s);
  assert_non_null (snap);
  assert_false (store_snapshot_had_changes (snap));
  store_snapshot_end (snap);
  store_destroy (s);
}

/* Loading fills pages in place; a snapshot gives them back. */
static void
test_snapshot_of_loaded_pages (void **state)
{
  (void) state;
  struct store *s = store_create (64 * PAGE, PAGE);
  const uint64_t pages[] = { 1, 7, 63 };
  uint8_t buf[PAGE];

  assert_non_null (s);
  for (size_t i = 0; i < 3; i++) {
    uint8_t *p = store_page_for_load (s, pages[i]);
    assert_non_null (p);
    fill_page (p, pages[i], 9);
  }
  store_clear_changed (s);
  assert_false (store_changed (s));
  for (size_t i = 0; i < 3; i++)
    check_live_page (s, pages[i], 9);
  struct store_snapshot *snap = store_snapshot_begin (s);
  assert_non_null (snap);
  assert_false (store_snapshot_had_changes (snap));
  for (size_t i = 0; i < 3; i++) {
    expect_next (snap, pages[i], buf);
    check_page (buf, pages[i], 9, "snapshot of loaded pages");
  }
  expect_end (snap);
  store_snapshot_end (snap);
  store_destroy (s);
}

/* --- concurrent writers --------------------------------------------------
 *
 * WRITERS threads each own NPAGES consecutive pages and perform operations
 * 1, 2, 3, ... in order, one at a time.  Operation k is a function of k
 * alone: a whole-page write of one page or a single two-page write (both
 * stamp sequence number k into every page they write), or a whole-page
 * trim/zero.  So the state of a thread's pages after its first K
 * operations is known exactly.
 *
 * What point-in-time promises (src/store/store.h): every write acknowledged
 * before store_snapshot_begin is in the snapshot, none that started after
 * it returned is, and each request is in or out as a whole.  For one
 * thread, whose operations are sequential, that means the snapshot shows
 * its pages exactly as after some prefix of K operations, with
 *   done-before-begin <= K <= started-when-begin-returned.
 * The test checks that for every thread and every snapshot.
 *
 * Half the walks are paced: after the first page of a thread's block is
 * returned, the walk waits until that thread has completed PACE more
 * operations.  Every page is rewritten at least every HISTORY operations
 * (below), so a snapshot that copied live pages without copy-on-write
 * would show that thread's first page from before the wait and its later
 * pages from at least PACE - HISTORY > HISTORY operations after it, which
 * matches no single K: the test fails on such a store.  The other walks
 * run free, to let the races happen at random places.
 */
#define WRITERS 4
#define NPAGES 16
#define ROUNDS 16
/* Every page of a thread is touched by at least one write in any HISTORY
 * consecutive operations of that thread (a page j gets a one-page write at
 * some k = j mod NPAGES with k prime to 21 within 21*NPAGES operations). */
#define HISTORY (21 * NPAGES)
#define PACE (2 * HISTORY + NPAGES)

enum op_kind { OP_WRITE1, OP_WRITE2, OP_TRIM, OP_ZERO };

static enum op_kind
op_kind (uint64_t k)
{
  if (k % 7 == 0)
    return k % 14 == 0 ? OP_ZERO : OP_TRIM;
  return k % 3 == 0 ? OP_WRITE2 : OP_WRITE1;
}

/* The first page (within the thread's NPAGES) operation k touches;
 * OP_WRITE2 also touches the next one. */
static unsigned
op_page (uint64_t k)
{
  return op_kind (k) == OP_WRITE2 ? k % (NPAGES - 1) : k % NPAGES;
}

/* The contents of page J of thread T stamped with sequence K: a header
 * naming all three, then bytes derived from them. */
static void
stamp_page (uint8_t *buf, unsigned t, unsigned j, uint64_t k)
{
  uint64_t words[PAGE / 8];
  uint64_t x = k * 0x9E3779B97F4A7C15ull ^ ((uint64_t) t << 32 | j);

  words[0] = 0x5EC0000000000000ull | (uint64_t) t << 16 | j;
  words[1] = k;
  for (unsigned i = 2; i < PAGE / 8; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    words[i] = x;
  }
  memcpy (buf, words, PAGE);
}

/* The sequence number stamped in BUF for page J of thread T, or 0 when
 * the page is torn or belongs to another page. */
static uint64_t
page_sequence (const uint8_t *buf, unsigned t, unsigned j)
{
  uint64_t header[2];
  uint8_t want[PAGE];

  memcpy (header, buf, sizeof header);
  if (header[0] != (0x5EC0000000000000ull | (uint64_t) t << 16 | j) || header[1] == 0)
    return 0;
  stamp_page (want, t, j, header[1]);
  return memcmp (buf, want, PAGE) == 0 ? header[1] : 0;
}

struct writer {
  struct store *store;
  unsigned t;
  pthread_t thread;
  _Atomic uint64_t started;     /* operations begun: set before each one */
  _Atomic uint64_t done;        /* operations completed: set after each one */
  char error[256];
};

static _Atomic bool writers_stop;

static uint64_t
writer_page_index (unsigned t, unsigned j)
{
  return (uint64_t) t * NPAGES + j;
}

static void *
writer_run (void *arg)
{
  struct writer *w = arg;
  uint8_t *buf = malloc (2 * PAGE);

  if (buf == NULL) {
    snprintf (w->error, sizeof w->error, "out of memory");
    return NULL;
  }
  for (uint64_t k = 1; !atomic_load (&writers_stop); k++) {
    unsigned j = op_page (k);
    uint64_t offset = writer_page_index (w->t, j) * PAGE;
    int r;

    atomic_store (&w->started, k);
    switch (op_kind (k)) {
    case OP_WRITE1:
      stamp_page (buf, w->t, j, k);
      r = store_write (w->store, buf, PAGE, offset);
      break;
    case OP_WRITE2:
      stamp_page (buf, w->t, j, k);
      stamp_page (buf + PAGE, w->t, j + 1, k);
      r = store_write (w->store, buf, 2 * PAGE, offset);
      break;
    case OP_TRIM:
      r = store_trim (w->store, PAGE, offset);
      break;
    default:
      r = store_zero (w->store, PAGE, offset);
      break;
    }
    if (r == -1) {
      snprintf (w->error, sizeof w->error, "operation %" PRIu64 ": %s", k, md_error ());
      break;
    }
    atomic_store (&w->done, k);
  }
  free (buf);
  return NULL;
}

/* The state of one thread's pages: the sequence stamped in each, 0 for a
 * hole. */
struct thread_pages {
  uint64_t seq[NPAGES];
};

static void
apply_op (struct thread_pages *m, uint64_t k)
{
  unsigned j = op_page (k);

  switch (op_kind (k)) {
  case OP_WRITE1: m->seq[j] = k; break;
  case OP_WRITE2: m->seq[j] = m->seq[j + 1] = k; break;
  default: m->seq[j] = 0; break;
  }
}

/* The least K in [LO, HI] such that the thread's pages after K operations
 * are SEEN, or 0 when there is none (K >= 1 whenever LO >= 1).
 *
 * A page's state after K operations is set by the last operation before K
 * that touched it, and every page is touched within any HISTORY
 * consecutive operations, so the search starts HISTORY operations before
 * LO (with the pages unknown until touched) rather than at 1. */
static uint64_t
find_prefix (const struct thread_pages *seen, uint64_t lo, uint64_t hi)
{
  struct thread_pages m = { { 0 } };
  bool known[NPAGES];
  unsigned mismatches = 0;
  uint64_t start = lo > HISTORY ? lo - HISTORY : 1;

  for (unsigned j = 0; j < NPAGES; j++) {
    known[j] = start == 1;          /* from the beginning: all holes */
    mismatches += !known[j] || m.seq[j] != seen->seq[j];
  }
  for (uint64_t k = start; k <= hi; k++) {
    unsigned j = op_page (k), n = op_kind (k) == OP_WRITE2 ? 2 : 1;
    for (unsigned i = j; i < j + n; i++)
      mismatches -= !known[i] || m.seq[i] != seen->seq[i];
    apply_op (&m, k);
    for (unsigned i = j; i < j + n; i++) {
      known[i] = true;
      mismatches += m.seq[i] != seen->seq[i];
    }
    if (k >= lo && mismatches == 0)
      return k;
  }
  return 0;
}

static void
format_pages (char *out, size_t size, const struct thread_pages *p)
{
  size_t used = 0;
  for (unsigned j = 0; j < NPAGES && used < size; j++)
    used += (size_t) snprintf (out + used, size - used, " %" PRIu64, p->seq[j]);
}

static double
now_seconds (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Wait until writer W has completed operation TARGET.  Progress, not
 * time, is what we wait for; the deadline only turns a store that blocks
 * writers during a snapshot (or a writer that failed) into a failure
 * instead of a hang.  Returns false with FAILURE set then. */
static bool
wait_for_writer (struct writer *w, uint64_t target, char *failure, size_t size)
{
  double deadline = now_seconds () + 30;

  while (atomic_load (&w->done) < target) {
    if (now_seconds () > deadline) {
      snprintf (failure, size, "writer %u made no progress for 30 s (done %" PRIu64
                ", want %" PRIu64 "): writes blocked during a snapshot, or failed",
                w->t, atomic_load (&w->done), target);
      return false;
    }
    sched_yield ();
  }
  return true;
}

static bool
wait_for_writers (struct writer *w, uint64_t ahead, char *failure, size_t size)
{
  uint64_t target[WRITERS];

  for (unsigned t = 0; t < WRITERS; t++)
    target[t] = atomic_load (&w[t].done) + ahead;
  for (unsigned t = 0; t < WRITERS; t++)
    if (!wait_for_writer (&w[t], target[t], failure, size))
      return false;
  return true;
}

static void
test_snapshot_consistent_under_concurrent_writes (void **state)
{
  (void) state;
  /* Spare pages after the writers' ones must never appear. */
  struct store *s = store_create ((WRITERS * NPAGES + 8) * PAGE, PAGE);
  struct writer w[WRITERS];
  uint8_t buf[PAGE];

  assert_non_null (s);
  atomic_store (&writers_stop, false);
  for (unsigned t = 0; t < WRITERS; t++) {
    w[t] = (struct writer) { .store = s, .t = t };
    assert_int_equal (pthread_create (&w[t].thread, NULL, writer_run, &w[t]), 0);
  }

  char failure[1024] = "";
  for (unsigned round = 0; round < ROUNDS && failure[0] == '\0'; round++) {
    bool paced = round % 2 == 0;
    uint64_t done_before[WRITERS], started_after[WRITERS];
    struct thread_pages seen[WRITERS];

    if (!wait_for_writers (w, 2 * NPAGES, failure, sizeof failure))
      break;
    for (unsigned t = 0; t < WRITERS; t++)
      done_before[t] = atomic_load (&w[t].done);
    struct store_snapshot *snap = store_snapshot_begin (s);
    for (unsigned t = 0; t < WRITERS; t++)
      started_after[t] = atomic_load (&w[t].started);
    if (snap == NULL) {
      snprintf (failure, sizeof failure, "store_snapshot_begin: %s", md_error ());
      break;
    }

    memset (seen, 0, sizeof seen);
    uint64_t index, previous = 0;
    bool first = true, paced_thread[WRITERS] = { false };
    int r;
    while ((r = store_snapshot_next (snap, &index, buf)) == 1) {
      unsigned t = index / NPAGES, j = index % NPAGES;
      if (!first && index <= previous) {
        snprintf (failure, sizeof failure, "round %u: page %" PRIu64 " after page %"
                  PRIu64, round, index, previous);
        break;
      }
      first = false;
      previous = index;
      if (t >= WRITERS) {
        snprintf (failure, sizeof failure, "round %u: page %" PRIu64
                  " was never written but is in the snapshot", round, index);
        break;
      }
      seen[t].seq[j] = page_sequence (buf, t, j);
      if (seen[t].seq[j] == 0) {
        snprintf (failure, sizeof failure, "round %u: page %" PRIu64
                  " (thread %u page %u) is torn or misplaced in the snapshot",
                  round, index, t, j);
        break;
      }
      if (paced && !paced_thread[t]) {
        paced_thread[t] = true;
        if (!wait_for_writer (&w[t], atomic_load (&w[t].done) + PACE,
                              failure, sizeof failure))
          break;
      }
    }
    store_snapshot_end (snap);
    if (failure[0] != '\0')
      break;
    if (r != 0) {
      snprintf (failure, sizeof failure, "store_snapshot_next: %d", r);
      break;
    }

    for (unsigned t = 0; t < WRITERS; t++) {
      if (find_prefix (&seen[t], done_before[t], started_after[t]) == 0) {
        char pages[512];
        format_pages (pages, sizeof pages, &seen[t]);
        snprintf (failure, sizeof failure,
                  "round %u (%s walk): thread %u's pages in the snapshot (sequence "
                  "numbers, 0 = absent):%s match no prefix of its writes between "
                  "%" PRIu64 " (acknowledged before begin) and %" PRIu64
                  " (started before begin returned)", round,
                  paced ? "paced" : "free", t, pages, done_before[t], started_after[t]);
        break;
      }
    }
  }

  atomic_store (&writers_stop, true);
  for (unsigned t = 0; t < WRITERS; t++)
    pthread_join (w[t].thread, NULL);
  for (unsigned t = 0; t < WRITERS; t++)
    if (w[t].error[0] != '\0')
      fail_msg ("writer %u: %s", t, w[t].error);
  if (failure[0] != '\0')
    fail_msg ("%s", failure);

  /* At rest, the live store is exactly every thread's writes. */
  for (unsigned t = 0; t < WRITERS; t++) {
    struct thread_pages want = { { 0 } };
    uint64_t done = atomic_load (&w[t].done);
    for (uint64_t k = 1; k <= done; k++)
      apply_op (&want, k);
    for (unsigned j = 0; j < NPAGES; j++) {
      assert_int_equal (store_read (s, buf, PAGE, writer_page_index (t, j) * PAGE), 0);
      uint64_t got = 0;
      bool zero = true;
      for (unsigned i = 0; i < PAGE && zero; i++)
        zero = buf[i] == 0;
      if (!zero)
        got = page_sequence (buf, t, j);
      if (got != want.seq[j] || (!zero && got == 0))
        fail_msg ("live store, thread %u page %u: sequence %" PRIu64 ", want %"
                  PRIu64, t, j, got, want.seq[j]);
    }
  }
  store_destroy (s);
}

/* With pages larger than the 4 KiB copy-on-write block, a change keeps only
 * the blocks it overwrites; blocks changed again, and a later whole-page
 * write or trim of a page with kept blocks, must still give the snapshot
 * the page as it was at the instant. */
static void
test_snapshot_keeps_blocks_of_large_pages (void **state)
{
  const uint32_t big = 32768, block = 4096;
  struct store *s = store_create (8 * big, big);
  uint8_t orig[4][32768], buf[32768], scribble[32768];
  uint64_t index;

  (void) state;
  assert_non_null (s);
  for (unsigned p = 0; p < 4; p++) {
    for (unsigned i = 0; i < big; i++)
      orig[p][i] = (uint8_t) (p * 37 + i * 13 + 1);
    assert_int_equal (store_write (s, orig[p], big, (uint64_t) p * big), 0);
  }
  memset (scribble, 0xEE, sizeof scribble);

  struct store_snapshot *snap = store_snapshot_begin (s);
  assert_non_null (snap);

  /* Page 0: two blocks, one of them twice, and a zeroed range. */
  assert_int_equal (store_write (s, scribble, 100, block + 10), 0);
  assert_int_equal (store_write (s, scribble, block + 200, 5 * block - 100), 0);
  assert_int_equal (store_zero (s, 50, 7 * block + 1), 0);
  assert_int_equal (store_snapshot_preserved_bytes (snap), 5 * block); /* blocks 1, 4-6, 7 */
  /* Page 1: a partial write, then the whole page trimmed. */
  assert_int_equal (store_write (s, scribble, 10, big + 3 * block), 0);
  assert_int_equal (store_trim (s, big, big), 0);
  /* Page 2: a partial write, then the whole page rewritten. */
  assert_int_equal (store_write (s, scribble, 10, 2 * big + 6 * block), 0);
  assert_int_equal (store_write (s, scribble, big, 2 * big), 0);
  /* Page 3: one whole-page write, kept without copying blocks. */
  assert_int_equal (store_write (s, scribble, big, 3 * big), 0);
  assert_int_equal (store_snapshot_preserved_bytes (snap), 5 * block + 3 * (uint64_t) big);

  for (unsigned p = 0; p < 4; p++) {
    assert_int_equal (store_snapshot_next (snap, &index, buf), 1);
    assert_int_equal (index, p);
    if (memcmp (buf, orig[p], big) != 0)
      fail_msg ("snapshot page %u differs from the page at the instant", p);
  }
  assert_int_equal (store_snapshot_next (snap, &index, buf), 0);
  assert_int_equal (store_snapshot_preserved_bytes (snap), 0);
  store_snapshot_end (snap);

  /* The live disk has every change. */
  uint8_t want[32768];
  memcpy (want, orig[0], big);
  memset (want + block + 10, 0xEE, 100);
  memset (want + 5 * block - 100, 0xEE, block + 200);
  memset (want + 7 * block + 1, 0, 50);
  assert_int_equal (store_read (s, buf, big, 0), 0);
  assert_memory_equal (buf, want, big);
  memset (want, 0, big);
  assert_int_equal (store_read (s, buf, big, big), 0);
  assert_memory_equal (buf, want, big);
  assert_int_equal (store_read (s, buf, big, 2 * big), 0);
  assert_memory_equal (buf, scribble, big);
  store_destroy (s);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_snapshot_empty_store),
    cmocka_unit_test (test_snapshot_pages_in_order),
    cmocka_unit_test (test_snapshot_allocated_zero_page),
    cmocka_unit_test (test_snapshot_sparse_huge_store),
    cmocka_unit_test (test_snapshot_is_point_in_time),
    cmocka_unit_test (test_snapshot_keeps_pages_trimmed_after_begin),
    cmocka_unit_test (test_snapshot_keeps_blocks_of_large_pages),
    cmocka_unit_test (test_snapshot_second_begin_is_busy),
    cmocka_unit_test (test_snapshot_end_early_frees_preserved),
    cmocka_unit_test (test_snapshot_had_changes),
    cmocka_unit_test (test_snapshot_of_loaded_pages),
    cmocka_unit_test (test_snapshot_consistent_under_concurrent_writes),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
