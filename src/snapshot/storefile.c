/* Saving a store to a snapshot file and loading one into a new store
 * (storefile.h): the store's snapshot walk feeds the writer, the loader
 * fills the store's pages. */
#include <errno.h>
#include <stdatomic.h>

#include "common/error.h"
#include "snapshot/reader.h"
#include "snapshot/storefile.h"

struct save_source {
  struct store_snapshot *snap;
  _Atomic uint64_t *pages_done;
};

static int
next_snapshot_page (void *opaque, uint64_t *page_index, void *buf)
{
  struct save_source *src = opaque;
  int r = store_snapshot_next (src->snap, page_index, buf);

  if (r == 1 && src->pages_done != NULL)
    atomic_fetch_add_explicit (src->pages_done, 1, memory_order_relaxed);
  return r;
}

int
snapstore_save (struct store *store, const char *path,
                const struct snap_write_options *options)
{
  return snapstore_save_progress (store, path, options, NULL);
}

int
snapstore_save_progress (struct store *store, const char *path,
                         const struct snap_write_options *options,
                         _Atomic uint64_t *pages_done)
{
  struct snap_write_options opts = *options;
  struct save_source src = { .pages_done = pages_done };
  int r;

  src.snap = store_snapshot_begin (store);
  if (src.snap == NULL) {
    if (options->replaced != NULL)
      *options->replaced = SNAP_REPLACE_UNTOUCHED;
    return -1;
  }
  opts.virtual_size = store_size (store);
  opts.page_size = store_page_size (store);
  r = snap_write_file (path, &opts, next_snapshot_page, &src);
  store_snapshot_end (src.snap);
  if (r == -1)
    store_mark_changed (store);
  return r;
}

static void *
load_page_dest (void *opaque, uint64_t page_index)
{
  return store_page_for_load (opaque, page_index);
}

struct store *
snapstore_load (const char *path, uint64_t min_size, unsigned threads,
                uint64_t *file_virtual_size)
{
  struct snap_reader *reader;
  const struct snap_metadata *meta;
  struct store *store;

  reader = snap_reader_open (path);
  if (reader == NULL)
    return NULL;
  meta = snap_reader_metadata (reader);
  *file_virtual_size = meta->virtual_size;
  store = store_create (meta->virtual_size > min_size ? meta->virtual_size : min_size,
                        meta->page_size);
  if (store == NULL)
    goto fail;
  if (snap_reader_load (reader, threads, load_page_dest, store) == -1)
    goto fail;
  snap_reader_close (reader);
  store_clear_changed (store);
  return store;

 fail:
  /* Never a half-loaded disk: the caller gets nothing to serve. */
  store_destroy (store);
  snap_reader_close (reader);
  return NULL;
}
