/* The plugin's side of lazy loading (lazyload.h): the one snap_lazy of
 * the disk, and the threads that load its frames.
 *
 * The background threads, at nice 19, take the next frame of the file's
 * touch order (the regions the last run's clients touched first), else
 * the next frame from an atomic counter, from the last frame down, but
 * only while no client faults: a frame held by a thread at nice 19 is one
 * a client may come to and wait for while busier threads get the CPU
 * (measured: clients waited 30-200 ms for each such frame during a
 * whole-disk nbdcopy).  They skip a frame another thread is loading
 * rather than wait for it.  When the counter has passed the end, each
 * waits for every frame to be loaded; the last to finish
 * logs the load and, on a read-only server, closes the file.
 *
 * The front thread, at the clients' priority, loads the frames just ahead
 * of the clients' last fault (a client reading in order then finds them
 * loaded), else the touch order's, and sleeps until the next fault: the
 * work it does is the clients' own, a little early, and a client that
 * meets its frame waits for a thread that gets the CPU as the client
 * would.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "common/error.h"
#include "common/monoclock.h"
#include "common/threadnice.h"
#include "common/threads.h"
#include "lazyload.h"
#include "snapshot/read/lazy.h"

/* Set in .get_ready, freed in .unload; the threads run in between. */
static struct snap_lazy *lazy;
static pthread_t *threads;
static _Atomic unsigned nthreads;       /* background threads */
static pthread_t front_thread;
static bool front_started;
static atomic_bool stopping;
static _Atomic size_t next_frame;
static _Atomic unsigned threads_done;
static double start;            /* md_monotonic_seconds () */

struct store *
lazyload_open (const char *path, uint64_t min_size, uint64_t *file_virtual_size)
{
  struct store *disk;

  start = md_monotonic_seconds ();
  /* What the threads need is allocated here, before the fork: a failure
   * after it would end a server whose pid file is already written. */
  if (memdisk_config.snapshot_load_threads > 0) {
    threads = calloc (memdisk_config.snapshot_load_threads, sizeof *threads);
    if (threads == NULL) {
      md_error_set ("out of memory for the background loader");
      return NULL;
    }
  }
  lazy = snap_lazy_open (path, min_size, memdisk_config.snapshot_region_size, &disk,
                         file_virtual_size);
  if (lazy == NULL) {
    free (threads);
    threads = NULL;
    return NULL;
  }
  return disk;
}

struct snap_lazy *
lazyload_file (void)
{
  return lazy;
}

/* Whether the load's end is said (or nobody will say it: no background
 * loader).  Status says "loaded" only after it, so that whoever waits for
 * that finds the log line, damaged frames included, already written. */
static _Atomic bool end_reported;

/* All frames loaded (or damaged): say so once, and let go of the file
 * if nothing will read it again.  A server that saves keeps it: it is
 * the source an incremental save copies unchanged frames from. */
static void
load_finished (void)
{
  struct snap_lazy_progress p;

  snap_lazy_get_progress (lazy, &p);
  nbdkit_debug ("loaded %s in the background in %.3f s: %" PRIu64 " bytes in %zu "
                "frames%s", memdisk_config.snapshot, md_monotonic_seconds () - start,
                p.bytes_loaded, p.frames_resident,
                p.frames_damaged ? " (some frames are damaged)" : "");
  if (p.frames_damaged)
    nbdkit_error ("snapshot %s: %zu damaged frame(s): requests to their pages fail "
                  "with EIO, and saves fail",
                  memdisk_config.snapshot, p.frames_damaged);
  size_t unread = p.frames - p.frames_resident - p.frames_damaged;
  /* Retired (a reset went back to a later file): what is unread is not
   * needed any more. */
  if (unread && !p.retired)
    nbdkit_error ("snapshot %s: %zu frame(s) could not be loaded (the errors are "
                  "above): requests to their pages fail while the cause lasts, and "
                  "each tries again", memdisk_config.snapshot, unread);
  if (memdisk_config.snapshot_readonly && snap_lazy_complete (lazy))
    snap_lazy_close_file (lazy);
  atomic_store (&end_reported, true);
}

/* How far ahead of the clients' last fault the front thread loads. */
#define FRONT_FRAMES 4
/* Clients are quiet once they have not faulted for this long: a
 * whole-disk copy faults every millisecond or so, a client that touches
 * a frame now and then leaves the cores to the background most of the
 * time. */
#define QUIET_NS 5000000L
/* The front thread looks at the stopping flag and the load's end at
 * least this often while no client faults. */
#define FRONT_IDLE_MS 100

static atomic_bool touch_order_done;

/* The next frame of the file's touch order still absent, or FRAMES when
 * the list is handed out.  A background thread that finds it so first
 * waits for the list's frames other threads still load (the list comes
 * before file order), and the first to get there says so, with how many
 * frames were in then: one background thread and no client, exactly the
 * list's, which lazy-touch-order checks (the front thread loads only
 * list frames while no client faults, and is never the one that says
 * it).  Said before the load's end, so before status says "loaded". */
static size_t
next_touched_frame (size_t frames, bool background)
{
  const size_t n = snap_lazy_prefetch_count (lazy);
  size_t k = snap_lazy_next_prefetch_frame (lazy);
  struct snap_lazy_progress p;

  if (k != SNAP_LAZY_NO_FRAME)
    return k;
  if (!background || n == 0 || atomic_load (&touch_order_done))
    return frames;
  for (size_t i = 0; i < n && !atomic_load (&stopping); i++) {
    size_t f = snap_lazy_prefetch_frame (lazy, i);
    int r = snap_lazy_try_load_frame (lazy, f);
    if (r == -1)
      nbdkit_error ("%s", md_error ());
    else if (r == 1)
      (void) snap_lazy_load_frame (lazy, f);    /* its decoder reports damage */
  }
  if (!atomic_exchange (&touch_order_done, true)) {
    snap_lazy_get_progress (lazy, &p);
    nbdkit_debug ("snapshot %s: touch order: its %zu frames loaded first; "
                  "%zu of %zu frames resident then",
                  memdisk_config.snapshot, n, p.frames_resident, p.frames);
  }
  return frames;
}

/* A frame just ahead of the clients' front that is still absent, else
 * FRAMES. */
static size_t
next_front_frame (size_t frames)
{
  size_t front = snap_lazy_client_front (lazy);

  if (front != SNAP_LAZY_NO_FRONT)
    for (size_t k = front; k < frames && k < front + FRONT_FRAMES; k++)
      if (snap_lazy_frame_absent (lazy, k))
        return k;
  return frames;
}

/* The next frame for a background thread: the touch order's, else the
 * counter's, from the last frame down (clients start at the disk's start:
 * its partition table, superblock, a copy's first block); FRAMES when the
 * counter is past the start. */
static size_t
next_frame_to_load (size_t frames)
{
  size_t t = next_touched_frame (frames, true);
  if (t != frames)
    return t;
  size_t k = atomic_fetch_add (&next_frame, 1);
  return k < frames ? frames - 1 - k : frames;
}

/* Return once clients have not faulted for QUIET_NS (at once if they did
 * not since *SEEN, the count when this thread last looked). */
static void
wait_for_quiet_clients (uint32_t *seen)
{
  const struct timespec quiet = { 0, QUIET_NS };
  uint32_t now = snap_lazy_fault_count (lazy);

  while (now != *seen && !atomic_load (&stopping)) {
    *seen = now;
    nanosleep (&quiet, NULL);
    now = snap_lazy_fault_count (lazy);
  }
}

static void *
front_loader_main (void *arg)
{
  const size_t frames = snap_lazy_frame_count (lazy);

  (void) arg;
  while (!atomic_load (&stopping) && !snap_lazy_complete (lazy)) {
    uint32_t seen = snap_lazy_fault_count (lazy);
    size_t k = next_front_frame (frames);
    /* Nothing ahead of the clients: the frames they are expected to touch
     * next (the last run's touch order), at their priority too. */
    if (k == frames)
      k = next_touched_frame (frames, false);
    int r = k == frames ? 1 : snap_lazy_try_load_frame (lazy, k);
    if (r == -1)
      nbdkit_error ("%s", md_error ());
    /* Nothing to do, or out of memory (the frame is absent again: trying
     * it at once would spin): until the clients move. */
    if (k == frames || r == -1)
      snap_lazy_wait_for_fault (lazy, seen, FRONT_IDLE_MS);
  }
  return NULL;
}

static void *
loader_main (void *arg)
{
  const size_t frames = snap_lazy_frame_count (lazy);
  uint32_t seen = snap_lazy_fault_count (lazy);

  (void) arg;
  /* Clients come first (Linux applies nice to the calling thread). */
  if (md_thread_nice_19 () == -1)
    nbdkit_debug ("snapshot: background loader: setpriority: %m");
  while (!atomic_load (&stopping)) {
    wait_for_quiet_clients (&seen);
    size_t k = next_frame_to_load (frames);
    if (k == frames)
      break;
    if (snap_lazy_try_load_frame (lazy, k) == -1)
      nbdkit_error ("%s", md_error ());
  }
  /* Frames skipped because a client was loading them: done when it is
   * (a damaged one was reported by whoever decoded it). */
  for (size_t k = 0; k < frames && !atomic_load (&stopping); k++)
    (void) snap_lazy_load_frame (lazy, k);
  if (atomic_fetch_add (&threads_done, 1) + 1 == nthreads && !atomic_load (&stopping))
    load_finished ();
  return NULL;
}

int
lazyload_start (void)
{
  unsigned n = memdisk_config.snapshot_load_threads;

  if (lazy == NULL)
    return 0;
  if (n == 0) {
    atomic_store (&end_reported, true);
    return 0;
  }
  if (snap_lazy_complete (lazy)) {
    if (memdisk_config.snapshot_readonly)
      snap_lazy_close_file (lazy);
    atomic_store (&end_reported, true);
    return 0;
  }
  /* Never fails the server: its pid file is written, and a frame that no
   * thread loads is loaded when touched. */
  int err = pthread_create (&front_thread, NULL, front_loader_main, NULL);
  if (err != 0) {
    errno = err;
    nbdkit_error ("snapshot: cannot start the front loader (frames ahead of a "
                  "client load when touched): %m");
  }
  else
    front_started = true;
  nthreads = n;
  for (unsigned i = 0; i < n; i++) {
    err = pthread_create (&threads[i], NULL, loader_main, NULL);
    if (err != 0) {
      errno = err;
      nbdkit_error ("snapshot: cannot start the background loader (%u of %u threads "
                    "started; the other frames load when touched): %m", i, n);
      atomic_store (&stopping, true);
      atomic_store (&end_reported, true);
      nthreads = i;
      break;
    }
  }
  return 0;
}

void
lazyload_stop (void)
{
  atomic_store (&stopping, true);
  if (front_started) {
    snap_lazy_wake_fault_waiters (lazy);
    pthread_join (front_thread, NULL);
    front_started = false;
  }
  for (unsigned i = 0; i < nthreads; i++)
    pthread_join (threads[i], NULL);
  nthreads = 0;
}

void
lazyload_free (void)
{
  free (threads);
  threads = NULL;
  snap_lazy_free (lazy);
  lazy = NULL;
}

void
lazyload_get_status (struct lazyload_status *st)
{
  struct snap_lazy_progress p;

  memset (st, 0, sizeof *st);
  if (lazy == NULL)
    return;
  snap_lazy_get_progress (lazy, &p);
  st->lazy = true;
  st->loaded = (p.retired || p.frames_resident + p.frames_damaged == p.frames)
               && atomic_load (&end_reported);
  st->frames = p.frames;
  st->frames_resident = p.frames_resident;
  st->frames_damaged = p.frames_damaged;
  st->bytes_loaded = p.bytes_loaded;
  st->bytes_total = p.bytes_total;
}
