/* Lazy loading in the plugin (snapshot-load=lazy): the disk is opened
 * from the snapshot before nbdkit forks (structure checked, pages "in the
 * file"), serves at once, and background threads at nice 19 load the
 * frames that no client has touched yet (src/snapshot/read/lazy.h), with one
 * thread at normal priority loading those just ahead of the clients.
 *
 * Order at exit (docs/design.md, "Lazy load"): .cleanup stops and joins
 * the loader threads first (each finishes the frame in hand), then
 * the final save runs and decodes what is still in the file; .unload
 * destroys the store, then lazyload_free closes the file.
 */
#ifndef MEMDISK_PLUGIN_LAZYLOAD_H
#define MEMDISK_PLUGIN_LAZYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/read/lazy.h"
#include "store/store.h"

/* .get_ready: open PATH lazily into a new store of max(its size,
 * MIN_SIZE) bytes.  NULL with md_error set. */
struct store *lazyload_open (const char *path, uint64_t min_size,
                             uint64_t *file_virtual_size);
/* The snap_lazy lazyload_open made (NULL before, or when none), for the
 * first save to copy the unchanged regions' frames from its file. */
struct snap_lazy *lazyload_file (void);
/* .after_fork: start snapshot-load-threads background threads and the
 * front thread (none with 0, or when nothing was opened lazily).  Returns 0: a thread that
 * cannot start is logged, and its frames load when touched. */
int lazyload_start (void);
/* .cleanup, before the final save: stop and join them. */
void lazyload_stop (void);
/* .unload, after store_destroy. */
void lazyload_free (void);

struct lazyload_status {
  bool lazy;                    /* the disk was opened lazily */
  bool loaded;                  /* every frame resident or damaged */
  size_t frames, frames_resident, frames_damaged;
  uint64_t bytes_loaded, bytes_total;
};
void lazyload_get_status (struct lazyload_status *status);

#endif
