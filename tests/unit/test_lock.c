/* Unit tests of the writer lock (src/control/lock.h): one holder at a
 * time, named by pid; released by the holder (file removed) and by the
 * kernel when the holder dies; a lock file removed under a taker. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

static void
test_one_holder (void **state)
{
  struct writer_lock a, b;
  pid_t holder = -1;
  struct stat st;
  char want[64];

  (void) state;
  assert_int_equal (writer_lock_take (&a, file, &holder), 0);
  assert_int_equal (stat (lockfile, &st), 0);
  /* Another open file, even in this process, is another writer. */
  assert_int_equal (writer_lock_take (&b, file, &holder), -1);
  assert_int_equal (errno, EWOULDBLOCK);
  assert_int_equal (holder, getpid ());
  snprintf (want, sizeof want, "being written by process %d", (int) getpid ());
  assert_non_null (strstr (md_error (), want));
  writer_lock_release (&a);
  assert_int_equal (stat (lockfile, &st), -1);  /* removed */
  assert_int_equal (writer_lock_take (&b, file, &holder), 0);
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
    if (writer_lock_take (&mine, file, &h) == -1)
      _exit (1);
    if (write (ready[1], "x", 1) != 1)
      _exit (1);
    pause ();
    _exit (0);
  }
  assert_int_equal (read (ready[0], &c, 1), 1);
  assert_int_equal (writer_lock_take (&a, file, &holder), -1);
  assert_int_equal (holder, child);
  kill (child, SIGKILL);
  assert_int_equal (waitpid (child, &status, 0), child);
  /* The kernel let go; the file it left is taken over. */
  assert_int_equal (writer_lock_take (&a, file, &holder), 0);
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
  assert_int_equal (writer_lock_take (&a, file, &holder), 0);
  /* Someone removes the lock file under the holder: a new taker gets a
   * new file, and the lock it holds is the one the name shows. */
  assert_int_equal (unlink (lockfile), 0);
  assert_int_equal (writer_lock_take (&b, file, &holder), 0);
  writer_lock_release (&b);
  writer_lock_release (&a);
}

static void
test_update_pid (void **state)
{
  struct writer_lock a;
  pid_t holder;
  FILE *f;
  int pid = 0;

  (void) state;
  assert_int_equal (writer_lock_take (&a, file, &holder), 0);
  assert_int_equal (writer_lock_update_pid (&a), 0);
  f = fopen (lockfile, "r");
  assert_non_null (f);
  assert_int_equal (fscanf (f, "%d", &pid), 1);
  fclose (f);
  assert_int_equal (pid, getpid ());
  writer_lock_release (&a);
}

static void
test_no_folder (void **state)
{
  struct writer_lock a;
  pid_t holder;
  char path[300];

  (void) state;
  snprintf (path, sizeof path, "%s/missing/disk.snap", dir);
  assert_int_equal (writer_lock_take (&a, path, &holder), -1);
  assert_int_equal (errno, ENOENT);
  assert_non_null (strstr (md_error (), "cannot open the lock file"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_one_holder),
    cmocka_unit_test (test_holder_dies),
    cmocka_unit_test (test_lock_file_replaced),
    cmocka_unit_test (test_update_pid),
    cmocka_unit_test (test_no_folder),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
