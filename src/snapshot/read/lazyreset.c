/* A lazily served file as the base a reset goes back to (lazy.h,
 * "Resets"): a changed region's frames put back to ABSENT and its pages
 * back "in the file" (store_region_to_file), so the next touch decodes
 * them again; a snap_lazy over a file that is already in the store (an
 * eager load, a save); and the retirement of a file that is no longer
 * the base.
 *
 * A region is put back while the frames that hold its pages are claimed
 * (their state LOADING, as if this thread decoded them): a fault or a
 * loader that meets one waits on its futex, as for any load, and the
 * frame becomes ABSENT only once every slot holds the sentinel again, so
 * nobody finds the frame RESIDENT with pages still in the file.  A
 * DAMAGED frame stays damaged: its pages go back in the file and fail
 * again.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/futex.h"
#include "snapshot/read/lazy-internal.h"
#include "snapshot/read/lazy.h"

struct snap_lazy *
snap_lazy_attach (const char *path, int fd, struct store *store)
{
  int own = dup (fd);

  if (own == -1) {
    md_error_set ("snapshot %s: dup: %s", path, strerror (errno));
    return NULL;
  }
  struct snap_lazy *lazy = snap_lazy_new (path, snap_reader_adopt_fd (own),
                                          store_region_size (store));
  if (lazy != NULL)
    lazy->store = store;
  return lazy;
}

void
snap_lazy_retire (struct snap_lazy *lazy)
{
  atomic_store (&lazy->retired, true);
  /* A load that claimed its frame before it could see the flag ends
   * first (snap_lazy_load: the exchange, then the flag). */
  for (size_t k = 0; k < lazy->index->frame_count; k++)
    while (atomic_load (&lazy->state[k]) == LOADING)
      md_futex_wait (&lazy->state[k], LOADING);
}

bool
snap_lazy_holds_page (void *opaque, uint64_t page)
{
  const struct snap_lazy *lazy = opaque;
  const struct snap_index *index = lazy->index;

  if (index->frame_count == 0)
    return false;
  const struct snap_frame *f = &index->frames[snap_index_frame_of_page (index, page)];
  for (size_t i = 0; i < f->run_count; i++) {
    const struct snap_run *run = &index->runs[f->first_run + i];
    if (page >= run->first_page && page - run->first_page < run->page_count)
      return true;
  }
  return false;
}

/* Whether frame K holds a page in [FIRST, END). */
static bool
frame_meets (const struct snap_lazy *lazy, size_t k, uint64_t first, uint64_t end)
{
  const struct snap_frame *f = &lazy->index->frames[k];

  for (size_t i = 0; i < f->run_count; i++) {
    const struct snap_run *run = &lazy->index->runs[f->first_run + i];
    if (run->first_page < end && run->first_page + run->page_count > first)
      return true;
  }
  return false;
}

/* Claim frame K (LOADING, once no one else loads it); its state before
 * in *WAS.  False for a damaged frame, left alone. */
static bool
frame_claim (struct snap_lazy *lazy, size_t k, uint32_t *was)
{
  for (;;) {
    uint32_t s = atomic_load (&lazy->state[k]);
    if (s == DAMAGED)
      return false;
    if (s == LOADING) {
      md_futex_wait (&lazy->state[k], LOADING);
      continue;
    }
    if (atomic_compare_exchange_strong (&lazy->state[k], &s, LOADING)) {
      *was = s;
      return true;
    }
  }
}

static void
frame_release (struct snap_lazy *lazy, size_t k, uint32_t was)
{
  if (was == RESIDENT) {
    const struct snap_frame *f = &lazy->index->frames[k];
    atomic_fetch_sub (&lazy->bytes_loaded, f->page_count * lazy->page_size);
    atomic_fetch_sub (&lazy->resident, 1);
  }
  atomic_store_explicit (&lazy->state[k], ABSENT, memory_order_release);
  md_futex_wake_all (&lazy->state[k]);
}

int
snap_lazy_reset_region (struct snap_lazy *lazy, uint64_t region, uint64_t region_pages)
{
  const struct snap_index *index = lazy->index;
  const uint64_t first = region * region_pages, end = first + region_pages;
  size_t k0 = index->frame_count ? snap_index_frame_of_page (index, first) : 0, k1 = k0;

  while (k1 < index->frame_count && snap_index_frame_first_page (index, k1) < end)
    k1++;
  /* One byte per frame: 0 not claimed, else its state before + 1. */
  unsigned char *claimed = calloc (k1 > k0 ? k1 - k0 : 1, 1);
  if (claimed == NULL) {
    md_error_set ("out of memory resetting region %" PRIu64, region);
    errno = ENOMEM;
    return -1;
  }
  for (size_t k = k0; k < k1; k++) {
    uint32_t was;
    if (frame_meets (lazy, k, first, end) && frame_claim (lazy, k, &was))
      claimed[k - k0] = (unsigned char) (was + 1);
  }
  int r = store_region_to_file (lazy->store, region, snap_lazy_holds_page, lazy);
  for (size_t k = k0; k < k1; k++)
    if (claimed[k - k0] != 0)
      frame_release (lazy, k, claimed[k - k0] - 1u);
  free (claimed);
  return r;
}
