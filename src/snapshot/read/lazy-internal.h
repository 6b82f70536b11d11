/* What lazy.c and lazyreset.c share: the snap_lazy structure and the
 * frame states (lazy.c's opening comment says what guards what).  Not for
 * use outside src/snapshot/read/.
 */
#ifndef MEMDISK_SNAPLAZY_INTERNAL_H
#define MEMDISK_SNAPLAZY_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/format/touchorder.h"
#include "snapshot/read/decoderpool.h"
#include "snapshot/read/reader.h"
#include "store/store.h"

enum { ABSENT, LOADING, RESIDENT, DAMAGED };

struct snap_lazy {
  char *path;
  struct snap_reader *reader;
  struct store *store;
  const struct snap_metadata *meta;     /* the reader's */
  const struct snap_index *index;       /* the reader's */
  uint32_t page_size;

  _Atomic uint32_t *state;              /* per frame */
  char **message;                       /* per frame, when DAMAGED */
  _Atomic size_t resident, damaged, decodes;
  _Atomic uint64_t bytes_loaded;
  uint64_t bytes_total;
  /* The frame after the one a client faulted in last
   * (SNAP_LAZY_NO_FRONT before the first): where the background loader
   * looks first. */
  _Atomic size_t client_front;
  /* Client faults so far, and how many threads wait for the next one
   * (snap_lazy_wait_for_fault): the wake is a syscall only when someone
   * waits.  Both sequentially consistent: a fault's increment and its
   * look at the waiters, and a waiter's increment and its look at the
   * count, are never both missed. */
  _Atomic uint32_t faults;
  _Atomic uint32_t fault_waiters;

  /* The touch order: recorded only when the file's regions are the
   * store's (format 2, the size the next saves write), so that the next
   * save's key counts in the same regions. */
  bool records_touches;
  _Atomic bool *touched;                /* per frame: a client faulted it */
  struct snap_touch_recorder *recorder;
  /* The file's touch order as frames, for the background loader. */
  size_t *prefetch;
  size_t prefetch_count;
  _Atomic size_t prefetch_next;

  struct snap_decoder_pool pool;

  /* Set once, when the disk's base moved on to another file
   * (snap_lazy_retire): no frame is decoded from this one any more. */
  _Atomic bool retired;
};

/* A snap_lazy over READER (taken over, closed on failure; NULL is a
 * failure whose md_error is set), PATH for messages, with no store yet:
 * every frame absent.  NULL with md_error set. */
struct snap_lazy *snap_lazy_new (const char *path, struct snap_reader *reader,
                                 uint32_t region_size);
/* Frame K's load, as lazy.c does it for a fault or a loader (WAIT: for
 * a frame another thread loads). */
int snap_lazy_load (struct snap_lazy *lazy, size_t k, bool wait);



#endif
