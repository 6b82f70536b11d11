/* The writer lock of a snapshot (see lock.h): flock(2) on ".NAME.lock"
 * in the folder of the file FILE's links lead to, and a POSIX lock on the
 * byte of each holding process's pid, by which the kernel names it.  The
 * lock file is held open read-only (flock and read locks need no write
 * access), so that holding it does not keep the file system from being
 * remounted read-only; the socket token is written through a second,
 * short-lived descriptor, before any POSIX lock is taken (closing it
 * would drop them). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/username.h"
#include "control/lock.h"
#include "files/trust.h"

char *
writer_lock_path (const char *file)
{
  char *resolved = snap_trust_resolve (file);
  char *dir_copy = resolved ? strdup (resolved) : NULL;
  char *name_copy = resolved ? strdup (resolved) : NULL;
  char *path = NULL;

  if (resolved == NULL)
    return NULL;
  if (dir_copy && name_copy
      && asprintf (&path, "%s/.%s.lock", dirname (dir_copy), basename (name_copy)) == -1)
    path = NULL;
  free (resolved);
  free (dir_copy);
  free (name_copy);
  if (path == NULL)
    md_error_set ("out of memory");
  return path;
}

/* The POSIX lock on PID's byte; F_GETLK asks who holds it. */
static struct flock
pid_byte (short type, pid_t pid)
{
  return (struct flock) { .l_type = type, .l_whence = SEEK_SET, .l_start = pid, .l_len = 1 };
}

bool
writer_lock_held_by (int fd, pid_t pid)
{
  struct flock probe = pid_byte (F_WRLCK, pid);

  if (pid <= 0 || fcntl (fd, F_GETLK, &probe) == -1)
    return false;
  return probe.l_type != F_UNLCK && probe.l_pid == pid;
}

pid_t
writer_lock_holder (int fd)
{
  struct flock probe = { .l_type = F_WRLCK, .l_whence = SEEK_SET };   /* the whole file */

  if (fcntl (fd, F_GETLK, &probe) == -1 || probe.l_type == F_UNLCK)
    return 0;
  return probe.l_pid > 0 ? probe.l_pid : 0;
}

/* Whether PID is exiting: gone, or a zombie.  A process killed with
 * SIGKILL shows as a zombie as soon as its main thread is gone, but its
 * files (and so its lock) are released only when its last thread is:
 * a restart right after the kill must wait a moment for that. */
static bool
process_exiting (pid_t pid)
{
  char path[64], buf[512];
  ssize_t n;
  int fd;

  if (pid <= 0)
    return false;
  snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return errno == ENOENT;
  n = read (fd, buf, sizeof buf - 1);
  close (fd);
  if (n <= 0)
    return false;
  buf[n] = '\0';
  const char *paren = strrchr (buf, ')');
  return paren != NULL && paren[1] == ' ' && (paren[2] == 'Z' || paren[2] == 'X');
}

static void
set_busy_error (const char *file, pid_t holder)
{
  if (holder > 0)
    md_error_set ("%s is being written by process %d (it holds the writer lock)",
                  file, (int) holder);
  else
    md_error_set ("%s is being written by another process (it holds the writer lock)",
                  file);
  errno = EWOULDBLOCK;
}

/* Refuse what ST describes at the lock file's name PATH.  -1, errno EPERM. */
static int
refuse_lock_file (const char *path, const struct stat *st, uid_t owner)
{
  char has[MD_USER_NAME_SIZE], wants[MD_USER_NAME_SIZE];
  const char *type = snap_trust_file_type (st->st_mode);

  md_error_set ("the lock file %s is %s owned by %s; a writer lock needs a regular file "
                "owned by %s: not used (remove it if nothing of its owner writes this "
                "snapshot)", path, type, md_user_name (st->st_uid, has), md_user_name (owner, wants));
  errno = EPERM;
  return -1;
}

/* Open (or make) the lock file PATH for a writer that runs as OWNER:
 * never through a link, never blocking on a FIFO, and only OWNER's
 * regular file (or ours, which becomes OWNER's), mode 0600. */
static int
open_lock_file (const char *path, uid_t owner)
{
  struct stat st;
  int fd = open (path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);

  if (fd == -1) {
    int err = errno;
    /* ELOOP: a link; EISDIR: a folder; ENXIO: a socket; EACCES: another
     * user's file (or the kernel's protected_* rules): say what is there. */
    if (lstat (path, &st) == 0 && (!S_ISREG (st.st_mode) || st.st_uid != owner))
      return refuse_lock_file (path, &st, owner);
    md_error_set ("cannot open the lock file %s: %s", path, strerror (err));
    errno = err;
    return -1;
  }
  if (fstat (fd, &st) == -1) {
    md_error_set ("cannot open the lock file %s: fstat: %s", path, strerror (errno));
    close (fd);
    return -1;
  }
  if (!S_ISREG (st.st_mode) || (st.st_uid != owner && st.st_uid != geteuid ())) {
    refuse_lock_file (path, &st, owner);
    close (fd);
    errno = EPERM;
    return -1;
  }
  /* Ours, made before nbdkit switches to OWNER (-u): OWNER's from now on,
   * so that OWNER's server can remove it.  Readable by nobody else. */
  if ((st.st_uid != owner && fchown (fd, owner, (gid_t) -1) == -1)
      || ((st.st_mode & 07777) != 0600 && fchmod (fd, 0600) == -1)) {
    md_error_set ("cannot make the lock file %s private to %u: %s", path,
                  (unsigned) owner, strerror (errno));
    close (fd);
    return -1;
  }
  return fd;
}

/* A new socket token in LOCK->name, written into the lock file (which we
 * hold, and whose inode is INO). */
static int
write_name (struct writer_lock *lock, const struct stat *locked)
{
  unsigned char random[WRITER_LOCK_NAME_LEN / 2];
  char line[WRITER_LOCK_NAME_LEN + 2];
  struct stat st;

  if (getrandom (random, sizeof random, 0) != (ssize_t) sizeof random) {
    md_error_set ("getrandom: %s", strerror (errno));
    return -1;
  }
  for (size_t i = 0; i < sizeof random; i++)
    snprintf (lock->name + 2 * i, 3, "%02x", random[i]);
  snprintf (line, sizeof line, "%s\n", lock->name);

  int fd = open (lock->path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  if (fd == -1 || fstat (fd, &st) == -1
      || st.st_dev != locked->st_dev || st.st_ino != locked->st_ino) {
    md_error_set ("cannot write the lock file %s: %s", lock->path,
                  fd == -1 ? strerror (errno) : "it was replaced");
    if (fd >= 0)
      close (fd);
    return -1;
  }
  ssize_t n = write (fd, line, strlen (line));
  int err = errno;
  if (close (fd) == -1 || n != (ssize_t) strlen (line)) {
    md_error_set ("cannot write the lock file %s: %s", lock->path,
                  n == -1 ? strerror (err) : "short write");
    return -1;
  }
  return 0;
}

int
writer_lock_take (struct writer_lock *lock, const char *file, uid_t owner, pid_t *holder)
{
  char *path = writer_lock_path (file);

  lock->fd = -1;
  lock->path = NULL;
  lock->name[0] = '\0';
  *holder = 0;
  if (path == NULL)
    return -1;
  /* A holder that lets go removes the file; if it did so between our
   * open and our lock, we locked a file nobody else will see: again.  A
   * holder that is exiting lets go within moments: wait up to 2 s. */
  for (int attempt = 0, exiting_waits = 0; attempt < 100; attempt++) {
    struct stat fst, pst;
    int fd = open_lock_file (path, owner);
    if (fd == -1) {
      free (path);
      return -1;
    }
    if (flock (fd, LOCK_EX | LOCK_NB) == -1) {
      int err = errno;
      if (err == EWOULDBLOCK) {
        *holder = writer_lock_holder (fd);
        /* No holder reported: one that is dying between the release of
         * its POSIX lock and its flock, or one that has not claimed yet. */
        if ((*holder == 0 || process_exiting (*holder)) && exiting_waits++ < 100) {
          close (fd);
          nanosleep (&(struct timespec) { .tv_nsec = 20000000 }, NULL);
          attempt--;
          continue;
        }
        set_busy_error (file, *holder);
      }
      else {
        md_error_set ("cannot lock %s: %s", path, strerror (err));
        errno = err;
      }
      close (fd);
      free (path);
      return -1;
    }
    if (fstat (fd, &fst) == 0 && lstat (path, &pst) == 0
        && fst.st_dev == pst.st_dev && fst.st_ino == pst.st_ino) {
      lock->fd = fd;
      lock->path = path;
      if (write_name (lock, &fst) == -1 || writer_lock_claim (lock) == -1) {
        unlink (path);
        close (fd);
        free (path);
        lock->fd = -1;
        lock->path = NULL;
        return -1;
      }
      return 0;
    }
    close (fd);
  }
  md_error_set ("cannot lock %s: it keeps being replaced", path);
  free (path);
  errno = EAGAIN;
  return -1;
}

int
writer_lock_claim (struct writer_lock *lock)
{
  struct flock mine = pid_byte (F_RDLCK, getpid ());

  if (lock->fd < 0)
    return 0;
  if (fcntl (lock->fd, F_SETLK, &mine) == -1) {
    md_error_set ("cannot lock the byte of pid %d in %s: %s", (int) getpid (),
                  lock->path, strerror (errno));
    return -1;
  }
  return 0;
}

void
writer_lock_release (struct writer_lock *lock)
{
  if (lock->fd >= 0) {
    /* Remove while holding: a taker that opened this file before the
     * unlink finds it gone after locking and tries again. */
    unlink (lock->path);
    close (lock->fd);
  }
  free (lock->path);
  lock->fd = -1;
  lock->path = NULL;
  lock->name[0] = '\0';
}

int
writer_lock_open (const char *file, struct stat *st)
{
  char *path = writer_lock_path (file);
  int fd, err;

  if (path == NULL)
    return -1;
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
  err = errno;
  if (fd >= 0 && fstat (fd, st) == 0 && S_ISREG (st->st_mode)) {
    free (path);
    return fd;
  }
  if (fd >= 0) {
    md_error_set ("the lock file %s is %s, not a regular file", path,
                  snap_trust_file_type (st->st_mode));
    close (fd);
    err = EPERM;
  }
  else if (err == ELOOP || err == ENXIO) {
    md_error_set ("the lock file %s is not a regular file", path);
    err = EPERM;
  }
  else if (err == EACCES && lstat (path, st) == 0) {
    char owner[MD_USER_NAME_SIZE];
    md_error_set ("cannot open the lock file %s: permission denied (only its owner, %s, "
                  "and root may ask the server of %s)", path, md_user_name (st->st_uid, owner),
                  file);
  }
  else
    md_error_set ("cannot open the lock file %s: %s", path, strerror (err));
  free (path);
  errno = err;
  return -1;
}

bool
writer_lock_read_name (int fd, char name[WRITER_LOCK_NAME_LEN + 1])
{
  char line[WRITER_LOCK_NAME_LEN + 2];
  ssize_t n = pread (fd, line, sizeof line, 0);

  if (n < WRITER_LOCK_NAME_LEN + 1 || line[WRITER_LOCK_NAME_LEN] != '\n'
      || strspn (line, "0123456789abcdef") != WRITER_LOCK_NAME_LEN)
    return false;
  memcpy (name, line, WRITER_LOCK_NAME_LEN);
  name[WRITER_LOCK_NAME_LEN] = '\0';
  return true;
}
