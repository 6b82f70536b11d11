/* The status record (status.h).  Written by whichever thread saves (the
 * saver, or nbdkit's main thread at exit: never both at once), read by
 * the control thread; all under record_lock, except pages_done (atomic,
 * written by the saver's producer).  The notify callback is set and
 * cleared by nbdkit's main thread while no saver runs.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "common/monoclock.h"
#include "config.h"
#include "status.h"

static pthread_mutex_t record_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  enum server_state state;
  uint64_t started;             /* saves begun */
  uint64_t finished;            /* saves ended, well or not */
  uint64_t failed;              /* of which failed */
  bool closed;                  /* no save will start any more */
  const char *trigger;          /* of the running save */
  time_t since;                 /* when the running save began (UTC) */
  double since_mono;            /* md_monotonic_seconds () then */
  uint64_t pages_total;         /* allocated pages when it began */
  struct save_outcome last;     /* valid when finished > 0 */
  uint64_t resets_started, resets_finished, resets_failed;
  struct reset_outcome last_reset;      /* valid when resets_finished > 0 */
} record = { .state = SERVER_LOADING };
static _Atomic uint64_t pages_done;
static void (*notify_fn) (void);

void
status_set_notify (void (*notify) (void))
{
  notify_fn = notify;
}

void
status_set_state (enum server_state state)
{
  pthread_mutex_lock (&record_lock);
  record.state = state;
  pthread_mutex_unlock (&record_lock);
}

_Atomic uint64_t *
status_save_begins (struct store *disk, const char *why)
{
  pthread_mutex_lock (&record_lock);
  record.started++;
  record.state = SERVER_SAVING;
  record.trigger = why;
  record.since = time (NULL);
  record.since_mono = md_monotonic_seconds ();
  record.pages_total = store_allocated_bytes (disk) / store_page_size (disk);
  atomic_store (&pages_done, 0);
  pthread_mutex_unlock (&record_lock);
  return &pages_done;
}

void
status_save_ends (const struct save_outcome *outcome)
{
  pthread_mutex_lock (&record_lock);
  record.finished++;
  if (!outcome->ok)
    record.failed++;
  record.last = *outcome;
  if (record.state == SERVER_SAVING)
    record.state = SERVER_SERVING;
  pthread_mutex_unlock (&record_lock);
  if (notify_fn != NULL)
    notify_fn ();
}

void
status_reset_begins (void)
{
  pthread_mutex_lock (&record_lock);
  record.resets_started++;
  pthread_mutex_unlock (&record_lock);
}

void
status_reset_ends (const struct reset_outcome *outcome)
{
  pthread_mutex_lock (&record_lock);
  record.resets_finished++;
  if (!outcome->ok)
    record.resets_failed++;
  record.last_reset = *outcome;
  pthread_mutex_unlock (&record_lock);
  if (notify_fn != NULL)
    notify_fn ();
}

uint64_t
status_next_reset (void)
{
  pthread_mutex_lock (&record_lock);
  /* The reset that answers begins after this request: the next one. */
  uint64_t seq = record.resets_started + 1;
  pthread_mutex_unlock (&record_lock);
  return seq;
}

bool
status_reset_outcome (uint64_t seq, struct reset_outcome *outcome)
{
  pthread_mutex_lock (&record_lock);
  bool done = record.resets_finished >= seq;
  if (done)
    *outcome = record.last_reset;
  pthread_mutex_unlock (&record_lock);
  return done;
}

void
status_close (void)
{
  pthread_mutex_lock (&record_lock);
  record.closed = true;
  record.state = SERVER_STOPPING;
  pthread_mutex_unlock (&record_lock);
}

uint64_t
status_next_save (void)
{
  uint64_t seq;

  pthread_mutex_lock (&record_lock);
  /* The save that answers must begin after this request: the next one. */
  seq = record.started + 1;
  pthread_mutex_unlock (&record_lock);
  return seq;
}

bool
status_save_outcome (uint64_t seq, struct save_outcome *outcome)
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
    *outcome = record.finished ? record.last : (struct save_outcome) { .ok = true };
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
status_get (struct store *disk, struct server_status *status)
{
  pthread_mutex_lock (&record_lock);
  status->state = record.state;
  status->saves = record.finished;
  status->failed_saves = record.failed;
  status->have_last = record.finished > 0;
  status->last = record.last;
  status->resets = record.resets_finished;
  status->failed_resets = record.resets_failed;
  if (record.state == SERVER_SAVING) {
    status->trigger = record.trigger;
    status->since = record.since;
    status->elapsed = md_monotonic_seconds () - record.since_mono;
    status->pages_total = record.pages_total;
    status->pages_done = atomic_load (&pages_done);
  }
  pthread_mutex_unlock (&record_lock);
  status->loaded = disk != NULL;
  if (disk != NULL) {
    status->virtual_size = store_size (disk);
    status->allocated_bytes = store_allocated_bytes (disk);
    status->resident_bytes = store_resident_bytes (disk);
    status->in_file_bytes = store_in_file_bytes (disk);
    status->allocator = memdisk_config.allocator_malloc ? "malloc" : "sparse";
    status->page_size = store_page_size (disk);
    status->changed = store_changed (disk);
  }
  lazyload_get_status (&status->load);
}
