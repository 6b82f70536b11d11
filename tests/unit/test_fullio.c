/* Unit tests of common/fullio: whole transfers through short reads and
 * writes and EINTR (a pipe that a slow reader drains while SIGALRM keeps
 * interrupting the writer), end of file and errors with the count done. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/fullio.h"

#define PIPE_BYTES (1024 * 1024)

static volatile sig_atomic_t alarms;

static void
on_alarm (int sig)
{
  (void) sig;
  alarms++;
}

struct drain {
  int fd;
  unsigned char *got;
  size_t len;
};

/* Read the pipe slowly, in small pieces, so that the writer blocks. */
static void *
drain_pipe (void *arg)
{
  struct drain *d = arg;

  usleep (20000);
  while (d->len < PIPE_BYTES) {
    ssize_t n = read (d->fd, d->got + d->len, 1000);
    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    d->len += (size_t) n;
    if (d->len % 50000 < 1000)
      usleep (1000);
  }
  return NULL;
}

static void
test_write_through_eintr (void **state)
{
  (void) state;
  unsigned char *data = malloc (PIPE_BYTES);
  struct drain d = { .got = malloc (PIPE_BYTES) };
  struct sigaction sa = { .sa_handler = on_alarm };   /* no SA_RESTART */
  struct itimerval every_ms = { { 0, 1000 }, { 0, 1000 } }, off = { { 0, 0 }, { 0, 0 } };
  sigset_t alrm, old;
  int fds[2];
  pthread_t t;
  size_t done = 0;

  assert_non_null (data);
  assert_non_null (d.got);
  for (size_t i = 0; i < PIPE_BYTES; i++)
    data[i] = (unsigned char) (i * 7 + (i >> 12));
  assert_int_equal (pipe (fds), 0);
  d.fd = fds[0];
  /* Only this thread takes the alarms. */
  sigemptyset (&alrm);
  sigaddset (&alrm, SIGALRM);
  pthread_sigmask (SIG_BLOCK, &alrm, &old);
  assert_int_equal (pthread_create (&t, NULL, drain_pipe, &d), 0);
  pthread_sigmask (SIG_UNBLOCK, &alrm, NULL);
  sigaction (SIGALRM, &sa, NULL);
  alarms = 0;
  setitimer (ITIMER_REAL, &every_ms, NULL);

  assert_int_equal (md_write_full (fds[1], data, PIPE_BYTES, &done), 0);

  setitimer (ITIMER_REAL, &off, NULL);
  pthread_join (t, NULL);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  assert_int_equal (done, PIPE_BYTES);
  assert_int_equal (d.len, PIPE_BYTES);
  assert_memory_equal (d.got, data, PIPE_BYTES);
  assert_true (alarms > 0);     /* the writer was interrupted */
  close (fds[0]);
  close (fds[1]);
  free (data);
  free (d.got);
}

static int
scratch_file (char *path)
{
  strcpy (path, "/tmp/memdisk-fullio.XXXXXX");
  int fd = mkstemp (path);
  assert_true (fd >= 0);
  unlink (path);
  return fd;
}

static void
test_pread_pwrite_and_end_of_file (void **state)
{
  (void) state;
  char path[64];
  int fd = scratch_file (path);
  unsigned char out[10000], in[20000];
  size_t done = 12345;

  for (size_t i = 0; i < sizeof out; i++)
    out[i] = (unsigned char) (i % 251 + 1);
  assert_int_equal (md_pwrite_full (fd, out, sizeof out, 5000, &done), 0);
  assert_int_equal (done, sizeof out);
  assert_int_equal (md_pread_full (fd, in, 3000, 7000, &done), 0);
  assert_int_equal (done, 3000);
  assert_memory_equal (in, out + 2000, 3000);
  /* Past the end: -1, errno 0, and how much there was. */
  errno = EIO;
  assert_int_equal (md_pread_full (fd, in, sizeof in, 0, &done), -1);
  assert_int_equal (errno, 0);
  assert_int_equal (done, 15000);
  assert_memory_equal (in + 5000, out, sizeof out);
  /* A zero-length transfer is complete at once. */
  assert_int_equal (md_pread_full (fd, in, 0, 1u << 30, &done), 0);
  assert_int_equal (done, 0);
  /* DONE may be NULL. */
  assert_int_equal (md_pread_full (fd, in, 10, 0, NULL), 0);
  close (fd);
}

static void
test_errors_keep_errno (void **state)
{
  (void) state;
  unsigned char buf[16] = { 0 };
  size_t done = 99;
  int fds[2];

  assert_int_equal (md_pread_full (-1, buf, sizeof buf, 0, &done), -1);
  assert_int_equal (errno, EBADF);
  assert_int_equal (done, 0);
  assert_int_equal (md_write_full (-1, buf, sizeof buf, &done), -1);
  assert_int_equal (errno, EBADF);
  /* pread on a pipe: ESPIPE, as tool_detect_format reports it. */
  assert_int_equal (pipe (fds), 0);
  assert_int_equal (md_pread_full (fds[0], buf, sizeof buf, 0, &done), -1);
  assert_int_equal (errno, ESPIPE);
  /* A pipe with no reader: EPIPE (SIGPIPE ignored). */
  signal (SIGPIPE, SIG_IGN);
  close (fds[0]);
  assert_int_equal (md_write_full (fds[1], buf, sizeof buf, &done), -1);
  assert_int_equal (errno, EPIPE);
  assert_int_equal (done, 0);
  close (fds[1]);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_write_through_eintr),
    cmocka_unit_test (test_pread_pwrite_and_end_of_file),
    cmocka_unit_test (test_errors_keep_errno),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
