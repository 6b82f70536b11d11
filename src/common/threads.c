/* Thread counts, and a group's first failure (threads.h). */
#include <stdio.h>
#include <unistd.h>

#include "common/error.h"
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

void
snap_group_fail (pthread_mutex_t *lock, struct snap_group_failure *failure,
                 pthread_cond_t *const conds[], size_t count)
{
  pthread_mutex_lock (lock);
  if (!failure->failed) {
    failure->failed = true;
    snprintf (failure->message, sizeof failure->message, "%s", md_error ());
  }
  for (size_t i = 0; i < count; i++)
    pthread_cond_broadcast (conds[i]);
  pthread_mutex_unlock (lock);
}
