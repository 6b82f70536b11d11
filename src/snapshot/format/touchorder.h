/* The touch order: the regions a run's clients touched first, in the
 * order they touched them, stored in the next snapshot (the optional
 * metadata key "touch-order", docs/snapshot-format.md section 6) so that
 * the next lazy load prefetches them before the rest (snapshot/read/lazy.h).
 *
 * Region numbers, not frame numbers: a frame's number changes from one
 * file to the next as regions gain or lose data, a region's does not.
 *
 *   client fault of frame k ──► snap_touch_record (once per frame)
 *   save ──► snap_touch_recorded + the loaded file's order ──► merge ──► key
 *   next lazy load ──► the key's regions' frames, first ──► background loader
 */
#ifndef MEMDISK_SNAPTOUCH_H
#define MEMDISK_SNAPTOUCH_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/format/format.h"

/* Whether the N regions of REGIONS are a touch order a disk of
 * REGION_COUNT regions may hold (section 6): at most
 * SNAP_MAX_TOUCH_ORDER, each below REGION_COUNT, none twice.  When not,
 * -1 with *BAD the entry at fault and *WHY the rule it breaks. */
int snap_touch_order_check (const uint64_t *regions, size_t n, uint64_t region_count,
                            size_t *bad, const char **why);

/* The regions of a disk of VIRTUAL_SIZE bytes, REGION_SIZE each. */
uint64_t snap_touch_region_count (uint64_t virtual_size, uint32_t region_size);

/* The first SNAP_MAX_TOUCH_ORDER regions recorded, lock-free: any thread
 * may record while another reads.  A slot holds region + 1, 0 while its
 * writer has taken it but not yet stored it.  Zero-initialise it. */
struct snap_touch_recorder {
  _Atomic uint64_t slot[SNAP_MAX_TOUCH_ORDER];
  _Atomic size_t taken;
};

/* Append REGION (the caller records each region once); dropped once
 * the recorder is full. */
void snap_touch_record (struct snap_touch_recorder *recorder, uint64_t region);
/* Copy what is recorded so far, in order, into OUT (room for
 * SNAP_MAX_TOUCH_ORDER); returns how many. */
size_t snap_touch_recorded (const struct snap_touch_recorder *recorder, uint64_t *out);

/* The order to store: FIRST (this run's, N_FIRST, distinct), then the
 * entries of EARLIER (the loaded file's, N_EARLIER, distinct) that FIRST
 * lacks, in their order, SNAP_MAX_TOUCH_ORDER at most; into OUT (room
 * for SNAP_MAX_TOUCH_ORDER).  Returns how many. */
size_t snap_touch_order_merge (const uint64_t *first, size_t n_first,
                               const uint64_t *earlier, size_t n_earlier, uint64_t *out);

#endif
