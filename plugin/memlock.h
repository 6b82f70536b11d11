/* mlock=true: keep the disk out of swap (a RAM disk that swaps is not
 * one).  memlock_all locks every page of the server, present and future,
 * as it is first touched: the disk's pages, the page table, copy-on-write
 * blocks, nbdkit itself.
 *
 * Why mlockall(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) and not mlock() of
 * each page as the store allocates it: it needs no change to the store
 * (whose pages come from malloc and share OS pages with their neighbours,
 * so a per-page munlock at free would unlock a neighbour), it also covers
 * the page table and the copy-on-write blocks of a running save, and
 * MCL_ONFAULT makes it cost nothing up front: a thread's 8 MiB stack or a
 * malloc arena's reservation is locked page by page as it is touched,
 * never faulted in whole.  The price is accounting: the kernel counts
 * every mapping of a locked process in full against RLIMIT_MEMLOCK, so
 * an unprivileged server needs a limit well above the disk's size;
 * unlimited (LimitMEMLOCK=infinity) is what the systemd unit sets.
 */
#ifndef MEMDISK_PLUGIN_MEMLOCK_H
#define MEMDISK_PLUGIN_MEMLOCK_H

#include <stdint.h>

/* .get_ready: check that the server can lock a disk of DISK_SIZE bytes
 * of which ALLOCATED are in memory already (a loaded snapshot).  Fails,
 * after nbdkit_error() with both numbers and how to raise the limit, when
 * RLIMIT_MEMLOCK binds (no CAP_IPC_LOCK) and cannot hold what nbdkit has
 * mapped plus the rest of the disk.  0 or -1. */
int memlock_check (uint64_t disk_size, uint64_t allocated);

/* .after_fork: lock (memory locks do not survive nbdkit's fork into the
 * background).  0, or -1 after nbdkit_error(). */
int memlock_all (void);

#endif
