/* store/giveback.c: a region unchanged since the base goes back to the
 * file (its memory freed, its pages "in the file" again, loaded again on
 * the next touch with the right bytes); a changed region, or one a
 * running save's walk has not passed, stays; and random reads and whole-
 * page writes from several threads racing a thread that gives regions
 * back always read the file's bytes or a writer's, never a mix, never
 * zeros (run under TSan by the concurrency label).
 *
 * The "file" is a function of the page index; its frames are the store's
 * regions, loaded once each by the fault hook (a compare-and-swap decides
 * who loads), and made loadable again by the give-back's caller, as a
 * lazy load's frame state would be.
 */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/store.h"

#define PAGE 65536u
#define REGION_PAGES (STORE_DEFAULT_REGION_SIZE / PAGE)
#define REGIONS 8u
#define PAGES (REGIONS * REGION_PAGES)
#define SIZE ((uint64_t) PAGES * PAGE)
#define WRITERS 2
#define READERS 2
#define ROUNDS 150

enum { ABSENT, LOADING, RESIDENT };

struct fake_file {
  struct store *store;
  uint64_t since;                       /* the base's epoch */
  _Atomic unsigned state[REGIONS];
  _Atomic unsigned loads[REGIONS];
  _Atomic bool stop;
};

/* A page's bytes: its first 8 the version (0: the file's), the rest one
 * byte that depends on the page and the version, so a torn page, or one
 * from another page or version, shows.  (memset and memcmp: the test runs
 * under TSan too.) */
static uint8_t
page_byte (uint64_t page, uint64_t version)
{
  return (uint8_t) ((page * 7 + version * 131) | 1);
}

static void
make_page (uint64_t page, uint64_t version, uint8_t *buf)
{
  memcpy (buf, &version, sizeof version);
  memset (buf + sizeof version, page_byte (page, version), PAGE - sizeof version);
}

/* BUF is page PAGE as the file or some writer made it, whole: its
 * version. */
static uint64_t
check_page (uint64_t page, const uint8_t *buf)
{
  uint8_t *want = malloc (PAGE);
  uint64_t version;

  assert_non_null (want);
  memcpy (&version, buf, sizeof version);
  make_page (page, version, want);
  if (memcmp (buf, want, PAGE) != 0)
    fail_msg ("page %lu, version %lu: not the bytes of any write", (unsigned long) page,
              (unsigned long) version);
  free (want);
  return version;
}

static int
fake_fault (void *opaque, uint64_t page, bool by_client)
{
  struct fake_file *f = opaque;
  unsigned r = (unsigned) (page / REGION_PAGES);
  unsigned expected = ABSENT;

  (void) by_client;
  if (atomic_compare_exchange_strong (&f->state[r], &expected, LOADING)) {
    uint8_t *buf = malloc (PAGE);
    assert_non_null (buf);
    atomic_fetch_add (&f->loads[r], 1);
    for (uint64_t p = (uint64_t) r * REGION_PAGES; p < (uint64_t) (r + 1) * REGION_PAGES; p++) {
      make_page (p, 0, buf);
      assert_int_equal (store_install_page (f->store, p, buf), 0);
    }
    free (buf);
    atomic_store (&f->state[r], RESIDENT);
  }
  while (atomic_load (&f->state[r]) == LOADING)
    sched_yield ();
  return 0;
}

static struct fake_file *
fake_new (void)
{
  struct fake_file *f = calloc (1, sizeof *f);

  assert_non_null (f);
  f->store = store_create (SIZE, PAGE);
  assert_non_null (f->store);
  store_set_fault_hook (f->store, fake_fault, f);
  assert_int_equal (store_mark_in_file (f->store, 0, PAGES), 0);
  f->since = store_load_epoch (f->store);
  return f;
}

/* The caller's part: give region R back and, if any page went, make its
 * frame loadable again.  Only a resident frame is given back (a frame
 * being loaded is left alone). */
static uint64_t
give_back (struct fake_file *f, unsigned r, bool *whole)
{
  uint64_t back;

  *whole = false;
  if (atomic_load (&f->state[r]) != RESIDENT)
    return 0;
  back = store_region_give_back (f->store, r, f->since, whole);
  if (back > 0)
    atomic_store (&f->state[r], ABSENT);
  return back;
}

static void
read_page (struct store *store, uint64_t page, uint64_t want_version)
{
  uint8_t *buf = malloc (PAGE);

  assert_non_null (buf);
  assert_int_equal (store_read (store, buf, PAGE, page * PAGE), 0);
  assert_int_equal (check_page (page, buf), want_version);
  free (buf);
}

static void
test_clean_region_goes_back (void **state)
{
  struct fake_file *f = fake_new ();
  bool whole;

  (void) state;
  read_page (f->store, 5, 0);
  assert_int_equal (store_resident_bytes (f->store), STORE_DEFAULT_REGION_SIZE);
  assert_int_equal (give_back (f, 0, &whole), REGION_PAGES);
  assert_true (whole);
  assert_true (store_page_in_file (f->store, 5));
  assert_int_equal (store_resident_bytes (f->store), 0);
  assert_int_equal (store_in_file_bytes (f->store), SIZE);
  assert_int_equal (store_allocated_bytes (f->store), SIZE);
  /* Nothing left to give back in a region in the file. */
  assert_int_equal (store_region_give_back (f->store, 0, f->since, &whole), 0);
  read_page (f->store, 63, 0);                            /* loaded again */
  assert_int_equal (atomic_load (&f->loads[0]), 2);
  store_destroy (f->store);
  free (f);
}

static void
test_changed_region_stays (void **state)
{
  struct fake_file *f = fake_new ();
  uint8_t *buf = malloc (PAGE);
  bool whole;

  (void) state;
  make_page (REGION_PAGES + 3, 7, buf);
  assert_int_equal (store_write (f->store, buf, PAGE, (REGION_PAGES + 3) * PAGE), 0);
  assert_int_equal (give_back (f, 1, &whole), 0);
  assert_false (whole);
  read_page (f->store, REGION_PAGES + 3, 7);
  read_page (f->store, REGION_PAGES + 4, 0);
  assert_int_equal (atomic_load (&f->loads[1]), 1);
  /* A region beyond the disk: nothing. */
  assert_int_equal (store_region_give_back (f->store, REGIONS, f->since, &whole), 0);
  free (buf);
  store_destroy (f->store);
  free (f);
}

static void
test_not_ahead_of_a_save (void **state)
{
  struct fake_file *f = fake_new ();
  uint8_t *buf = malloc (PAGE);
  struct store_snapshot *snap;
  uint64_t index;
  bool whole;

  (void) state;
  read_page (f->store, 0, 0);
  read_page (f->store, REGION_PAGES, 0);
  snap = store_snapshot_begin (f->store);
  assert_non_null (snap);
  /* The walk has not passed either region. */
  assert_int_equal (give_back (f, 0, &whole), 0);
  assert_int_equal (give_back (f, 1, &whole), 0);
  /* Once it has passed region 0, region 0 may go (region 1 not yet). */
  for (uint64_t p = 0; p < REGION_PAGES; p++) {
    assert_int_equal (store_snapshot_next (snap, &index, buf), 1);
    assert_int_equal (check_page (index, buf), 0);
  }
  assert_int_equal (give_back (f, 0, &whole), REGION_PAGES);
  assert_int_equal (give_back (f, 1, &whole), 0);
  assert_int_equal (store_snapshot_next (snap, &index, buf), 1);
  assert_int_equal (index, REGION_PAGES);
  store_snapshot_end (snap);
  assert_int_equal (give_back (f, 1, &whole), REGION_PAGES);
  free (buf);
  store_destroy (f->store);
  free (f);
}

/* ---- racing ---- */

struct worker {
  struct fake_file *f;
  unsigned id;
  uint64_t *versions;           /* writers: the version of each page they own */
};

/* Writers own the pages of the even regions, page by page in turn. */
static bool
owned_by (uint64_t page, unsigned writer)
{
  return (page / REGION_PAGES) % 2 == 0 && page % WRITERS == writer;
}

static void *
writer_main (void *opaque)
{
  struct worker *w = opaque;
  uint8_t *buf = malloc (PAGE);
  unsigned seed = w->id + 1;

  assert_non_null (buf);
  for (unsigned i = 0; i < ROUNDS; i++) {
    uint64_t p = (uint64_t) rand_r (&seed) % PAGES;
    if (!owned_by (p, w->id))
      continue;
    make_page (p, ++w->versions[p], buf);
    assert_int_equal (store_write (w->f->store, buf, PAGE, p * PAGE), 0);
  }
  free (buf);
  return NULL;
}

static void *
reader_main (void *opaque)
{
  struct worker *w = opaque;
  uint8_t *buf = malloc (PAGE);
  unsigned seed = 100 + w->id;

  assert_non_null (buf);
  for (unsigned i = 0; i < 2 * ROUNDS; i++) {
    uint64_t p = (uint64_t) rand_r (&seed) % PAGES;
    assert_int_equal (store_read (w->f->store, buf, PAGE, p * PAGE), 0);
    check_page (p, buf);
  }
  free (buf);
  return NULL;
}

static void *
giver_main (void *opaque)
{
  struct fake_file *f = opaque;
  bool whole;

  while (!atomic_load (&f->stop)) {
    for (unsigned r = 0; r < REGIONS; r++)
      give_back (f, r, &whole);
    sched_yield ();
  }
  return NULL;
}

static void
test_race (void **state)
{
  struct fake_file *f = fake_new ();
  pthread_t writers[WRITERS], readers[READERS], giver;
  struct worker w[WRITERS + READERS];
  uint64_t *versions = calloc (PAGES, sizeof *versions);

  (void) state;
  assert_non_null (versions);
  assert_int_equal (pthread_create (&giver, NULL, giver_main, f), 0);
  for (unsigned i = 0; i < WRITERS + READERS; i++) {
    w[i] = (struct worker) { f, i < WRITERS ? i : i - WRITERS, versions };
    assert_int_equal (pthread_create (i < WRITERS ? &writers[i] : &readers[i - WRITERS], NULL,
                                      i < WRITERS ? writer_main : reader_main, &w[i]), 0);
  }
  for (unsigned i = 0; i < WRITERS; i++)
    pthread_join (writers[i], NULL);
  for (unsigned i = 0; i < READERS; i++)
    pthread_join (readers[i], NULL);
  atomic_store (&f->stop, true);
  pthread_join (giver, NULL);
  /* Every page: the last version its writer wrote, or the file's. */
  for (uint64_t p = 0; p < PAGES; p++)
    read_page (f->store, p, versions[p]);
  /* The odd regions nobody wrote were given back and loaded again. */
  assert_true (atomic_load (&f->loads[1]) >= 1);
  free (versions);
  store_destroy (f->store);
  free (f);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_clean_region_goes_back),
    cmocka_unit_test (test_changed_region_stays),
    cmocka_unit_test (test_not_ahead_of_a_save),
    cmocka_unit_test (test_race),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
