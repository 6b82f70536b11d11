/* Persistence: the disk is loaded from snapshot=FILE at start and saved
 * to it on SIGUSR1, on `memdisk-tool save`, every snapshot-interval
 * seconds when changed, and at exit.  Saves run on one background thread
 * while clients keep working (the store makes them point-in-time; see
 * docs/design.md).  A server that may write FILE holds its writer lock
 * (control/lock.h) and answers on its control channel (control.c).
 */
#ifndef MEMDISK_PLUGIN_PERSIST_H
#define MEMDISK_PLUGIN_PERSIST_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#include "lazyload.h"
#include "store/store.h"

/* .get_ready: install the SIGUSR1 handler; take FILE's writer lock and
 * open the control channel (unless snapshot-readonly); remove
 * temporaries of killed saves; check that FILE's folder is writable;
 * create the disk, loading FILE if it exists.  All before nbdkit forks,
 * so any problem stops nbdkit with a message.  Returns the disk or NULL
 * after nbdkit_error. */
struct store *persist_open_disk (void);

/* .after_fork: start the saving and control threads.  0, or -1 after
 * nbdkit_error. */
int persist_start (struct store *disk);

/* .cleanup (clients are gone): stop the saving thread, make the final
 * save unless nothing changed since the last one, answer the waiting
 * `memdisk-tool save`s and stop the control thread. */
void persist_stop (struct store *disk);

/* .unload: ignore SIGUSR1 from now on, close the wake pipe and the
 * control socket, release the writer lock. */
void persist_unload (void);

/* EXIT_FAILURE when the final save failed (its error is logged), else
 * EXIT_SUCCESS.  nbdkit 1.32 exits 0 whatever a plugin's .cleanup or
 * .unload does (server/main.c returns EXIT_SUCCESS after top->free), so
 * .unload ends the process itself with this status; see
 * docs/design.md. */
int persist_exit_status (void);

/* --- for the control thread (control.c) --- */

enum persist_state { PERSIST_LOADING, PERSIST_SERVING, PERSIST_SAVING, PERSIST_STOPPING };

/* How a save ended. */
struct persist_outcome {
  bool ok;
  bool up_to_date;              /* no save was needed: FILE holds the disk */
  const char *trigger;          /* "SIGUSR1", "request", "interval", "exit" */
  time_t when;                  /* the instant it began (UTC) */
  double seconds;
  uint64_t allocated_bytes, file_bytes, digest;
  uint64_t regions_copied;      /* frames copied from the previous file */
  uint64_t regions_compressed;  /* frames compressed */
  char error[1024];             /* when !ok: the logged error */
};

struct persist_status {
  enum persist_state state;
  uint64_t saves;               /* saves ended since the start */
  uint64_t failed_saves;        /* of which failed */
  bool have_last;
  struct persist_outcome last;
  /* while saving: */
  const char *trigger;
  time_t since;
  double elapsed;
  uint64_t pages_done, pages_total;
  /* the disk, once loaded: */
  bool loaded;
  uint64_t virtual_size, allocated_bytes;
  uint32_t page_size;
  bool changed;                 /* written since the last save or the load */
  struct lazyload_status load;  /* a lazy load's progress */
};

/* Ask for a save (it coalesces with SIGUSR1s), and return the number of
 * the save that will answer: one that begins after this call. */
uint64_t persist_request_save (void);
/* Whether save SEQ (or a later one) has ended, and how (*OUTCOME). */
bool persist_save_outcome (uint64_t seq, struct persist_outcome *outcome);
/* The state now; DISK is NULL while loading. */
void persist_get_status (struct store *disk, struct persist_status *status);
/* "2026-12-01T21:40:00Z" */
void persist_format_utc (time_t t, char buf[32]);

#endif
