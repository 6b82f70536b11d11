/* Fixed-size units for copy-on-write records (cowpool.h has the picture
 * and the reasons). */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/error.h"
#include "store/cowpool.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define POOL_POISON(p, n) ASAN_POISON_MEMORY_REGION ((p), (n))
#define POOL_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION ((p), (n))
#else
#define POOL_POISON(p, n) ((void) (p), (void) (n))
#define POOL_UNPOISON(p, n) ((void) (p), (void) (n))
#endif

/* 2 MiB slabs: a few hundred mmap calls for a save that keeps a GiB.
 * Not backed by huge pages (MADV_NOHUGEPAGE, where transparent huge pages
 * are "always"): the client that touched a slab first would clear 2 MiB
 * at once, under a page lock; 4 KiB faults spread that cost. */
#define SLAB_BYTES ((size_t) 2 << 20)

struct slab_header {
  struct slab_header *next;
};

struct free_unit {
  struct free_unit *next;
};

struct cow_pool {
  pthread_mutex_t lock;
  size_t unit;
  size_t slab_bytes;
  struct slab_header *slabs;
  struct free_unit *free;
  unsigned char *bump;
  unsigned char *bump_end;
  uint64_t mapped;
};

struct cow_pool *
cow_pool_new (size_t unit)
{
  struct cow_pool *pool = calloc (1, sizeof *pool);

  if (pool == NULL) {
    md_error_set ("out of memory for a copy-on-write pool");
    return NULL;
  }
  unit = (unit + 63) & ~(size_t) 63;
  if (unit < sizeof (struct slab_header))
    unit = sizeof (struct slab_header);
  pool->unit = unit;
  /* At least a header and a few units per slab. */
  pool->slab_bytes = unit * 8 > SLAB_BYTES ? unit * 8 : SLAB_BYTES;
  pthread_mutex_init (&pool->lock, NULL);
  return pool;
}

/* Map a slab and make its units (after the header) the bump range.
 * Caller holds the lock. */
static int
pool_grow (struct cow_pool *pool)
{
  void *p = mmap (NULL, pool->slab_bytes, PROT_READ | PROT_WRITE,
                  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

  if (p == MAP_FAILED)
    return -1;
  (void) madvise (p, pool->slab_bytes, MADV_NOHUGEPAGE);   /* a hint only */
  struct slab_header *slab = p;
  slab->next = pool->slabs;
  pool->slabs = slab;
  pool->bump = (unsigned char *) p + pool->unit;
  pool->bump_end = (unsigned char *) p + pool->slab_bytes
                   - (pool->slab_bytes - pool->unit) % pool->unit;
  POOL_POISON (pool->bump, (size_t) (pool->bump_end - pool->bump));
  pool->mapped += pool->slab_bytes;
  return 0;
}

void *
cow_pool_alloc (struct cow_pool *pool)
{
  void *unit = NULL;

  pthread_mutex_lock (&pool->lock);
  if (pool->free != NULL) {
    struct free_unit *f = pool->free;
    POOL_UNPOISON (f, sizeof *f);
    pool->free = f->next;
    unit = f;
  }
  else if (pool->bump < pool->bump_end || pool_grow (pool) == 0) {
    unit = pool->bump;
    pool->bump += pool->unit;
  }
  pthread_mutex_unlock (&pool->lock);
  if (unit == NULL)
    errno = ENOMEM;
  else
    POOL_UNPOISON (unit, pool->unit);
  return unit;
}

void *
cow_pool_calloc (struct cow_pool *pool)
{
  void *unit = cow_pool_alloc (pool);

  if (unit != NULL)
    memset (unit, 0, pool->unit);
  return unit;
}

void
cow_pool_free (struct cow_pool *pool, void *unit)
{
  if (unit == NULL)
    return;
  struct free_unit *f = unit;
  pthread_mutex_lock (&pool->lock);
  f->next = pool->free;
  pool->free = f;
  POOL_POISON ((unsigned char *) unit + sizeof *f, pool->unit - sizeof *f);
  pthread_mutex_unlock (&pool->lock);
}

uint64_t
cow_pool_mapped_bytes (struct cow_pool *pool)
{
  pthread_mutex_lock (&pool->lock);
  uint64_t mapped = pool->mapped;
  pthread_mutex_unlock (&pool->lock);
  return mapped;
}

void
cow_pool_destroy (struct cow_pool *pool)
{
  if (pool == NULL)
    return;
  struct slab_header *slab = pool->slabs;
  while (slab != NULL) {
    POOL_UNPOISON (slab, pool->slab_bytes);
    struct slab_header *next = slab->next;
    munmap (slab, pool->slab_bytes);
    slab = next;
  }
  pthread_mutex_destroy (&pool->lock);
  free (pool);
}
