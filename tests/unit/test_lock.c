/* Unit tests of the writer lock (src/control/lock.h): one holder at a
 * time, named by the pid the kernel reports (not what the file says);
 * released by the holder (file removed) and by the kernel when the holder
 * dies; a lock file removed under a taker; a child that claims it after a
 * fork; only the writer's own regular file, mode 0600, is used; every
 * path to FILE finds the same lock. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "control/lock.h"

static char dir[] = "/tmp/test_lock.XXXXXX";
static char file[256], lockfile[256];

static int
setup (void **state)
{
  (void) state;
  if (mkdtemp (dir) == NULL)
    return -1;
  snprintf (file, sizeof file, "%s/disk.snap", dir);
  snprintf (lockfile, sizeof lockfile, "%s/.disk.snap.lock", dir);
  return 0;
}

static int
teardown (void **state)
{
  char cmd[128];

  (void) state;
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system (cmd) == 0 ? 0 : -1;
}

/* writer_lock_take of PATH in a child process (a process sees no POSIX
 * lock of its own, and closing a file drops them): its result, errno,
 * holder and message. */
struct take_result {
  int r, err;
  pid_t holder;
  char message[512];
};

static struct take_result
take_in_child (const char *path)
{
  struct take_result res = { .r = -2 };
  int p[2], status;

  assert_int_equal (pipe (p), 0);
  pid_t child = fork ();
  assert_true (child >= 0);
  if (child == 0) {
    struct writer_lock l;
    struct take_result mine = { 0 };
    mine.r = writer_lock_take (&l, path, getuid (), &mine.holder);
    mine.err = errno;
    snprintf (mine.message, sizeof mine.message, "%s", md_error ());
    if (write (p[1], &mine, sizeof mine) != (ssize_t) sizeof mine)
      _exit (1);
    _exit (0);
  }
  assert_int_equal (read (p[0], &res, sizeof res), (ssize_t) sizeof res);
  assert_int_equal (waitpid (child, &status, 0), child);
  close (p[0]);
  close (p[1]);
  return res;
}

static void
test_one_holder (void **state)
{
  struct writer_lock a, b;
  pid_t holder = -1;
  struct stat st;
  char want[64];

  (void) state;
  assert_int_equal (writer_lock_take (&a, file, getuid (), &holder), 0);
  assert_int_equal (stat (lockfile, &st), 0);
  /* Another process is another writer, told who holds it. */
  struct take_result other = take_in_child (file);
  assert_int_equal (other.r, -1);
  assert_int_equal (other.err, EWOULDBLOCK);
  assert_int_equal (other.holder, getpid ());
  snprintf (want, sizeof want, "being written by process %d", (int) getpid ());
  assert_non_null (strstr (other.message, want));
  /* So is another open file in this process (which cannot see its own
   * POSIX locks, and drops them when that file is closed). */
  assert_int_equal (writer_lock_take (&b, file, getuid (), &holder), -1);
  assert_int_equal (errno, EWOULDBLOCK);
  writer_lock_release (&a);
  assert_int_equal (stat (lockfile, &st), -1);  /* removed */
  assert_int_equal (writer_lock_take (&b, file, getuid (), &holder), 0);
  writer_lock_release (&b);
  writer_lock_release (&b);                      /* harmless */
}

static void
test_holder_dies (void **state)
{
  struct writer_lock a;
  pid_t holder, child;
  int ready[2], status;
  char c;

  (void) state;
  assert_int_equal (pipe (ready), 0);
  child = fork ();
  assert_true (child >= 0);
  if (child == 0) {
    struct writer_lock mine;
    pid_t h;
    if (writer_lock_take (&mine, file, getuid (), &h) == -1)
      _exit (1);
    if (write (ready[1], "x", 1) != 1)
      _exit (1);
    pause ();
    _exit (0);
  }
  assert_int_equal (read (ready[0], &c, 1), 1);
  /* What the file says does not matter: the kernel names the holder. */
  int fd = open (lockfile, O_WRONLY | O_TRUNC);
  assert_true (fd >= 0);
  assert_int_equal (write (fd, "1\n", 2), 2);
  close (fd);
  assert_int_equal (writer_lock_take (&a, file, getuid (), &holder), -1);
  assert_int_equal (holder, child);
  kill (child, SIGKILL);
  assert_int_equal (waitpid (child, &status, 0), child);
  /* The kernel let go; the file it left is taken over. */
  assert_int_equal (writer_lock_take (&a, file, getuid (), &holder), 0);
  writer_lock_release (&a);
  close (ready[0]);
  close (ready[1]);
}

static void
test_lock_file_replaced (void **state)
{
  struct writer_lock a, b;
  pid_t holder;

  (void) state;
  assert_int_equal (writer_lock_take (&a, file, getuid (), &holder), 0);
  /* Someone removes the lock file under the holder: a new taker gets a
   * new file, and the lock it holds is the one the name shows. */
  assert_int_equal (unlink (lockfile), 0);
  assert_int_equal (writer_lock_take (&b, file, getuid (), &holder), 0);
  writer_lock_release (&b);
  writer_lock_release (&a);
}

/* After a fork, the child that claims the lock is named by the kernel
 * as a holder, and so is the parent while it lives; the lock file holds
 * the socket token, readable by its owner only. */
static void
test_claim_after_fork (void **state)
{
  struct writer_lock a;
  pid_t holder, child;
  int ready[2], status;
  struct stat st;
  char c, name[WRITER_LOCK_NAME_LEN + 1];

  (void) state;
  assert_int_equal (writer_lock_take (&a, file, getuid (), &holder), 0);
  assert_int_equal (strlen (a.name), WRITER_LOCK_NAME_LEN);
  assert_int_equal (stat (lockfile, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0600);
  assert_int_equal (pipe (ready), 0);
  child = fork ();
  assert_true (child >= 0);
  if (child == 0) {
    if (writer_lock_claim (&a) == -1 || write (ready[1], "x", 1) != 1)
      _exit (1);
    pause ();
    _exit (0);
  }
  assert_int_equal (read (ready[0], &c, 1), 1);
  pid_t checker = fork ();
  assert_true (checker >= 0);
  if (checker == 0) {
    int fd = writer_lock_open (file, &st);
    _exit (fd >= 0 && writer_lock_held_by (fd, child) && writer_lock_held_by (fd, getppid ())
           && !writer_lock_held_by (fd, getpid ()) && !writer_lock_held_by (fd, 1)
           && writer_lock_read_name (fd, name) && strcmp (name, a.name) == 0 ? 0 : 1);
  }
  assert_int_equal (waitpid (checker, &status, 0), checker);
  assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
  kill (child, SIGKILL);
  assert_int_equal (waitpid (child, &status, 0), child);
  writer_lock_release (&a);
  close (ready[0]);
  close (ready[1]);
}

/* Only the writer's own regular file: anything else at the name is
 * refused, saying what it is and whose, and left alone. */
static void
test_foreign_lock_file (void **state)
{
  struct writer_lock a;
  pid_t holder;
  struct stat st;

  (void) state;
  assert_int_equal (mkfifo (lockfile, 0666), 0);
  assert_int_equal (writer_lock_take (&a, file, getuid (), &holder), -1);
  assert_int_equal (errno, EPERM);
  assert_non_null (strstr (md_error (), lockfile));
  assert_non_null (strstr (md_error (), "is a FIFO (named pipe) owned by"));
  assert_int_equal (lstat (lockfile, &st), 0);
  assert_true (S_ISFIFO (st.st_mode));
  assert_int_equal (unlink (lockfile), 0);

  assert_int_equal (symlink ("disk.snap", lockfile), 0);
  assert_int_equal (writer_lock_take (&a, file, getuid (), &holder), -1);
  assert_int_equal (errno, EPERM);
  assert_non_null (strstr (md_error (), "is a symbolic link owned by"));
  assert_int_equal (unlink (lockfile), 0);

  assert_int_equal (mkdir (lockfile, 0700), 0);
  assert_int_equal (writer_lock_take (&a, file, getuid (), &holder), -1);
  assert_int_equal (errno, EPERM);
  assert_non_null (strstr (md_error (), "is a directory owned by"));
  assert_int_equal (rmdir (lockfile), 0);

  int s = socket (AF_UNIX, SOCK_STREAM, 0);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  assert_true (strlen (lockfile) < sizeof addr.sun_path);
  memcpy (addr.sun_path, lockfile, strlen (lockfile) + 1);
  assert_int_equal (bind (s, (struct sockaddr *) &addr, sizeof addr), 0);
  assert_int_equal (writer_lock_take (&a, file, getuid (), &holder), -1);
  assert_int_equal (errno, EPERM);
  assert_non_null (strstr (md_error (), "is a socket owned by"));
  close (s);
  assert_int_equal (unlink (lockfile), 0);

  /* Another user's regular file (as root: one of uid 65534). */
  if (geteuid () == 0) {
    int fd = open (lockfile, O_WRONLY | O_CREAT, 0666);
    assert_true (fd >= 0);
    assert_int_equal (fchown (fd, 65534, 65534), 0);
    close (fd);
    assert_int_equal (writer_lock_take (&a, file, 0, &holder), -1);
    assert_int_equal (errno, EPERM);
    assert_non_null (strstr (md_error (), "is a regular file owned by"));
    assert_non_null (strstr (md_error (), "uid 65534"));
    /* ... which that user's writer may use. */
    assert_int_equal (writer_lock_take (&a, file, 65534, &holder), 0);
    writer_lock_release (&a);
  }
}

/* Every path to FILE finds one lock: the one next to the file its links
 * lead to. */
static void
test_link_same_lock (void **state)
{
  struct writer_lock a;
  pid_t holder;
  char link[300], *path;

  (void) state;
  snprintf (link, sizeof link, "%s/link.snap", dir);
  assert_int_equal (symlink ("disk.snap", link), 0);
  path = writer_lock_path (link);
  assert_non_null (path);
  assert_string_equal (path, lockfile);
  free (path);
  assert_int_equal (writer_lock_take (&a, link, getuid (), &holder), 0);
  struct take_result other = take_in_child (file);
  assert_int_equal (other.r, -1);
  assert_int_equal (other.holder, getpid ());
  writer_lock_release (&a);
  assert_int_equal (unlink (link), 0);
}

static void
test_no_folder (void **state)
{
  struct writer_lock a;
  pid_t holder;
  char path[300];

  (void) state;
  snprintf (path, sizeof path, "%s/missing/disk.snap", dir);
  assert_int_equal (writer_lock_take (&a, path, getuid (), &holder), -1);
  assert_int_equal (errno, ENOENT);
  assert_non_null (strstr (md_error (), "missing"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_one_holder),
    cmocka_unit_test (test_holder_dies),
    cmocka_unit_test (test_lock_file_replaced),
    cmocka_unit_test (test_claim_after_fork),
    cmocka_unit_test (test_foreign_lock_file),
    cmocka_unit_test (test_link_same_lock),
    cmocka_unit_test (test_no_folder),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
