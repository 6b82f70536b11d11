/* Resetting a store to its base, the snapshot file it last loaded or
 * saved (docs/design.md, "Reset"): the bridge between store_reset
 * (store/store.h) and the file's frames, served lazily
 * (snapshot/read/lazy.h).
 */
#ifndef MEMDISK_SNAPSTORE_RESET_H
#define MEMDISK_SNAPSTORE_RESET_H

#include <stdbool.h>
#include <stdint.h>

#include "snapshot/read/lazy.h"
#include "snapshot/storefile.h"
#include "store/store.h"

/* The base of a store for resets: which file its pages "in the file"
 * come from.  It owns the store's fault hook, which it routes to the
 * current base file's snap_lazy: the lazily loaded file LOADED (not
 * owned) until a reset goes back to another file, then a snap_lazy it
 * attaches to that file (owned).  The route changes only inside a
 * reset's instant, when no request runs, and a file left behind decodes
 * nothing more (snap_lazy_retire), so no page of the new base is ever
 * filled from the old file. */
struct snapstore_base;

/* Before any client: take over STORE's fault hook.  LOADED: the
 * snap_lazy STORE was opened with, or NULL (an eager load, a new disk).
 * PATH names the file in messages.  NULL with md_error set (ENOMEM). */
struct snapstore_base *snapstore_base_new (struct store *store, struct snap_lazy *loaded,
                                           const char *path);
/* After store_destroy. */
void snapstore_base_free (struct snapstore_base *base);

/* Reset the store to PREVIOUS, the file it last loaded or saved (its
 * epoch the instant that file holds), or to zeros when HAS_FILE is false
 * (it never had one).  *REGIONS (if not NULL) counts the regions put
 * back.  Never touches the file on disk.  Not while a save runs (the
 * caller serializes them).  0, or -1 with md_error set: no descriptor of
 * the base is open any more (a save that failed dropped it), the base
 * cannot be read, or memory ran out (the regions done are reset, the
 * others not). */
int snapstore_reset (struct snapstore_base *base, const struct snapstore_previous *previous,
                     bool has_file, uint64_t *regions);

#endif
