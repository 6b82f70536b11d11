/* store/reset.c: store_reset and store_region_to_file.
 *
 * The "base file" is a function of the page index: the pages of the even
 * regions are in it (each region's bytes one value, 0x40 + region), the
 * odd regions are holes.  The fault hook installs a page when touched.
 * After random writes, zeroes and trims, a reset must make the disk read
 * exactly the base again, at every page size; only the changed regions
 * are put back (the others stay as they were: resident, or still in the
 * file); and requests that run during a reset see each region whole,
 * before or after it.
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

#define REGION STORE_DEFAULT_REGION_SIZE
#define REGIONS 8u
#define SIZE ((uint64_t) REGIONS * REGION)

struct base {
  struct store *store;
  uint32_t page_size;
  _Atomic unsigned resets;              /* regions handed to reset_region */
  bool reset_seen[REGIONS];
};

static bool
region_in_base (uint64_t region)
{
  return region % 2 == 0;
}

static uint8_t
base_byte (uint64_t region)
{
  return region_in_base (region) ? (uint8_t) (0x40 + region) : 0;
}

static bool
in_file (void *opaque, uint64_t page)
{
  struct base *b = opaque;
  return region_in_base (page * b->page_size / REGION);
}

static int
fault (void *opaque, uint64_t page, bool by_client)
{
  struct base *b = opaque;
  uint8_t *buf = malloc (b->page_size);

  (void) by_client;
  assert_non_null (buf);
  memset (buf, base_byte (page * b->page_size / REGION), b->page_size);
  int r = store_install_page (b->store, page, buf);
  free (buf);
  return r;
}

static int
reset_region (void *opaque, uint64_t region)
{
  struct base *b = opaque;

  if (region == STORE_RESET_INSTANT)
    return 0;
  assert_true (region < REGIONS);
  b->reset_seen[region] = true;
  atomic_fetch_add (&b->resets, 1);
  return store_region_to_file (b->store, region, in_file, b);
}

/* A store whose base is the function above, every base page in the file. */
static struct base *
base_new (uint32_t page_size)
{
  struct base *b = calloc (1, sizeof *b);

  assert_non_null (b);
  b->page_size = page_size;
  b->store = store_create (SIZE, page_size);
  assert_non_null (b->store);
  store_set_fault_hook (b->store, fault, b);
  for (uint64_t r = 0; r < REGIONS; r++)
    if (region_in_base (r))
      assert_int_equal (store_mark_in_file (b->store, r * (REGION / page_size),
                                            REGION / page_size), 0);
  store_clear_changed (b->store);
  return b;
}

static void
base_free (struct base *b)
{
  store_destroy (b->store);
  free (b);
}

static void
assert_region_is (struct store *store, uint64_t region, uint8_t value)
{
  static uint8_t buf[REGION];

  assert_int_equal (store_read (store, buf, REGION, region * REGION), 0);
  for (size_t i = 0; i < REGION; i++)
    if (buf[i] != value)
      fail_msg ("region %lu byte %zu: %#x, expected %#x", (unsigned long) region, i,
                buf[i], value);
}

static bool
page_in_file (struct base *b, uint64_t region)
{
  return store_page_in_file (b->store, region * (REGION / b->page_size));
}

/* Region 0: never touched (in the file); region 1: never touched (a
 * hole); region 2: read (resident, unchanged); regions 3, 4, 6, 7 changed
 * by writes, zeroes and trims of every shape; region 5 (a hole) zeroed,
 * which changes nothing. */
static void
change_some (struct base *b)
{
  struct store *s = b->store;
  uint8_t junk[3 * 4096 + 17];

  memset (junk, 0xee, sizeof junk);
  assert_region_is (s, 2, base_byte (2));
  assert_int_equal (store_write (s, junk, sizeof junk, 3 * REGION + 4095), 0);
  assert_int_equal (store_write (s, junk, 1, 4 * REGION + REGION - 1), 0);
  assert_int_equal (store_zero (s, REGION, 5 * REGION - 4096), 0);          /* 4 and 5 */
  assert_int_equal (store_trim (s, 100000, 6 * REGION + 12345), 0);
  assert_int_equal (store_write (s, junk, sizeof junk, 7 * REGION), 0);
  assert_int_equal (store_trim (s, REGION, 7 * REGION), 0);
}

static void
reset_at (uint32_t page_size)
{
  struct base *b = base_new (page_size);
  uint64_t allocated_base = (REGIONS / 2) * (uint64_t) REGION;

  assert_int_equal (store_allocated_bytes (b->store), allocated_base);
  change_some (b);
  assert_true (store_changed (b->store));
  assert_int_equal (store_reset (b->store, store_load_epoch (b->store), reset_region, b), 0);
  assert_false (store_changed (b->store));
  /* Only the changed regions were put back (zeroing region 5, a hole,
   * changed nothing). */
  for (unsigned r = 0; r < REGIONS; r++)
    assert_int_equal (b->reset_seen[r], r >= 3 && r != 5);
  assert_int_equal (store_allocated_bytes (b->store), allocated_base);
  assert_true (page_in_file (b, 0));
  assert_false (page_in_file (b, 2));           /* loaded, unchanged: kept */
  assert_true (page_in_file (b, 4));            /* changed: back in the file */
  assert_true (page_in_file (b, 6));
  for (unsigned r = 0; r < REGIONS; r++)
    assert_region_is (b->store, r, base_byte (r));

  /* A second reset with nothing changed touches nothing. */
  atomic_store (&b->resets, 0);
  assert_int_equal (store_reset (b->store, store_load_epoch (b->store), reset_region, b), 0);
  assert_int_equal (atomic_load (&b->resets), 0);
  /* And changes after a reset count again. */
  change_some (b);
  assert_int_equal (store_reset (b->store, store_load_epoch (b->store), reset_region, b), 0);
  assert_int_equal (atomic_load (&b->resets), 4);
  for (unsigned r = 0; r < REGIONS; r++)
    assert_region_is (b->store, r, base_byte (r));
  base_free (b);
}

static void
test_reset_page_sizes (void **state)
{
  (void) state;
  reset_at (4096);
  reset_at (32768);
  reset_at (1024 * 1024);
}

/* A disk without a base goes back to zeros, and frees what it held. */
static void
test_reset_no_base (void **state)
{
  (void) state;
  struct store *s = store_create (SIZE, 32768);
  uint8_t buf[70000];

  assert_non_null (s);
  memset (buf, 0x5a, sizeof buf);
  assert_int_equal (store_write (s, buf, sizeof buf, 3 * REGION - 100), 0);
  assert_int_equal (store_write (s, buf, sizeof buf, 0), 0);
  assert_int_equal (store_reset (s, store_load_epoch (s), NULL, NULL), 0);
  assert_int_equal (store_allocated_bytes (s), 0);
  assert_false (store_changed (s));
  for (unsigned r = 0; r < REGIONS; r++)
    assert_region_is (s, r, 0);
  store_destroy (s);
}

/* After a save, the base is the saved file: only what changed after the
 * snapshot's instant goes back. */
static void
test_reset_since_snapshot (void **state)
{
  (void) state;
  struct store *s = store_create (SIZE, 4096);
  uint8_t page[4096], buf[4096];
  uint64_t index;

  assert_non_null (s);
  memset (page, 1, sizeof page);
  assert_int_equal (store_write (s, page, sizeof page, 0), 0);
  struct store_snapshot *snap = store_snapshot_begin (s);
  assert_non_null (snap);
  uint64_t since = store_snapshot_epoch (snap);
  while (store_snapshot_next (snap, &index, buf) == 1)
    ;
  store_snapshot_end (snap);
  memset (page, 2, sizeof page);
  assert_int_equal (store_write (s, page, sizeof page, REGION), 0);
  /* The caller's function decides what the base holds: here, region 1
   * has nothing in it, and region 0 must not be handed over. */
  assert_int_equal (store_reset (s, since, NULL, NULL), 0);
  assert_region_is (s, 1, 0);
  assert_int_equal (store_read (s, buf, sizeof buf, 0), 0);
  assert_int_equal (buf[0], 1);
  assert_int_equal (buf[4095], 1);
  store_destroy (s);
}

/* A reset while a snapshot runs is refused (and the other way round). */
static void
test_reset_excludes_snapshot (void **state)
{
  (void) state;
  struct store *s = store_create (SIZE, 4096);

  assert_non_null (s);
  struct store_snapshot *snap = store_snapshot_begin (s);
  assert_non_null (snap);
  assert_int_equal (store_reset (s, 1, NULL, NULL), -1);
  assert_int_equal (errno, EBUSY);
  store_snapshot_end (snap);
  assert_int_equal (store_reset (s, 1, NULL, NULL), 0);
  store_destroy (s);
}

/* ---- requests during resets ---- */

#define ROUNDS 40
#define STATIC_REGIONS 4u       /* 0..3: written between resets only */


struct race {
  struct base *b;
  _Atomic bool stop;
  _Atomic bool judge;                   /* regions 0..3 are whole: check them */
  _Atomic bool busy;                    /* the checker is reading */
  _Atomic unsigned checked;
  _Atomic unsigned torn;
};

/* The whole region R holds one value, and it is OLD or the base's. */
static bool
region_whole (struct store *s, uint64_t r, uint8_t old, uint8_t *buf)
{
  assert_int_equal (store_read (s, buf, REGION, r * REGION), 0);
  for (size_t i = 1; i < REGION; i++)
    if (buf[i] != buf[0])
      return false;
  return buf[0] == old || buf[0] == base_byte (r);
}

/* Reads regions 0..3 over and over while resets put them back (only
 * while JUDGE: the main thread's own writes of them are not atomic, NBD
 * promises no such thing; busy first, then judge, against the main
 * thread's judge first, then busy). */
static void *
checker_main (void *arg)
{
  struct race *race = arg;
  uint8_t *buf = malloc (REGION);

  assert_non_null (buf);
  while (!atomic_load (&race->stop)) {
    atomic_store (&race->busy, true);
    if (atomic_load (&race->judge))
      for (uint64_t r = 0; r < STATIC_REGIONS; r++) {
        if (!region_whole (race->b->store, r, 0xa0, buf))
          atomic_fetch_add (&race->torn, 1);
        atomic_fetch_add (&race->checked, 1);
      }
    atomic_store (&race->busy, false);
  }
  free (buf);
  return NULL;
}

/* Writes regions 4..7 whole, each with a new value, and reads each back:
 * its own value, or the base's when a reset came in between. */
static void *
writer_main (void *arg)
{
  struct race *race = arg;
  uint8_t *buf = malloc (REGION), *check = malloc (REGION);
  uint8_t value = 0x80;

  assert_non_null (buf);
  assert_non_null (check);
  while (!atomic_load (&race->stop))
    for (uint64_t r = STATIC_REGIONS; r < REGIONS; r++) {
      value = value == 0xff ? 0x81 : value + 1;
      memset (buf, value, REGION);
      assert_int_equal (store_write (race->b->store, buf, REGION, r * REGION), 0);
      if (!region_whole (race->b->store, r, value, check))
        atomic_fetch_add (&race->torn, 1);
    }
  free (buf);
  free (check);
  return NULL;
}

static void
test_reset_while_clients_work (void **state)
{
  (void) state;
  struct race race = { .b = base_new (4096) };
  pthread_t checker, writer;
  uint8_t *buf = malloc (REGION);

  assert_non_null (buf);
  memset (buf, 0xa0, REGION);
  assert_int_equal (pthread_create (&checker, NULL, checker_main, &race), 0);
  assert_int_equal (pthread_create (&writer, NULL, writer_main, &race), 0);
  for (unsigned i = 0; i < ROUNDS; i++) {
    /* Regions 0..3 all 0xa0 while the checker does not judge, then a
     * reset while it does: it must see each whole, 0xa0 or the base. */
    atomic_store (&race.judge, false);
    while (atomic_load (&race.busy))
      sched_yield ();
    for (uint64_t r = 0; r < STATIC_REGIONS; r++)
      assert_int_equal (store_write (race.b->store, buf, REGION, r * REGION), 0);
    atomic_store (&race.judge, true);
    unsigned seen = atomic_load (&race.checked);
    while (atomic_load (&race.checked) < seen + 2)
      sched_yield ();         /* the checker is at it: reset under its feet */
    assert_int_equal (store_reset (race.b->store, store_load_epoch (race.b->store),
                                   reset_region, race.b), 0);
  }
  atomic_store (&race.stop, true);
  pthread_join (checker, NULL);
  pthread_join (writer, NULL);
  assert_int_equal (atomic_load (&race.torn), 0);
  free (buf);
  base_free (race.b);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_reset_page_sizes),
    cmocka_unit_test (test_reset_no_base),
    cmocka_unit_test (test_reset_since_snapshot),
    cmocka_unit_test (test_reset_excludes_snapshot),
    cmocka_unit_test (test_reset_while_clients_work),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
