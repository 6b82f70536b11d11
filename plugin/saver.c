/* The saver (saver.h): the thread, the save it makes, and what it
 * knows of FILE between saves (the previous file, the touch order, the
 * instant FILE holds).
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "common/error.h"
#include "common/monoclock.h"
#include "common/utctime.h"
#include "lazyload.h"
#include "saver.h"
#include "snapshot/read/reader.h"
#include "snapshot/storereset.h"
#include "files/replace.h"
#include "status.h"
#include "wake.h"

static pthread_t saver_thread;
static bool saver_running;
static atomic_bool saver_stopping;
/* Set when the save at exit failed: .unload makes nbdkit's exit status
 * say so (persist_exit_status). */
static bool final_save_failed;

/* What the file on disk holds, for the message of a failed exit save:
 * the disk as of this instant (UTC) and how it got there.  Main thread
 * and saver, never at once. */
static time_t file_time;
static const char *file_origin = "start";   /* "save", "load" or "start" */

/* The file the server wrote or loaded last, kept open: the next save
 * copies the frames of the regions unchanged since from its descriptor
 * (docs/design.md, "The save").  Handed over by the load
 * (saver_adopt_file, before the saver starts), then the saver's, then the
 * exit save's (after the saver is joined): never two at once. */
static struct snapstore_previous previous;

/* An eagerly loaded file's touch order, kept for the saves (which store
 * it again: an eager load has no faults to record).  Set by
 * saver_adopt_file before the saver starts, read-only after. */
static uint64_t eager_touch_order[SNAP_MAX_TOUCH_ORDER];
static size_t eager_touch_order_count;

/* The touch order the next save stores (docs/design.md, "Touch order"):
 * after a lazy load, the regions this run's clients faulted in first,
 * then the loaded file's order; after an eager load, the loaded file's;
 * for a new disk, none.  Into OUT (room for SNAP_MAX_TOUCH_ORDER). */
static size_t
touch_order_to_save (uint64_t *out)
{
  if (lazyload_file () != NULL)
    return snap_lazy_touch_order (lazyload_file (), out);
  memcpy (out, eager_touch_order, eager_touch_order_count * sizeof *out);
  return eager_touch_order_count;
}

static void
keep_eager_touch_order (const struct snap_reader *reader)
{
  const struct snap_metadata *meta = snap_reader_metadata (reader);

  /* In the saves' regions only (a file of another region size counts in
   * other units). */
  if (meta->region_size != snap_store_region_size (meta, memdisk_config.snapshot_region_size))
    return;
  memcpy (eager_touch_order, meta->touch_order,
          meta->touch_order_count * sizeof *eager_touch_order);
  eager_touch_order_count = meta->touch_order_count;
}

/* The steps of a save on the wall clock, in one debug line (seconds since
 * the epoch, as fio --log_unix_epoch stamps its logs), for tracing what
 * clients feel during a save: tests/bench/save-stall.sh. */
static void
log_timeline (const struct snap_timeline *timeline)
{
  char line[512];
  size_t used = 0;

  for (int p = 0; p < SNAP_PHASE_COUNT && used < sizeof line; p++) {
    const struct timespec *t = &timeline->at[p];
    if (t->tv_sec == 0 && t->tv_nsec == 0)
      continue;
    int n = snprintf (line + used, sizeof line - used, " %s=%lld.%06ld",
                      snap_phase_name ((enum snap_phase) p), (long long) t->tv_sec,
                      t->tv_nsec / 1000);
    if (n < 0)
      break;
    used += (size_t) n;
  }
  nbdkit_debug ("save timeline:%s", line);
}

/* Save the disk now, logging one line; WHY names the trigger.  A failure
 * is logged with the step that failed and what state it left FILE in
 * (from the code that did the step); the next trigger retries.  Returns
 * 0 or -1. */
static int
save_disk (struct store *disk, const char *why)
{
  struct snap_write_result result = { .replaced = SNAP_REPLACE_UNTOUCHED };
  struct snap_write_options options = {
    .level = memdisk_config.snapshot_level,
    .threads = memdisk_config.snapshot_threads,
    .creator = "nbdkit-memdisk-plugin " MEMDISK_VERSION,
    .compress_at_nice_19 = true,
  };
  uint64_t touch_order[SNAP_MAX_TOUCH_ORDER];
  struct save_outcome outcome = { .trigger = why };
  double start;
  int r;

  options.touch_order_count = touch_order_to_save (touch_order);
  options.touch_order = touch_order;
  _Atomic uint64_t *pages_done = status_save_begins (disk, why);
  outcome.when = time (NULL);
  start = md_monotonic_seconds ();
  struct snapstore_save_counts counts = { 0 };
  r = snapstore_save (disk, memdisk_config.snapshot, &options, pages_done, &previous,
                      &counts, &result);
  /* No malloc_trim (0) here: the copy-on-write records lived in the
   * snapshot's own pool, unmapped when it ended (src/store/cowpool.h),
   * and a trim walks every arena under its lock while clients wait to
   * allocate. */
  snap_timeline_mark (&result.timeline, SNAP_PHASE_END);
  outcome.seconds = md_monotonic_seconds () - start;
  log_timeline (&result.timeline);
  if (r == -1) {
    snprintf (outcome.error, sizeof outcome.error, "saving %s (%s) failed, %s: %s",
              memdisk_config.snapshot, why, snap_replace_state_text (result.replaced),
              md_error ());
    nbdkit_error ("%s", outcome.error);
    status_save_ends (&outcome);
    return -1;
  }
  const struct snap_write_stats stats = result.stats;
  outcome.ok = true;
  outcome.allocated_bytes = stats.allocated_bytes;
  outcome.file_bytes = stats.file_bytes;
  outcome.digest = stats.content_digest;
  outcome.regions_cloned = counts.regions_cloned;
  outcome.regions_copied = counts.regions_copied;
  outcome.regions_compressed = counts.regions_compressed;
  file_time = outcome.when;
  file_origin = "save";
  nbdkit_debug ("saved %s (%s) in %.3f s: %" PRIu64 " bytes allocated, "
                "%" PRIu64 " bytes in the file, ratio %.2f, %" PRIu64 " regions "
                "cloned, %" PRIu64 " copied, %" PRIu64 " compressed%s%s%s%s%s%s",
                memdisk_config.snapshot, why, outcome.seconds,
                stats.allocated_bytes, stats.file_bytes,
                stats.file_bytes ? (double) stats.allocated_bytes / (double) stats.file_bytes
                                 : 0.0,
                counts.regions_cloned, counts.regions_copied, counts.regions_compressed,
                counts.clone_refused_errno ? " (the file system cannot clone: " : "",
                counts.clone_refused_errno ? strerror (counts.clone_refused_errno) : "",
                counts.clone_refused_errno ? ")" : "",
                counts.full_why ? " (a full save: " : "",
                counts.full_why ? counts.full_why : "", counts.full_why ? ")" : "");
  status_save_ends (&outcome);
  return 0;
}

/* The disk's base for resets (snapshot/storereset.h): made with the disk
 * (saver_adopt_file, before any client), used by the saver only, freed
 * after the store (saver_unload).  NULL on a read-only server. */
static struct snapstore_base *base;

/* Reset the disk to the file it last loaded or saved (zeros for a disk
 * that has neither), logging one line; the outcome goes to the status
 * record for the `memdisk-tool reset` waiting for it. */
static void
reset_disk (struct store *disk)
{
  struct reset_outcome outcome = { .when = time (NULL) };
  const bool has_file = strcmp (file_origin, "start") != 0;
  const double start = md_monotonic_seconds ();

  status_reset_begins ();
  int r = snapstore_reset (base, &previous, has_file, &outcome.regions);
  outcome.seconds = md_monotonic_seconds () - start;
  /* FILE does not exist yet: the exit save still makes it. */
  if (!has_file)
    store_mark_changed (disk);
  if (r == -1) {
    snprintf (outcome.error, sizeof outcome.error, "resetting the disk of %s failed: %s",
              memdisk_config.snapshot, md_error ());
    nbdkit_error ("%s", outcome.error);
  }
  else {
    outcome.ok = true;
    nbdkit_debug ("reset the disk to %s in %.3f ms: %" PRIu64 " regions put back",
                  has_file ? "its base file" : "zeros (it has no file yet)",
                  outcome.seconds * 1000, outcome.regions);
  }
  status_reset_ends (&outcome);
}

/* The saving thread: a save per SIGUSR1 or save request (coalesced), and
 * one every snapshot-interval seconds when the disk changed. */
static void *
saver_main (void *arg)
{
  struct store *disk = arg;
  const int64_t interval_ms = (int64_t) memdisk_config.snapshot_interval * 1000;
  int64_t next_interval = md_monotonic_ms () + interval_ms;

  while (!atomic_load (&saver_stopping)) {
    struct pollfd pfd = { .fd = wake_fd (), .events = POLLIN };
    int timeout_ms = -1;
    struct wake_asked asked;

    if (interval_ms > 0) {
      int64_t ms = next_interval - md_monotonic_ms ();
      timeout_ms = ms < 0 ? 0 : ms > 3600000 ? 3600000 : (int) ms;
    }
    int r = poll (&pfd, 1, timeout_ms);
    if (atomic_load (&saver_stopping))
      break;
    if (r > 0 && wake_take (&asked)) {
      /* Resets run here too, so that one never runs during a save. */
      if (asked.reset)
        reset_disk (disk);
      if (asked.save && memdisk_config.snapshot_readonly)
        nbdkit_debug ("SIGUSR1: snapshot-readonly is set, %s is not written",
                      memdisk_config.snapshot);
      else if (asked.save)
        save_disk (disk, asked.requested ? "request" : "SIGUSR1");
    }
    else if (r == 0 && interval_ms > 0) {
      if (store_changed (disk) && !memdisk_config.snapshot_readonly)
        save_disk (disk, "interval");
      next_interval = md_monotonic_ms () + interval_ms;
    }
  }
  return NULL;
}

int
saver_adopt_file (struct store *disk, struct snapstore_previous *loaded, const char *origin)
{
  if (!memdisk_config.snapshot_readonly) {
    base = snapstore_base_new (disk, lazyload_file (), memdisk_config.snapshot);
    if (base == NULL) {
      nbdkit_error ("snapshot: %s", md_error ());
      return -1;
    }
  }
  previous = *loaded;
  *loaded = (struct snapstore_previous) { 0 };
  if (memdisk_config.snapshot_load_eager && previous.reader != NULL)
    keep_eager_touch_order (previous.reader);
  file_time = time (NULL);
  file_origin = origin;
  return 0;
}

void
saver_unload (void)
{
  snapstore_base_free (base);
  base = NULL;
}

int
saver_start (struct store *disk)
{
  int err = pthread_create (&saver_thread, NULL, saver_main, disk);

  if (err != 0) {
    errno = err;
    nbdkit_error ("cannot start the snapshot thread: %m");
    return -1;
  }
  saver_running = true;
  return 0;
}

/* The exit save; a failure says what FILE holds instead. */
static void
save_at_exit (struct store *disk)
{
  char since[MD_UTC_TEXT_SIZE];

  if (!store_changed (disk)) {
    nbdkit_debug ("exit: %s is up to date, not saved", memdisk_config.snapshot);
    return;
  }
  if (save_disk (disk, "exit") == 0)
    return;
  md_format_utc (file_time, since);
  nbdkit_error ("exit: the changes since the %s at %s are not saved in %s: %s",
                file_origin, since, memdisk_config.snapshot, md_error ());
  final_save_failed = true;
}

void
saver_stop (struct store *disk)
{
  if (saver_running) {
    atomic_store (&saver_stopping, true);
    wake_saver ();
    pthread_join (saver_thread, NULL);
    saver_running = false;
  }
  if (disk != NULL && memdisk_config.snapshot && !memdisk_config.snapshot_readonly)
    save_at_exit (disk);
  snapstore_previous_close (&previous);
}

bool
saver_exit_save_failed (void)
{
  return final_save_failed;
}
