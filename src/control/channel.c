/* The control channel's socket naming, the checks of both ends and the
 * messages (see channel.h). */
#include <errno.h>
#include <inttypes.h>
#include <libgen.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/monoclock.h"
#include "control/channel.h"
#include "control/lock.h"
#include "files/trust.h"

int
control_address (const char *name, struct sockaddr_un *addr, socklen_t *len)
{
  int n;

  memset (addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  /* sun_path[0] = '\0': an abstract name, which no folder holds. */
  n = snprintf (addr->sun_path + 1, sizeof addr->sun_path - 1, "memdisk-control/%s", name);
  if (n < 0 || (size_t) n >= sizeof addr->sun_path - 1) {
    md_error_set ("control socket name too long");
    return -1;
  }
  *len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + 1 + (size_t) n);
  return 0;
}

int
control_listen_claim (int fd)
{
  /* listen() again records the caller's credentials for SO_PEERCRED. */
  if (listen (fd, 16) == -1) {
    md_error_set ("listen: %s", strerror (errno));
    return -1;
  }
  return 0;
}

int
control_peer (int fd, pid_t *pid, uid_t *uid)
{
  struct ucred cred;
  socklen_t len = sizeof cred;

  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
    md_error_set ("SO_PEERCRED: %s", strerror (errno));
    return -1;
  }
  *pid = cred.pid;
  *uid = cred.uid;
  return 0;
}

bool
control_peer_trusted (uid_t peer, uid_t self)
{
  return peer == self || peer == 0;
}

int
control_listen (const struct writer_lock *lock)
{
  const char *file = lock->path;
  struct sockaddr_un addr;
  socklen_t len;
  int fd;

  if (control_address (lock->name, &addr, &len) == -1)
    return -1;
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd == -1) {
    md_error_set ("socket: %s", strerror (errno));
    return -1;
  }
  /* A new random name at every start: taken only by a process that could
   * read the lock file, or by chance. */
  if (bind (fd, (struct sockaddr *) &addr, len) == -1) {
    int err = errno;
    close (fd);
    if (err == EADDRINUSE) {
      /* Whoever holds the name: say who, if it answers. */
      pid_t pid = 0;
      uid_t uid = 0;
      int other = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (other >= 0 && connect (other, (struct sockaddr *) &addr, len) == 0
          && control_peer (other, &pid, &uid) == 0)
        md_error_set ("the control socket named in %s is taken by process %d (uid %u)",
                      file, (int) pid, (unsigned) uid);
      else
        md_error_set ("the control socket named in %s is taken", file);
      if (other >= 0)
        close (other);
    }
    else
      md_error_set ("cannot bind the control socket named in %s: %s", file, strerror (err));
    errno = err;
    return -1;
  }
  if (listen (fd, 16) == -1) {
    md_error_set ("listen: %s", strerror (errno));
    close (fd);
    return -1;
  }
  return fd;
}

/* The owner of the file FILE's links lead to, or of its folder while it
 * does not exist: the user whose server may write it. */
static int
file_owner (const char *file, uid_t *owner)
{
  char *resolved = snap_trust_resolve (file);
  struct stat st;
  int r;

  if (resolved == NULL)
    return -1;
  r = stat (resolved, &st);
  if (r == -1 && errno == ENOENT)
    r = stat (dirname (resolved), &st);
  free (resolved);
  if (r == 0)
    *owner = st.st_uid;
  return r;
}

/* Whether a server running as UID may answer for FILE: ours, root's, or
 * one of the user who owns FILE (its server must: files/trust.h). */
static bool
uid_may_answer (const char *file, uid_t uid)
{
  uid_t owner;

  return control_peer_trusted (uid, geteuid ())
         || (file_owner (file, &owner) == 0 && uid == owner);
}

int
control_connect (const char *file, int *lock_fd, pid_t *listener)
{
  char name[WRITER_LOCK_NAME_LEN + 1];
  struct sockaddr_un addr;
  struct stat st;
  socklen_t len;
  pid_t pid;
  uid_t uid;
  int fd, err;

  *lock_fd = writer_lock_open (file, &st);
  if (*lock_fd == -1) {
    if (errno == ENOENT)
      md_error_set ("no server is writing %s", file);
    return -1;
  }
  /* No token: a writer that is not a server (convert, create), or one
   * that has not written it yet. */
  if (!writer_lock_read_name (*lock_fd, name)) {
    md_error_set ("no server is writing %s", file);
    err = ECONNREFUSED;
    goto fail;
  }
  if (control_address (name, &addr, &len) == -1) {
    err = EINVAL;
    goto fail;
  }
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  /* Before anything can be sent to us: the kernel then attaches the
   * sender's credentials to every byte of the answer. */
  if (fd == -1 || setsockopt (fd, SOL_SOCKET, SO_PASSCRED, &(int) { 1 }, sizeof (int)) == -1) {
    err = errno;
    md_error_set ("socket: %s", strerror (err));
    if (fd >= 0)
      close (fd);
    goto fail;
  }
  if (connect (fd, (struct sockaddr *) &addr, len) == -1) {
    err = errno;
    if (err == ECONNREFUSED || err == ENOENT)
      md_error_set ("no server is writing %s", file);
    else
      md_error_set ("cannot reach the server of %s: %s", file, strerror (err));
    close (fd);
    goto fail;
  }
  /* The listener's user (the answer's sender is checked later): a
   * stranger is refused before we wait for it. */
  if (control_peer (fd, &pid, &uid) == -1) {
    err = errno;
    close (fd);
    goto fail;
  }
  /* The listener, if it holds FILE's lock now: its answer is proven even
   * if it exits before we check (a server answers, then exits). */
  *listener = writer_lock_held_by (*lock_fd, pid) ? pid : 0;
  if (!uid_may_answer (file, uid)) {
    md_error_set ("the control socket of %s is held by process %d of uid %u, "
                  "neither you, root nor the owner of %s: not trusted", file, (int) pid,
                  (unsigned) uid, file);
    close (fd);
    err = EACCES;
    goto fail;
  }
  return fd;
 fail:
  close (*lock_fd);
  *lock_fd = -1;
  errno = err;
  return -1;
}

int
control_check_sender (const char *file, int lock_fd, pid_t listener, pid_t pid, uid_t uid)
{
  if (pid <= 0) {
    md_error_set ("the answer about %s came without the sender's credentials: not trusted",
                  file);
    errno = EACCES;
    return -1;
  }
  if (pid != listener && !writer_lock_held_by (lock_fd, pid)) {
    md_error_set ("the answer about %s came from process %d, which does not hold its "
                  "writer lock: not trusted", file, (int) pid);
    errno = EACCES;
    return -1;
  }
  if (!uid_may_answer (file, uid)) {
    md_error_set ("the answer about %s came from process %d of uid %u, neither you, "
                  "root nor the owner of %s: not trusted", file, (int) pid,
                  (unsigned) uid, file);
    errno = EACCES;
    return -1;
  }
  return 0;
}

int
control_ask (const char *file, const char *request, char *reply, size_t size,
             int timeout_ms, pid_t *server_pid)
{
  pid_t listener;
  int lock_fd, fd = control_connect (file, &lock_fd, &listener);
  uid_t uid;
  int r, err;

  if (fd == -1)
    return -1;
  r = control_exchange (fd, request, reply, size, timeout_ms, server_pid, &uid);
  if (r == 0)
    r = control_check_sender (file, lock_fd, listener, *server_pid, uid);
  err = errno;
  close (fd);
  close (lock_fd);
  if (r == -1)
    reply[0] = '\0';
  errno = err;
  return r;
}

void
control_reply_init (struct control_reply *reply)
{
  reply->len = 0;
  reply->truncated = false;
  reply->text[0] = '\0';
}

void
control_reply_add (struct control_reply *reply, const char *key, const char *fmt, ...)
{
  char value[CONTROL_REPLY_MAX];
  va_list ap;
  int n;

  va_start (ap, fmt);
  n = vsnprintf (value, sizeof value, fmt, ap);
  va_end (ap);
  if (n < 0)
    return;
  for (char *p = value; *p; p++)
    if ((unsigned char) *p < 0x20 || *p == 0x7f)
      *p = ' ';
  /* Room for this line and the final empty line. */
  size_t need = strlen (key) + 1 + strlen (value) + 1;
  if (reply->truncated || reply->len + need + 2 > sizeof reply->text) {
    reply->truncated = true;
    return;
  }
  reply->len += (size_t) snprintf (reply->text + reply->len,
                                   sizeof reply->text - reply->len, "%s %s\n", key, value);
}

void
control_reply_end (struct control_reply *reply)
{
  reply->text[reply->len++] = '\n';
  reply->text[reply->len] = '\0';
}

const char *
control_reply_get (const char *text, const char *key, char *value, size_t size)
{
  size_t klen = strlen (key);

  for (const char *line = text; *line && *line != '\n';) {
    const char *end = strchr (line, '\n');
    size_t llen = end ? (size_t) (end - line) : strlen (line);
    if (llen > klen && strncmp (line, key, klen) == 0 && line[klen] == ' ') {
      size_t vlen = llen - klen - 1;
      if (size == 0)
        return value;
      if (vlen >= size)
        vlen = size - 1;
      memcpy (value, line + klen + 1, vlen);
      value[vlen] = '\0';
      return value;
    }
    if (end == NULL)
      break;
    line = end + 1;
  }
  return NULL;
}

int
control_request_parse (const char *buf, size_t len, enum control_request *request)
{
  const char *nl = memchr (buf, '\n', len);

  if (nl == NULL) {
    if (len < CONTROL_REQUEST_MAX - 1)
      return 0;
    md_error_set ("request too long (at most %d bytes)", CONTROL_REQUEST_MAX - 1);
    return -1;
  }
  size_t line = (size_t) (nl - buf);
  if (line > 0 && buf[line - 1] == '\r')
    line--;
  for (int r = CONTROL_REQUEST_SAVE; r <= CONTROL_REQUEST_RESET; r++) {
    const char *name = control_request_name ((enum control_request) r);
    if (line == strlen (name) && memcmp (buf, name, line) == 0) {
      *request = (enum control_request) r;
      return 1;
    }
  }
  md_error_set ("unknown request (expected save, status or reset)");
  return -1;
}

const char *
control_request_name (enum control_request request)
{
  static const char *const names[] = { "save", "status", "reset" };

  return (unsigned) request < 3 ? names[request] : "unknown";
}

bool
control_reply_complete (const char *buf, size_t len)
{
  if (len == 1 && buf[0] == '\n')
    return true;
  return len >= 2 && memmem (buf, len, "\n\n", 2) != NULL;
}

/* recv into BUF, with the credentials the kernel attached (SO_PASSCRED):
 * *PID and *UID, or 0 and -1 when none came. */
static ssize_t
recv_with_sender (int fd, void *buf, size_t size, pid_t *pid, uid_t *uid)
{
  union { struct cmsghdr align; char space[CMSG_SPACE (sizeof (struct ucred))]; } control;
  struct iovec iov = { .iov_base = buf, .iov_len = size };
  struct msghdr msg = {
    .msg_iov = &iov, .msg_iovlen = 1,
    .msg_control = control.space, .msg_controllen = sizeof control.space,
  };
  ssize_t n = recvmsg (fd, &msg, MSG_CMSG_CLOEXEC);

  *pid = 0;
  *uid = (uid_t) -1;
  if (n <= 0)
    return n;
  for (struct cmsghdr *c = CMSG_FIRSTHDR (&msg); c != NULL; c = CMSG_NXTHDR (&msg, c))
    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS
        && c->cmsg_len == CMSG_LEN (sizeof (struct ucred))) {
      struct ucred cred;
      memcpy (&cred, CMSG_DATA (c), sizeof cred);
      *pid = cred.pid;
      *uid = cred.uid;
    }
  return n;
}

/* Wait until FD is readable or DEADLINE (md_monotonic_ms, -1 for none)
 * passes: 1 when readable, 0 at the deadline (ETIMEDOUT) and -1 on an
 * error, each failure with its message set. */
static int
wait_readable (int fd, int64_t deadline, int timeout_ms)
{
  for (;;) {
    int wait = -1;
    if (deadline >= 0) {
      int64_t left = deadline - md_monotonic_ms ();
      if (left <= 0) {
        md_error_set ("no answer within %d ms", timeout_ms);
        errno = ETIMEDOUT;
        return 0;
      }
      wait = left > 1000000 ? 1000000 : (int) left;
    }
    struct pollfd pfd = { .fd = fd, .events = POLLIN };
    int r = poll (&pfd, 1, wait);
    if (r == -1 && errno == EINTR)
      continue;
    if (r == -1) {
      md_error_set ("poll: %s", strerror (errno));
      return -1;
    }
    if (r > 0)
      return 1;
  }
}

int
control_exchange (int fd, const char *request, char *reply, size_t size, int timeout_ms,
                  pid_t *sender_pid, uid_t *sender_uid)
{
  char line[CONTROL_REQUEST_MAX];
  int64_t deadline = timeout_ms < 0 ? -1 : md_monotonic_ms () + timeout_ms;
  size_t got = 0;
  int n = snprintf (line, sizeof line, "%s\n", request);

  *sender_pid = 0;
  *sender_uid = (uid_t) -1;
  if (n < 0 || (size_t) n >= sizeof line || size < 2) {
    md_error_set ("request too long");
    errno = EINVAL;
    return -1;
  }
  /* A server that refuses us answers and hangs up at once, maybe before
   * our request is sent: read its answer all the same. */
  int send_errno = 0;
  if (send (fd, line, (size_t) n, MSG_NOSIGNAL) != n)
    send_errno = errno ? errno : EIO;
  for (;;) {
    int r = wait_readable (fd, deadline, timeout_ms);
    if (r <= 0)
      return -1;
    pid_t pid;
    uid_t uid;
    ssize_t k = recv_with_sender (fd, reply + got, size - 1 - got, &pid, &uid);
    if (k == -1 && errno == EINTR)
      continue;
    if (k == -1) {
      md_error_set ("cannot %s: %s", send_errno ? "send the request" : "read the answer",
                    strerror (send_errno ? send_errno : errno));
      return -1;
    }
    /* Every chunk from one sender, or from nobody we know. */
    if (k > 0 && got == 0) {
      *sender_pid = pid;
      *sender_uid = uid;
    }
    else if (k > 0 && (pid != *sender_pid || uid != *sender_uid)) {
      *sender_pid = 0;
      *sender_uid = (uid_t) -1;
    }
    got += (size_t) k;
    reply[got] = '\0';
    if (control_reply_complete (reply, got))
      return 0;
    if (k == 0 && send_errno != 0) {
      md_error_set ("cannot send the request: %s", strerror (send_errno));
      errno = send_errno;
      return -1;
    }
    if (k == 0) {
      md_error_set ("the server closed the connection without an answer");
      errno = ECONNRESET;
      return -1;
    }
    if (got == size - 1) {
      md_error_set ("the answer is too long");
      errno = EMSGSIZE;
      return -1;
    }
  }
}
