/* The disk at start (load.h). */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "allocator.h"
#include "config.h"
#include "common/error.h"
#include "common/monoclock.h"
#include "lazyload.h"
#include "load.h"
#include "startcheck.h"

struct store *
load_new_disk (void)
{
  const uint32_t region_size = memdisk_config.snapshot_region_size;
  struct store *disk = store_create_regions (memdisk_config.size, STORE_DEFAULT_PAGE_SIZE,
                                             region_size != 0 ? region_size
                                                              : STORE_DEFAULT_REGION_SIZE);

  if (disk == NULL)
    nbdkit_error ("%s%s", region_size != 0 ? "snapshot-region-size: " : "", md_error ());
  else if (allocator_prepare (disk) == -1) {
    store_destroy (disk);
    return NULL;
  }
  return disk;
}

/* size= may grow the disk of FILE, never shrink it. */
static int
check_size (struct store *disk, const char *path, uint64_t file_size)
{
  if (memdisk_config.size_given && memdisk_config.size < file_size) {
    nbdkit_error ("size: %" PRIu64 " is smaller than the virtual size of the "
                  "snapshot %s (%" PRIu64 " bytes); refusing to shrink the disk",
                  memdisk_config.size, path, file_size);
    return -1;
  }
  if (store_size (disk) > file_size) {
    nbdkit_debug ("growing the disk of %s from %" PRIu64 " to %" PRIu64 " bytes",
                  path, file_size, store_size (disk));
    /* The disk now differs from the file: the next save records the size. */
    store_mark_changed (disk);
  }
  return 0;
}

static struct store *
load_file (const char *path, struct snapstore_previous *previous)
{
  const double start = md_monotonic_seconds ();
  const uint64_t min_size = memdisk_config.size_given ? memdisk_config.size : 0;
  const bool eager = memdisk_config.snapshot_load_eager;
  const bool saves = !memdisk_config.snapshot_readonly;
  uint64_t file_size;
  struct store *disk;

  /* The loaded file is the first save's previous file, for a server that
   * saves: an eager load keeps it open, a lazy load serves from it (the
   * first save copies the unchanged regions' frames from it, loaded or
   * not, never decompressing them). */
  if (eager)
    disk = snapstore_load (path, min_size, memdisk_config.snapshot_region_size,
                           memdisk_config.snapshot_threads, &file_size, saves ? previous : NULL);
  else
    disk = lazyload_open (memdisk_config_snapshot_source (), min_size, &file_size);
  if (disk == NULL) {
    if (memdisk_config.snapshot_region_size != 0)
      nbdkit_error ("snapshot: cannot load %s with snapshot-region-size=%" PRIu32 ": %s",
                    path, memdisk_config.snapshot_region_size, md_error ());
    else
      nbdkit_error ("snapshot: cannot load %s: %s", path, md_error ());
    return NULL;
  }
  if (check_size (disk, path, file_size) == -1 || allocator_prepare (disk) == -1) {
    snapstore_previous_close (previous);
    store_destroy (disk);
    return NULL;
  }
  if (!eager && saves)
    snapstore_previous_from_lazy (previous, lazyload_file (), disk);
  nbdkit_debug ("%s %s in %.3f s: %" PRIu64 " bytes, %" PRIu64 " allocated",
                eager ? "loaded" : "opened (lazy load)", path,
                md_monotonic_seconds () - start, store_size (disk),
                store_allocated_bytes (disk));
  return disk;
}

struct store *
load_disk (const char *path, struct snapstore_previous *previous, const char **origin)
{
  struct stat st;
  struct store *disk;

  /* A URL is opened, not looked for: an error says what the server said. */
  if (memdisk_config.snapshot_url != NULL || stat (path, &st) == 0) {
    *origin = "load";
    return startcheck_memory (path) == -1 ? NULL : load_file (path, previous);
  }
  if (errno != ENOENT) {
    nbdkit_error ("snapshot: %s: %m", path);
    return NULL;
  }
  if (!memdisk_config.size_given) {
    nbdkit_error ("size: parameter is required when the snapshot %s does "
                  "not exist yet", path);
    return NULL;
  }
  if (memdisk_config.snapshot_readonly) {
    nbdkit_error ("snapshot-readonly: the snapshot %s does not exist", path);
    return NULL;
  }
  disk = load_new_disk ();
  if (disk != NULL)
    store_mark_changed (disk);
  *origin = "start";
  return disk;
}
