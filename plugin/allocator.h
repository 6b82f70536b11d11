/* allocator=malloc at start: the disk's every page in memory before the
 * first client, as nbdkit's memory plugin has it (store_preallocate),
 * once the memory is known to be there.
 */
#ifndef MEMDISK_PLUGIN_ALLOCATOR_H
#define MEMDISK_PLUGIN_ALLOCATOR_H

#include "store/store.h"

/* .get_ready (load.c), after the disk is made or loaded, before nbdkit
 * forks: with allocator=malloc, refuse a disk whose pages do not fit the
 * memory this server can have (MemAvailable, RLIMIT_AS, RLIMIT_DATA),
 * naming both numbers, else allocate and fault in every page of DISK.  Nothing
 * without allocator=malloc.  0, or -1 after nbdkit_error. */
int allocator_prepare (struct store *disk);

#endif
