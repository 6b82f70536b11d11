/* SIGUSR1 and save requests wake the saver (wake.h). */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <signal.h>
#include <stdatomic.h>

#include "common/wakepipe.h"
#include "status.h"
#include "wake.h"

static struct md_wakepipe wake_pipe = MD_WAKEPIPE_CLOSED;
static bool sigusr1_installed;
static atomic_bool save_requested;      /* a memdisk-tool save is waiting */
static atomic_bool reset_requested;     /* a memdisk-tool reset is waiting */
static atomic_bool sigusr1_came;        /* lock-free: signal-safe */

static void
sigusr1_handler (int sig)
{
  (void) sig;
  atomic_store (&sigusr1_came, true);
  md_wakepipe_poke (&wake_pipe);
}

int
wake_install (void)
{
  struct sigaction sa = { .sa_handler = sigusr1_handler, .sa_flags = SA_RESTART };

  if (md_wakepipe_open (&wake_pipe) == -1) {
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

uint64_t
wake_request_save (void)
{
  uint64_t seq = status_next_save ();

  atomic_store (&save_requested, true);
  md_wakepipe_poke (&wake_pipe);
  return seq;
}

uint64_t
wake_request_reset (void)
{
  uint64_t seq = status_next_reset ();

  atomic_store (&reset_requested, true);
  md_wakepipe_poke (&wake_pipe);
  return seq;
}

void
wake_saver (void)
{
  md_wakepipe_poke (&wake_pipe);
}

int
wake_fd (void)
{
  return md_wakepipe_fd (&wake_pipe);
}

bool
wake_take (struct wake_asked *asked)
{
  if (!md_wakepipe_drain (&wake_pipe))
    return false;
  asked->requested = atomic_exchange (&save_requested, false);
  asked->reset = atomic_exchange (&reset_requested, false);
  asked->save = atomic_exchange (&sigusr1_came, false) || asked->requested;
  return true;
}

void
wake_uninstall (void)
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
  md_wakepipe_close (&wake_pipe);
}
