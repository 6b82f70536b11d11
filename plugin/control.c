/* The control thread: answers `memdisk-tool save`, `status` and `reset`
 * on the control socket (see control.h; the protocol is in
 * src/control/channel.h, the threads and locks in docs/design.md).
 *
 * One thread, one poll loop, every socket non-blocking: a client that
 * sends nothing is dropped after REQUEST_TIMEOUT_MS, one that sends
 * garbage gets an error, one that does not read its answer loses it
 * (replies are sent with MSG_DONTWAIT and fit in a socket buffer).  A
 * `save` (or `reset`) only asks the saver for a save (wake_request_save,
 * wake_request_reset) and waits for the status record's notification
 * (status.h): the saver never
 * waits for this thread, nor calls it.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/monoclock.h"
#include "common/utctime.h"
#include "common/wakepipe.h"
#include "control.h"
#include "control/channel.h"
#include "status.h"
#include "wake.h"

#define MAX_CLIENTS 32
#define REQUEST_TIMEOUT_MS 5000

struct client {
  int fd;                       /* -1: a free slot */
  int64_t deadline_ms;          /* for the request line */
  bool waiting;                 /* for save (or reset) number seq */
  bool reset;                   /* it waits for a reset */
  uint64_t seq;
  size_t len;
  char request[CONTROL_REQUEST_MAX];
};

/* All of this belongs to the control thread while it runs, and to
 * nbdkit's main thread while it does not (before control_start, after
 * control_pause / control_stop).  Only notify_pipe is shared: the saver
 * writes to it. */
static const char *file;
static struct store *disk;
static int listen_fd = -1;
static struct md_wakepipe notify_pipe = MD_WAKEPIPE_CLOSED;
static struct client clients[MAX_CLIENTS];
static pthread_t thread;
static bool running;
static atomic_bool stopping;

/* A save ended, or the thread is to stop: wake it.  The status record's
 * notify callback; async-signal-safe. */
static void
control_notify (void)
{
  md_wakepipe_poke (&notify_pipe);
}

static void
client_close (struct client *c)
{
  if (c->fd >= 0)
    close (c->fd);
  c->fd = -1;
  c->waiting = false;
  c->reset = false;
  c->len = 0;
}

/* Send the reply and hang up.  Never blocks: a client that does not read
 * loses its answer. */
static void
client_answer (struct client *c, struct control_reply *reply)
{
  control_reply_end (reply);
  if (send (c->fd, reply->text, reply->len, MSG_DONTWAIT | MSG_NOSIGNAL) == -1) {
    /* nothing to do: the client is gone or does not read */
  }
  client_close (c);
}

static void
client_error (struct client *c, const char *message)
{
  struct control_reply reply;

  control_reply_init (&reply);
  control_reply_add (&reply, "result", "error");
  control_reply_add (&reply, "error", "%s", message);
  client_answer (c, &reply);
}

static const char *
state_name (enum server_state state)
{
  switch (state) {
  case SERVER_LOADING: return "loading";
  case SERVER_SERVING: return "serving";
  case SERVER_SAVING: return "saving";
  case SERVER_STOPPING: return "stopping";
  }
  return "unknown";
}

static void
add_outcome (struct control_reply *reply, const char *prefix,
             const struct save_outcome *o)
{
  char key[64], when[MD_UTC_TEXT_SIZE];

  md_format_utc (o->when, when);
#define KEY(name) (snprintf (key, sizeof key, "%s%s", prefix, name), key)
  control_reply_add (reply, KEY ("time"), "%s", when);
  control_reply_add (reply, KEY ("trigger"), "%s", o->trigger ? o->trigger : "");
  control_reply_add (reply, KEY ("duration"), "%.3f", o->seconds);
  control_reply_add (reply, KEY ("result"), "%s", o->ok ? "ok" : "failed");
  if (o->ok) {
    control_reply_add (reply, KEY ("allocated-size"), "%" PRIu64, o->allocated_bytes);
    control_reply_add (reply, KEY ("file-size"), "%" PRIu64, o->file_bytes);
    control_reply_add (reply, KEY ("digest"), "%016" PRIx64, o->digest);
    control_reply_add (reply, KEY ("regions-cloned"), "%" PRIu64, o->regions_cloned);
    control_reply_add (reply, KEY ("regions-copied"), "%" PRIu64, o->regions_copied);
    control_reply_add (reply, KEY ("regions-compressed"), "%" PRIu64, o->regions_compressed);
  }
  else
    control_reply_add (reply, KEY ("error"), "%s", o->error);
#undef KEY
}

static void
answer_status (struct client *c)
{
  struct server_status st;
  struct control_reply reply;
  char when[MD_UTC_TEXT_SIZE];

  status_get (disk, &st);
  control_reply_init (&reply);
  control_reply_add (&reply, "result", "ok");
  control_reply_add (&reply, "pid", "%d", (int) getpid ());
  control_reply_add (&reply, "file", "%s", file);
  control_reply_add (&reply, "state", "%s", state_name (st.state));
  if (st.state == SERVER_SAVING) {
    md_format_utc (st.since, when);
    control_reply_add (&reply, "save-trigger", "%s", st.trigger);
    control_reply_add (&reply, "save-started", "%s", when);
    control_reply_add (&reply, "save-elapsed", "%.3f", st.elapsed);
    control_reply_add (&reply, "save-pages-done", "%" PRIu64, st.pages_done);
    control_reply_add (&reply, "save-pages-total", "%" PRIu64, st.pages_total);
  }
  if (st.loaded) {
    control_reply_add (&reply, "virtual-size", "%" PRIu64, st.virtual_size);
    control_reply_add (&reply, "allocated-size", "%" PRIu64, st.allocated_bytes);
    control_reply_add (&reply, "resident-size", "%" PRIu64, st.resident_bytes);
    control_reply_add (&reply, "in-file-size", "%" PRIu64, st.in_file_bytes);
    control_reply_add (&reply, "allocator", "%s", st.allocator);
    control_reply_add (&reply, "page-size", "%" PRIu32, st.page_size);
    control_reply_add (&reply, "changed", "%s", st.changed ? "true" : "false");
    control_reply_add (&reply, "load", "%s", !st.load.lazy ? "eager"
                       : st.load.loaded ? "loaded" : "loading");
    if (st.load.lazy) {
      control_reply_add (&reply, "load-frames", "%zu", st.load.frames);
      control_reply_add (&reply, "load-frames-loaded", "%zu", st.load.frames_resident);
      control_reply_add (&reply, "load-frames-damaged", "%zu", st.load.frames_damaged);
      control_reply_add (&reply, "load-bytes-loaded", "%" PRIu64, st.load.bytes_loaded);
      control_reply_add (&reply, "load-bytes-total", "%" PRIu64, st.load.bytes_total);
    }
  }
  control_reply_add (&reply, "saves", "%" PRIu64, st.saves);
  control_reply_add (&reply, "failed-saves", "%" PRIu64, st.failed_saves);
  control_reply_add (&reply, "resets", "%" PRIu64, st.resets);
  control_reply_add (&reply, "failed-resets", "%" PRIu64, st.failed_resets);
  if (st.have_last)
    add_outcome (&reply, "last-save-", &st.last);
  client_answer (c, &reply);
}

static void
answer_save (struct client *c, const struct save_outcome *o)
{
  struct control_reply reply;

  control_reply_init (&reply);
  control_reply_add (&reply, "result", "%s", o->ok ? "ok" : "error");
  control_reply_add (&reply, "file", "%s", file);
  if (o->up_to_date)
    control_reply_add (&reply, "up-to-date", "true");
  else
    add_outcome (&reply, "save-", o);
  if (!o->ok)
    control_reply_add (&reply, "error", "%s", o->error);
  client_answer (c, &reply);
}

static void
answer_reset (struct client *c, const struct reset_outcome *o)
{
  struct control_reply reply;
  char when[MD_UTC_TEXT_SIZE];

  md_format_utc (o->when, when);
  control_reply_init (&reply);
  control_reply_add (&reply, "result", "%s", o->ok ? "ok" : "error");
  control_reply_add (&reply, "file", "%s", file);
  control_reply_add (&reply, "reset-time", "%s", when);
  control_reply_add (&reply, "reset-duration", "%.6f", o->seconds);
  if (o->ok)
    control_reply_add (&reply, "reset-regions", "%" PRIu64, o->regions);
  else
    control_reply_add (&reply, "error", "%s", o->error);
  client_answer (c, &reply);
}

/* A save or a reset is asked of the saver, which answers through the
 * status record (answer_waiting). */
static void
handle_request (struct client *c, enum control_request request)
{
  switch (request) {
  case CONTROL_REQUEST_STATUS:
    answer_status (c);
    break;
  case CONTROL_REQUEST_SAVE:
    c->seq = wake_request_save ();
    c->waiting = true;
    break;
  case CONTROL_REQUEST_RESET:
    c->seq = wake_request_reset ();
    c->waiting = true;
    c->reset = true;
    break;
  }
}

/* Data from a client: its request line, or (while it waits for a save)
 * anything at all, or its hang-up. */
static void
client_readable (struct client *c)
{
  char scratch[256];
  ssize_t n;

  if (c->waiting) {
    n = recv (c->fd, scratch, sizeof scratch, MSG_DONTWAIT);
    if (n == 0 || (n == -1 && errno != EAGAIN && errno != EINTR))
      client_close (c);     /* gone: the save goes on without it */
    return;
  }
  n = recv (c->fd, c->request + c->len, sizeof c->request - 1 - c->len, MSG_DONTWAIT);
  if (n == -1 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0) {
    client_close (c);
    return;
  }
  c->len += (size_t) n;
  enum control_request request;
  int r = control_request_parse (c->request, c->len, &request);
  if (r == 1)
    handle_request (c, request);
  else if (r == -1)
    client_error (c, md_error ());
}

static void
accept_clients (void)
{
  for (;;) {
    int fd = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd == -1)
      return;                   /* EAGAIN, or a client that went away */
    struct client *c = NULL;
    for (size_t i = 0; i < MAX_CLIENTS && c == NULL; i++)
      if (clients[i].fd == -1)
        c = &clients[i];
    struct client overflow = { .fd = fd };
    pid_t pid;
    uid_t uid;
    char text[128];
    if (c == NULL) {
      client_error (&overflow, "too many clients, try again");
      continue;
    }
    *c = (struct client) { .fd = fd, .deadline_ms = md_monotonic_ms () + REQUEST_TIMEOUT_MS };
    if (control_peer (fd, &pid, &uid) == -1 || !control_peer_trusted (uid, geteuid ())) {
      snprintf (text, sizeof text,
                "permission denied: uid %u is neither this server's user nor root",
                (unsigned) uid);
      client_error (c, text);
      nbdkit_debug ("control: refused process %d of uid %u", (int) pid, (unsigned) uid);
    }
  }
}

/* Answer every client whose save or reset has ended. */
static void
answer_waiting (void)
{
  for (size_t i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &clients[i];
    struct save_outcome o;
    struct reset_outcome ro;
    if (c->fd < 0 || !c->waiting)
      continue;
    if (c->reset && status_reset_outcome (c->seq, &ro))
      answer_reset (c, &ro);
    else if (!c->reset && status_save_outcome (c->seq, &o))
      answer_save (c, &o);
  }
}

static void *
control_main (void *arg)
{
  struct pollfd pfd[2 + MAX_CLIENTS];
  struct client *of[2 + MAX_CLIENTS];

  (void) arg;
  while (!atomic_load (&stopping)) {
    nfds_t n = 0;
    int64_t now = md_monotonic_ms (), next = -1;

    pfd[n++] = (struct pollfd) { .fd = md_wakepipe_fd (&notify_pipe), .events = POLLIN };
    pfd[n++] = (struct pollfd) { .fd = listen_fd, .events = POLLIN };
    for (size_t i = 0; i < MAX_CLIENTS; i++) {
      struct client *c = &clients[i];
      if (c->fd < 0)
        continue;
      if (!c->waiting && c->deadline_ms <= now) {
        client_error (c, "no request within 5 seconds");
        continue;
      }
      if (!c->waiting && (next == -1 || c->deadline_ms < next))
        next = c->deadline_ms;
      of[n] = c;
      pfd[n++] = (struct pollfd) { .fd = c->fd, .events = POLLIN };
    }
    int timeout = next == -1 ? -1 : (int) (next - now);
    if (poll (pfd, n, timeout) == -1) {
      if (errno == EINTR)
        continue;
      nbdkit_error ("control: poll: %m");
      break;
    }
    if (pfd[0].revents)
      (void) md_wakepipe_drain (&notify_pipe);
    if (atomic_load (&stopping))
      break;
    if (pfd[1].revents & POLLIN)
      accept_clients ();
    for (nfds_t k = 2; k < n; k++)
      if (pfd[k].revents && of[k]->fd == pfd[k].fd)
        client_readable (of[k]);
    answer_waiting ();
  }
  return NULL;
}

int
control_open (const char *path, const struct writer_lock *lock)
{
  file = path;
  for (size_t i = 0; i < MAX_CLIENTS; i++)
    clients[i].fd = -1;
  listen_fd = control_listen (lock);
  if (listen_fd == -1) {
    nbdkit_error ("snapshot: %s", md_error ());
    return -1;
  }
  if (md_wakepipe_open (&notify_pipe) == -1) {
    nbdkit_error ("pipe2: %m");
    close (listen_fd);
    listen_fd = -1;
    return -1;
  }
  status_set_notify (control_notify);
  return 0;
}

int
control_start (void)
{
  int err;

  if (listen_fd < 0 || running)
    return 0;
  /* After nbdkit's fork: clients see this process as the listener. */
  if (control_listen_claim (listen_fd) == -1)
    nbdkit_debug ("control: %s", md_error ());
  atomic_store (&stopping, false);
  err = pthread_create (&thread, NULL, control_main, NULL);
  if (err != 0) {
    errno = err;
    nbdkit_error ("cannot start the control thread: %m");
    return -1;
  }
  running = true;
  return 0;
}

static void
stop_thread (void)
{
  if (!running)
    return;
  atomic_store (&stopping, true);
  control_notify ();
  pthread_join (thread, NULL);
  running = false;
}

void
control_pause (void)
{
  stop_thread ();
}

void
control_set_disk (struct store *d)
{
  disk = d;
}

void
control_stop (void)
{
  stop_thread ();
  if (listen_fd < 0)
    return;
  /* The final save is over (the status record is closed): every waiting
   * client has an outcome now. */
  answer_waiting ();
  for (size_t i = 0; i < MAX_CLIENTS; i++)
    if (clients[i].fd >= 0)
      client_error (&clients[i], "the server is exiting");
}

void
control_close (void)
{
  if (listen_fd >= 0)
    close (listen_fd);
  listen_fd = -1;
  status_set_notify (NULL);
  md_wakepipe_close (&notify_pipe);
}
