/* The disk at start: loaded from snapshot=FILE when it exists (eagerly,
 * or opened for a lazy load: lazyload.h), else created empty at size=.
 * In .get_ready, before nbdkit forks, after the start-up checks
 * (startcheck.h).
 */
#ifndef MEMDISK_PLUGIN_LOAD_H
#define MEMDISK_PLUGIN_LOAD_H

#include "snapshot/storefile.h"
#include "store/store.h"

/* A new empty disk of size= bytes (no snapshot=, or FILE does not exist
 * yet).  NULL after nbdkit_error.  Here and in load_disk, a disk of
 * allocator=malloc has every page in memory (allocator.h). */
struct store *load_new_disk (void);

/* The disk of snapshot=PATH: loaded when PATH exists, else new (then
 * marked changed, so that the exit save creates PATH even if no client
 * writes: the next start knows the size).  A server that saves gets the
 * loaded file in *PREVIOUS, the first save's source of unchanged frames.
 * *ORIGIN is "load" or "start".  NULL after nbdkit_error. */
struct store *load_disk (const char *path, struct snapstore_previous *previous,
                         const char **origin);

#endif
