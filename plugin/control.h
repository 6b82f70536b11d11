/* The server's end of the control channel (src/control/channel.h):
 * one thread that accepts `memdisk-tool save` and `status` connections
 * and answers them, never blocking the saver (docs/design.md).  Only a
 * server that may write its snapshot has one.
 */
#ifndef MEMDISK_PLUGIN_CONTROL_H
#define MEMDISK_PLUGIN_CONTROL_H

#include "store/store.h"

struct writer_lock;
/* .get_ready, before the load: bind and listen for the snapshot PATH,
 * whose writer LOCK we hold (it names the socket).  0, or -1 after
 * nbdkit_error. */
int control_open (const char *path, const struct writer_lock *lock);
/* Start the thread (no-op without control_open).  0, or -1 after
 * nbdkit_error. */
int control_start (void);
/* Stop the thread but keep the socket and the clients: nbdkit forks
 * after .get_ready, and threads do not survive a fork. */
void control_pause (void);
/* The disk that `status` describes, before control_start in .after_fork. */
void control_set_disk (struct store *disk);
/* .cleanup, after the final save: answer every client, stop the thread. */
void control_stop (void);
/* .unload: close the socket. */
void control_close (void);

#endif
