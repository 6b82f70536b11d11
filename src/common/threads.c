#include <unistd.h>

#include "common/threads.h"

unsigned
snap_default_threads (void)
{
  long n = sysconf (_SC_NPROCESSORS_ONLN);

  if (n < 1)
    return 1;
  if ((unsigned long) n > SNAP_MAX_THREADS)
    return SNAP_MAX_THREADS;
  return (unsigned) n;
}

unsigned
snap_resolve_threads (unsigned threads)
{
  if (threads == 0)
    return snap_default_threads ();
  return threads > SNAP_MAX_THREADS ? SNAP_MAX_THREADS : threads;
}
