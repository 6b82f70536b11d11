/* store/infile.c: pages still in the file, the fault hook, and every path
 * that meets them (read, write, zero, trim, extents, the snapshot walk),
 * alone and from many threads at once.
 *
 * The "file" here is a function of the page index, and the hook loads
 * "frames" of FRAME_PAGES pages once each (a compare-and-swap decides who
 * loads; the others wait), counting loads: each frame must be loaded once
 * however many threads fault it.  Frame DAMAGED fails to load.
 */
#include <errno.h>
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

#include <cmocka.h>

#include "common/error.h"
#include "store/store.h"

#define PAGE 4096u
#define FRAME_PAGES 8u
#define FRAMES 64u
#define PAGES (FRAMES * FRAME_PAGES * 2)      /* every other frame-span is a hole */
#define SIZE ((uint64_t) PAGES * PAGE)
#define NO_DAMAGE UINT32_MAX

enum { ABSENT, LOADING, RESIDENT, FAILED };

struct fake_file {
  struct store *store;
  _Atomic unsigned state[FRAMES];
  _Atomic unsigned loads[FRAMES];
  _Atomic unsigned hook_calls;
  _Atomic unsigned client_calls;        /* of which for a request */
  unsigned damaged;
};

/* Frame K holds pages [2K * FRAME_PAGES, 2K * FRAME_PAGES + FRAME_PAGES). */
static uint64_t frame_first_page (unsigned k) { return (uint64_t) 2 * k * FRAME_PAGES; }

static bool
page_in_a_frame (uint64_t p)
{
  return (p / FRAME_PAGES) % 2 == 0;
}

static uint8_t
file_byte (uint64_t page, size_t i)
{
  return (uint8_t) ((page * 7 + i * 13) | 1);
}

static void
file_page (uint64_t page, uint8_t *buf)
{
  for (size_t i = 0; i < PAGE; i++)
    buf[i] = file_byte (page, i);
}

static int
fake_fault (void *opaque, uint64_t page, bool by_client)
{
  struct fake_file *f = opaque;
  unsigned k = (unsigned) (page / FRAME_PAGES / 2);
  unsigned expected = ABSENT;

  atomic_fetch_add (&f->hook_calls, 1);
  if (by_client)
    atomic_fetch_add (&f->client_calls, 1);
  assert_true (page_in_a_frame (page));
  if (atomic_compare_exchange_strong (&f->state[k], &expected, LOADING)) {
    atomic_fetch_add (&f->loads[k], 1);
    if (k == f->damaged) {
      atomic_store (&f->state[k], FAILED);
    }
    else {
      uint8_t buf[PAGE];
      for (uint64_t p = frame_first_page (k); p < frame_first_page (k) + FRAME_PAGES; p++) {
        file_page (p, buf);
        assert_int_equal (store_install_page (f->store, p, buf), 0);
      }
      atomic_store (&f->state[k], RESIDENT);
    }
  }
  while (atomic_load (&f->state[k]) == LOADING)
    sched_yield ();
  if (atomic_load (&f->state[k]) == FAILED) {
    md_error_set ("frame %u is damaged", k);
    errno = EIO;
    return -1;
  }
  return 0;
}

static struct fake_file *
fake_new (unsigned damaged)
{
  struct fake_file *f = calloc (1, sizeof *f);

  assert_non_null (f);
  f->damaged = damaged;
  f->store = store_create (SIZE, PAGE);
  assert_non_null (f->store);
  store_set_fault_hook (f->store, fake_fault, f);
  for (unsigned k = 0; k < FRAMES; k++)
    assert_int_equal (store_mark_in_file (f->store, frame_first_page (k), FRAME_PAGES), 0);
  return f;
}

static void
fake_free (struct fake_file *f)
{
  store_destroy (f->store);
  free (f);
}

static void
assert_page_is_file (struct store *store, uint64_t page)
{
  uint8_t got[PAGE], want[PAGE];

  assert_int_equal (store_read (store, got, PAGE, page * PAGE), 0);
  file_page (page, want);
  assert_memory_equal (got, want, PAGE);
}

/* ---- one thread ---- */

static void
test_marking (void **state)
{
  (void) state;
  struct store *store = store_create (SIZE, PAGE);

  assert_int_equal (store_mark_in_file (store, 0, 1), -1);   /* no hook */
  assert_non_null (strstr (md_error (), "no fault hook"));
  store_set_fault_hook (store, fake_fault, NULL);
  assert_int_equal (store_mark_in_file (store, PAGES - 1, 2), -1);
  assert_int_equal (store_mark_in_file (store, 3, 2), 0);
  assert_int_equal (store_mark_in_file (store, 4, 1), -1);   /* not a hole */
  assert_true (store_page_in_file (store, 3));
  assert_false (store_page_in_file (store, 5));
  assert_int_equal (store_allocated_bytes (store), 2 * PAGE);
  store_destroy (store);                                     /* frees no sentinel */
}

static int
count_extent (void *opaque, uint64_t offset, uint64_t len, bool allocated)
{
  uint64_t *data_bytes = opaque;
  (void) offset;
  if (allocated)
    *data_bytes += len;
  return 0;
}

static void
test_read_and_holes (void **state)
{
  (void) state;
  struct fake_file *f = fake_new (NO_DAMAGE);
  uint8_t buf[3 * PAGE];
  uint64_t data_bytes = 0;

  /* Before anything is loaded: the marked pages are data, the rest holes. */
  assert_int_equal (store_allocated_bytes (f->store), (uint64_t) FRAMES * FRAME_PAGES * PAGE);
  assert_int_equal (store_extents (f->store, 0, SIZE, count_extent, &data_bytes), 0);
  assert_int_equal (data_bytes, (uint64_t) FRAMES * FRAME_PAGES * PAGE);
  assert_int_equal (atomic_load (&f->hook_calls), 0);

  /* Holes never fault. */
  assert_int_equal (store_read (f->store, buf, 2 * PAGE, FRAME_PAGES * PAGE), 0);
  for (size_t i = 0; i < 2 * PAGE; i++)
    assert_int_equal (buf[i], 0);
  assert_int_equal (atomic_load (&f->hook_calls), 0);

  /* One page loads its frame, once. */
  assert_page_is_file (f->store, 2 * FRAME_PAGES + 3);
  assert_int_equal (atomic_load (&f->loads[1]), 1);
  assert_false (store_page_in_file (f->store, 2 * FRAME_PAGES));
  assert_page_is_file (f->store, 2 * FRAME_PAGES);
  assert_int_equal (atomic_load (&f->loads[1]), 1);
  assert_int_equal (atomic_load (&f->loads[0]), 0);
  assert_true (store_page_in_file (f->store, 0));

  /* A read across a hole and two frames. */
  uint64_t off = (uint64_t) (4 * FRAME_PAGES - 1) * PAGE + 100;
  assert_int_equal (store_read (f->store, buf, sizeof buf, off), 0);
  for (size_t i = 0; i < sizeof buf; i++) {
    uint64_t p = (off + i) / PAGE;
    uint8_t want = page_in_a_frame (p) ? file_byte (p, (off + i) % PAGE) : 0;
    assert_int_equal (buf[i], want);
  }
  assert_int_equal (store_allocated_bytes (f->store), (uint64_t) FRAMES * FRAME_PAGES * PAGE);
  fake_free (f);
}

static void
test_changes_keep_the_rest (void **state)
{
  (void) state;
  struct fake_file *f = fake_new (NO_DAMAGE);
  uint8_t buf[PAGE], want[PAGE];
  const uint64_t p = 4 * FRAME_PAGES + 1;       /* frame 2 */

  /* A partial write to a page not loaded: the other bytes are the file's. */
  memset (buf, 0xee, 100);
  assert_int_equal (store_write (f->store, buf, 100, p * PAGE + 50), 0);
  file_page (p, want);
  memset (want + 50, 0xee, 100);
  assert_int_equal (store_read (f->store, buf, PAGE, p * PAGE), 0);
  assert_memory_equal (buf, want, PAGE);

  /* A partial zero of another frame's page, and a trim. */
  const uint64_t q = 6 * FRAME_PAGES + 2;       /* frame 3 */
  assert_int_equal (store_zero (f->store, 10, q * PAGE + 7), 0);
  file_page (q, want);
  memset (want + 7, 0, 10);
  assert_int_equal (store_read (f->store, buf, PAGE, q * PAGE), 0);
  assert_memory_equal (buf, want, PAGE);
  const uint64_t r = 8 * FRAME_PAGES;           /* frame 4 */
  assert_int_equal (store_trim (f->store, PAGE - 1, r * PAGE + 1), 0);
  file_page (r, want);
  memset (want + 1, 0, PAGE - 1);
  assert_int_equal (store_read (f->store, buf, PAGE, r * PAGE), 0);
  assert_memory_equal (buf, want, PAGE);

  /* A whole-page zero of a page not loaded frees it: a hole. */
  const uint64_t s = 10 * FRAME_PAGES + 5;      /* frame 5 */
  uint64_t before = store_allocated_bytes (f->store);
  assert_int_equal (store_zero (f->store, PAGE, s * PAGE), 0);
  assert_int_equal (store_allocated_bytes (f->store), before - PAGE);
  assert_int_equal (store_read (f->store, buf, PAGE, s * PAGE), 0);
  for (size_t i = 0; i < PAGE; i++)
    assert_int_equal (buf[i], 0);
  assert_page_is_file (f->store, s + 1);
  fake_free (f);
}

static void
test_snapshot_walk_faults (void **state)
{
  (void) state;
  struct fake_file *f = fake_new (NO_DAMAGE);
  struct store_snapshot *snap = store_snapshot_begin (f->store);
  uint8_t buf[PAGE], want[PAGE];
  uint64_t index, pages = 0;
  int r;

  assert_non_null (snap);
  /* A client changes a page after the instant, before the walk: the
   * snapshot still has the file's bytes. */
  memset (buf, 0x55, 10);
  assert_int_equal (store_write (f->store, buf, 10, (uint64_t) 40 * FRAME_PAGES * PAGE), 0);
  while ((r = store_snapshot_next (snap, &index, buf)) == 1) {
    assert_true (page_in_a_frame (index));
    file_page (index, want);
    assert_memory_equal (buf, want, PAGE);
    pages++;
  }
  assert_int_equal (r, 0);
  assert_int_equal (pages, FRAMES * FRAME_PAGES);
  store_snapshot_end (snap);
  for (unsigned k = 0; k < FRAMES; k++)
    assert_int_equal (atomic_load (&f->loads[k]), 1);
  /* The hook is told who calls: the client's write, not the walk (the
   * touch order records clients only). */
  assert_int_equal (atomic_load (&f->client_calls), 1);
  assert_true (atomic_load (&f->hook_calls) >= FRAMES);
  fake_free (f);
}

static void
test_damaged_frame (void **state)
{
  (void) state;
  struct fake_file *f = fake_new (7);
  uint8_t buf[PAGE];
  uint64_t index;
  int r;

  errno = 0;
  assert_int_equal (store_read (f->store, buf, PAGE, frame_first_page (7) * PAGE), -1);
  assert_int_equal (errno, EIO);
  assert_non_null (strstr (md_error (), "frame 7 is damaged"));
  assert_int_equal (store_write (f->store, buf, 1, frame_first_page (7) * PAGE + 9), -1);
  assert_int_equal (errno, EIO);
  assert_int_equal (store_zero (f->store, 1, frame_first_page (7) * PAGE), -1);
  /* Its neighbours serve. */
  assert_page_is_file (f->store, frame_first_page (6));
  assert_page_is_file (f->store, frame_first_page (8) + FRAME_PAGES - 1);
  assert_int_equal (atomic_load (&f->loads[7]), 1);

  /* A save never skips it: the walk fails there. */
  struct store_snapshot *snap = store_snapshot_begin (f->store);
  assert_non_null (snap);
  while ((r = store_snapshot_next (snap, &index, buf)) == 1)
    assert_true (index < frame_first_page (7));
  assert_int_equal (r, -1);
  assert_non_null (strstr (md_error (), "frame 7 is damaged"));
  store_snapshot_end (snap);
  fake_free (f);
}

/* ---- many threads ---- */

#define THREADS 8
#define ROUNDS 3000

struct worker {
  struct fake_file *f;
  unsigned t;
  pthread_t thread;
  uint64_t rng;
};

static pthread_barrier_t start_line;

static uint64_t
rng_next (uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Reads everywhere (the same frames as the others, and different ones);
 * writes only to bytes [8t, 8t+8) of pages whose index is t mod THREADS,
 * so that every other byte stays the file's and can be checked. */
static void *
worker_main (void *arg)
{
  struct worker *w = arg;
  uint8_t buf[2 * PAGE], mark[8];

  memset (mark, 0xa0 + w->t, sizeof mark);
  pthread_barrier_wait (&start_line);
  for (unsigned i = 0; i < ROUNDS; i++) {
    uint64_t p = rng_next (&w->rng) % (PAGES - 1);
    uint64_t x = rng_next (&w->rng);
    if (x % 4 == 0 && page_in_a_frame (p)) {
      uint64_t q = p - p % THREADS + w->t;
      if (q < PAGES && page_in_a_frame (q) &&
          store_write (w->f->store, mark, sizeof mark, q * PAGE + 8 * w->t) != 0)
        return "write failed";
      continue;
    }
    if (store_read (w->f->store, buf, sizeof buf, p * PAGE) != 0)
      return "read failed";
    for (size_t j = 0; j < sizeof buf; j++) {
      uint64_t page = p + j / PAGE;
      size_t in = j % PAGE;
      if (!page_in_a_frame (page)) {
        if (buf[j] != 0)
          return "a hole is not zero";
      }
      else if (in < 8 * THREADS && in / 8 == page % THREADS) {
        if (buf[j] != file_byte (page, in) && buf[j] != 0xa0 + page % THREADS)
          return "a written byte is neither the file's nor the writer's";
      }
      else if (buf[j] != file_byte (page, in))
        return "a byte differs from the file's";
    }
  }
  return NULL;
}

static void
test_many_threads_fault (void **state)
{
  (void) state;
  for (unsigned run = 0; run < 4; run++) {
    struct fake_file *f = fake_new (NO_DAMAGE);
    struct worker w[THREADS];

    pthread_barrier_init (&start_line, NULL, THREADS);
    for (unsigned t = 0; t < THREADS; t++) {
      w[t] = (struct worker) { .f = f, .t = t, .rng = 0x9e3779b97f4a7c15ull * (t + 1 + run) };
      assert_int_equal (pthread_create (&w[t].thread, NULL, worker_main, &w[t]), 0);
    }
    for (unsigned t = 0; t < THREADS; t++) {
      void *err;
      pthread_join (w[t].thread, &err);
      if (err)
        fail_msg ("thread %u: %s", t, (const char *) err);
    }
    pthread_barrier_destroy (&start_line);
    for (unsigned k = 0; k < FRAMES; k++)
      assert_true (atomic_load (&f->loads[k]) <= 1);
    fake_free (f);
  }
}

/* A snapshot walk faulting frames while clients fault and write them: the
 * snapshot is the file, whatever was written after its instant. */
struct walker_arg {
  struct fake_file *f;
  const char *error;
};

static void *
snapshot_main (void *arg)
{
  struct walker_arg *a = arg;
  struct store_snapshot *snap;
  uint8_t buf[PAGE], want[PAGE];
  uint64_t index, pages = 0;
  int r;

  snap = store_snapshot_begin (a->f->store);
  pthread_barrier_wait (&start_line);
  while ((r = store_snapshot_next (snap, &index, buf)) == 1) {
    file_page (index, want);
    if (memcmp (buf, want, PAGE) != 0) {
      a->error = "the snapshot is not the file";
      break;
    }
    pages++;
  }
  if (r == -1)
    a->error = "the walk failed";
  else if (a->error == NULL && pages != FRAMES * FRAME_PAGES)
    a->error = "the walk missed pages";
  store_snapshot_end (snap);
  return NULL;
}

static void
test_snapshot_during_faults (void **state)
{
  (void) state;
  struct fake_file *f = fake_new (NO_DAMAGE);
  struct worker w[THREADS - 1];
  struct walker_arg walker = { .f = f };
  pthread_t walker_thread;

  pthread_barrier_init (&start_line, NULL, THREADS);
  assert_int_equal (pthread_create (&walker_thread, NULL, snapshot_main, &walker), 0);
  for (unsigned t = 0; t < THREADS - 1; t++) {
    w[t] = (struct worker) { .f = f, .t = t, .rng = 77 + t };
    assert_int_equal (pthread_create (&w[t].thread, NULL, worker_main, &w[t]), 0);
  }
  for (unsigned t = 0; t < THREADS - 1; t++) {
    void *err;
    pthread_join (w[t].thread, &err);
    if (err)
      fail_msg ("thread %u: %s", t, (const char *) err);
  }
  pthread_join (walker_thread, NULL);
  pthread_barrier_destroy (&start_line);
  if (walker.error)
    fail_msg ("%s", walker.error);
  fake_free (f);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_marking),
    cmocka_unit_test (test_read_and_holes),
    cmocka_unit_test (test_changes_keep_the_rest),
    cmocka_unit_test (test_snapshot_walk_faults),
    cmocka_unit_test (test_damaged_frame),
    cmocka_unit_test (test_many_threads_fault),
    cmocka_unit_test (test_snapshot_during_faults),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
