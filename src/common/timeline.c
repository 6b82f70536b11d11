/* The steps of a save on the wall clock (timeline.h). */
#include <stddef.h>

#include "common/timeline.h"

void
snap_timeline_mark (struct snap_timeline *timeline, enum snap_phase phase)
{
  if (timeline != NULL && phase < SNAP_PHASE_COUNT)
    clock_gettime (CLOCK_REALTIME, &timeline->at[phase]);
}

const char *
snap_phase_name (enum snap_phase phase)
{
  static const char *const names[SNAP_PHASE_COUNT] = {
    [SNAP_PHASE_BEGIN] = "begin",
    [SNAP_PHASE_INSTANT] = "instant",
    [SNAP_PHASE_WRITTEN] = "written",
    [SNAP_PHASE_FSYNCED] = "fsynced",
    [SNAP_PHASE_RENAMED] = "renamed",
    [SNAP_PHASE_RELEASED] = "released",
    [SNAP_PHASE_END] = "end",
  };
  return phase < SNAP_PHASE_COUNT ? names[phase] : "?";
}
