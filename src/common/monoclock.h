/* The monotonic clock, for durations and deadlines: CLOCK_MONOTONIC
 * never jumps when the wall clock is set, so an interval measured with it
 * is the time that passed.  The one reader of it in memdisk. */
#ifndef MEMDISK_MONOCLOCK_H
#define MEMDISK_MONOCLOCK_H

#include <stdint.h>

/* Milliseconds since an arbitrary start (the boot, on Linux). */
int64_t md_monotonic_ms (void);

/* Seconds since the same start, to the nanosecond: subtract two of them
 * for a duration in a log line. */
double md_monotonic_seconds (void);

#endif
