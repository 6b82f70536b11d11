/* Unit tests of the control channel (src/control/channel.h): socket
 * names (random, from the lock file, for a FILE path of any length), a
 * real exchange with a server in another process and the check of who
 * answered, a name already taken, the request and reply formats (hostile
 * values, overflow) and exchange timeouts. */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "control/channel.h"
#include "control/lock.h"

static char dir[] = "/tmp/test_channel.XXXXXX";

static int
setup (void **state)
{
  (void) state;
  return mkdtemp (dir) ? 0 : -1;
}

static int
teardown (void **state)
{
  char cmd[128];

  (void) state;
  snprintf (cmd, sizeof cmd, "rm -rf '%s'", dir);
  return system (cmd) == 0 ? 0 : -1;
}

/* A server of PATH in a child process: it takes PATH's writer lock,
 * listens, and answers one request with ANSWER from the process that
 * holds the lock, or, when FROM_GRANDCHILD, from a child of its own that
 * does not.  Its pid, once it listens. */
static pid_t
serve_once (const char *path, const char *answer, bool from_grandchild)
{
  int ready[2];
  char c;

  assert_int_equal (pipe (ready), 0);
  pid_t child = fork ();
  assert_true (child >= 0);
  if (child == 0) {
    struct writer_lock lock;
    pid_t holder;
    if (writer_lock_take (&lock, path, getuid (), &holder) == -1)
      _exit (1);
    int lfd = control_listen (&lock);
    if (lfd == -1 || write (ready[1], "x", 1) != 1)
      _exit (1);
    struct pollfd pfd = { .fd = lfd, .events = POLLIN };
    if (poll (&pfd, 1, 10000) != 1)
      _exit (1);
    int fd = accept (lfd, NULL, NULL);
    char request[CONTROL_REQUEST_MAX];
    if (fd == -1 || recv (fd, request, sizeof request, 0) <= 0)
      _exit (1);
    if (from_grandchild && fork () != 0) {
      wait (NULL);
      _exit (0);
    }
    if (send (fd, answer, strlen (answer), MSG_NOSIGNAL) == -1)
      _exit (1);
    close (fd);
    _exit (0);
  }
  if (read (ready[0], &c, 1) != 1)
    fail_msg ("the server of %s did not start", path);
  close (ready[0]);
  close (ready[1]);
  return child;
}

static void
reap (pid_t child)
{
  int status;

  assert_int_equal (waitpid (child, &status, 0), child);
  assert_true (WIFEXITED (status) && WEXITSTATUS (status) == 0);
}

static void
test_name_from_lock (void **state)
{
  struct writer_lock a;
  struct sockaddr_un addr;
  socklen_t len;
  pid_t holder;
  char path[256], first[WRITER_LOCK_NAME_LEN + 1];

  (void) state;
  snprintf (path, sizeof path, "%s/disk.snap", dir);
  assert_int_equal (writer_lock_take (&a, path, getuid (), &holder), 0);
  assert_int_equal (control_address (a.name, &addr, &len), 0);
  assert_int_equal (addr.sun_path[0], '\0');       /* abstract */
  assert_memory_equal (addr.sun_path + 1, "memdisk-control/", 16);
  assert_memory_equal (addr.sun_path + 17, a.name, WRITER_LOCK_NAME_LEN);
  strcpy (first, a.name);
  writer_lock_release (&a);
  /* A new name at every start: nobody can take it in advance. */
  assert_int_equal (writer_lock_take (&a, path, getuid (), &holder), 0);
  assert_string_not_equal (a.name, first);
  writer_lock_release (&a);
}

static void
test_long_path (void **state)
{
  char path[1024], dotted[1100], reply[256];
  size_t n;
  pid_t pid, server;

  (void) state;
  n = (size_t) snprintf (path, sizeof path, "%s", dir);
  /* Folders until the path is well past sun_path's 108 bytes. */
  while (n < 300) {
    n += (size_t) snprintf (path + n, sizeof path - n, "/%s", "a-rather-long-folder-name");
    assert_int_equal (mkdir (path, 0700), 0);
  }
  snprintf (path + n, sizeof path - n, "/%s", "disk.snap");
  server = serve_once (path, "result ok\nsize 42\n\n", false);
  /* Asked by another spelling of the path. */
  snprintf (dotted, sizeof dotted, "%s/.%s", dir, path + strlen (dir));
  if (control_ask (dotted, "status", reply, sizeof reply, 10000, &pid) == -1)
    fail_msg ("control_ask: %s", md_error ());
  assert_int_equal (pid, server);
  assert_string_equal (reply, "result ok\nsize 42\n\n");
  reap (server);
  /* Nothing listens any more, and nothing was left in a folder. */
  assert_int_equal (control_ask (path, "status", reply, sizeof reply, 1000, &pid), -1);
  assert_true (errno == ECONNREFUSED || errno == ENOENT);
  assert_non_null (strstr (md_error (), "no server is writing"));
}

/* An answer from a process that does not hold FILE's lock (here a child
 * of the holder, with the same socket) is not trusted. */
static void
test_answer_not_from_holder (void **state)
{
  char path[256], reply[256];
  pid_t pid, server;

  (void) state;
  snprintf (path, sizeof path, "%s/forged.snap", dir);
  server = serve_once (path, "result ok\nsave-digest 0123456789abcdef\n\n", true);
  assert_int_equal (control_ask (path, "save", reply, sizeof reply, 10000, &pid), -1);
  assert_int_equal (errno, EACCES);
  assert_non_null (strstr (md_error (), "which does not hold its writer lock: not trusted"));
  assert_string_equal (reply, "");
  reap (server);
}

static void
test_name_taken (void **state)
{
  struct writer_lock lock;
  char path[256];
  pid_t holder;
  int a, b;

  (void) state;
  snprintf (path, sizeof path, "%s/taken.snap", dir);
  assert_int_equal (writer_lock_take (&lock, path, getuid (), &holder), 0);
  a = control_listen (&lock);
  assert_true (a >= 0);
  b = control_listen (&lock);
  assert_int_equal (b, -1);
  assert_int_equal (errno, EADDRINUSE);
  char want[64];
  snprintf (want, sizeof want, "process %d", (int) getpid ());
  assert_non_null (strstr (md_error (), want));
  close (a);
  writer_lock_release (&lock);
}

static void
test_peer_trusted (void **state)
{
  (void) state;
  assert_true (control_peer_trusted (1000, 1000));
  assert_true (control_peer_trusted (0, 1000));
  assert_false (control_peer_trusted (1001, 1000));
  assert_false (control_peer_trusted (65534, 0));
}

static void
test_reply_format (void **state)
{
  struct control_reply r;
  char v[64];

  (void) state;
  control_reply_init (&r);
  control_reply_add (&r, "result", "ok");
  control_reply_add (&r, "error", "line one\nresult forged\r\x1b[2J");
  control_reply_add (&r, "size", "%d", 42);
  control_reply_end (&r);
  assert_string_equal (r.text, "result ok\nerror line one result forged  [2J\nsize 42\n\n");
  assert_string_equal (control_reply_get (r.text, "result", v, sizeof v), "ok");
  assert_string_equal (control_reply_get (r.text, "size", v, sizeof v), "42");
  assert_null (control_reply_get (r.text, "siz", v, sizeof v));
  assert_null (control_reply_get (r.text, "missing", v, sizeof v));
  /* Cut to the buffer. */
  assert_string_equal (control_reply_get (r.text, "error", v, 5), "line");

  /* Overflow: whole lines only, and room for the end. */
  control_reply_init (&r);
  char big[1000];
  memset (big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  for (int i = 0; i < 10; i++)
    control_reply_add (&r, "k", "%s", big);
  assert_true (r.truncated);
  control_reply_end (&r);
  assert_true (r.len < CONTROL_REPLY_MAX);
  assert_int_equal (r.text[r.len - 1], '\n');
  assert_int_equal (r.text[r.len - 2], '\n');
}

static void
test_exchange_timeout (void **state)
{
  struct writer_lock lock;
  struct sockaddr_un addr;
  socklen_t len;
  char path[256], reply[128];
  pid_t holder, pid;
  uid_t uid;
  int lfd, cfd;

  (void) state;
  snprintf (path, sizeof path, "%s/silent.snap", dir);
  assert_int_equal (writer_lock_take (&lock, path, getuid (), &holder), 0);
  lfd = control_listen (&lock);
  assert_true (lfd >= 0);
  assert_int_equal (control_address (lock.name, &addr, &len), 0);
  cfd = socket (AF_UNIX, SOCK_STREAM, 0);
  assert_int_equal (connect (cfd, (struct sockaddr *) &addr, len), 0);
  /* Nobody accepts: the request sits in the backlog, no answer comes. */
  assert_int_equal (control_exchange (cfd, "status", reply, sizeof reply, 200, &pid, &uid), -1);
  assert_int_equal (errno, ETIMEDOUT);
  /* A request that does not fit a line is refused before sending. */
  char longreq[CONTROL_REQUEST_MAX + 1];
  memset (longreq, 'a', sizeof longreq - 1);
  longreq[sizeof longreq - 1] = '\0';
  assert_int_equal (control_exchange (cfd, longreq, reply, sizeof reply, 200, &pid, &uid), -1);
  close (cfd);
  close (lfd);
  writer_lock_release (&lock);
}

static void
test_request_parse (void **state)
{
  enum control_request r = CONTROL_REQUEST_SAVE;
  char big[CONTROL_REQUEST_MAX];

  (void) state;
  assert_int_equal (control_request_parse ("status\n", 7, &r), 1);
  assert_int_equal (r, CONTROL_REQUEST_STATUS);
  assert_int_equal (control_request_parse ("save\r\nstatus\n", 13, &r), 1);
  assert_int_equal (r, CONTROL_REQUEST_SAVE);
  assert_int_equal (control_request_parse ("sta", 3, &r), 0);
  assert_int_equal (control_request_parse ("save\0x\n", 7, &r), -1);  /* a NUL is not an end */
  assert_non_null (strstr (md_error (), "unknown request"));
  assert_int_equal (control_request_parse ("save now\n", 9, &r), -1);
  assert_int_equal (control_request_parse ("\n", 1, &r), -1);
  memset (big, 'x', sizeof big);
  assert_int_equal (control_request_parse (big, CONTROL_REQUEST_MAX - 2, &r), 0);
  assert_int_equal (control_request_parse (big, CONTROL_REQUEST_MAX - 1, &r), -1);
  assert_non_null (strstr (md_error (), "request too long (at most 63 bytes)"));
  assert_string_equal (control_request_name (CONTROL_REQUEST_SAVE), "save");
  assert_string_equal (control_request_name (CONTROL_REQUEST_STATUS), "status");
}

static void
test_reply_complete (void **state)
{
  (void) state;
  assert_true (control_reply_complete ("\n", 1));
  assert_true (control_reply_complete ("result ok\n\n", 11));
  assert_false (control_reply_complete ("result ok\n", 10));
  assert_false (control_reply_complete ("", 0));
  assert_false (control_reply_complete ("result ok", 9));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_name_from_lock),
    cmocka_unit_test (test_long_path),
    cmocka_unit_test (test_answer_not_from_holder),
    cmocka_unit_test (test_name_taken),
    cmocka_unit_test (test_peer_trusted),
    cmocka_unit_test (test_reply_format),
    cmocka_unit_test (test_exchange_timeout),
    cmocka_unit_test (test_request_parse),
    cmocka_unit_test (test_reply_complete),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
