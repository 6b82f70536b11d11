/* How many threads the codec uses. */
#ifndef MEMDISK_SNAPTHREADS_H
#define MEMDISK_SNAPTHREADS_H

/* The most threads the writer or the reader will start. */
#define SNAP_MAX_THREADS 256u

/* The thread count that 0 stands for: the online CPUs (1 .. SNAP_MAX_THREADS). */
unsigned snap_default_threads (void);

/* THREADS, or the default for 0, clamped to SNAP_MAX_THREADS. */
unsigned snap_resolve_threads (unsigned threads);

#endif
