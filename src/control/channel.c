/* The control channel's socket naming, peer checks and messages (see
 * channel.h). */
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

/* FNV-1a, 64 bits: names a base name in the socket's name, so that the
 * name stays short whatever the length of FILE's path. */
static uint64_t
name_hash (const char *s)
{
  uint64_t h = UINT64_C (0xcbf29ce484222325);

  for (; *s; s++) {
    h ^= (unsigned char) *s;
    h *= UINT64_C (0x100000001b3);
  }
  return h;
}

int
control_address (const char *file, struct sockaddr_un *addr, socklen_t *len)
{
  char *dir_copy = strdup (file), *name_copy = strdup (file);
  struct stat st;
  int n, r = -1;

  if (dir_copy == NULL || name_copy == NULL) {
    md_error_set ("out of memory");
    goto out;
  }
  const char *folder = dirname (dir_copy);
  if (stat (folder, &st) == -1) {
    md_error_set ("%s: %s", folder, strerror (errno));
    goto out;
  }
  memset (addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  /* sun_path[0] = '\0': an abstract name, which no folder holds. */
  n = snprintf (addr->sun_path + 1, sizeof addr->sun_path - 1,
                "memdisk-control/%" PRIx64 "/%" PRIx64 "/%016" PRIx64,
                (uint64_t) st.st_dev, (uint64_t) st.st_ino,
                name_hash (basename (name_copy)));
  if (n < 0 || (size_t) n >= sizeof addr->sun_path - 1) {
    md_error_set ("control socket name too long");
    goto out;
  }
  *len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + 1 + (size_t) n);
  r = 0;
 out:
  free (dir_copy);
  free (name_copy);
  return r;
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

/* Whether nobody accepts connections on ADDR any more. */
static bool
name_is_dead (const struct sockaddr_un *addr, socklen_t len)
{
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bool dead;

  if (fd == -1)
    return false;
  dead = connect (fd, (const struct sockaddr *) addr, len) == -1 && errno == ECONNREFUSED;
  close (fd);
  return dead;
}

int
control_listen (const char *file)
{
  struct sockaddr_un addr;
  socklen_t len;
  int fd;

  if (control_address (file, &addr, &len) == -1)
    return -1;
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd == -1) {
    md_error_set ("socket: %s", strerror (errno));
    return -1;
  }
  /* A server that was just killed may still hold the name for a moment
   * (its last threads are exiting): nobody accepts on it then. */
  int r, tries = 0;
  while ((r = bind (fd, (struct sockaddr *) &addr, len)) == -1 && errno == EADDRINUSE
         && tries++ < 100 && name_is_dead (&addr, len))
    nanosleep (&(struct timespec) { .tv_nsec = 20000000 }, NULL);
  if (r == -1) {
    int err = errno;
    close (fd);
    if (err == EADDRINUSE) {
      /* Whoever holds the name: say who, if it answers. */
      pid_t pid = 0;
      uid_t uid = 0;
      int other = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (other >= 0 && connect (other, (struct sockaddr *) &addr, len) == 0
          && control_peer (other, &pid, &uid) == 0)
        md_error_set ("the control socket of %s is taken by process %d (uid %u)",
                      file, (int) pid, (unsigned) uid);
      else
        md_error_set ("the control socket of %s is taken", file);
      if (other >= 0)
        close (other);
    }
    else
      md_error_set ("cannot bind the control socket of %s: %s", file, strerror (err));
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

/* Root may also use another user's server: the one whose user holds
 * FILE's lock file, which a squatter of the socket name cannot have
 * made unless it could write FILE's folder anyway. */
static bool
root_trusts_lock_owner (const char *file, uid_t server)
{
  struct stat st;
  char *path;
  bool trusted;

  if (geteuid () != 0 || (path = writer_lock_path (file)) == NULL)
    return false;
  trusted = lstat (path, &st) == 0 && S_ISREG (st.st_mode) && st.st_uid == server;
  free (path);
  return trusted;
}

int
control_connect (const char *file, pid_t *server_pid)
{
  struct sockaddr_un addr;
  socklen_t len;
  uid_t uid;
  int fd, err;

  if (control_address (file, &addr, &len) == -1)
    return -1;
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1) {
    md_error_set ("socket: %s", strerror (errno));
    return -1;
  }
  if (connect (fd, (struct sockaddr *) &addr, len) == -1) {
    err = errno;
    if (err == ECONNREFUSED || err == ENOENT)
      md_error_set ("no server is writing %s", file);
    else
      md_error_set ("cannot reach the server of %s: %s", file, strerror (err));
    close (fd);
    errno = err;
    return -1;
  }
  if (control_peer (fd, server_pid, &uid) == -1) {
    close (fd);
    return -1;
  }
  /* Anyone can bind an abstract name: talk only to ourselves or root. */
  if (!control_peer_trusted (uid, geteuid ()) && !root_trusts_lock_owner (file, uid)) {
    md_error_set ("the control socket of %s is held by process %d of uid %u, "
                  "neither you nor root: not trusted", file, (int) *server_pid,
                  (unsigned) uid);
    close (fd);
    errno = EACCES;
    return -1;
  }
  return fd;
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
control_exchange (int fd, const char *request, char *reply, size_t size, int timeout_ms)
{
  char line[CONTROL_REQUEST_MAX];
  int64_t deadline = timeout_ms < 0 ? -1 : md_monotonic_ms () + timeout_ms;
  size_t got = 0;
  int n = snprintf (line, sizeof line, "%s\n", request);

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
    int wait = -1;
    if (deadline >= 0) {
      int64_t left = deadline - md_monotonic_ms ();
      if (left <= 0) {
        md_error_set ("no answer within %d ms", timeout_ms);
        errno = ETIMEDOUT;
        return -1;
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
    if (r == 0)
      continue;
    ssize_t k = recv (fd, reply + got, size - 1 - got, 0);
    if (k == -1 && errno == EINTR)
      continue;
    if (k == -1) {
      md_error_set ("cannot %s: %s", send_errno ? "send the request" : "read the answer",
                    strerror (send_errno ? send_errno : errno));
      return -1;
    }
    got += (size_t) k;
    reply[got] = '\0';
    if ((got == 1 && reply[0] == '\n') || (got >= 2 && strstr (reply, "\n\n") != NULL))
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
