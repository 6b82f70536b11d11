/* Unit tests of the control channel (src/control/channel.h): socket
 * names (the same FILE by any path, any path length), a real
 * listen/connect with the peer check, a name already taken, the reply
 * format (hostile values, overflow) and exchange timeouts. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/error.h"
#include "control/channel.h"

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

static void
address_of (const char *file, struct sockaddr_un *addr, socklen_t *len)
{
  if (control_address (file, addr, len) == -1)
    fail_msg ("control_address %s: %s", file, md_error ());
}

static void
test_same_file_same_name (void **state)
{
  struct sockaddr_un a, b, c;
  socklen_t la, lb, lc;
  char p1[256], p2[256], p3[256];

  (void) state;
  snprintf (p1, sizeof p1, "%s/disk.snap", dir);
  snprintf (p2, sizeof p2, "%s/./disk.snap", dir);
  snprintf (p3, sizeof p3, "%s/other.snap", dir);
  address_of (p1, &a, &la);
  address_of (p2, &b, &lb);
  address_of (p3, &c, &lc);
  assert_int_equal (a.sun_path[0], '\0');       /* abstract */
  assert_int_equal (la, lb);
  assert_memory_equal (a.sun_path, b.sun_path, la - offsetof (struct sockaddr_un, sun_path));
  assert_true (la != lc || memcmp (a.sun_path, c.sun_path, la - offsetof (struct sockaddr_un, sun_path)) != 0);
  /* A missing folder has no identity. */
  snprintf (p3, sizeof p3, "%s/missing/disk.snap", dir);
  assert_int_equal (control_address (p3, &c, &lc), -1);
  assert_non_null (strstr (md_error (), "No such file"));
}

static void
test_long_path (void **state)
{
  char path[1024];
  size_t n;
  int lfd, cfd;
  pid_t pid;

  (void) state;
  n = (size_t) snprintf (path, sizeof path, "%s", dir);
  /* Folders until the path is well past sun_path's 108 bytes. */
  while (n < 300) {
    n += (size_t) snprintf (path + n, sizeof path - n, "/%s", "a-rather-long-folder-name");
    assert_int_equal (mkdir (path, 0700), 0);
  }
  snprintf (path + n, sizeof path - n, "/%s", "disk.snap");
  lfd = control_listen (path);
  if (lfd == -1)
    fail_msg ("control_listen: %s", md_error ());
  cfd = control_connect (path, &pid);
  if (cfd == -1)
    fail_msg ("control_connect: %s", md_error ());
  assert_int_equal (pid, getpid ());
  close (cfd);
  close (lfd);
  /* Nothing listens any more, and nothing was left in a folder. */
  assert_int_equal (control_connect (path, &pid), -1);
  assert_true (errno == ECONNREFUSED || errno == ENOENT);
}

static void
test_name_taken (void **state)
{
  char path[256];
  int a, b;

  (void) state;
  snprintf (path, sizeof path, "%s/taken.snap", dir);
  a = control_listen (path);
  assert_true (a >= 0);
  b = control_listen (path);
  assert_int_equal (b, -1);
  assert_int_equal (errno, EADDRINUSE);
  char want[64];
  snprintf (want, sizeof want, "process %d", (int) getpid ());
  assert_non_null (strstr (md_error (), want));
  close (a);
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
  char path[256], reply[128];
  int lfd, cfd;
  pid_t pid;

  (void) state;
  snprintf (path, sizeof path, "%s/silent.snap", dir);
  lfd = control_listen (path);
  assert_true (lfd >= 0);
  cfd = control_connect (path, &pid);
  assert_true (cfd >= 0);
  /* Nobody accepts: the request sits in the backlog, no answer comes. */
  assert_int_equal (control_exchange (cfd, "status", reply, sizeof reply, 200), -1);
  assert_int_equal (errno, ETIMEDOUT);
  /* A request that does not fit a line is refused before sending. */
  char longreq[CONTROL_REQUEST_MAX + 1];
  memset (longreq, 'a', sizeof longreq - 1);
  longreq[sizeof longreq - 1] = '\0';
  assert_int_equal (control_exchange (cfd, longreq, reply, sizeof reply, 200), -1);
  close (cfd);
  close (lfd);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_same_file_same_name),
    cmocka_unit_test (test_long_path),
    cmocka_unit_test (test_name_taken),
    cmocka_unit_test (test_peer_trusted),
    cmocka_unit_test (test_reply_format),
    cmocka_unit_test (test_exchange_timeout),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
