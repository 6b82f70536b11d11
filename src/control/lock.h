/* One writer per snapshot: a process that may write FILE (an nbdkit
 * server without snapshot-readonly, memdisk-tool convert or create) holds
 * an exclusive flock(2) on the lock file ".NAME.lock" next to FILE for as
 * long as it may write.  The lock is on a file of its own because FILE is
 * replaced by rename at every save.  FILE is named by the file its
 * symbolic links lead to (snap_trust_resolve, as the server resolves
 * snapshot=FILE), so that every path to FILE finds the same lock.
 *
 * The lock file must be a regular file owned by the writer's user (and is
 * made so, mode 0600): another user's file, FIFO, link, socket or folder
 * at that name is refused, naming its type and owner.  Nobody else can
 * open it, so nobody else can lock any part of it.
 *
 * flock belongs to the open file, so it survives a fork, and the kernel
 * reports it under the pid of whoever took it.  So that the kernel names
 * the process that holds the lock now, each holding process also holds a
 * POSIX read lock (fcntl F_SETLK) on one byte of the file, at the offset
 * of its own pid: F_GETLK at a pid's byte tells whether that process
 * holds FILE's lock (writer_lock_held_by), F_GETLK over the whole file
 * names a holder (for the message of a second writer).  POSIX locks are
 * per process: a holder must never open and close the lock file again,
 * and after a fork the child takes its own byte (writer_lock_claim).
 *
 * The file holds one line, the name of the holder's control socket (a
 * random token, control/channel.h), readable only by the holder's user
 * and root.
 *
 * The holder removes the lock file when it lets go; a taker checks that
 * the file it locked is still the one at that name, so a removal racing
 * with a new taker never lets two writers in.
 */
#ifndef MEMDISK_CONTROL_LOCK_H
#define MEMDISK_CONTROL_LOCK_H

#include <stdbool.h>
#include <sys/stat.h>
#include <sys/types.h>

/* The control socket's name token: 128 random bits in hex. */
#define WRITER_LOCK_NAME_LEN 32

struct writer_lock {
  int fd;                       /* -1 when not held */
  char *path;                   /* the lock file */
  char name[WRITER_LOCK_NAME_LEN + 1]; /* the token written in it */
};

/* FILE's lock file name (malloc'd): ".NAME.lock" in the folder of the
 * file FILE's links lead to.  NULL with md_error set (FILE's folder is
 * missing, a link cannot be read). */
char *writer_lock_path (const char *file);

/* Take the writer lock of FILE without waiting, for a writer that runs as
 * OWNER (the lock file must belong to OWNER, or to us, and is given to
 * OWNER).  0; or -1 with md_error set: errno EWOULDBLOCK when another
 * process holds it (then *HOLDER is its pid as the kernel reports it, or
 * 0 when unknown, and the message names it); EPERM when something other
 * than OWNER's regular file is at the lock file's name (the message names
 * its type and owner). */
int writer_lock_take (struct writer_lock *lock, const char *file, uid_t owner,
                      pid_t *holder);

/* After a fork, in the child: make the calling process a holder that the
 * kernel reports (the flock is shared already).  0, or -1 with md_error
 * set. */
int writer_lock_claim (struct writer_lock *lock);

/* Remove the lock file and let go.  A lock not held is left alone. */
void writer_lock_release (struct writer_lock *lock);

/* For a process that does not hold it (memdisk-tool save, status): open
 * FILE's lock file read-only, without following a link, and check that it
 * is a regular file; *ST gets its status.  The descriptor, or -1 with
 * md_error set (errno ENOENT: no lock file, so no writer; EPERM: not a
 * regular file). */
int writer_lock_open (const char *file, struct stat *st);

/* The control socket token in the lock file FD into NAME; false when it
 * holds none (a writer that is starting, or not a server). */
bool writer_lock_read_name (int fd, char name[WRITER_LOCK_NAME_LEN + 1]);

/* Whether process PID holds the writer lock of the lock file FD, as the
 * kernel reports it (F_GETLK at PID's byte). */
bool writer_lock_held_by (int fd, pid_t pid);

/* A process holding the writer lock of the lock file FD, as the kernel
 * reports it; 0 when none is reported. */
pid_t writer_lock_holder (int fd);

#endif
