/* Load at start; save on SIGUSR1, on a timer and at exit (see persist.h). */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
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
#include "persist.h"
#include "snapshot/storefile.h"
#include "snapshot/replace.h"

/* SIGUSR1 writes a byte here; the saving thread polls the other end.  A
 * pipe because write(2) is async-signal-safe, and because bytes that pile
 * up during a save are drained at once: signals coalesce into one save. */
static int wake_pipe[2] = { -1, -1 };
static pthread_t saver_thread;
static bool saver_running;
static atomic_bool saver_stopping;

static double
seconds_since (const struct timespec *start)
{
  struct timespec now;

  clock_gettime (CLOCK_MONOTONIC, &now);
  return (double) (now.tv_sec - start->tv_sec) + (now.tv_nsec - start->tv_nsec) / 1e9;
}

/* What the file on disk holds, for the message of a failed exit save:
 * the disk as of this instant (UTC) and how it got there. */
static time_t file_time;
static const char *file_origin = "start";   /* "save", "load" or "start" */

/* "2026-12-01T21:40:00Z" */
static void
format_utc (time_t t, char buf[32])
{
  struct tm tm;

  if (gmtime_r (&t, &tm) == NULL || strftime (buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
    snprintf (buf, 32, "%lld", (long long) t);
}

/* Save the disk now, logging one line; WHY names the trigger.  A failure
 * is logged with the step that failed and what state it left FILE in
 * (from the code that did the step); the next trigger retries.  Returns
 * 0 or -1. */
static int
save_disk (struct store *disk, const char *why)
{
  struct snap_write_stats stats = { 0 };
  enum snap_replace_state replaced = SNAP_REPLACE_UNTOUCHED;
  struct snap_write_options options = {
    .level = memdisk_config.snapshot_level,
    .threads = memdisk_config.snapshot_threads,
    .creator = "nbdkit-memdisk-plugin " MEMDISK_VERSION,
    .background = true,
    .stats = &stats,
    .replaced = &replaced,
  };
  struct timespec start;
  time_t instant = time (NULL);
  double seconds;
  int r;

  clock_gettime (CLOCK_MONOTONIC, &start);
  r = snapstore_save (disk, memdisk_config.snapshot, &options);
  /* The copy-on-write blocks were allocated by the client threads and
   * freed by this one; glibc keeps such memory in per-thread arenas
   * unless asked to give it back. */
  malloc_trim (0);
  if (r == -1) {
    nbdkit_error ("saving %s (%s) failed, %s: %s",
                  memdisk_config.snapshot, why,
                  snap_replace_state_text (replaced), md_error ());
    return -1;
  }
  file_time = instant;
  file_origin = "save";
  seconds = seconds_since (&start);
  nbdkit_debug ("saved %s (%s) in %.3f s: %" PRIu64 " bytes allocated, "
                "%" PRIu64 " bytes in the file, ratio %.2f",
                memdisk_config.snapshot, why, seconds,
                stats.allocated_bytes, stats.file_bytes,
                stats.file_bytes ? (double) stats.allocated_bytes / stats.file_bytes : 0.0);
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

/* Better to refuse to start than to find out at exit, with the data in
 * hand, that the save cannot be written.  Creating a temporary the way a
 * save does is the one test that tells (permissions, read-only mounts,
 * root's exemptions). */
static int
check_folder_writable (const char *path)
{
  struct snap_tmpfile tmp;

  if (snap_tmpfile_create (&tmp, path) == -1) {
    nbdkit_error ("snapshot: cannot write the folder of %s (saves would fail): %s",
                  path, md_error ());
    return -1;
  }
  snap_tmpfile_abort (&tmp);
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
  disk = snapstore_load (path, min_size, memdisk_config.snapshot_threads, &file_size);
  if (disk == NULL) {
    nbdkit_error ("snapshot: cannot load %s: %s", path, md_error ());
    return NULL;
  }
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
  file_time = time (NULL);
  file_origin = "load";
  nbdkit_debug ("loaded %s in %.3f s: %" PRIu64 " bytes, %" PRIu64 " allocated",
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

  if (!memdisk_config.snapshot_readonly) {
    unsigned removed = 0;
    if (snap_stale_remove (path, &removed) == -1)
      nbdkit_debug ("snapshot: %s", md_error ());
    if (removed)
      nbdkit_debug ("snapshot: removed %u temporaries left by an interrupted save of %s",
                    removed, path);
    if (check_folder_writable (path) == -1)
      return NULL;
  }

  if (stat (path, &st) == 0) {
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

  if (install_sigusr1_handler () == -1) {
    store_destroy (disk);
    return NULL;
  }
  return disk;
}

/* The saving thread: a save per SIGUSR1 (coalesced), and one every
 * snapshot-interval seconds when the disk changed. */
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
      if (memdisk_config.snapshot_readonly)
        nbdkit_debug ("SIGUSR1: snapshot-readonly is set, %s is not written",
                      memdisk_config.snapshot);
      else
        save_disk (disk, "SIGUSR1");
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
  err = pthread_create (&saver_thread, NULL, saver_main, disk);
  if (err != 0) {
    errno = err;
    nbdkit_error ("cannot start the snapshot thread: %m");
    return -1;
  }
  saver_running = true;
  return 0;
}

/* Set when the save at exit failed: .unload makes nbdkit's exit status
 * say so (persist_exit_status). */
static bool final_save_failed;

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
      format_utc (file_time, since);
      nbdkit_error ("exit: the changes since the %s at %s are not saved in %s: %s",
                    file_origin, since, memdisk_config.snapshot, md_error ());
      final_save_failed = true;
    }
  }
}

int
persist_exit_status (void)
{
  return final_save_failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
