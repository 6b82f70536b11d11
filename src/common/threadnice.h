/* Background threads step back for the clients: nice 19 for the calling
 * thread only (Linux applies nice per thread, to the thread id).  Nice 19
 * rather than SCHED_IDLE: on a machine busy with other work the
 * background work must still finish.  The save's compressors and the
 * lazy loader's background threads call it. */
#ifndef MEMDISK_THREADNICE_H
#define MEMDISK_THREADNICE_H

/* 0, or -1 with errno set (setpriority); the thread then keeps its
 * priority, which costs only the clients' latency. */
int md_thread_nice_19 (void);

#endif
