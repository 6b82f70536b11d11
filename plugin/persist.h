/* Persistence: the disk is loaded from snapshot=FILE at start and saved
 * to it on SIGUSR1, every snapshot-interval seconds when changed, and at
 * exit.  Saves run on one background thread while clients keep working
 * (the store makes them point-in-time; see docs/design.md).
 */
#ifndef MEMDISK_PLUGIN_PERSIST_H
#define MEMDISK_PLUGIN_PERSIST_H

#include "store/store.h"

/* .get_ready: create the disk, loading snapshot=FILE if it exists; check
 * that FILE's folder is writable and remove temporaries of killed saves;
 * install the SIGUSR1 handler.  All before nbdkit forks, so any problem
 * stops nbdkit with a message.  Returns the disk or NULL after
 * nbdkit_error. */
struct store *persist_open_disk (void);

/* .after_fork: start the saving thread.  0, or -1 after nbdkit_error. */
int persist_start (struct store *disk);

/* .cleanup (clients are gone): stop the saving thread and make the final
 * save, unless nothing changed since the last one. */
void persist_stop (struct store *disk);

/* EXIT_FAILURE when the final save failed (its error is logged), else
 * EXIT_SUCCESS.  nbdkit 1.32 exits 0 whatever a plugin's .cleanup or
 * .unload does (server/main.c returns EXIT_SUCCESS after top->free), so
 * .unload ends the process itself with this status; see
 * docs/design.md. */
int persist_exit_status (void);

#endif
