/* The start-up checks of snapshot=FILE (startcheck.h). */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "common/error.h"
#include "common/memavail.h"
#include "runas.h"
#include "snapshot/read/reader.h"
#include "files/replace.h"
#include "files/trust.h"
#include "startcheck.h"

int
startcheck_path (void)
{
  const char *given = memdisk_config.snapshot;
  char *resolved = NULL;
  bool exists;
  int r;

  if (runas_init () == -1)
    return -1;
  /* A URL is no path: nothing on this machine to check. */
  if (memdisk_config.snapshot_url != NULL)
    return 0;
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

/* The start-up clean-up logs each temporary it removes. */
static void
log_stale_removed (void *opaque, const char *path)
{
  (void) opaque;
  nbdkit_debug ("snapshot: removed the temporary %s left by an interrupted save", path);
}

void
startcheck_remove_stale (const char *path)
{
  if (snap_stale_remove (path, log_stale_removed, NULL) == -1)
    nbdkit_debug ("snapshot: %s", md_error ());
}

/* Creating a temporary the way a save does is the one test that tells
 * (permissions, read-only mounts, root's exemptions). */
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
int
startcheck_folder_writable (const char *path)
{
  if (runas_check (try_tmpfile, (void *) path) == -1) {
    nbdkit_error ("snapshot: cannot write the folder of %s (saves would fail): %s",
                  path, md_error ());
    return -1;
  }
  return 0;
}

/* A file of a few hundred KiB may declare gigabytes of highly
 * compressible pages. */
int
startcheck_memory (const char *path)
{
  struct snap_reader *reader;
  uint64_t need, available;
  const char *source;

  if (!memdisk_config.snapshot_memory_check)
    return 0;
  reader = snap_reader_open (memdisk_config_snapshot_source ());
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
