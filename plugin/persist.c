/* Persistence through nbdkit's callbacks (persist.h): the order of the
 * steps, each done by the file named for it. */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <stdlib.h>

#include "config.h"
#include "common/error.h"
#include "control.h"
#include "control/lock.h"
#include "load.h"
#include "persist.h"
#include "runas.h"
#include "saver.h"
#include "startcheck.h"
#include "status.h"
#include "wake.h"

static struct writer_lock lock = { .fd = -1 };

/* A server that may write FILE: one writer per FILE, for the whole life
 * of this server; its control channel, answering `memdisk-tool status`
 * while FILE loads; no temporaries of killed saves; a folder a save can
 * write.  0, or -1 after nbdkit_error. */
static int
prepare_to_write (const char *path)
{
  pid_t holder;

  if (writer_lock_take (&lock, path, runas_saving_uid (), &holder) == -1) {
    if (errno == EWOULDBLOCK)
      nbdkit_error ("snapshot: %s; refusing to start a second writer", md_error ());
    else if (errno == EPERM)
      nbdkit_error ("snapshot: %s", md_error ());
    else
      nbdkit_error ("snapshot: cannot write the folder of %s (saves would fail): %s",
                    path, md_error ());
    return -1;
  }
  if (control_open (path, &lock) == -1 || control_start () == -1)
    return -1;
  startcheck_remove_stale (path);
  return startcheck_folder_writable (path);
}

struct store *
persist_open_disk (void)
{
  struct snapstore_previous previous = { 0 };
  const char *origin;
  struct store *disk;

  if (memdisk_config.snapshot == NULL)
    return load_new_disk ();
  /* First of all, so that a SIGUSR1 during the load is not fatal. */
  if (wake_install () == -1 || startcheck_path () == -1)
    return NULL;
  if (!memdisk_config.snapshot_readonly && prepare_to_write (memdisk_config.snapshot) == -1)
    return NULL;
  disk = load_disk (memdisk_config.snapshot, &previous, &origin);
  if (disk == NULL)
    return NULL;
  if (saver_adopt_file (disk, &previous, origin) == -1) {
    snapstore_previous_close (&previous);
    store_destroy (disk);
    return NULL;
  }
  /* nbdkit may fork now: no thread of ours may run across it. */
  control_pause ();
  status_set_state (SERVER_SERVING);
  return disk;
}

int
persist_start (struct store *disk)
{
  if (memdisk_config.snapshot == NULL)
    return 0;
  /* nbdkit has switched to -u and -g by now: were the checks for them? */
  if (runas_verify () == -1)
    return -1;
  /* After nbdkit's fork: the kernel names this process as the holder. */
  if (writer_lock_claim (&lock) == -1)
    nbdkit_debug ("snapshot: %s", md_error ());
  control_set_disk (disk);
  if (control_start () == -1)
    return -1;
  return saver_start (disk);
}

void
persist_stop (struct store *disk)
{
  saver_stop (disk);
  status_close ();
  /* Waiting `memdisk-tool save`s get the exit save's outcome. */
  control_stop ();
}

void
persist_unload (void)
{
  wake_uninstall ();
  control_close ();
  writer_lock_release (&lock);
}

void
persist_free (void)
{
  saver_unload ();
}

int
persist_exit_status (void)
{
  return saver_exit_save_failed () ? EXIT_FAILURE : EXIT_SUCCESS;
}
