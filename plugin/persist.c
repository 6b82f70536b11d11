/* Load at start; save on SIGUSR1, on a save request, on a timer and at
 * exit; the record of saves that `memdisk-tool status` shows (see
 * persist.h; threads and locks in docs/design.md). */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "common/error.h"
#include "common/memavail.h"
#include "control.h"
#include "control/lock.h"
#include "lazyload.h"
#include "persist.h"
#include "runas.h"
#include "snapshot/storefile.h"
#include "snapshot/reader.h"
#include "snapshot/replace.h"
#include "snapshot/trust.h"

/* SIGUSR1 and save requests write a byte here; the saving thread polls
 * the other end.  A pipe because write(2) is async-signal-safe, and
 * because bytes that pile up during a save are drained at once: signals
 * coalesce into one save. */
static int wake_pipe[2] = { -1, -1 };
static bool sigusr1_installed;
static pthread_t saver_thread;
static bool saver_running;
static atomic_bool saver_stopping;
static atomic_bool save_requested;      /* a memdisk-tool save is waiting */
static struct writer_lock lock = { .fd = -1 };
/* Set when the save at exit failed: .unload makes nbdkit's exit status
 * say so (persist_exit_status). */
static bool final_save_failed;

/* The record of saves, for `memdisk-tool save` and `status`.  Written by
 * whichever thread saves (the saver, or nbdkit's main thread at exit:
 * never both at once), read by the control thread; all under
 * record_lock, except pages_done (atomic, written by the saver's
 * producer). */
static pthread_mutex_t record_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  enum persist_state state;
  uint64_t started;             /* saves begun */
  uint64_t finished;            /* saves ended, well or not */
  uint64_t failed;              /* of which failed */
  bool closed;                  /* no save will start any more */
  const char *trigger;          /* of the running save */
  time_t since;                 /* when the running save began (UTC) */
  struct timespec since_mono;
  uint64_t pages_total;         /* allocated pages when it began */
  struct persist_outcome last;  /* valid when finished > 0 */
} record = { .state = PERSIST_LOADING };
static _Atomic uint64_t pages_done;

/* What the file on disk holds, for the message of a failed exit save:
 * the disk as of this instant (UTC) and how it got there.  Main thread
 * and saver, never at once. */
static time_t file_time;
static const char *file_origin = "start";   /* "save", "load" or "start" */

/* The file the server wrote or loaded last, kept open: the next save
 * copies the frames of the regions unchanged since from its descriptor
 * (docs/design.md, "The save").  The loader (before the saver starts),
 * then the saver, then the exit save (after the saver is joined): never
 * two at once. */
static struct snapstore_previous previous;

/* An eagerly loaded file's touch order, kept for the saves (which store
 * it again: an eager load has no faults to record).  Set by the loader
 * before the saver starts, read-only after. */
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

  /* In this writer's regions only (a file of another region size counts
   * in other units). */
  if (meta->region_size != SNAP_REGION_SIZE)
    return;
  memcpy (eager_touch_order, meta->touch_order,
          meta->touch_order_count * sizeof *eager_touch_order);
  eager_touch_order_count = meta->touch_order_count;
}

static double
seconds_since (const struct timespec *start)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  return (double) (now.tv_sec - start->tv_sec) + (now.tv_nsec - start->tv_nsec) / 1e9;
}

void
persist_format_utc (time_t t, char buf[32])
{
  struct tm tm;

  if (gmtime_r (&t, &tm) == NULL || strftime (buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf (buf, 32, "%lld", (long long) t);
}

static void
record_state (enum persist_state state)
{
  pthread_mutex_lock (&record_lock);
  record.state = state;
  pthread_mutex_unlock (&record_lock);
}

static void
record_save_begins (struct store *disk, const char *why)
{
  pthread_mutex_lock (&record_lock);
  record.started++;
  record.state = PERSIST_SAVING;
  record.trigger = why;
  record.since = time (NULL);
  clock_gettime (CLOCK_MONOTONIC, &record.since_mono);
  record.pages_total = store_allocated_bytes (disk) / store_page_size (disk);
  atomic_store (&pages_done, 0);
  pthread_mutex_unlock (&record_lock);
}

static void
record_save_ends (const struct persist_outcome *outcome)
{
  pthread_mutex_lock (&record_lock);
  record.finished++;
  if (!outcome->ok)
    record.failed++;
  record.last = *outcome;
  if (record.state == PERSIST_SAVING)
    record.state = PERSIST_SERVING;
  pthread_mutex_unlock (&record_lock);
  control_notify ();
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
  struct snap_write_stats stats = { 0 };
  struct snap_timeline timeline = { 0 };
  enum snap_replace_state replaced = SNAP_REPLACE_UNTOUCHED;
  struct snap_write_options options = {
    .level = memdisk_config.snapshot_level,
    .threads = memdisk_config.snapshot_threads,
    .creator = "nbdkit-memdisk-plugin " MEMDISK_VERSION,
    .compress_at_nice_19 = true,
    .stats = &stats,
    .replaced = &replaced,
    .timeline = &timeline,
  };
  uint64_t touch_order[SNAP_MAX_TOUCH_ORDER];
  struct persist_outcome outcome = { .trigger = why };
  struct timespec start;
  int r;

  options.touch_order_count = touch_order_to_save (touch_order);
  options.touch_order = touch_order;
  record_save_begins (disk, why);
  outcome.when = time (NULL);
  clock_gettime (CLOCK_MONOTONIC, &start);
  struct snapstore_save_counts counts = { 0 };
  r = snapstore_save_incremental (disk, memdisk_config.snapshot, &options, &pages_done,
                                  &previous, &counts);
  /* No malloc_trim (0) here: the copy-on-write records lived in the
   * snapshot's own pool, unmapped when it ended (src/store/cowpool.h),
   * and a trim walks every arena under its lock while clients wait to
   * allocate. */
  snap_timeline_mark (&timeline, SNAP_PHASE_END);
  outcome.seconds = seconds_since (&start);
  log_timeline (&timeline);
  if (r == -1) {
    snprintf (outcome.error, sizeof outcome.error, "saving %s (%s) failed, %s: %s",
              memdisk_config.snapshot, why, snap_replace_state_text (replaced),
              md_error ());
    nbdkit_error ("%s", outcome.error);
    record_save_ends (&outcome);
    return -1;
  }
  outcome.ok = true;
  outcome.allocated_bytes = stats.allocated_bytes;
  outcome.file_bytes = stats.file_bytes;
  outcome.digest = stats.content_digest;
  outcome.regions_copied = counts.regions_copied;
  outcome.regions_compressed = counts.regions_compressed;
  file_time = outcome.when;
  file_origin = "save";
  nbdkit_debug ("saved %s (%s) in %.3f s: %" PRIu64 " bytes allocated, "
                "%" PRIu64 " bytes in the file, ratio %.2f, %" PRIu64 " regions "
                "copied, %" PRIu64 " compressed%s%s%s",
                memdisk_config.snapshot, why, outcome.seconds,
                stats.allocated_bytes, stats.file_bytes,
                stats.file_bytes ? (double) stats.allocated_bytes / stats.file_bytes : 0.0,
                counts.regions_copied, counts.regions_compressed,
                counts.full_why ? " (a full save: " : "",
                counts.full_why ? counts.full_why : "", counts.full_why ? ")" : "");
  record_save_ends (&outcome);
  return 0;
}

static void
sigusr1_handler (int sig)
{
  int saved_errno = errno;
  char byte = 1;

  (void) sig;
  /* A full pipe means a save is already pending: the signal coalesces. */
  if (write (wake_pipe[1], &byte, 1) == -1) { /* nothing to do */ }
  errno = saved_errno;
}

/* Before the load: a SIGUSR1 sent while FILE loads is remembered in the
 * pipe and served once the saver runs. */
static int
install_sigusr1_handler (void)
{
  struct sigaction sa = { .sa_handler = sigusr1_handler, .sa_flags = SA_RESTART };

  if (pipe2 (wake_pipe, O_CLOEXEC | O_NONBLOCK) == -1) {
    nbdkit_error ("pipe2: %m");
    return -1;
  }
  sigemptyset (&sa.sa_mask);
  if (sigaction (SIGUSR1, &sa, NULL) == -1) {
    nbdkit_error ("sigaction SIGUSR1: %m");
    return -1;
  }
  sigusr1_installed = true;
  return 0;
}

/* Empty the wake pipe; true if anything was in it. */
static bool
drain_wake_pipe (void)
{
  char buf[64];
  bool woken = false;

  while (read (wake_pipe[0], buf, sizeof buf) > 0)
    woken = true;
  return woken;
}

uint64_t
persist_request_save (void)
{
  char byte = 1;
  uint64_t seq;

  pthread_mutex_lock (&record_lock);
  /* The save that answers must begin after this request: the next one. */
  seq = record.started + 1;
  pthread_mutex_unlock (&record_lock);
  atomic_store (&save_requested, true);
  if (write (wake_pipe[1], &byte, 1) == -1) { /* full: a save is pending */ }
  return seq;
}

bool
persist_save_outcome (uint64_t seq, struct persist_outcome *outcome)
{
  bool done = false;

  pthread_mutex_lock (&record_lock);
  if (record.finished >= seq) {
    *outcome = record.last;
    done = true;
  }
  else if (record.closed) {
    /* Exiting, and the exit save did not run: nothing had changed since
     * the last save or load, so FILE holds every write. */
    *outcome = record.finished ? record.last : (struct persist_outcome) { .ok = true };
    if (!record.finished || record.last.ok) {
      outcome->ok = true;
      outcome->up_to_date = true;
    }
    done = true;
  }
  pthread_mutex_unlock (&record_lock);
  return done;
}

void
persist_get_status (struct store *disk, struct persist_status *status)
{
  pthread_mutex_lock (&record_lock);
  status->state = record.state;
  status->saves = record.finished;
  status->failed_saves = record.failed;
  status->have_last = record.finished > 0;
  status->last = record.last;
  if (record.state == PERSIST_SAVING) {
    status->trigger = record.trigger;
    status->since = record.since;
    status->elapsed = seconds_since (&record.since_mono);
    status->pages_total = record.pages_total;
    status->pages_done = atomic_load (&pages_done);
  }
  pthread_mutex_unlock (&record_lock);
  status->loaded = disk != NULL;
  if (disk != NULL) {
    status->virtual_size = store_size (disk);
    status->allocated_bytes = store_allocated_bytes (disk);
    status->page_size = store_page_size (disk);
    status->changed = store_changed (disk);
  }
  lazyload_get_status (&status->load);
}

/* The start-up clean-up logs each temporary it removes. */
static void
log_stale_removed (void *opaque, const char *path)
{
  (void) opaque;
  nbdkit_debug ("snapshot: removed the temporary %s left by an interrupted save", path);
}

/* Better to refuse to start than to find out at exit, with the data in
 * hand, that the save cannot be written.  Creating a temporary the way a
 * save does is the one test that tells (permissions, read-only mounts,
 * root's exemptions). */
static int
try_tmpfile (void *path)
{
  struct snap_tmpfile tmp;

  if (snap_tmpfile_create (&tmp, path) == -1)
    return -1;
  snap_tmpfile_abort (&tmp);
  return 0;
}

/* As the user who saves: with -u and -g, that is not us yet (runas.h). */
static int
check_folder_writable (const char *path)
{
  if (runas_check (try_tmpfile, (void *) path) == -1) {
    nbdkit_error ("snapshot: cannot write the folder of %s (saves would fail): %s",
                  path, md_error ());
    return -1;
  }
  return 0;
}

/* The start-up checks of snapshot=FILE (snapshot/trust.h), for the user
 * who will save it.  FILE's symbolic links are followed once, here: from
 * now on memdisk_config.snapshot names the file they led to, which the
 * checks approved and saves replace. */
static int
check_snapshot_path (void)
{
  const char *given = memdisk_config.snapshot;
  char *resolved = NULL;
  bool exists;
  int r;

  if (runas_init () == -1)
    return -1;
  /* A file that is only read needs no owner: it is never replaced. */
  if (memdisk_config.snapshot_readonly) {
    resolved = snap_trust_resolve (given);
    r = resolved ? snap_trust_check_type (resolved, &exists) : -1;
  }
  else
    r = snap_trust_check (given, runas_saving_uid (), &resolved, &exists);
  if (r == -1) {
    nbdkit_error ("snapshot: %s", md_error ());
    free (resolved);
    return -1;
  }
  if (strcmp (resolved, given) != 0)
    nbdkit_debug ("snapshot: %s leads to %s, which saves replace", given, resolved);
  free (memdisk_config.snapshot);
  memdisk_config.snapshot = resolved;
  return 0;
}

/* Before loading: the snapshot's pages must fit in the memory the server
 * can have, unless snapshot-memory-check=false.  A file of a few hundred
 * KiB may declare gigabytes of highly compressible pages. */
static int
check_snapshot_memory (const char *path)
{
  struct snap_reader *reader;
  uint64_t need, available;
  const char *source;

  if (!memdisk_config.snapshot_memory_check)
    return 0;
  reader = snap_reader_open (path);
  if (reader == NULL) {
    nbdkit_error ("snapshot: cannot load %s: %s", path, md_error ());
    return -1;
  }
  need = snap_reader_metadata (reader)->allocated_size;
  snap_reader_close (reader);
  if (md_memory_available ("/proc/meminfo", "/proc/self/status",
                           &available, &source) == -1) {
    nbdkit_debug ("snapshot: memory check skipped: %s", md_error ());
    return 0;
  }
  if (need > available) {
    nbdkit_error ("snapshot: %s holds %" PRIu64 " bytes of pages, more than the "
                  "%" PRIu64 " bytes this server can have (%s); free memory, or "
                  "load it anyway with snapshot-memory-check=false",
                  path, need, available, source);
    return -1;
  }
  return 0;
}

static struct store *
load_disk (const char *path)
{
  struct store *disk;
  struct timespec start;
  uint64_t min_size = memdisk_config.size_given ? memdisk_config.size : 0;

  uint64_t file_size;

  clock_gettime (CLOCK_MONOTONIC, &start);
  /* The loaded file is the first save's previous file, for a server that
   * saves: an eager load keeps it open, a lazy load serves from it (the
   * first save copies the unchanged regions' frames from it, loaded or
   * not, never decompressing them). */
  if (memdisk_config.snapshot_load_eager)
    disk = snapstore_load_keeping (path, min_size, memdisk_config.snapshot_threads, &file_size,
                                   memdisk_config.snapshot_readonly ? NULL : &previous);
  else
    disk = lazyload_open (path, min_size, &file_size);
  if (disk == NULL) {
    nbdkit_error ("snapshot: cannot load %s: %s", path, md_error ());
    return NULL;
  }
  if (memdisk_config.snapshot_load_eager && previous.reader != NULL)
    keep_eager_touch_order (previous.reader);
  if (memdisk_config.size_given && memdisk_config.size < file_size) {
    nbdkit_error ("size: %" PRIu64 " is smaller than the virtual size of the "
                  "snapshot %s (%" PRIu64 " bytes); refusing to shrink the disk",
                  memdisk_config.size, path, file_size);
    store_destroy (disk);
    return NULL;
  }
  if (store_size (disk) > file_size) {
    nbdkit_debug ("growing the disk of %s from %" PRIu64 " to %" PRIu64 " bytes",
                  path, file_size, store_size (disk));
    /* The disk now differs from the file: the next save records the size. */
    store_mark_changed (disk);
  }
  if (!memdisk_config.snapshot_load_eager && !memdisk_config.snapshot_readonly)
    snapstore_previous_from_lazy (&previous, lazyload_file (), disk);
  file_time = time (NULL);
  file_origin = "load";
  nbdkit_debug ("%s %s in %.3f s: %" PRIu64 " bytes, %" PRIu64 " allocated",
                memdisk_config.snapshot_load_eager ? "loaded" : "opened (lazy load)",
                path, seconds_since (&start), store_size (disk),
                store_allocated_bytes (disk));
  return disk;
}

struct store *
persist_open_disk (void)
{
  const char *path = memdisk_config.snapshot;
  struct store *disk;
  struct stat st;

  if (path == NULL) {
    disk = store_create (memdisk_config.size, STORE_DEFAULT_PAGE_SIZE);
    if (disk == NULL)
      nbdkit_error ("%s", md_error ());
    return disk;
  }

  /* First of all, so that a SIGUSR1 during the load is not fatal. */
  if (install_sigusr1_handler () == -1)
    return NULL;

  if (check_snapshot_path () == -1)
    return NULL;
  path = memdisk_config.snapshot;
  if (!memdisk_config.snapshot_readonly) {
    pid_t holder;
    /* One writer per FILE, for the whole life of this server. */
    if (writer_lock_take (&lock, path, runas_saving_uid (), &holder) == -1) {
      if (errno == EWOULDBLOCK)
        nbdkit_error ("snapshot: %s; refusing to start a second writer", md_error ());
      else if (errno == EPERM)
        nbdkit_error ("snapshot: %s", md_error ());
      else
        nbdkit_error ("snapshot: cannot write the folder of %s (saves would fail): %s",
                      path, md_error ());
      return NULL;
    }
    if (control_open (path, &lock) == -1)
      return NULL;
    /* Answer `memdisk-tool status` while loading. */
    if (control_start () == -1)
      return NULL;
    if (snap_stale_remove (path, log_stale_removed, NULL) == -1)
      nbdkit_debug ("snapshot: %s", md_error ());
    if (check_folder_writable (path) == -1)
      return NULL;
  }

  if (stat (path, &st) == 0) {
    if (check_snapshot_memory (path) == -1)
      return NULL;
    disk = load_disk (path);
    if (disk == NULL)
      return NULL;
  }
  else if (errno == ENOENT) {
    if (!memdisk_config.size_given) {
      nbdkit_error ("size: parameter is required when the snapshot %s does "
                    "not exist yet", path);
      return NULL;
    }
    if (memdisk_config.snapshot_readonly) {
      nbdkit_error ("snapshot-readonly: the snapshot %s does not exist", path);
      return NULL;
    }
    disk = store_create (memdisk_config.size, STORE_DEFAULT_PAGE_SIZE);
    if (disk == NULL) {
      nbdkit_error ("%s", md_error ());
      return NULL;
    }
    /* No file yet: the exit save creates it even if no client writes, so
     * that the next start knows the size. */
    store_mark_changed (disk);
    file_time = time (NULL);
    file_origin = "start";
  }
  else {
    nbdkit_error ("snapshot: %s: %m", path);
    return NULL;
  }
  /* nbdkit may fork now: no thread of ours may run across it. */
  control_pause ();
  record_state (PERSIST_SERVING);
  return disk;
}

/* The saving thread: a save per SIGUSR1 or save request (coalesced), and
 * one every snapshot-interval seconds when the disk changed. */
static void *
saver_main (void *arg)
{
  struct store *disk = arg;
  const unsigned interval = memdisk_config.snapshot_interval;
  struct timespec next_interval;

  clock_gettime (CLOCK_MONOTONIC, &next_interval);
  next_interval.tv_sec += interval;

  while (!atomic_load (&saver_stopping)) {
    struct pollfd pfd = { .fd = wake_pipe[0], .events = POLLIN };
    int timeout_ms = -1;

    if (interval > 0) {
      struct timespec now;
      clock_gettime (CLOCK_MONOTONIC, &now);
      int64_t ms = (int64_t) (next_interval.tv_sec - now.tv_sec) * 1000
                   + (next_interval.tv_nsec - now.tv_nsec) / 1000000;
      timeout_ms = ms < 0 ? 0 : ms > 3600000 ? 3600000 : (int) ms;
    }
    int r = poll (&pfd, 1, timeout_ms);
    if (atomic_load (&saver_stopping))
      break;
    if (r > 0 && drain_wake_pipe ()) {
      bool requested = atomic_exchange (&save_requested, false);
      if (memdisk_config.snapshot_readonly)
        nbdkit_debug ("SIGUSR1: snapshot-readonly is set, %s is not written",
                      memdisk_config.snapshot);
      else
        save_disk (disk, requested ? "request" : "SIGUSR1");
    }
    else if (r == 0 && interval > 0) {
      if (store_changed (disk) && !memdisk_config.snapshot_readonly)
        save_disk (disk, "interval");
      clock_gettime (CLOCK_MONOTONIC, &next_interval);
      next_interval.tv_sec += interval;
    }
  }
  return NULL;
}

int
persist_start (struct store *disk)
{
  int err;

  if (memdisk_config.snapshot == NULL)
    return 0;
  /* After nbdkit's fork: the kernel names this process as the holder. */
  if (writer_lock_claim (&lock) == -1)
    nbdkit_debug ("snapshot: %s", md_error ());
  control_set_disk (disk);
  if (control_start () == -1)
    return -1;
  err = pthread_create (&saver_thread, NULL, saver_main, disk);
  if (err != 0) {
    errno = err;
    nbdkit_error ("cannot start the snapshot thread: %m");
    return -1;
  }
  saver_running = true;
  return 0;
}

void
persist_stop (struct store *disk)
{
  char byte = 1;

  if (saver_running) {
    atomic_store (&saver_stopping, true);
    if (write (wake_pipe[1], &byte, 1) == -1) { /* the thread polls anyway */ }
    pthread_join (saver_thread, NULL);
    saver_running = false;
  }
  if (disk != NULL && memdisk_config.snapshot && !memdisk_config.snapshot_readonly) {
    if (!store_changed (disk))
      nbdkit_debug ("exit: %s is up to date, not saved", memdisk_config.snapshot);
    else if (save_disk (disk, "exit") == -1) {
      char since[32];
      persist_format_utc (file_time, since);
      nbdkit_error ("exit: the changes since the %s at %s are not saved in %s: %s",
                    file_origin, since, memdisk_config.snapshot, md_error ());
      final_save_failed = true;
    }
  }
  snapstore_previous_close (&previous);
  pthread_mutex_lock (&record_lock);
  record.closed = true;
  record.state = PERSIST_STOPPING;
  pthread_mutex_unlock (&record_lock);
  /* Waiting `memdisk-tool save`s get the exit save's outcome. */
  control_stop ();
}

void
persist_unload (void)
{
  /* nbdkit dlcloses the plugin after this: no code of ours may run on a
   * SIGUSR1 any more.  Ignore it (the old disposition was nbdkit's
   * default, which would kill a server that is about to exit 0) rather
   * than restore it, and only then close the pipe the handler writes to,
   * so that the handler never writes into a reused descriptor. */
  if (sigusr1_installed) {
    struct sigaction ign = { .sa_handler = SIG_IGN };
    sigemptyset (&ign.sa_mask);
    sigaction (SIGUSR1, &ign, NULL);
    sigusr1_installed = false;
  }
  for (int i = 0; i < 2; i++) {
    if (wake_pipe[i] >= 0)
      close (wake_pipe[i]);
    wake_pipe[i] = -1;
  }
  control_close ();
  writer_lock_release (&lock);
}

int
persist_exit_status (void)
{
  return final_save_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
