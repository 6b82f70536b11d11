/* A pool of frame decoders (decoder.h) for threads that decode a frame now
 * and then (lazy.c): a thread borrows one, decodes, and returns it; the
 * pool keeps the idle ones, so that a decoder's buffers and zstd context
 * are made once per concurrent decode rather than once per frame.  The
 * mutex is taken only to borrow and to return. */
#ifndef MEMDISK_SNAPDECODERPOOL_H
#define MEMDISK_SNAPDECODERPOOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct snap_decoder_pool {
  /* How the pool makes a decoder (snap_frame_decoder_new,
   * snap_frame_decoder_skip_records): set before the first borrow. */
  bool zstd_checksums;
  bool records;

  pthread_mutex_t lock;         /* guards the rest */
  struct snap_frame_decoder **idle;
  size_t count, cap;
};

void snap_decoder_pool_init (struct snap_decoder_pool *pool);
/* Frees the idle decoders; every borrowed one must have come back. */
void snap_decoder_pool_destroy (struct snap_decoder_pool *pool);

/* An idle decoder, or a new one; NULL with md_error set (out of memory). */
struct snap_frame_decoder *snap_decoder_pool_borrow (struct snap_decoder_pool *pool);
/* DECODER is idle again (freed when the pool cannot grow). */
void snap_decoder_pool_return (struct snap_decoder_pool *pool,
                               struct snap_frame_decoder *decoder);

#endif
