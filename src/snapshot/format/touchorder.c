/* The touch order (touchorder.h): recording, the format's rules, and
 * the merge of this run's order with the loaded file's. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "snapshot/format/touchorder.h"

static int
compare_u64 (const void *a, const void *b)
{
  uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

  return (x > y) - (x < y);
}

uint64_t
snap_touch_region_count (uint64_t virtual_size, uint32_t region_size)
{
  return virtual_size / region_size + (virtual_size % region_size != 0);
}

int
snap_touch_order_check (const uint64_t *regions, size_t n, uint64_t region_count,
                        size_t *bad, const char **why)
{
  uint64_t sorted[SNAP_MAX_TOUCH_ORDER];

  if (n > SNAP_MAX_TOUCH_ORDER) {
    *bad = SNAP_MAX_TOUCH_ORDER;
    *why = "it lists more than 1024 regions";
    return -1;
  }
  for (size_t i = 0; i < n; i++)
    if (regions[i] >= region_count) {
      *bad = i;
      *why = "the region is beyond the end of the disk";
      return -1;
    }
  if (n == 0)
    return 0;
  /* A copy sorted, to find a region listed twice in n log n. */
  memcpy (sorted, regions, n * sizeof *sorted);
  qsort (sorted, n, sizeof *sorted, compare_u64);
  for (size_t i = 1; i < n; i++)
    if (sorted[i] == sorted[i - 1]) {
      for (size_t j = 0; j < n; j++)
        if (regions[j] == sorted[i])
          *bad = j;             /* the last listing of it: the repeat */
      *why = "the region is listed twice";
      return -1;
    }
  return 0;
}

void
snap_touch_record (struct snap_touch_recorder *recorder, uint64_t region)
{
  size_t i = atomic_fetch_add_explicit (&recorder->taken, 1, memory_order_relaxed);

  if (i < SNAP_MAX_TOUCH_ORDER)
    atomic_store_explicit (&recorder->slot[i], region + 1, memory_order_release);
  else                          /* full: keep the counter from wrapping */
    atomic_store_explicit (&recorder->taken, SNAP_MAX_TOUCH_ORDER, memory_order_relaxed);
}

size_t
snap_touch_recorded (const struct snap_touch_recorder *recorder, uint64_t *out)
{
  size_t taken = atomic_load_explicit (&recorder->taken, memory_order_relaxed);
  size_t n = 0;

  if (taken > SNAP_MAX_TOUCH_ORDER)
    taken = SNAP_MAX_TOUCH_ORDER;
  for (size_t i = 0; i < taken; i++) {
    /* A slot taken but not yet stored is skipped: a save at that instant
     * simply did not see that touch yet. */
    uint64_t v = atomic_load_explicit (&recorder->slot[i], memory_order_acquire);
    if (v != 0)
      out[n++] = v - 1;
  }
  return n;
}

size_t
snap_touch_order_merge (const uint64_t *first, size_t n_first,
                        const uint64_t *earlier, size_t n_earlier, uint64_t *out)
{
  uint64_t sorted[SNAP_MAX_TOUCH_ORDER];
  size_t n = 0;

  if (n_first > SNAP_MAX_TOUCH_ORDER)
    n_first = SNAP_MAX_TOUCH_ORDER;
  if (n_first > 0) {            /* FIRST may be NULL then */
    memcpy (out, first, n_first * sizeof *out);
    memcpy (sorted, first, n_first * sizeof *sorted);
    qsort (sorted, n_first, sizeof *sorted, compare_u64);
  }
  n = n_first;
  for (size_t i = 0; i < n_earlier && n < SNAP_MAX_TOUCH_ORDER; i++)
    if (bsearch (&earlier[i], sorted, n_first, sizeof *sorted, compare_u64) == NULL)
      out[n++] = earlier[i];
  return n;
}
