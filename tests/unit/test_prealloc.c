/* store/prealloc.c (allocator=malloc): after store_preallocate every page
 * of the disk is in memory, extents report it all as data, zero and trim
 * clear pages in place (memory stays), pages still in the file load into
 * the pages put aside at start (from any thread: no slab mapped after the
 * start), and a running snapshot still gets the instant's bytes of pages
 * zeroed or rewritten whole ahead of its walk.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/internal.h"

#define PAGE 4096u
#define PAGES 245u                              /* not a whole leaf or slab */
#define SIZE ((uint64_t) PAGES * PAGE - 1000)   /* a partial last page */
#define THREADS 4

static uint8_t
pattern (uint64_t page, size_t i)
{
  return (uint8_t) ((page * 31 + i * 7) | 1);
}

static void
fill_page (uint64_t page, uint8_t *buf)
{
  for (size_t i = 0; i < PAGE; i++)
    buf[i] = pattern (page, i);
}

static size_t
slabs_mapped (struct store *store)
{
  size_t n = 0;

  for (unsigned i = 0; i < PAGE_POOL_SHARDS; i++)
    n += store->pages.shard[i].arena.nslabs;
  return n;
}

static int
count_run (void *opaque, uint64_t offset, uint64_t len, bool allocated)
{
  unsigned *runs = opaque;

  (void) offset; (void) len;
  assert_true (allocated);
  ++*runs;
  return 0;
}

static void
check_all_data (struct store *store)
{
  unsigned runs = 0;

  assert_int_equal (store_extents (store, 0, SIZE, count_run, &runs), 0);
  assert_int_equal (runs, 1);
}

static void
check_zeros (struct store *store, uint64_t offset, uint64_t len)
{
  uint8_t *buf = malloc (len), *zeros = calloc (1, len);

  assert_non_null (buf);
  assert_non_null (zeros);
  assert_int_equal (store_read (store, buf, len, offset), 0);
  assert_memory_equal (buf, zeros, len);
  free (buf);
  free (zeros);
}

static void
test_every_page_in_memory (void **state)
{
  struct store *store = store_create (SIZE, PAGE);

  (void) state;
  assert_non_null (store);
  assert_int_equal (store_preallocate_bytes (store), (uint64_t) PAGES * PAGE);
  assert_int_equal (store_preallocate (store), 0);
  assert_int_equal (store_allocated_bytes (store), (uint64_t) PAGES * PAGE);
  assert_int_equal (store_resident_bytes (store), (uint64_t) PAGES * PAGE);
  assert_int_equal (store_preallocate_bytes (store), 0);
  check_all_data (store);
  check_zeros (store, 0, SIZE);
  store_destroy (store);
}

static void
test_zero_and_trim_keep_memory (void **state)
{
  struct store *store = store_create (SIZE, PAGE);
  uint8_t page[PAGE];
  size_t slabs;

  (void) state;
  assert_int_equal (store_preallocate (store), 0);
  slabs = slabs_mapped (store);
  for (uint64_t p = 0; p + 1 < PAGES; p++) {
    fill_page (p, page);
    assert_int_equal (store_write (store, page, PAGE, p * PAGE), 0);
  }
  assert_int_equal (store_zero (store, 8 * PAGE, 0), 0);
  assert_int_equal (store_trim (store, 8 * PAGE + 100, 16 * PAGE), 0);
  assert_int_equal (store_zero (store, SIZE - 20 * PAGE, 20 * PAGE - 1000), 0);
  check_zeros (store, 0, 8 * PAGE);
  check_zeros (store, 16 * PAGE, 8 * PAGE + 100);
  check_zeros (store, 20 * PAGE - 1000, SIZE - 20 * PAGE);
  /* Untouched bytes between the ranges are the written ones. */
  assert_int_equal (store_read (store, page, PAGE, 10 * PAGE), 0);
  assert_int_equal (page[5], pattern (10, 5));
  assert_int_equal (store_allocated_bytes (store), (uint64_t) PAGES * PAGE);
  assert_int_equal (slabs_mapped (store), slabs);
  check_all_data (store);
  store_destroy (store);
}

/* The "file": each page's pattern, installed when faulted. */
static int
install_hook (void *opaque, uint64_t page_index, bool by_client)
{
  struct store *store = opaque;
  uint8_t page[PAGE];

  (void) by_client;
  fill_page (page_index, page);
  return store_install_page (store, page_index, page);
}

struct reader_arg {
  struct store *store;
  unsigned first;
};

static void *
read_every_other (void *opaque)
{
  struct reader_arg *arg = opaque;
  uint8_t got[PAGE], want[PAGE];

  for (uint64_t p = arg->first; p + 1 < PAGES; p += THREADS) {
    assert_int_equal (store_read (arg->store, got, PAGE, p * PAGE), 0);
    fill_page (p, want);
    assert_memory_equal (got, want, PAGE);
  }
  return NULL;
}

static void
test_pages_in_file_load_into_reserve (void **state)
{
  struct store *store = store_create (SIZE, PAGE);
  pthread_t threads[THREADS];
  struct reader_arg args[THREADS];
  size_t slabs;

  (void) state;
  store_set_fault_hook (store, install_hook, store);
  assert_int_equal (store_mark_in_file (store, 0, PAGES - 1), 0);
  assert_int_equal (store_in_file_bytes (store), (uint64_t) (PAGES - 1) * PAGE);
  assert_int_equal (store_resident_bytes (store), 0);
  assert_int_equal (store_preallocate_bytes (store), (uint64_t) PAGES * PAGE);
  assert_int_equal (store_preallocate (store), 0);
  assert_int_equal (store_resident_bytes (store), PAGE);   /* the last page, a hole */
  slabs = slabs_mapped (store);
  for (unsigned t = 0; t < THREADS; t++) {
    args[t] = (struct reader_arg) { store, t };
    assert_int_equal (pthread_create (&threads[t], NULL, read_every_other, &args[t]), 0);
  }
  for (unsigned t = 0; t < THREADS; t++)
    pthread_join (threads[t], NULL);
  assert_int_equal (store_in_file_bytes (store), 0);
  assert_int_equal (store_resident_bytes (store), (uint64_t) PAGES * PAGE);
  /* Whatever thread loaded a page took it from the pages put aside. */
  assert_int_equal (slabs_mapped (store), slabs);
  store_destroy (store);
}

static void
test_snapshot_keeps_instant (void **state)
{
  struct store *store = store_create (SIZE, PAGE);
  uint8_t page[PAGE], got[PAGE], want[PAGE];
  struct store_snapshot *snap;
  uint64_t index;
  size_t slabs;

  (void) state;
  assert_int_equal (store_preallocate (store), 0);
  for (uint64_t p = 0; p < 2; p++) {
    fill_page (p, page);
    assert_int_equal (store_write (store, page, PAGE, p * PAGE), 0);
  }
  slabs = slabs_mapped (store);
  snap = store_snapshot_begin (store);
  assert_non_null (snap);
  assert_int_equal (store_zero (store, PAGE, 0), 0);      /* ahead of the walk */
  memset (page, 0xee, PAGE);
  assert_int_equal (store_write (store, page, PAGE, PAGE), 0);
  for (uint64_t p = 0; p < 2; p++) {
    assert_int_equal (store_snapshot_next (snap, &index, got), 1);
    assert_int_equal (index, p);
    fill_page (p, want);
    assert_memory_equal (got, want, PAGE);
  }
  store_snapshot_end (snap);
  check_zeros (store, 0, PAGE);
  assert_int_equal (store_read (store, got, PAGE, PAGE), 0);
  assert_memory_equal (got, page, PAGE);
  assert_int_equal (store_allocated_bytes (store), (uint64_t) PAGES * PAGE);
  assert_int_equal (slabs_mapped (store), slabs);
  store_destroy (store);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_every_page_in_memory),
    cmocka_unit_test (test_zero_and_trim_keep_memory),
    cmocka_unit_test (test_pages_in_file_load_into_reserve),
    cmocka_unit_test (test_snapshot_keeps_instant),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
