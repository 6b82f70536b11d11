/* Stress test of the store: threads writing, zeroing, trimming and reading
 * disjoint byte ranges at once, while other threads walk snapshots and
 * extents.  The ranges start and end in the middle of pages, so threads
 * share pages and a store that mixes up two changes to one page, or frees a
 * page a neighbour still uses, loses bytes.  Every byte is checked against
 * each thread's private copy of its range.
 */
#include <inttypes.h>
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

#include "common/error.h"
#include "store/store.h"

#define PAGE 4096u
#define THREADS 8
#define REGION (64 * PAGE + 1234)     /* not a multiple of the page size */
#define OPS 10000
#define MAX_LEN (4 * PAGE + 100)
#define SIZE ((uint64_t) THREADS * REGION + 3 * PAGE)

struct worker {
  struct store *store;
  unsigned t;
  pthread_t thread;
  uint64_t rng;
  uint8_t *shadow;              /* what the thread's range must hold */
  char error[512];
};

/* Workers start together, so their operations interleave from the first. */
static pthread_barrier_t start_line;

static uint64_t
rng_next (uint64_t *state)
{
  uint64_t x = *state;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *state = x;
}

/* Random bytes, none of them zero, so written data is never a hole. */
static void
fill_nonzero (uint64_t *rng, uint8_t *buf, size_t len)
{
  for (size_t i = 0; i < len; i += 8) {
    uint64_t x = rng_next (rng) | 0x0101010101010101ull;
    memcpy (buf + i, &x, len - i < 8 ? len - i : 8);
  }
}

/* One random operation of a worker on LEN bytes at store offset OFFSET,
 * whose expected contents are SHADOW.  Returns false with w->error set on
 * a failure or a read that does not match. */
static bool
worker_apply (struct worker *w, int op, uint8_t *buf, uint8_t *shadow,
              uint64_t len, uint64_t offset)
{
  unsigned kind = rng_next (&w->rng) % 20;
  const char *name;
  int r;

  if (kind < 9) {
    name = "write";
    fill_nonzero (&w->rng, buf, len);
    memcpy (shadow, buf, len);
    r = store_write (w->store, buf, len, offset);
  }
  else if (kind < 11) {
    name = "write of zeros";
    memset (buf, 0, len);
    memset (shadow, 0, len);
    r = store_write (w->store, buf, len, offset);
  }
  else if (kind < 14) {
    name = "zero";
    memset (shadow, 0, len);
    r = store_zero (w->store, len, offset);
  }
  else if (kind < 17) {
    name = "trim";
    memset (shadow, 0, len);
    r = store_trim (w->store, len, offset);
  }
  else {
    name = "read";
    r = store_read (w->store, buf, len, offset);
    if (r == 0 && memcmp (buf, shadow, len) != 0) {
      uint64_t i = 0;
      while (buf[i] == shadow[i])
        i++;
      snprintf (w->error, sizeof w->error,
                "thread %u op %d: read of %" PRIu64 " bytes at %" PRIu64
                ": byte at %" PRIu64 " is 0x%02x, want 0x%02x", w->t, op, len,
                offset, offset + i, buf[i], shadow[i]);
      return false;
    }
  }
  if (r != 0) {
    snprintf (w->error, sizeof w->error, "thread %u op %d: %s of %" PRIu64
              " bytes at %" PRIu64 " failed: %s", w->t, op, name, len, offset,
              md_error ());
    return false;
  }
  return true;
}

/* Workload 1: each thread owns REGION bytes from t*REGION and changes
 * random ranges of up to a few pages in it, sometimes page-aligned so
 * whole pages are freed.  SHADOW covers the region. */
static void *
region_worker_run (void *arg)
{
  struct worker *w = arg;
  const uint64_t base = (uint64_t) w->t * REGION;
  uint8_t *buf = malloc (MAX_LEN);

  if (buf == NULL)
    snprintf (w->error, sizeof w->error, "out of memory");
  pthread_barrier_wait (&start_line);
  for (int op = 0; op < OPS && buf != NULL; op++) {
    uint64_t off = rng_next (&w->rng) % REGION;
    uint64_t len = rng_next (&w->rng) % MAX_LEN + 1;

    if (rng_next (&w->rng) % 4 == 0) {
      off = (base + off + PAGE - 1) / PAGE * PAGE - base;
      len = len < PAGE ? PAGE : len / PAGE * PAGE;
      if (off >= REGION)
        off = 0, len = PAGE;
    }
    if (len > REGION - off)
      len = REGION - off;
    if (!worker_apply (w, op, buf, w->shadow + off, len, base + off))
      break;
  }
  free (buf);
  return NULL;
}

/* Workload 2: every page is shared by all threads.  The store is cut into
 * STRIPE-byte stripes dealt round-robin to the threads; each operation
 * changes part of one of the thread's stripes, so threads keep changing
 * the same pages at once (and zeros that leave a page all zeros free it
 * while neighbours write).  SHADOW covers the whole store. */
#define STRIPE 256u
#define SHARED_SIZE (4 * PAGE)

static void *
stripe_worker_run (void *arg)
{
  struct worker *w = arg;
  uint8_t buf[STRIPE];

  pthread_barrier_wait (&start_line);
  for (int op = 0; op < OPS; op++) {
    uint64_t stripe = rng_next (&w->rng) % (SHARED_SIZE / STRIPE / THREADS)
                      * THREADS + w->t;
    uint64_t off = rng_next (&w->rng) % STRIPE;
    uint64_t len = rng_next (&w->rng) % (STRIPE - off) + 1;
    uint64_t offset = stripe * STRIPE + off;

    if (!worker_apply (w, op, buf, w->shadow + offset, len, offset))
      break;
  }
  return NULL;
}

/* Snapshots and extents walked while the workers run: they must not
 * disturb the workers, and what they report must be well formed. */
struct observer {
  struct store *store;
  pthread_t thread;
  _Atomic bool stop;
  unsigned snapshots, extent_walks;
  char error[512];
};

struct extent_walk {
  uint64_t next;
  bool have_previous, previous_allocated;
  int bad;
};

static int
check_extent (void *opaque, uint64_t offset, uint64_t len, bool allocated)
{
  struct extent_walk *e = opaque;

  if (offset != e->next || len == 0
      || (e->have_previous && allocated == e->previous_allocated))
    e->bad = 1;
  e->next = offset + len;
  e->have_previous = true;
  e->previous_allocated = allocated;
  return 0;
}

static void *
observer_run (void *arg)
{
  struct observer *o = arg;
  const uint64_t size = store_size (o->store);
  uint8_t *page = malloc (PAGE);

  if (page == NULL) {
    snprintf (o->error, sizeof o->error, "out of memory");
    return NULL;
  }
  /* At least one of each, however fast the workers are. */
  while (!atomic_load (&o->stop) || o->snapshots == 0) {
    struct store_snapshot *snap = store_snapshot_begin (o->store);
    uint64_t index, previous = 0, pages = 0;
    int r;

    if (snap == NULL) {
      snprintf (o->error, sizeof o->error, "store_snapshot_begin: %s", md_error ());
      break;
    }
    while ((r = store_snapshot_next (snap, &index, page)) == 1) {
      if ((pages > 0 && index <= previous) || index >= (size + PAGE - 1) / PAGE) {
        snprintf (o->error, sizeof o->error, "snapshot: page %" PRIu64
                  " after page %" PRIu64, index, previous);
        break;
      }
      previous = index;
      pages++;
    }
    store_snapshot_end (snap);
    if (o->error[0] != '\0')
      break;
    o->snapshots++;

    struct extent_walk e = { .next = 0 };
    if (store_extents (o->store, 0, size, check_extent, &e) != 0 || e.bad
        || e.next != size) {
      snprintf (o->error, sizeof o->error, "extents of the whole store are not "
                "contiguous, maximal runs covering it (%s)", md_error ());
      break;
    }
    o->extent_walks++;
  }
  free (page);
  return NULL;
}

/* Run THREADS workers of RUN (shadows of SHADOW_SIZE bytes) and an
 * observer on S, then report the first failure. */
static void
run_workers (struct store *s, void *(*run) (void *), struct worker *w,
             uint64_t shadow_size)
{
  struct observer o = { .store = s };

  atomic_init (&o.stop, false);
  assert_int_equal (pthread_barrier_init (&start_line, NULL, THREADS), 0);
  assert_int_equal (pthread_create (&o.thread, NULL, observer_run, &o), 0);
  for (unsigned t = 0; t < THREADS; t++) {
    w[t] = (struct worker) { .store = s, .t = t, .rng = 0x9E3779B97F4A7C15ull * (t + 1) };
    w[t].shadow = calloc (shadow_size, 1);
    assert_non_null (w[t].shadow);
  }
  for (unsigned t = 0; t < THREADS; t++)
    assert_int_equal (pthread_create (&w[t].thread, NULL, run, &w[t]), 0);
  for (unsigned t = 0; t < THREADS; t++)
    pthread_join (w[t].thread, NULL);
  atomic_store (&o.stop, true);
  pthread_join (o.thread, NULL);
  pthread_barrier_destroy (&start_line);

  for (unsigned t = 0; t < THREADS; t++)
    if (w[t].error[0] != '\0')
      fail_msg ("%s", w[t].error);
  if (o.error[0] != '\0')
    fail_msg ("%s", o.error);
  print_message ("%u snapshots and %u extent walks ran alongside the writers\n",
                 o.snapshots, o.extent_walks);
}

static int
count_data_pages (void *opaque, uint64_t offset, uint64_t len, bool allocated)
{
  uint64_t *pages = opaque;

  if (allocated)      /* data runs are whole pages, but for the last one */
    *pages += (offset + len + PAGE - 1) / PAGE - offset / PAGE;
  return 0;
}

/* Every byte of the store is WANT; every page holding data is allocated,
 * and the allocation counter agrees with extents. */
static void
check_store (struct store *s, const uint8_t *want)
{
  const uint64_t size = store_size (s);
  uint8_t *disk = malloc (size);

  assert_non_null (disk);
  assert_int_equal (store_read (s, disk, size, 0), 0);
  for (uint64_t i = 0; i < size; i++)
    if (disk[i] != want[i])
      fail_msg ("byte at %" PRIu64 " is 0x%02x, want 0x%02x", i, disk[i], want[i]);

  uint64_t nonzero_pages = 0, data_pages = 0;
  for (uint64_t p = 0; p * PAGE < size; p++) {
    uint64_t end = (p + 1) * PAGE < size ? (p + 1) * PAGE : size;
    bool nonzero = false;
    for (uint64_t i = p * PAGE; i < end && !nonzero; i++)
      nonzero = disk[i] != 0;
    if (nonzero) {
      nonzero_pages++;
      assert_int_equal (store_extents (s, p * PAGE, end - p * PAGE,
                                       count_data_pages, &data_pages), 0);
    }
  }
  if (data_pages != nonzero_pages)
    fail_msg ("%" PRIu64 " pages hold data but only %" PRIu64
              " are reported allocated by extents", nonzero_pages, data_pages);
  data_pages = 0;
  assert_int_equal (store_extents (s, 0, size, count_data_pages, &data_pages), 0);
  if (store_allocated_bytes (s) != data_pages * PAGE)
    fail_msg ("store_allocated_bytes is %" PRIu64 " but extents report %" PRIu64
              " allocated pages", store_allocated_bytes (s), data_pages);
  free (disk);
}

static void
test_store_concurrent_regions (void **state)
{
  (void) state;
  struct store *s = store_create (SIZE, PAGE);
  struct worker w[THREADS];
  uint8_t *want = calloc (SIZE, 1);   /* the tail beyond every region: zeros */

  assert_non_null (s);
  assert_non_null (want);
  run_workers (s, region_worker_run, w, REGION);
  for (unsigned t = 0; t < THREADS; t++) {
    memcpy (want + (uint64_t) t * REGION, w[t].shadow, REGION);
    free (w[t].shadow);
  }
  check_store (s, want);
  free (want);
  store_destroy (s);
}

static void
test_store_concurrent_shared_pages (void **state)
{
  (void) state;
  struct store *s = store_create (SHARED_SIZE, PAGE);
  struct worker w[THREADS];
  uint8_t *want = malloc (SHARED_SIZE);

  assert_non_null (s);
  assert_non_null (want);
  run_workers (s, stripe_worker_run, w, SHARED_SIZE);
  for (uint64_t i = 0; i < SHARED_SIZE; i++)
    want[i] = w[i / STRIPE % THREADS].shadow[i];
  for (unsigned t = 0; t < THREADS; t++)
    free (w[t].shadow);
  check_store (s, want);
  free (want);
  store_destroy (s);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_store_concurrent_regions),
    cmocka_unit_test (test_store_concurrent_shared_pages),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
