/* What wakes the saver: SIGUSR1, `memdisk-tool save` and `reset`
 * requests each put a byte in one wake-up pipe (common/wakepipe.h), which the saver
 * polls.  A pipe because write(2) is async-signal-safe, and because
 * bytes that pile up during a save are drained at once: signals and
 * requests coalesce into one save.
 */
#ifndef MEMDISK_PLUGIN_WAKE_H
#define MEMDISK_PLUGIN_WAKE_H

#include <stdbool.h>
#include <stdint.h>

/* .get_ready, first of all: open the pipe and install the SIGUSR1
 * handler, so that a SIGUSR1 sent while FILE loads is remembered and
 * served once the saver runs.  0, or -1 after nbdkit_error. */
int wake_install (void);
/* For the control thread: ask for a save, and return the number of the
 * save that will answer (status_next_save). */
uint64_t wake_request_save (void);
/* For the control thread: ask for a reset, and return the number of the
 * reset that will answer (status_next_reset). */
uint64_t wake_request_reset (void);
/* Wake the saver without asking for a save (it is to stop). */
void wake_saver (void);
/* For the saver: the descriptor to poll, and, once it is readable,
 * what the wake-ups that came ask for. */
struct wake_asked {
  bool save;                    /* a SIGUSR1 or a save request */
  bool requested;               /* a save request among them */
  bool reset;                   /* a reset request */
};
int wake_fd (void);
bool wake_take (struct wake_asked *asked);
/* .unload: ignore SIGUSR1 from now on, then close the pipe. */
void wake_uninstall (void);

#endif
