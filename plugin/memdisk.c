/* nbdkit-memdisk-plugin: a sparse RAM disk, a drop-in for nbdkit's
 * memory plugin, that persists to a snapshot file.  Every callback maps
 * one NBD request onto the store (src/store/store.h); parameters are handled in
 * config.c, loading and saving in persist.c.
 */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "common/error.h"
#include "httpconfig.h"
#include "lazyload.h"
#include "memlock.h"
#include "persist.h"
#include "store/store.h"

/* The single disk every connection shares: created or loaded in get_ready
 * (before nbdkit forks, so a failure stops nbdkit at start), saved in
 * cleanup, destroyed in unload. */
static struct store *disk;

/* Forward the store's message to the client's log; keep the store's
 * errno, which nbdkit sends to the client (errno_is_preserved). */
static int
report_store_error (void)
{
  int saved_errno = errno;

  nbdkit_error ("%s", md_error ());
  errno = saved_errno;
  return -1;
}

static void
memdisk_dump_plugin (void)
{
  printf ("memdisk_version=%s\n", MEMDISK_VERSION);
  printf ("memdisk_page_size=%u\n", STORE_DEFAULT_PAGE_SIZE);
  printf ("memdisk_max_size=%" PRIu64 "\n", (uint64_t) STORE_MAX_SIZE);
}

static int
memdisk_get_ready (void)
{
  disk = persist_open_disk ();
  if (disk != NULL && (!memdisk_config.mlock ||
                       memlock_check (store_size (disk), store_allocated_bytes (disk)) == 0))
    return 0;
  /* nbdkit exits without .unload when .get_ready fails: let go of FILE's
   * control socket and writer lock (and its lock file) now. */
  persist_stop (NULL);
  persist_unload ();
  return -1;
}

static int
memdisk_after_fork (void)
{
  if (memdisk_config.mlock && memlock_all () == -1)
    return -1;
  /* Only speed is lost without the refiller: first writes fault in
   * their own memory. */
  if (store_start_refiller (disk) == -1)
    nbdkit_debug ("%s", md_error ());
  if (lazyload_start () == -1)
    return -1;
  return persist_start (disk);
}

/* Clients are gone: the background loader stops (joined), then the final
 * save, which decodes the frames still in the file. */
static void
memdisk_cleanup (void)
{
  lazyload_stop ();
  persist_stop (disk);
}

static void
memdisk_unload (void)
{
  int status = persist_exit_status ();

  persist_unload ();
  if (disk != NULL)
    store_destroy (disk);
  disk = NULL;
  persist_free ();              /* after the store, whose fault hook it routes */
  lazyload_free ();             /* after the store, whose fault hook it is */
  httpconfig_unload ();
  memdisk_config_unload ();
  /* A failed exit save must not end in "exit 0": nbdkit returns
   * EXIT_SUCCESS after .unload whatever happened, so end the process here
   * (everything is freed; the error is already written, stdio is flushed;
   * what nbdkit would still do is free memory and dlclose us). */
  if (status != EXIT_SUCCESS) {
    fflush (NULL);
    _exit (status);
  }
}

static void *
memdisk_open (int readonly)
{
  (void) readonly;
  return NBDKIT_HANDLE_NOT_NEEDED;
}

static int64_t
memdisk_get_size (void *handle)
{
  (void) handle;
  return (int64_t) store_size (disk);
}

/* RAM has no volatile cache to flush, no seek cost, and every
 * connection sees the same bytes at once. */
static int
memdisk_can_fua (void *handle)
{
  (void) handle;
  return NBDKIT_FUA_NATIVE;
}

static int
memdisk_can_cache (void *handle)
{
  (void) handle;
  return NBDKIT_CACHE_NATIVE;
}

static int
memdisk_can_multi_conn (void *handle)
{
  (void) handle;
  return 1;
}

/* Zeroing frees or clears pages and never falls back to writing zeros,
 * so it is always fast. */
static int
memdisk_can_fast_zero (void *handle)
{
  (void) handle;
  return 1;
}

static int
memdisk_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
               uint32_t flags)
{
  (void) handle; (void) flags;
  if (store_read (disk, buf, count, offset) == -1)
    return report_store_error ();
  return 0;
}

/* FUA needs no work: once the store returns, the data is as durable as
 * RAM gets. */
static int
memdisk_pwrite (void *handle, const void *buf, uint32_t count,
                uint64_t offset, uint32_t flags)
{
  (void) handle; (void) flags;
  if (store_write (disk, buf, count, offset) == -1)
    return report_store_error ();
  return 0;
}

static int
memdisk_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  (void) handle; (void) flags;
  if (store_zero (disk, count, offset) == -1)
    return report_store_error ();
  return 0;
}

static int
memdisk_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  (void) handle; (void) flags;
  if (store_trim (disk, count, offset) == -1)
    return report_store_error ();
  return 0;
}

static int
memdisk_flush (void *handle, uint32_t flags)
{
  (void) handle; (void) flags;
  return 0;
}

static int
memdisk_cache (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  (void) handle; (void) count; (void) offset; (void) flags;
  return 0;
}

struct extents_request {
  struct nbdkit_extents *extents;
  bool only_one;                /* NBDKIT_FLAG_REQ_ONE */
  bool add_failed;              /* nbdkit_add_extent failed and reported it */
};

static int
add_extent (void *opaque, uint64_t offset, uint64_t len, bool allocated)
{
  struct extents_request *req = opaque;
  uint32_t type = allocated ? 0 : NBDKIT_EXTENT_HOLE | NBDKIT_EXTENT_ZERO;

  if (nbdkit_add_extent (req->extents, offset, len, type) == -1) {
    req->add_failed = true;
    return -1;
  }
  return req->only_one ? STORE_EXTENTS_STOP : 0;
}

static int
memdisk_extents (void *handle, uint32_t count, uint64_t offset,
                 uint32_t flags, struct nbdkit_extents *extents)
{
  struct extents_request req = {
    .extents = extents,
    .only_one = (flags & NBDKIT_FLAG_REQ_ONE) != 0,
  };

  (void) handle;
  if (store_extents (disk, offset, count, add_extent, &req) == -1)
    return req.add_failed ? -1 : report_store_error ();
  return 0;
}

/* Parallel, even though nbdkit 1.32.4 to 1.33.9 abort (raw_send_socket:
 * "Assertion `sock >= 0' failed") when a client hangs up while two of its
 * connection's threads hold replies: the first gets EPIPE and closes the
 * socket, the second sends on it.  That happens after our callbacks have
 * returned, with or without an error; only one thread per connection
 * avoids it, which nbdkit --threads=1 gives the users who want it.  See
 * KNOWN ISSUES WITH NBDKIT 1.32 in the man page. */
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

/* The parameters: a snapshot at a URL's (httpconfig.c) first, the others
 * (config.c). */
static int
memdisk_parameter (const char *key, const char *value)
{
  int r = httpconfig_key (key, value);

  return r != 1 ? r : memdisk_config_key (key, value);
}

static int
memdisk_parameters_done (void)
{
  return memdisk_config_complete () == -1 ? -1 : httpconfig_complete ();
}

static struct nbdkit_plugin plugin = {
  .name              = "memdisk",
  .longname          = "nbdkit memdisk: sparse RAM disk plugin",
  .version           = MEMDISK_VERSION,
  .description       = "A sparse RAM disk, like the memory plugin.",
  .magic_config_key  = "size",
  .config            = memdisk_parameter,
  .config_complete   = memdisk_parameters_done,
  .config_help       = memdisk_config_help,
  .dump_plugin       = memdisk_dump_plugin,
  .get_ready         = memdisk_get_ready,
  .after_fork        = memdisk_after_fork,
  .cleanup           = memdisk_cleanup,
  .unload            = memdisk_unload,
  .open              = memdisk_open,
  .get_size          = memdisk_get_size,
  .can_fua           = memdisk_can_fua,
  .can_cache         = memdisk_can_cache,
  .can_multi_conn    = memdisk_can_multi_conn,
  .can_fast_zero     = memdisk_can_fast_zero,
  .pread             = memdisk_pread,
  .pwrite            = memdisk_pwrite,
  .zero              = memdisk_zero,
  .trim              = memdisk_trim,
  .flush             = memdisk_flush,
  .cache             = memdisk_cache,
  .extents           = memdisk_extents,
  .errno_is_preserved = 1,
};

NBDKIT_REGISTER_PLUGIN (plugin)
