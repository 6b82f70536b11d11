/* The memory of one snapshot's copy-on-write records: fixed-size units
 * carved from slabs mapped from the kernel, reused through a free list,
 * and every slab unmapped at once when the snapshot ends.  The slab core
 * (slab.h) does the carving; this is its policy for records and kept
 * blocks, under one lock.
 *
 * Why not malloc: the client threads allocate the records and the
 * snapshot's thread frees them, so glibc parks the freed memory in the
 * client threads' arenas.  Giving it back took a malloc_trim (0) after
 * every save, which walks every arena under its lock while the clients
 * wait to allocate pages.  A pool that belongs to the snapshot needs no
 * arena (only its registry of slabs, one pointer per slab, is malloc'd),
 * and its end returns everything in a few munmap calls.
 *
 *   struct cow_pool
 *     lock                               a mutex
 *     policy                             units of the record's size (or
 *                                        4 KiB), slabs of 2 MiB or more,
 *                                        4 KiB pages only, freed units
 *                                        linked through their first bytes
 *     arena (slab.h) ──► slabs, bump range, free list
 *
 * Thread safety: lock guards the arena; it is held for a few pointer
 * moves (and an mmap every slab_bytes / unit allocations), never while
 * copying.  The mapped size is the most units ever live at once, rounded
 * up to slabs: freed units are reused before a new slab is mapped, so the
 * pool holds no more than malloc would. */
#ifndef MEMDISK_STORE_COWPOOL_H
#define MEMDISK_STORE_COWPOOL_H

#include <stddef.h>
#include <stdint.h>

struct cow_pool;

/* A pool of units of UNIT bytes (rounded up to 64); NULL with md_error
 * set when out of memory. */
struct cow_pool *cow_pool_new (size_t unit);
/* A unit (contents undefined), or NULL when the kernel has no memory. */
void *cow_pool_alloc (struct cow_pool *pool);
/* A zeroed unit, or NULL. */
void *cow_pool_calloc (struct cow_pool *pool);
/* Give back a unit of POOL (NULL is fine). */
void cow_pool_free (struct cow_pool *pool, void *unit);
/* Unmap every slab, live units and all (NULL is fine). */
void cow_pool_destroy (struct cow_pool *pool);

#endif
