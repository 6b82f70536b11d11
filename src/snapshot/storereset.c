/* Resetting a store to its base file (storereset.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "snapshot/read/reader.h"
#include "snapshot/storereset.h"

struct snapstore_base {
  struct store *store;
  char *path;
  struct snap_lazy *loaded;             /* the lazy load's, not ours */
  struct snap_lazy *attached;           /* ours: the current base when not LOADED */
  /* The file the fault hook serves from: LOADED, ATTACHED or NULL.
   * Written only inside a reset's instant (no request runs); atomic
   * because the saver's later walks and the clients read it. */
  _Atomic (struct snap_lazy *) current;
  uint64_t epoch;                       /* the instant CURRENT's file holds */
};

static int
base_fault (void *opaque, uint64_t page, bool by_client)
{
  struct snapstore_base *base = opaque;
  struct snap_lazy *lazy = atomic_load_explicit (&base->current, memory_order_acquire);

  if (lazy == NULL || !snap_lazy_holds_page (lazy, page)) {
    /* Not reached: a page is in the file only by the current base. */
    md_error_set ("snapshot %s: page %" PRIu64 " is not in the base file", base->path, page);
    errno = EIO;
    return -1;
  }
  return snap_lazy_fault (lazy, page, by_client);
}

struct snapstore_base *
snapstore_base_new (struct store *store, struct snap_lazy *loaded, const char *path)
{
  struct snapstore_base *base = calloc (1, sizeof *base);

  if (base == NULL || (base->path = strdup (path)) == NULL) {
    free (base);
    md_error_set ("out of memory");
    errno = ENOMEM;
    return NULL;
  }
  base->store = store;
  base->loaded = loaded;
  atomic_init (&base->current, loaded);
  base->epoch = store_load_epoch (store);
  store_set_fault_hook (store, base_fault, base);
  return base;
}

void
snapstore_base_free (struct snapstore_base *base)
{
  if (base == NULL)
    return;
  snap_lazy_free (base->attached);
  free (base->path);
  free (base);
}

struct reset_context {
  struct snapstore_base *base;
  struct snap_lazy *next;               /* the base from now on (NULL: zeros) */
  uint64_t epoch;
  uint64_t region_pages;
  uint64_t regions;
};

/* Inside the reset's instant, before any region: the hook's route moves
 * to the new base, and the old file decodes nothing more. */
static void
switch_base (struct reset_context *ctx)
{
  struct snapstore_base *base = ctx->base;
  struct snap_lazy *old = atomic_load (&base->current);

  if (old != ctx->next) {
    if (old != NULL)
      snap_lazy_retire (old);
    atomic_store_explicit (&base->current, ctx->next, memory_order_release);
    if (old != NULL && old == base->attached)
      snap_lazy_free (old);
    if (old == base->attached)
      base->attached = NULL;
    if (ctx->next != base->loaded)
      base->attached = ctx->next;
  }
  base->epoch = ctx->epoch;
}

static int
reset_region (void *opaque, uint64_t region)
{
  struct reset_context *ctx = opaque;

  if (region == STORE_RESET_INSTANT) {
    switch_base (ctx);
    return 0;
  }
  ctx->regions++;
  if (ctx->next == NULL)
    return store_region_to_file (ctx->base->store, region, NULL, NULL);
  return snap_lazy_reset_region (ctx->next, region, ctx->region_pages);
}

/* The snap_lazy of PREVIOUS's file: the current one if it is that file,
 * else a new one attached to its descriptor.  NULL with md_error set. */
static struct snap_lazy *
base_for (struct snapstore_base *base, const struct snapstore_previous *previous)
{
  struct snap_lazy *current = atomic_load (&base->current);

  if (previous->lazy != NULL)
    return previous->lazy;
  if (current != NULL && base->epoch == previous->epoch)
    return current;
  if (previous->reader == NULL) {
    md_error_set ("no descriptor of %s, the file this disk last loaded or saved, is "
                  "open any more (a failed save let go of it): save first", base->path);
    errno = ENOENT;
    return NULL;
  }
  return snap_lazy_attach (base->path, snap_reader_fd (previous->reader), base->store);
}

int
snapstore_reset (struct snapstore_base *base, const struct snapstore_previous *previous,
                 bool has_file, uint64_t *regions)
{
  struct reset_context ctx = {
    .base = base,
    .epoch = has_file ? previous->epoch : 1,    /* epochs start at 1 */
    .region_pages = store_region_size (base->store) / store_page_size (base->store),
  };

  if (has_file && (ctx.next = base_for (base, previous)) == NULL)
    return -1;
  int r = store_reset (base->store, ctx.epoch, reset_region, &ctx);
  if (regions != NULL)
    *regions = ctx.regions;
  /* Never switched (the reset was refused): a new snap_lazy is not the
   * base yet. */
  if (ctx.next != NULL && ctx.next != base->loaded && ctx.next != base->attached)
    snap_lazy_free (ctx.next);
  return r;
}
