/* One writer per snapshot: a process that may write FILE (an nbdkit
 * server without snapshot-readonly, memdisk-tool convert or create) holds
 * an exclusive flock(2) on the lock file ".NAME.lock" next to FILE for as
 * long as it may write.  The lock is on a file of its own because FILE is
 * replaced by rename at every save.  The kernel releases it when the
 * holder dies; the holder's pid is written in the file for messages.  The
 * holder removes the lock file when it lets go; a taker checks that the
 * file it locked is still the one at that name, so a removal racing with
 * a new taker never lets two writers in.
 */
#ifndef MEMDISK_CONTROL_LOCK_H
#define MEMDISK_CONTROL_LOCK_H

#include <sys/types.h>

struct writer_lock {
  int fd;                       /* -1 when not held */
  char *path;                   /* the lock file */
};

/* FILE's lock file name (malloc'd), or NULL with md_error set. */
char *writer_lock_path (const char *file);

/* Take the writer lock of FILE without waiting.  0; or -1 with md_error
 * set: errno EWOULDBLOCK when another process holds it (then *HOLDER is
 * its pid, or 0 when unknown, and the message names it). */
int writer_lock_take (struct writer_lock *lock, const char *file, pid_t *holder);

/* Write the calling process's pid into the lock file (after a fork: the
 * lock belongs to the open file, which the child shares).  0, or -1 with
 * md_error set. */
int writer_lock_update_pid (struct writer_lock *lock);

/* Remove the lock file and let go.  A lock not held is left alone. */
void writer_lock_release (struct writer_lock *lock);

#endif
