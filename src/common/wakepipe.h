/* A wake-up pipe: one thread sleeps in poll(2) on the read end, others
 * (and signal handlers: write(2) is async-signal-safe) poke the write
 * end.  Both ends are non-blocking, so a poke never blocks (a full pipe
 * already holds a wake-up) and a drain empties it at once: pokes that
 * pile up while the sleeper works are served by one wake-up.  The
 * plugin's saver sleeps on one (SIGUSR1, save requests), the control
 * thread on another (a save ended). */
#ifndef MEMDISK_WAKEPIPE_H
#define MEMDISK_WAKEPIPE_H

#include <stdbool.h>

struct md_wakepipe {
  int fd[2];                    /* read end, write end; -1 when closed */
};

#define MD_WAKEPIPE_CLOSED { { -1, -1 } }

/* 0, or -1 with errno set (pipe2). */
int md_wakepipe_open (struct md_wakepipe *w);
/* Wake the sleeper.  Async-signal-safe, keeps errno; a no-op when closed. */
void md_wakepipe_poke (const struct md_wakepipe *w);
/* Empty the pipe; true if it held a wake-up. */
bool md_wakepipe_drain (const struct md_wakepipe *w);
/* The end to poll for POLLIN. */
int md_wakepipe_fd (const struct md_wakepipe *w);
void md_wakepipe_close (struct md_wakepipe *w);

#endif
