/* The writer lock of a snapshot (see lock.h): flock(2) on ".NAME.lock"
 * in FILE's folder.  flock belongs to the open file, so a server keeps
 * its lock across nbdkit's fork into the background.  The lock file is
 * held open read-only (flock needs no write access), so that holding it
 * does not keep the file system from being remounted read-only; the pid
 * is written through a second, short-lived descriptor. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "control/lock.h"

char *
writer_lock_path (const char *file)
{
  char *dir_copy = strdup (file), *name_copy = strdup (file), *path = NULL;

  if (dir_copy && name_copy
      && asprintf (&path, "%s/.%s.lock", dirname (dir_copy), basename (name_copy)) == -1)
    path = NULL;
  free (dir_copy);
  free (name_copy);
  if (path == NULL)
    md_error_set ("out of memory");
  return path;
}

/* The pid written in the lock file FD, or 0. */
static pid_t
read_holder (int fd)
{
  char buf[32];
  ssize_t n = pread (fd, buf, sizeof buf - 1, 0);

  if (n <= 0)
    return 0;
  buf[n] = '\0';
  long pid = strtol (buf, NULL, 10);
  return pid > 0 && pid < (1L << 22) ? (pid_t) pid : 0;
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

/* Write our pid into the lock file PATH (which we hold). */
static int
write_pid (const char *path)
{
  char buf[32];
  int n = snprintf (buf, sizeof buf, "%d\n", (int) getpid ());
  int fd = open (path, O_WRONLY | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

  if (fd == -1)
    return -1;
  if (write (fd, buf, (size_t) n) != n) {
    close (fd);
    return -1;
  }
  return close (fd);
}

int
writer_lock_take (struct writer_lock *lock, const char *file, pid_t *holder)
{
  char *path = writer_lock_path (file);

  lock->fd = -1;
  lock->path = NULL;
  *holder = 0;
  if (path == NULL)
    return -1;
  /* A holder that lets go removes the file; if it did so between our
   * open and our lock, we locked a file nobody else will see: again.  A
   * holder that is exiting lets go within moments: wait up to 2 s. */
  for (int attempt = 0, exiting_waits = 0; attempt < 100; attempt++) {
    struct stat fst, pst;
    int fd = open (path, O_RDONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0644);
    if (fd == -1) {
      md_error_set ("cannot open the lock file %s: %s", path, strerror (errno));
      free (path);
      return -1;
    }
    if (flock (fd, LOCK_EX | LOCK_NB) == -1) {
      int err = errno;
      if (err == EWOULDBLOCK) {
        *holder = read_holder (fd);
        if (process_exiting (*holder) && exiting_waits++ < 100) {
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
    if (fstat (fd, &fst) == 0 && stat (path, &pst) == 0
        && fst.st_dev == pst.st_dev && fst.st_ino == pst.st_ino) {
      if (write_pid (path) == -1) {
        md_error_set ("cannot write the lock file %s: %s", path, strerror (errno));
        close (fd);
        unlink (path);
        free (path);
        return -1;
      }
      lock->fd = fd;
      lock->path = path;
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
writer_lock_update_pid (struct writer_lock *lock)
{
  if (lock->fd < 0)
    return 0;
  if (write_pid (lock->path) == -1) {
    md_error_set ("cannot write the lock file %s: %s", lock->path, strerror (errno));
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
}
