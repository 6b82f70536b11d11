/* The saver: one background thread that saves the disk to snapshot=FILE
 * on SIGUSR1 and `memdisk-tool save` (wake.h), and every
 * snapshot-interval seconds when it changed, and that resets it on
 * `memdisk-tool reset` (so a reset never runs during a save); and the save at exit, on
 * nbdkit's main thread once that thread is joined.  Saves run while
 * clients keep working (the store makes them point-in-time; see
 * docs/design.md), each recorded in the status record (status.h) and
 * logged in one line.
 */
#ifndef MEMDISK_PLUGIN_SAVER_H
#define MEMDISK_PLUGIN_SAVER_H

#include <stdbool.h>

#include "snapshot/storefile.h"
#include "store/store.h"

/* .get_ready, after the load of DISK, before any client: the file FILE
 * holds now, which the first save copies unchanged frames from and a
 * reset goes back to (*LOADED, taken over; empty for a new disk), and
 * how it got there (ORIGIN: "load" or "start").  Takes over DISK's fault
 * hook for resets.  0, or -1 after nbdkit_error. */
int saver_adopt_file (struct store *disk, struct snapstore_previous *loaded,
                      const char *origin);
/* .unload, after store_destroy: free what resets used. */
void saver_unload (void);

/* .after_fork: start the thread.  0, or -1 after nbdkit_error. */
int saver_start (struct store *disk);

/* .cleanup: stop and join the thread, then make the exit save unless
 * nothing changed since the last save or the load, and let go of the
 * previous file. */
void saver_stop (struct store *disk);

/* Whether the exit save failed (its error is logged). */
bool saver_exit_save_failed (void);

#endif
