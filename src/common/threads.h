/* The codec's threads: how many it uses, and how a group of them (the
 * writer's pipeline, the loader's workers) stops on its first failure. */
#ifndef MEMDISK_SNAPTHREADS_H
#define MEMDISK_SNAPTHREADS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most threads the writer or the reader will start. */
#define SNAP_MAX_THREADS 256u

/* The thread count that 0 stands for: the online CPUs (1 .. SNAP_MAX_THREADS). */
unsigned snap_default_threads (void);

/* THREADS, or the default for 0, clamped to SNAP_MAX_THREADS. */
unsigned snap_resolve_threads (unsigned threads);

/* The first failure of a group of threads: FAILED tells every thread to
 * stop; MESSAGE keeps the md_error() of the thread that failed first, for
 * the thread that reports it.  Guarded by the group's own mutex. */
struct snap_group_failure {
  bool failed;
  char message[1024];
};

/* Take LOCK, record this thread's md_error() in FAILURE unless a failure
 * is recorded already, and wake every thread waiting on one of the COUNT
 * condition variables CONDS, so that each sees the failure and stops. */
void snap_group_fail (pthread_mutex_t *lock, struct snap_group_failure *failure,
                      pthread_cond_t *const conds[], size_t count);

/* A number in [0, N) for the calling thread, the same on every call: a
 * hash of pthread_self (), the thread's descriptor.  For spreading
 * counters and locks over N shards by thread without thread-local
 * storage, which in a dlopen'ed plugin costs a __tls_get_addr call per
 * access and whose teardown ThreadSanitizer reports as a race with the
 * thread's last access (it did, in harden-stress). */
static inline unsigned
thread_shard_index (unsigned n)
{
  uint64_t self = (uint64_t) (uintptr_t) pthread_self ();

  return (unsigned) ((self * UINT64_C (0x9E3779B97F4A7C15)) >> 32) % n;
}

#endif
