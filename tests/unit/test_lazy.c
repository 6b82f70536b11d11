/* snapshot/read/lazy.c: a store served from a snapshot before its frames are
 * loaded.  Many threads fault the same and different frames (each frame
 * decoded once, every byte the saved one), saves while frames are still
 * in the file, a damaged middle frame (EIO naming file, frame and byte;
 * other frames serve; a save fails instead of dropping its pages), and a
 * read error, which is not damage (the next request tries again).  All
 * of it at regions of 256 KiB, 1 MiB and 4 MiB (the disk holds at least
 * ten of each; test_incremental loads lazily at a page and at 64 MiB).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "test_snaphelp.h"
#include "snapshot/read/lazy.h"
#include "snapshot/storefile.h"
#include "store/store.h"

#define PAGE 4096u
#define SIZE ((uint64_t) 40 << 20)    /* 40 MiB, about 24 MiB of it data */
#define THREADS 8

/* The region size of the stores under test: main runs the tests once per
 * size. */
static uint32_t region_now = STORE_DEFAULT_REGION_SIZE;
#define REGION ((uint64_t) region_now)

/* The original: runs of data and holes, so frames (a region each) span
 * holes. */
static struct store *
make_original (void)
{
  struct store *s = store_create_regions (SIZE, PAGE, region_now);
  unsigned char buf[PAGE];

  assert_non_null (s);
  for (uint64_t p = 0; p < SIZE / PAGE; p++) {
    if (p % 10 >= 6)
      continue;
    fill_page (buf, p, PAGE, 3);
    assert_int_equal (store_write (s, buf, PAGE, p * PAGE), 0);
  }
  return s;
}

static const char *
save_original (struct store *s, const char *name)
{
  const char *path = scratch_path (name);
  struct snap_write_options o = { .level = 1, .threads = 2 };

  assert_int_equal (save_store (s, path, &o), 0);
  return path;
}

static void
test_open_serves_before_loading (void **state)
{
  (void) state;
  struct store *orig = make_original (), *lazy_store;
  const char *path = save_original (orig, "a.snap");
  uint64_t vsize;
  struct snap_lazy_progress p;
  struct snap_lazy *lazy = snap_lazy_open (path, 0, 0, &lazy_store, &vsize);

  assert_non_null (lazy);
  assert_int_equal (vsize, SIZE);
  assert_true (snap_lazy_frame_count (lazy) >= 5);
  assert_int_equal (store_allocated_bytes (lazy_store), store_allocated_bytes (orig));
  assert_false (store_changed (lazy_store));
  snap_lazy_get_progress (lazy, &p);
  assert_int_equal (p.frames_resident, 0);
  assert_true (snap_reader_fd (snap_lazy_reader (lazy)) >= 0);

  /* One page of the middle frame: that frame alone is decoded. */
  unsigned char got[PAGE], want[PAGE];
  uint64_t page = SIZE / PAGE / 2;
  assert_int_equal (store_read (lazy_store, got, PAGE, page * PAGE), 0);
  assert_int_equal (store_read (orig, want, PAGE, page * PAGE), 0);
  assert_memory_equal (got, want, PAGE);
  snap_lazy_get_progress (lazy, &p);
  assert_int_equal (p.frames_resident, 1);
  assert_int_equal (p.decodes, 1);
  assert_false (snap_lazy_complete (lazy));

  /* Everything else, by frame, as the background loader does. */
  for (size_t k = 0; k < snap_lazy_frame_count (lazy); k++)
    assert_int_equal (snap_lazy_load_frame (lazy, k), 0);
  assert_true (snap_lazy_complete (lazy));
  snap_lazy_get_progress (lazy, &p);
  assert_int_equal (p.decodes, p.frames);
  assert_int_equal (p.bytes_loaded, p.bytes_total);
  snap_lazy_close_file (lazy);
  assert_int_equal (snap_reader_fd (snap_lazy_reader (lazy)), -1);
  assert_stores_equal (orig, lazy_store);

  store_destroy (lazy_store);
  snap_lazy_free (lazy);
  store_destroy (orig);
}

struct reader_arg {
  struct store *orig, *lazy;
  unsigned seed;
  const char *error;
};

static pthread_barrier_t start_line;

static void *
reader_main (void *opaque)
{
  struct reader_arg *a = opaque;
  unsigned char x[3 * PAGE], y[3 * PAGE];
  uint64_t rng = a->seed * 0x9e3779b97f4a7c15ull + 1;

  pthread_barrier_wait (&start_line);
  for (unsigned i = 0; i < 400; i++) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    /* Half the threads start at the same frames, half spread out. */
    uint64_t off = a->seed % 2 ? (rng % (SIZE - sizeof x))
                               : (i * (uint64_t) 997 * PAGE) % (SIZE - sizeof x);
    if (store_read (a->lazy, x, sizeof x, off) != 0
        || store_read (a->orig, y, sizeof y, off) != 0) {
      a->error = "a read failed";
      return NULL;
    }
    if (memcmp (x, y, sizeof x) != 0) {
      a->error = "a read differs from the saved disk";
      return NULL;
    }
  }
  return NULL;
}

/* What plugin/lazyload.c's background thread does: frames from the last
 * down, each only once the clients have not faulted for a while, skipping
 * one another thread is loading, then wait for all. */
static void *
background_main (void *opaque)
{
  struct snap_lazy *lazy = opaque;
  const size_t frames = snap_lazy_frame_count (lazy);
  uint32_t seen = snap_lazy_fault_count (lazy);

  pthread_barrier_wait (&start_line);
  for (size_t next = 0; next < frames; next++) {
    for (uint32_t now; (now = snap_lazy_fault_count (lazy)) != seen; seen = now)
      nanosleep (&(struct timespec) { 0, 1000000 }, NULL);
    if (snap_lazy_try_load_frame (lazy, frames - 1 - next) == -1)
      return (void *) "a background load failed";
  }
  for (size_t k = 0; k < frames; k++)
    if (snap_lazy_load_frame (lazy, k) != 0)
      return (void *) "a background load failed";
  return NULL;
}

/* What plugin/lazyload.c's front thread does: the frames just ahead of
 * the clients' last fault, then sleep until the next fault, until every
 * frame is in or it is told to stop. */
static atomic_bool front_stop;

static void *
front_main (void *opaque)
{
  struct snap_lazy *lazy = opaque;
  const size_t frames = snap_lazy_frame_count (lazy);

  pthread_barrier_wait (&start_line);
  while (!atomic_load (&front_stop) && !snap_lazy_complete (lazy)) {
    uint32_t seen = snap_lazy_fault_count (lazy);
    size_t k = frames, front = snap_lazy_client_front (lazy);
    for (size_t j = front; front != SNAP_LAZY_NO_FRONT && j < frames && j < front + 2; j++)
      if (snap_lazy_frame_absent (lazy, j)) {
        k = j;
        break;
      }
    if (k == frames)
      snap_lazy_wait_for_fault (lazy, seen, 3600 * 1000);
    else if (snap_lazy_try_load_frame (lazy, k) == -1)
      return (void *) "a front load failed";
  }
  return NULL;
}

static void
test_many_threads_fault (void **state)
{
  (void) state;
  struct store *orig = make_original ();
  const char *path = save_original (orig, "b.snap");

  /* Run 0: clients alone; run 1: with a front thread following the
   * clients and a background thread keeping out of their way.  The front
   * thread ends when every frame is in, or (the clients and the
   * background were faster) when woken to stop: it sleeps an hour
   * otherwise, so a lost wake hangs the test. */
  for (unsigned run = 0; run < 2; run++) {
    struct store *lazy_store;
    uint64_t vsize;
    struct snap_lazy *lazy = snap_lazy_open (path, 0, 0, &lazy_store, &vsize);
    struct reader_arg args[THREADS];
    pthread_t tids[THREADS], background, front;
    struct snap_lazy_progress p;
    const unsigned parties = THREADS + 2 * (run == 1);

    assert_non_null (lazy);
    pthread_barrier_init (&start_line, NULL, parties);
    for (unsigned t = 0; t < THREADS; t++) {
      args[t] = (struct reader_arg) { .orig = orig, .lazy = lazy_store, .seed = t + run * 100 };
      assert_int_equal (pthread_create (&tids[t], NULL, reader_main, &args[t]), 0);
    }
    atomic_store (&front_stop, false);
    if (run == 1) {
      assert_int_equal (pthread_create (&background, NULL, background_main, lazy), 0);
      assert_int_equal (pthread_create (&front, NULL, front_main, lazy), 0);
    }
    for (unsigned t = 0; t < THREADS; t++) {
      pthread_join (tids[t], NULL);
      if (args[t].error)
        fail_msg ("thread %u: %s", t, args[t].error);
    }
    if (run == 1) {
      void *error;
      pthread_join (background, &error);
      if (error != NULL)
        fail_msg ("background loader: %s", (const char *) error);
      atomic_store (&front_stop, true);
      snap_lazy_wake_fault_waiters (lazy);
      pthread_join (front, &error);
      if (error != NULL)
        fail_msg ("front loader: %s", (const char *) error);
      assert_true (snap_lazy_complete (lazy));
      assert_stores_equal (orig, lazy_store);
    }
    pthread_barrier_destroy (&start_line);
    snap_lazy_get_progress (lazy, &p);
    /* Nobody decoded a frame twice. */
    assert_true (p.frames_resident <= p.frames);
    assert_int_equal (p.decodes, p.frames_resident);
    assert_int_equal (p.frames_damaged, 0);
    store_destroy (lazy_store);
    snap_lazy_free (lazy);
  }
  store_destroy (orig);
}

/* A client's fault moves the front the front thread follows; a
 * background try of a resident frame does nothing, of an absent one
 * loads it. */
static void
test_client_front (void **state)
{
  (void) state;
  struct store *orig = make_original (), *lazy_store;
  const char *path = save_original (orig, "front.snap");
  uint64_t vsize;
  struct snap_lazy_progress p;
  struct snap_lazy *lazy = snap_lazy_open (path, 0, 0, &lazy_store, &vsize);
  unsigned char got[PAGE];

  assert_non_null (lazy);
  assert_int_equal (snap_lazy_client_front (lazy), SNAP_LAZY_NO_FRONT);
  assert_true (snap_lazy_frame_absent (lazy, 2));
  const struct snap_index *index = snap_reader_index (snap_lazy_reader (lazy));
  uint64_t page = index->runs[index->frames[2].first_run].first_page;
  assert_int_equal (store_read (lazy_store, got, PAGE, page * PAGE), 0);
  assert_int_equal (snap_lazy_client_front (lazy), 3);
  assert_false (snap_lazy_frame_absent (lazy, 2));
  assert_true (snap_lazy_frame_absent (lazy, 3));
  assert_int_equal (snap_lazy_try_load_frame (lazy, 2), 0);
  snap_lazy_get_progress (lazy, &p);
  assert_int_equal (p.decodes, 1);
  assert_int_equal (snap_lazy_try_load_frame (lazy, 3), 0);
  assert_false (snap_lazy_frame_absent (lazy, 3));
  snap_lazy_get_progress (lazy, &p);
  assert_int_equal (p.decodes, 2);
  assert_int_equal (p.frames_resident, 2);
  for (size_t k = 0; k < snap_lazy_frame_count (lazy); k++)
    assert_int_equal (snap_lazy_load_frame (lazy, k), 0);
  assert_stores_equal (orig, lazy_store);

  store_destroy (lazy_store);
  snap_lazy_free (lazy);
  store_destroy (orig);
}

/* A client's fault wakes a thread waiting for one (the front thread),
 * also when the waiter went to sleep first; a read of a loaded page or
 * of a hole is no fault.  The waiter would otherwise sleep an hour: a
 * lost wake hangs the test. */
struct fault_waiter {
  struct snap_lazy *lazy;
  uint32_t seen;
  _Atomic pid_t tid;
};

static void *
fault_waiter_main (void *opaque)
{
  struct fault_waiter *w = opaque;

  atomic_store (&w->tid, (pid_t) syscall (SYS_gettid));
  snap_lazy_wait_for_fault (w->lazy, w->seen, 3600 * 1000);
  return NULL;
}

/* Whether thread TID of this process is asleep (state S in its stat). */
static bool
thread_sleeping (pid_t tid)
{
  char path[64], line[512];
  FILE *f;
  bool asleep = false;

  snprintf (path, sizeof path, "/proc/self/task/%d/stat", (int) tid);
  if ((f = fopen (path, "r")) != NULL) {
    if (fgets (line, sizeof line, f) != NULL) {
      const char *end = strrchr (line, ')');
      asleep = end != NULL && end[1] == ' ' && end[2] == 'S';
    }
    fclose (f);
  }
  return asleep;
}

static void
test_fault_wakes_waiter (void **state)
{
  (void) state;
  struct store *orig = make_original (), *lazy_store;
  const char *path = save_original (orig, "wake.snap");
  uint64_t vsize;
  struct snap_lazy *lazy = snap_lazy_open (path, 0, 0, &lazy_store, &vsize);
  unsigned char got[PAGE];

  assert_non_null (lazy);
  assert_int_equal (snap_lazy_fault_count (lazy), 0);
  assert_int_equal (store_read (lazy_store, got, PAGE, 0), 0);
  assert_int_equal (snap_lazy_fault_count (lazy), 1);
  assert_int_equal (store_read (lazy_store, got, PAGE, PAGE), 0);       /* loaded */
  assert_int_equal (store_read (lazy_store, got, PAGE, 7 * PAGE), 0);   /* a hole */
  assert_int_equal (snap_lazy_fault_count (lazy), 1);

  /* Woken by a fault, then by snap_lazy_wake_fault_waiters. */
  for (int by_fault = 1; by_fault >= 0; by_fault--) {
    struct fault_waiter w = { .lazy = lazy, .seen = snap_lazy_fault_count (lazy) };
    pthread_t tid;

    assert_int_equal (pthread_create (&tid, NULL, fault_waiter_main, &w), 0);
    while (atomic_load (&w.tid) == 0 || !thread_sleeping (atomic_load (&w.tid)))
      sched_yield ();
    if (by_fault) {
      const struct snap_index *index = snap_reader_index (snap_lazy_reader (lazy));
      uint64_t page = index->runs[index->frames[3].first_run].first_page;
      assert_int_equal (store_read (lazy_store, got, PAGE, page * PAGE), 0);
      assert_int_equal (snap_lazy_fault_count (lazy), 2);
    }
    else
      snap_lazy_wake_fault_waiters (lazy);
    pthread_join (tid, NULL);
  }

  store_destroy (lazy_store);
  snap_lazy_free (lazy);
  store_destroy (orig);
}

static void
test_save_while_in_file (void **state)
{
  (void) state;
  struct store *orig = make_original (), *lazy_store, *again;
  const char *path = save_original (orig, "c.snap");
  const char *copy = scratch_path ("c-copy.snap");
  struct snap_write_options o = { .level = 1, .threads = 2 };
  uint64_t vsize;
  struct snap_lazy *lazy = snap_lazy_open (path, 0, 0, &lazy_store, &vsize);

  assert_non_null (lazy);
  /* A partial write to a page not loaded yet keeps its other bytes. */
  unsigned char mark[10];
  memset (mark, 0xcc, sizeof mark);
  assert_int_equal (store_write (lazy_store, mark, sizeof mark, 5 * PAGE + 100), 0);
  assert_int_equal (store_write (orig, mark, sizeof mark, 5 * PAGE + 100), 0);
  /* The save decodes the frames still in the file. */
  assert_int_equal (save_store (lazy_store, copy, &o), 0);
  assert_int_equal (open_and_verify (copy), 0);
  again = snapstore_load (copy, 0, 0, 2, &vsize, NULL);
  assert_non_null (again);
  assert_stores_equal (orig, again);
  store_destroy (again);
  store_destroy (lazy_store);
  snap_lazy_free (lazy);
  store_destroy (orig);
}

/* Read one page of region R (4 KiB pages) as a client. */
static void
client_reads_region (struct store *s, uint64_t r)
{
  unsigned char got[PAGE];

  assert_int_equal (store_read (s, got, PAGE, r * REGION + 3 * PAGE), 0);
}

static size_t
touch_order_of (struct snap_lazy *lazy, uint64_t *order)
{
  return snap_lazy_touch_order (lazy, order);
}

/* The touch order records clients' first faults only, once per region,
 * in order: not the save's walk, not the background loader, not a page
 * already loaded.  It is stored by the save, and the next lazy load
 * hands out its regions' frames in that order, skipping loaded ones. */
static void
test_touch_order (void **state)
{
  (void) state;
  struct store *orig = make_original (), *lazy_store, *store2;
  const char *path = save_original (orig, "touch.snap");
  const char *saved = scratch_path ("touch-saved.snap");
  uint64_t vsize, order[SNAP_MAX_TOUCH_ORDER];
  struct snap_lazy *lazy = snap_lazy_open (path, 0, 0, &lazy_store, &vsize);
  unsigned char mark[10] = { 0xcc };

  assert_non_null (lazy);
  assert_int_equal (snap_lazy_frame_count (lazy), SIZE / REGION);   /* region k is frame k */
  assert_int_equal (touch_order_of (lazy, order), 0);
  assert_int_equal (snap_lazy_next_prefetch_frame (lazy), SNAP_LAZY_NO_FRAME);
  client_reads_region (lazy_store, 7);
  client_reads_region (lazy_store, 2);
  client_reads_region (lazy_store, 7);                      /* again: once */
  assert_int_equal (snap_lazy_load_frame (lazy, 3), 0);     /* the loader: not a touch */
  client_reads_region (lazy_store, 3);                      /* loaded: no fault */
  /* A data page of region 9 (make_original: page p holds data when p % 10
   * < 6). */
  const uint64_t first9 = 9 * REGION / PAGE;
  assert_int_equal (store_write (lazy_store, mark, sizeof mark,
                                 (first9 + (10 - first9 % 10) % 10) * PAGE + 5), 0);
  assert_int_equal (touch_order_of (lazy, order), 3);
  assert_int_equal (order[0], 7);
  assert_int_equal (order[1], 2);
  assert_int_equal (order[2], 9);

  /* The save's walk faults every other frame in: still three. */
  struct snap_write_options o = { .level = 1, .threads = 2, .touch_order = order,
                                  .touch_order_count = 3 };
  assert_int_equal (save_store (lazy_store, saved, &o), 0);
  assert_true (snap_lazy_complete (lazy));
  assert_int_equal (touch_order_of (lazy, order), 3);
  assert_int_equal (open_and_verify (saved), 0);
  store_destroy (lazy_store);
  snap_lazy_free (lazy);

  /* The next load: 7, 2, 9 first, but 2 a client already faulted in. */
  lazy = snap_lazy_open (saved, 0, 0, &store2, &vsize);
  assert_non_null (lazy);
  assert_int_equal (snap_reader_metadata (snap_lazy_reader (lazy))->touch_order_count, 3);
  assert_int_equal (snap_lazy_prefetch_count (lazy), 3);
  client_reads_region (store2, 2);
  client_reads_region (store2, 5);
  assert_int_equal (snap_lazy_next_prefetch_frame (lazy), 7);
  assert_int_equal (snap_lazy_next_prefetch_frame (lazy), 9);
  assert_int_equal (snap_lazy_next_prefetch_frame (lazy), SNAP_LAZY_NO_FRAME);
  assert_int_equal (snap_lazy_next_prefetch_frame (lazy), SNAP_LAZY_NO_FRAME);
  /* What the next save stores: this run's first (2, 5), then the file's
   * others (7, 9). */
  assert_int_equal (touch_order_of (lazy, order), 4);
  assert_int_equal (order[0], 2);
  assert_int_equal (order[1], 5);
  assert_int_equal (order[2], 7);
  assert_int_equal (order[3], 9);
  store_destroy (store2);
  snap_lazy_free (lazy);
  store_destroy (orig);
}

/* More regions touched than the key may hold: the first 1024 are kept. */
static void
test_touch_order_bounded (void **state)
{
  (void) state;
  const uint64_t regions = SNAP_MAX_TOUCH_ORDER + 76;
  const uint64_t size = regions * REGION;
  struct store *orig = store_create_regions (size, PAGE, region_now), *lazy_store;
  const char *path = scratch_path ("touch-many.snap");
  struct snap_write_options o = { .level = 1, .threads = 2 };
  unsigned char buf[PAGE];
  uint64_t vsize, order[SNAP_MAX_TOUCH_ORDER];

  assert_non_null (orig);
  for (uint64_t r = 0; r < regions; r++) {
    fill_page (buf, r, PAGE, 5);
    assert_int_equal (store_write (orig, buf, PAGE, r * REGION + 3 * PAGE), 0);
  }
  assert_int_equal (save_store (orig, path, &o), 0);
  struct snap_lazy *lazy = snap_lazy_open (path, 0, 0, &lazy_store, &vsize);
  assert_non_null (lazy);
  for (uint64_t r = regions; r-- > 0;)       /* from the end, to see the order */
    client_reads_region (lazy_store, r);
  assert_int_equal (touch_order_of (lazy, order), SNAP_MAX_TOUCH_ORDER);
  for (size_t i = 0; i < SNAP_MAX_TOUCH_ORDER; i++)
    assert_int_equal (order[i], regions - 1 - i);
  store_destroy (lazy_store);
  snap_lazy_free (lazy);
  store_destroy (orig);
}

static void
test_damaged_middle_frame (void **state)
{
  (void) state;
  struct store *orig = make_original (), *lazy_store;
  const char *path = save_original (orig, "d.snap");
  struct snap_reader *r = snap_reader_open (path);
  const struct snap_index *index;
  size_t len, middle;
  unsigned char *file;
  uint64_t vsize, offset, first_page;
  char frame_at[64];

  assert_non_null (r);
  index = snap_reader_index (r);
  middle = index->frame_count / 2;
  offset = index->frames[middle].offset;
  first_page = index->runs[index->frames[middle].first_run].first_page;
  snap_reader_close (r);
  file = read_file (path, &len);
  file[offset + 100] ^= 0x40;
  write_file (path, file, len);
  free (file);

  struct snap_lazy *lazy = snap_lazy_open (path, 0, 0, &lazy_store, &vsize);
  assert_non_null (lazy);       /* the structure is fine */
  unsigned char buf[PAGE];
  errno = 0;
  assert_int_equal (store_read (lazy_store, buf, PAGE, first_page * PAGE), -1);
  assert_int_equal (errno, EIO);
  snprintf (frame_at, sizeof frame_at, "frame %zu at byte %llu", middle,
            (unsigned long long) offset);
  assert_error_contains (path);
  assert_error_contains (frame_at);
  assert_error_contains ("checksum mismatch");
  /* Again: the same answer, no second decode. */
  assert_int_equal (store_read (lazy_store, buf, PAGE, first_page * PAGE), -1);
  assert_error_contains (frame_at);

  /* Other frames serve. */
  unsigned char want[PAGE];
  assert_int_equal (store_read (lazy_store, buf, PAGE, 0), 0);
  assert_int_equal (store_read (orig, want, PAGE, 0), 0);
  assert_memory_equal (buf, want, PAGE);
  struct snap_lazy_progress p;
  snap_lazy_get_progress (lazy, &p);
  assert_int_equal (p.frames_damaged, 1);
  assert_int_equal (p.decodes, 2);

  /* A save fails and names the frame; the old file stays. */
  const char *copy = scratch_path ("d-copy.snap");
  struct snap_write_options o = { .level = 1, .threads = 2 };
  assert_int_equal (save_store (lazy_store, copy, &o), -1);
  assert_error_contains (frame_at);
  assert_int_equal (access (copy, F_OK), -1);

  store_destroy (lazy_store);
  snap_lazy_free (lazy);
  store_destroy (orig);
}

/* The descriptor this process has open on PATH (the lazy load's reader). */
static int
fd_of (const char *path)
{
  char want[PATH_MAX], link[64], got[PATH_MAX];
  int found = -1;

  assert_non_null (realpath (path, want));
  for (int fd = 0; fd < 1024; fd++) {
    snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink (link, got, sizeof got - 1);
    if (n <= 0)
      continue;
    got[n] = 0;
    if (strcmp (got, want) == 0) {
      assert_int_equal (found, -1);     /* one only */
      found = fd;
    }
  }
  assert_int_not_equal (found, -1);
  return found;
}

/* A read error is not damage: the request fails with EIO naming the
 * frame, the frame stays absent, and once reads work again the next
 * request loads it and gets the saved bytes. */
static void
test_read_error_retried (void **state)
{
  (void) state;
  struct store *orig = make_original (), *lazy_store;
  const char *path = save_original (orig, "e.snap");
  uint64_t vsize;
  struct snap_lazy *lazy = snap_lazy_open (path, 0, 0, &lazy_store, &vsize);
  unsigned char buf[PAGE], want[PAGE];

  assert_non_null (lazy);
  /* Make the reader's reads fail for a while: its descriptor now names a
   * directory (pread: EISDIR), as a failing device would fail them. */
  int fd = fd_of (path);
  int saved = dup (fd), dir = open ("/", O_RDONLY | O_DIRECTORY);
  assert_true (saved >= 0 && dir >= 0);
  assert_int_equal (dup2 (dir, fd), fd);

  errno = 0;
  assert_int_equal (store_read (lazy_store, buf, PAGE, 0), -1);
  assert_int_equal (errno, EIO);
  assert_error_contains (path);
  assert_error_contains ("frame 0 at byte ");
  assert_error_contains ("read error");
  struct snap_lazy_progress p;
  snap_lazy_get_progress (lazy, &p);
  assert_int_equal (p.frames_damaged, 0);
  assert_int_equal (p.frames_resident, 0);
  assert_false (snap_lazy_frame_damaged (lazy, 0));
  /* Again, while reads still fail: tried again, the same answer. */
  errno = 0;
  assert_int_equal (store_read (lazy_store, buf, PAGE, 0), -1);
  assert_int_equal (errno, EIO);
  snap_lazy_get_progress (lazy, &p);
  assert_int_equal (p.decodes, 2);

  /* Reads work again: the next request loads the frame. */
  assert_int_equal (dup2 (saved, fd), fd);
  close (saved);
  close (dir);
  assert_int_equal (store_read (lazy_store, buf, PAGE, 0), 0);
  assert_int_equal (store_read (orig, want, PAGE, 0), 0);
  assert_memory_equal (buf, want, PAGE);
  snap_lazy_get_progress (lazy, &p);
  assert_int_equal (p.frames_resident, 1);
  assert_int_equal (p.frames_damaged, 0);
  assert_int_equal (p.decodes, 3);

  store_destroy (lazy_store);
  snap_lazy_free (lazy);
  store_destroy (orig);
}

static void
test_structure_damage_refused (void **state)
{
  (void) state;
  struct store *orig = make_original (), *lazy_store = (void *) 1;
  const char *path = save_original (orig, "e.snap");
  size_t len;
  unsigned char *file = read_file (path, &len);
  uint64_t vsize;

  file[len - 20] ^= 1;          /* the footer */
  write_file (path, file, len);
  free (file);
  assert_null (snap_lazy_open (path, 0, 0, &lazy_store, &vsize));
  assert_null (lazy_store);
  assert_error_contains ("footer");
  store_destroy (orig);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_open_serves_before_loading),
    cmocka_unit_test (test_many_threads_fault),
    cmocka_unit_test (test_client_front),
    cmocka_unit_test (test_touch_order),
    cmocka_unit_test (test_touch_order_bounded),
    cmocka_unit_test (test_fault_wakes_waiter),
    cmocka_unit_test (test_save_while_in_file),
    cmocka_unit_test (test_damaged_middle_frame),
    cmocka_unit_test (test_read_error_retried),
    cmocka_unit_test (test_structure_damage_refused),
  };
  static const uint32_t region_sizes[] = { 262144, 1048576, STORE_DEFAULT_REGION_SIZE };
  int r = 0;

  for (size_t i = 0; i < sizeof region_sizes / sizeof region_sizes[0]; i++) {
    region_now = region_sizes[i];
    printf ("regions of %u bytes\n", region_now);
    r |= cmocka_run_group_tests (tests, scratch_group_setup, scratch_group_teardown);
  }
  return r;
}
