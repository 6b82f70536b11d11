/* Persistence, step by step through nbdkit's callbacks: the disk is
 * loaded from snapshot=FILE at start and saved to it on SIGUSR1, on
 * `memdisk-tool save`, every snapshot-interval seconds when changed, and
 * at exit.  This file says which step runs in which callback; each step
 * is a file of its own: wake.c (SIGUSR1 and requests), startcheck.c (the
 * checks of FILE), load.c, saver.c, status.c (the record that
 * `memdisk-tool status` shows) and control.c (the control channel).  A
 * server that may write FILE holds its writer lock (control/lock.h) and
 * answers on its control channel.
 */
#ifndef MEMDISK_PLUGIN_PERSIST_H
#define MEMDISK_PLUGIN_PERSIST_H

#include "store/store.h"

/* .get_ready: install the SIGUSR1 handler; check FILE; take FILE's
 * writer lock and open the control channel (unless snapshot-readonly);
 * remove temporaries of killed saves; check that FILE's folder is
 * writable; create the disk, loading FILE if it exists.  All before
 * nbdkit forks, so any problem stops nbdkit with a message.  Returns the
 * disk or NULL after nbdkit_error. */
struct store *persist_open_disk (void);

/* .after_fork: start the saving and control threads.  0, or -1 after
 * nbdkit_error. */
int persist_start (struct store *disk);

/* .cleanup (clients are gone): stop the saving thread, make the final
 * save unless nothing changed since the last one, answer the waiting
 * `memdisk-tool save`s and stop the control thread. */
void persist_stop (struct store *disk);

/* .unload: ignore SIGUSR1 from now on, close the wake pipe and the
 * control socket, release the writer lock. */
void persist_unload (void);

/* .unload, after store_destroy: free what resets used (the disk's base,
 * which routes the store's fault hook). */
void persist_free (void);

/* EXIT_FAILURE when the final save failed (its error is logged), else
 * EXIT_SUCCESS.  nbdkit 1.32 exits 0 whatever a plugin's .cleanup or
 * .unload does (server/main.c returns EXIT_SUCCESS after top->free), so
 * .unload ends the process itself with this status; see
 * docs/design.md. */
int persist_exit_status (void);

#endif
