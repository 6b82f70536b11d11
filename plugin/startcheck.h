/* The start-up checks of snapshot=FILE, made in .get_ready before the
 * load, so that a server that could not save, or should not trust FILE,
 * refuses to start with a message rather than find out at exit with the
 * data in hand.  Each is made for the user who will save (runas.h).
 */
#ifndef MEMDISK_PLUGIN_STARTCHECK_H
#define MEMDISK_PLUGIN_STARTCHECK_H

/* Whether FILE may be trusted (files/trust.h), for the user who will
 * save it.  FILE's symbolic links are followed once, here: from now on
 * memdisk_config.snapshot names the file they led to, which the checks
 * approved and saves replace.  0, or -1 after nbdkit_error. */
int startcheck_path (void);

/* Remove the temporaries of killed saves next to PATH (logged). */
void startcheck_remove_stale (const char *path);

/* Whether a save could create its temporary next to PATH.  0, or -1
 * after nbdkit_error. */
int startcheck_folder_writable (const char *path);

/* Whether the snapshot PATH's pages fit in the memory the server can
 * have, unless snapshot-memory-check=false.  0, or -1 after
 * nbdkit_error. */
int startcheck_memory (const char *path);

#endif
