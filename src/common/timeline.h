/* When each step of a save ended, on the wall clock (CLOCK_REALTIME), so
 * that a trace of client latencies (fio --log_unix_epoch) and the save's
 * steps share one time axis.  Optional everywhere: a NULL timeline marks
 * nothing. */
#ifndef MEMDISK_SNAPSHOT_TIMELINE_H
#define MEMDISK_SNAPSHOT_TIMELINE_H

#include <time.h>

enum snap_phase {
  SNAP_PHASE_BEGIN,             /* the save begins */
  SNAP_PHASE_INSTANT,           /* the instant is taken: the old epoch drained */
  SNAP_PHASE_WRITTEN,           /* every frame and the trailer written (the
                                   walk, compression and writes overlap) */
  SNAP_PHASE_FSYNCED,           /* the temporary fsync'd */
  SNAP_PHASE_RENAMED,           /* renamed into place, the folder fsync'd */
  SNAP_PHASE_RELEASED,          /* the snapshot ended: copy-on-write records freed */
  SNAP_PHASE_END,               /* the caller's own clean-up done */
  SNAP_PHASE_COUNT
};

struct snap_timeline {
  struct timespec at[SNAP_PHASE_COUNT];   /* zero: not reached */
};

/* Record now as the end of PHASE (nothing when TIMELINE is NULL). */
void snap_timeline_mark (struct snap_timeline *timeline, enum snap_phase phase);

/* "instant", "written", ...: the phase's name, for log lines. */
const char *snap_phase_name (enum snap_phase phase);

#endif
