/* The monotonic clock (monoclock.h). */
#include <time.h>

#include "common/monoclock.h"

/* CLOCK_MONOTONIC cannot fail on Linux: the clock exists and the pointer
 * is ours. */
static struct timespec
monotonic_now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts;
}

int64_t
md_monotonic_ms (void)
{
  struct timespec ts = monotonic_now ();

  return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

double
md_monotonic_seconds (void)
{
  struct timespec ts = monotonic_now ();

  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}
