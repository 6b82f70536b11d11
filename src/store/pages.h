/* Page memory for the store (pages.c): pages cut from slabs of anonymous
 * memory that is faulted in a slab at a time (by a thread of its own, the
 * refiller, once it is started), handed back to the kernel when a page is
 * freed.  Not for use outside src/store/.
 */
#ifndef MEMDISK_STORE_PAGES_H
#define MEMDISK_STORE_PAGES_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/slab.h"

/* Bytes mapped at a time (or one page, for pages larger than that).
 * Each shard's slab being cut is resident whole, and so is the spare slab
 * the refiller faulted in for it: RSS may exceed the allocated pages by up
 * to 2 * PAGE_POOL_SHARDS slabs. */
#define PAGE_SLAB_SIZE SLAB_BYTES
#define PAGE_POOL_SHARDS 4

struct page_shard {
  pthread_mutex_t lock;   /* guards the fields below; held for a bump or a pop */
  struct slab_arena arena;   /* its slabs, the newest one's rest, its freed pages */
  uint8_t *spare;         /* the next slab, faulted in by the refiller, or NULL */
} __attribute__ ((aligned (64)));

struct page_pool {
  struct slab_policy policy;   /* page-sized units, populated, freed apart */
  struct page_shard shard[PAGE_POOL_SHARDS];

  /* The refiller (page_pool_start_refiller). */
  pthread_mutex_t refill_lock;   /* guards the three fields below */
  pthread_cond_t refill_wanted;  /* signalled when refill_shards gains a bit */
  unsigned refill_shards;        /* bit i: shard i has taken its spare */
  enum { REFILLER_OFF, REFILLER_RUNNING, REFILLER_STOPPING } refiller_state;
  pthread_t refiller;
  _Atomic uint64_t slabs_ahead;  /* slabs handed out from a spare (tests read it) */

  /* allocator=malloc (page_pool_keep_resident): freed pages stay
   * resident, zeroed, and a shard with none takes another shard's before
   * it maps a slab.  Set before the pool is shared, read-only after. */
  bool keep_resident;
};

void page_pool_init (struct page_pool *pool, uint32_t page_size);
/* Stop the refiller (if started), unmap every slab: every page of the
 * pool is gone. */
void page_pool_destroy (struct page_pool *pool);
/* Start the refiller: a thread that faults in each shard's next slab
 * before the shard needs it, so a first write into a fresh disk finds its
 * memory ready instead of paying the faults itself.  Call it after any
 * fork (a thread does not survive one) and at most once.  0, or -1 with
 * errno set (the pool works as before, without it). */
int page_pool_start_refiller (struct page_pool *pool);
/* A page of page_size bytes, all zeros; NULL when out of memory (no
 * md_error set: the caller says what it was for). */
void *page_alloc (struct page_pool *pool);
/* Give PAGE (from page_alloc; NULL is fine) back: its memory goes back to
 * the kernel now (zeroed and kept resident instead once the pool keeps
 * its memory), its address is kept for a later page_alloc. */
void page_free (struct page_pool *pool, void *page);
/* From now on freed pages keep their memory (allocator=malloc: the disk's
 * memory is taken once, at start) and page_alloc looks in every shard's
 * freed pages before it maps a slab, so that pages put aside at start by
 * one thread serve any thread.  Before the pool is shared. */
void page_pool_keep_resident (struct page_pool *pool);

#endif
