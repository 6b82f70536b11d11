/* The control channel between memdisk-tool and the nbdkit server that
 * writes a snapshot FILE: how the socket is named, who may use it, and
 * the messages (docs/design.md, "The control channel").
 *
 * The socket is an abstract Unix socket (Linux): its name lives in the
 * kernel, not in a folder, so it works for a FILE path of any length and
 * nothing is left behind when the server dies.  The name is a random
 * token the server writes into FILE's lock file (control/lock.h), which
 * only the server's user and root can read: nobody else can learn it, so
 * nobody else can take it first, and every path to FILE finds it.
 *
 * Both ends check the other.  The server serves only its own user and
 * root (SO_PEERCRED).  The tool trusts an answer only from the process
 * that holds FILE's writer lock, as the kernel reports both: the sender's
 * credentials that the kernel attaches to the answer (SO_PASSCRED), and
 * the lock's POSIX byte at that pid (writer_lock_held_by), checked when
 * the answer came or, for the listener itself (SO_PEERCRED, which a
 * server renews after nbdkit's fork), at the connect, so that a server
 * that answers and exits is believed; and only when that process runs as
 * the tool's user, root, or FILE's owner (the owner of FILE's folder
 * while FILE does not exist yet).
 *
 * Messages are text.  A request is one line, at most
 * CONTROL_REQUEST_MAX bytes with its newline (and an optional carriage
 * return before it): "save", "status" or "reset".  A reply is lines of
 * "KEY VALUE" (KEY without spaces, VALUE may hold spaces, never a control
 * character) ended by an empty line, at most CONTROL_REPLY_MAX bytes in
 * all.  Every reply has the key "result": "ok" or "error" (then "error"
 * holds the message).
 */
#ifndef MEMDISK_CONTROL_CHANNEL_H
#define MEMDISK_CONTROL_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/un.h>

#define CONTROL_REQUEST_MAX 64
#define CONTROL_REPLY_MAX 4096

struct writer_lock;

/* The abstract socket address named by the token NAME (of a lock file).
 * 0, or -1 with md_error set. */
int control_address (const char *name, struct sockaddr_un *addr, socklen_t *len);

/* Server: a listening socket (non-blocking, close-on-exec) named by the
 * token of LOCK, which the server holds.  -1 with md_error set; when
 * another process holds the name already, errno is EADDRINUSE and the
 * message names it (pid and user) if it answers. */
int control_listen (const struct writer_lock *lock);

/* Server, after a fork, in the child: make the listening socket FD name
 * this process to clients (SO_PEERCRED), as the kernel records it at
 * listen().  0, or -1 with md_error set. */
int control_listen_claim (int fd);

/* Tool: ask the server of FILE: connect, send REQUEST (without newline),
 * read the reply into REPLY (SIZE bytes, NUL-terminated), waiting at most
 * TIMEOUT_MS milliseconds in all (-1: for ever), and check that the
 * process that answered is FILE's writer (see above); *SERVER_PID is that
 * process.  0, or -1 with md_error set; errno is ECONNREFUSED or ENOENT
 * when no server writes FILE, EACCES when the one that answered is not
 * trusted, ETIMEDOUT when no answer came in time. */
int control_ask (const char *file, const char *request, char *reply, size_t size,
                 int timeout_ms, pid_t *server_pid);

/* The parts of control_ask.  control_connect: a socket connected to the
 * server named in FILE's lock file, whose listener runs as a user that
 * may answer for FILE; *LOCK_FD is the lock file, open; *LISTENER the
 * listener's pid (SO_PEERCRED) if it held FILE's lock at the connect,
 * else 0.  control_exchange: send REQUEST and read the reply as
 * control_ask does; *SENDER_PID and *SENDER_UID are the credentials the
 * kernel attached to it (0 and -1 when the chunks had none or not all the
 * same).  control_check_sender: 0 when that sender may answer for FILE
 * (it is LISTENER, or holds FILE's lock now), or -1 with md_error set and
 * errno EACCES. */
int control_connect (const char *file, int *lock_fd, pid_t *listener);
int control_exchange (int fd, const char *request, char *reply, size_t size,
                      int timeout_ms, pid_t *sender_pid, uid_t *sender_uid);
int control_check_sender (const char *file, int lock_fd, pid_t listener, pid_t pid,
                          uid_t uid);

/* The credentials of the process at the other end of socket FD. */
int control_peer (int fd, pid_t *pid, uid_t *uid);

/* Whether a peer running as PEER may be trusted by a process running as
 * SELF: the same user, or root. */
bool control_peer_trusted (uid_t peer, uid_t self);

/* A reply being built: control_reply_add appends "KEY VALUE\n" with the
 * value printf-formatted; newlines and other control characters in it
 * become spaces.  A reply that would overflow is cut at the last whole
 * line and marked truncated.  control_reply_end adds the empty line. */
struct control_reply {
  char text[CONTROL_REPLY_MAX];
  size_t len;
  bool truncated;
};
void control_reply_init (struct control_reply *reply);
void control_reply_add (struct control_reply *reply, const char *key,
                        const char *fmt, ...) __attribute__ ((format (printf, 3, 4)));
void control_reply_end (struct control_reply *reply);

/* The value of KEY in the reply TEXT (lines of "KEY VALUE"), copied into
 * VALUE (SIZE bytes, cut if longer); NULL when TEXT has no such key. */
const char *control_reply_get (const char *text, const char *key,
                               char *value, size_t size);

/* Server: a request line in BUF, of which LEN bytes have arrived.  1
 * with *REQUEST set: a whole line naming a known request; 0: no newline
 * yet (read more); -1 with md_error set: an unknown request, a line
 * holding a NUL byte, or no newline within CONTROL_REQUEST_MAX - 1
 * bytes. */
enum control_request { CONTROL_REQUEST_SAVE, CONTROL_REQUEST_STATUS, CONTROL_REQUEST_RESET };
int control_request_parse (const char *buf, size_t len, enum control_request *request);
/* "save", "status", "reset". */
const char *control_request_name (enum control_request request);

/* Tool: whether the LEN bytes in BUF are a whole reply: lines ended by an
 * empty line (or the empty reply, a lone newline). */
bool control_reply_complete (const char *buf, size_t len);

#endif
