/* The control channel between memdisk-tool and the nbdkit server that
 * writes a snapshot FILE: how the socket is named, who may use it, and
 * the messages (docs/design.md, "The control channel").
 *
 * The socket is an abstract Unix socket (Linux): its name lives in the
 * kernel, not in a folder, so it works for a FILE path of any length and
 * nothing is left behind when the server dies.  The name is derived from
 * the identity of FILE's folder (device and inode) and FILE's base name,
 * so every path that names the same FILE finds the same server.  Anyone
 * may bind an abstract name, so both ends check the other's credentials
 * (SO_PEERCRED): the server serves only its own user and root; the tool
 * talks only to a server run by itself or by root (and root also to the
 * user who holds FILE's writer lock file, control/lock.h).
 *
 * Messages are text.  A request is one line, at most
 * CONTROL_REQUEST_MAX bytes with its newline: "save" or "status".  A
 * reply is lines of "KEY VALUE" (VALUE may hold spaces, never a newline)
 * ended by an empty line, at most CONTROL_REPLY_MAX bytes in all.  Every
 * reply has the key "result": "ok" or "error" (then "error" holds the
 * message).
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

/* The socket address of the server of FILE.  FILE's folder must exist.
 * 0, or -1 with md_error set. */
int control_address (const char *file, struct sockaddr_un *addr, socklen_t *len);

/* Server: a listening socket for FILE (non-blocking, close-on-exec).  -1
 * with md_error set; when another process holds the name already, errno
 * is EADDRINUSE and the message names it (pid and user) if it answers. */
int control_listen (const char *file);

/* Tool: a socket connected to the server of FILE, whose credentials were
 * checked (*SERVER_PID set).  -1 with md_error set; errno is ECONNREFUSED
 * or ENOENT when no server listens, EACCES when the server is not
 * trusted. */
int control_connect (const char *file, pid_t *server_pid);

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

/* Tool: send REQUEST (without newline) on FD and read the reply into
 * REPLY (SIZE bytes, NUL-terminated), waiting at most TIMEOUT_MS
 * milliseconds in all (-1: forever).  0, or -1 with md_error set (errno
 * ETIMEDOUT on timeout). */
int control_exchange (int fd, const char *request, char *reply, size_t size,
                      int timeout_ms);

#endif
