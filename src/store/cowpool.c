/* Fixed-size units for copy-on-write records (cowpool.h has the reasons):
 * one slab arena (slab.h) under one lock, unmapped whole at the end. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/cowpool.h"
#include "store/slab.h"

struct cow_pool {
  pthread_mutex_t lock;         /* guards arena */
  struct slab_policy policy;
  struct slab_arena arena;
};

struct cow_pool *
cow_pool_new (size_t unit)
{
  struct cow_pool *pool = calloc (1, sizeof *pool);

  if (pool == NULL) {
    md_error_set ("out of memory for a copy-on-write pool");
    return NULL;
  }
  /* A free unit holds the free list's link. */
  unit = unit == 0 ? 64 : (unit + 63) & ~(size_t) 63;
  pool->policy = (struct slab_policy) {
    .unit = unit,
    /* At least a few units per slab. */
    .slab_bytes = unit * 8 > SLAB_BYTES ? unit * 8 : SLAB_BYTES,
    /* Not backed by huge pages (where transparent huge pages are
     * "always"): the client that touched a slab first would clear 2 MiB
     * at once, under a page lock; 4 KiB faults spread that cost. */
    .no_huge_pages = true,
  };
  pool->arena = (struct slab_arena) SLAB_ARENA_INIT;
  pthread_mutex_init (&pool->lock, NULL);
  return pool;
}

void *
cow_pool_alloc (struct cow_pool *pool)
{
  pthread_mutex_lock (&pool->lock);
  void *unit = slab_arena_alloc (&pool->arena, &pool->policy);
  pthread_mutex_unlock (&pool->lock);
  if (unit == NULL)
    errno = ENOMEM;
  return unit;
}

void *
cow_pool_calloc (struct cow_pool *pool)
{
  void *unit = cow_pool_alloc (pool);

  if (unit != NULL)
    memset (unit, 0, pool->policy.unit);
  return unit;
}

void
cow_pool_free (struct cow_pool *pool, void *unit)
{
  if (unit == NULL)
    return;
  pthread_mutex_lock (&pool->lock);
  (void) slab_arena_give (&pool->arena, &pool->policy, unit);   /* a list: cannot fail */
  pthread_mutex_unlock (&pool->lock);
}

void
cow_pool_destroy (struct cow_pool *pool)
{
  if (pool == NULL)
    return;
  slab_arena_release (&pool->arena, &pool->policy);
  pthread_mutex_destroy (&pool->lock);
  free (pool);
}
