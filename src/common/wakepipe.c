/* Wake-up pipes (wakepipe.h). */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "common/wakepipe.h"

int
md_wakepipe_open (struct md_wakepipe *w)
{
  return pipe2 (w->fd, O_CLOEXEC | O_NONBLOCK);
}

void
md_wakepipe_poke (const struct md_wakepipe *w)
{
  int saved_errno = errno;
  char byte = 1;

  /* A full pipe holds a wake-up already. */
  if (w->fd[1] >= 0 && write (w->fd[1], &byte, 1) == -1) { /* nothing to do */ }
  errno = saved_errno;
}

bool
md_wakepipe_drain (const struct md_wakepipe *w)
{
  char buf[64];
  bool woken = false;

  while (read (w->fd[0], buf, sizeof buf) > 0)
    woken = true;
  return woken;
}

int
md_wakepipe_fd (const struct md_wakepipe *w)
{
  return w->fd[0];
}

void
md_wakepipe_close (struct md_wakepipe *w)
{
  for (int i = 0; i < 2; i++) {
    if (w->fd[i] >= 0)
      close (w->fd[i]);
    w->fd[i] = -1;
  }
}
