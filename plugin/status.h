/* The server's status record: what it is doing (loading, serving,
 * saving, stopping), the saves it made, and the progress of the one
 * running.  The saver writes it; the control channel reads it to answer
 * `memdisk-tool save` and `status`.  It sits below both: the saver never
 * calls the control channel, it only ends a save here, and the record
 * calls the notify callback the control channel registered.
 */
#ifndef MEMDISK_PLUGIN_STATUS_H
#define MEMDISK_PLUGIN_STATUS_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "lazyload.h"
#include "store/store.h"

enum server_state { SERVER_LOADING, SERVER_SERVING, SERVER_SAVING, SERVER_STOPPING };

/* How a save ended. */
struct save_outcome {
  bool ok;
  bool up_to_date;              /* no save was needed: FILE holds the disk */
  const char *trigger;          /* "SIGUSR1", "request", "interval", "exit" */
  time_t when;                  /* the instant it began (UTC) */
  double seconds;
  uint64_t allocated_bytes, file_bytes, digest;
  uint64_t regions_cloned;      /* frames shared with the previous file */
  uint64_t regions_copied;      /* frames copied from the previous file */
  uint64_t regions_compressed;  /* frames compressed */
  char error[1024];             /* when !ok: the logged error */
};

/* How a reset ended. */
struct reset_outcome {
  bool ok;
  time_t when;                  /* the instant it began (UTC) */
  double seconds;
  uint64_t regions;             /* regions put back */
  char error[1024];             /* when !ok: the logged error */
};

struct server_status {
  enum server_state state;
  uint64_t saves;               /* saves ended since the start */
  uint64_t failed_saves;        /* of which failed */
  bool have_last;
  struct save_outcome last;
  uint64_t resets, failed_resets;
  /* while saving: */
  const char *trigger;
  time_t since;
  double elapsed;
  uint64_t pages_done, pages_total;
  /* the disk, once loaded: */
  bool loaded;
  uint64_t virtual_size, allocated_bytes;
  uint64_t resident_bytes, in_file_bytes;       /* of allocated_bytes */
  const char *allocator;        /* "sparse" or "malloc" */
  uint32_t page_size;
  bool changed;                 /* written since the last save or the load */
  struct lazyload_status load;  /* a lazy load's progress */
};

/* --- for the control channel --- */

/* NOTIFY is called when a save ends: async-signal-safe, quick (it wakes
 * the thread that answers).  Set before the saver starts, cleared after
 * it stopped; NULL for none. */
void status_set_notify (void (*notify) (void));
/* The number of the save that will answer a request made now: the next
 * one to begin. */
uint64_t status_next_save (void);
/* Whether save SEQ (or a later one) has ended, and how (*OUTCOME). */
bool status_save_outcome (uint64_t seq, struct save_outcome *outcome);
/* The number of the reset that will answer a request made now, and
 * whether reset SEQ (or a later one) has ended, and how. */
uint64_t status_next_reset (void);
bool status_reset_outcome (uint64_t seq, struct reset_outcome *outcome);
/* The state now; DISK is NULL while loading. */
void status_get (struct store *disk, struct server_status *status);

/* --- for the saver and the start-up --- */

void status_set_state (enum server_state state);
/* A save of DISK begins, for trigger WHY.  Returns the counter of pages
 * done that the save's producer advances. */
_Atomic uint64_t *status_save_begins (struct store *disk, const char *why);
/* It ended: record *OUTCOME and notify. */
void status_save_ends (const struct save_outcome *outcome);
/* A reset begins; it ended (*OUTCOME recorded, and notify). */
void status_reset_begins (void);
void status_reset_ends (const struct reset_outcome *outcome);
/* No save will start any more (the exit save is over): requests still
 * waiting get the last outcome, or "up to date". */
void status_close (void);

#endif
