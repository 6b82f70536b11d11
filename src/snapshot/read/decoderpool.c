/* A pool of frame decoders (decoderpool.h). */
#include <pthread.h>
#include <stdlib.h>

#include "snapshot/read/decoder.h"
#include "snapshot/read/decoderpool.h"

void
snap_decoder_pool_init (struct snap_decoder_pool *pool)
{
  *pool = (struct snap_decoder_pool) { .zstd_checksums = true, .records = true };
  pthread_mutex_init (&pool->lock, NULL);
}

void
snap_decoder_pool_destroy (struct snap_decoder_pool *pool)
{
  for (size_t i = 0; i < pool->count; i++)
    snap_frame_decoder_free (pool->idle[i]);
  free (pool->idle);
  pthread_mutex_destroy (&pool->lock);
}

struct snap_frame_decoder *
snap_decoder_pool_borrow (struct snap_decoder_pool *pool)
{
  struct snap_frame_decoder *d = NULL;

  pthread_mutex_lock (&pool->lock);
  if (pool->count > 0)
    d = pool->idle[--pool->count];
  pthread_mutex_unlock (&pool->lock);
  if (d != NULL)
    return d;
  d = snap_frame_decoder_new (pool->zstd_checksums);
  if (d != NULL && !pool->records)
    snap_frame_decoder_skip_records (d);
  return d;
}

void
snap_decoder_pool_return (struct snap_decoder_pool *pool, struct snap_frame_decoder *d)
{
  pthread_mutex_lock (&pool->lock);
  if (pool->count == pool->cap) {
    size_t cap = pool->cap ? 2 * pool->cap : 4;
    void *grown = realloc (pool->idle, cap * sizeof (struct snap_frame_decoder *));
    if (grown == NULL) {
      pthread_mutex_unlock (&pool->lock);
      snap_frame_decoder_free (d);
      return;
    }
    pool->idle = grown;
    pool->cap = cap;
  }
  pool->idle[pool->count++] = d;
  pthread_mutex_unlock (&pool->lock);
}
