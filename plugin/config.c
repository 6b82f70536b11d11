/* Parsing and validation of the plugin's parameters (see config.h). */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "common/threads.h"
#include "store/store.h"

struct memdisk_config memdisk_config = { .snapshot_memory_check = true };

const char memdisk_config_help[] =
  "[size=]<SIZE>            Virtual size of the disk in bytes; suffixes k, M,\n"
  "                         G, T, P, E are accepted (e.g. 10G), up to 2^63-1.\n"
  "                         Required unless snapshot=FILE exists (then the\n"
  "                         snapshot's size; a larger size grows the disk).\n"
  "snapshot=<FILE>          Load FILE at start when it exists; save the disk\n"
  "                         to FILE on SIGUSR1, at exit and every\n"
  "                         snapshot-interval seconds (atomically: a crash\n"
  "                         leaves the old file or the new one).\n"
  "snapshot-readonly=<BOOL> Load FILE but never write it (default false).\n"
  "snapshot-interval=<SECS> Also save every SECS seconds when the disk changed\n"
  "                         since the last save (default 0: off).\n"
  "snapshot-level=<N>       zstd compression level of saves, 1..19\n"
  "                         (default 1).\n"
  "snapshot-region-size=<SIZE>\n"
  "                         Region of the disk per data frame of a save: a\n"
  "                         power of two from the page size to 64M (default:\n"
  "                         the loaded file's, else 4M).\n"
  "snapshot-threads=<N>     Threads that compress and decompress snapshots\n"
  "                         (default: online CPUs).\n"
  "snapshot-memory-check=<BOOL>\n"
  "                         Refuse to load a snapshot whose pages need more\n"
  "                         memory than the server can have (MemAvailable,\n"
  "                         RLIMIT_AS, RLIMIT_DATA; default true).\n"
  "mlock=<BOOL>             Lock the disk's memory so that it never goes to\n"
  "                         swap (default false); RLIMIT_MEMLOCK must allow it.\n"
  "allocator=<TYPE>         The memory plugin's parameter.  sparse (the\n"
  "                         default): memory only for pages that hold data.\n"
  "                         malloc[,mlock=true]: every page of the disk in\n"
  "                         memory from the start (refused when it does not\n"
  "                         fit); zero and trim keep it.  zstd is refused.\n"
  "snapshot-load=<MODE>     lazy (the default): serve as soon as FILE's\n"
  "                         index is checked; pages load on first touch and\n"
  "                         in the background.  eager: decompress and check\n"
  "                         all of FILE before serving.\n"
  "snapshot-load-threads=<N>\n"
  "                         Background threads of a lazy load, 0..256\n"
  "                         (default: snapshot-threads; 0: none, pages load\n"
  "                         only when touched or saved).\n"
  "snapshot=<URL>           (or snapshot=+FILE holding the URL) Serve the\n"
  "                         snapshot at an http:// or https:// URL: lazy load,\n"
  "                         frames fetched by range requests and checked;\n"
  "                         writes stay in memory, never saved to the URL.\n"
  "snapshot-http-header=<HEADER>\n"
  "                         (repeatable; or +FILE) A header sent with every\n"
  "                         request, e.g. 'Authorization: Bearer TOKEN'.\n"
  "snapshot-http-cafile=<FILE>\n"
  "                         CA certificates for https (default: the system's).\n"
  "snapshot-http-connections=<N>\n"
  "                         Range requests at once, 1..64 (default 4).\n"
  "snapshot-http-timeout=<SECS>\n"
  "                         Connect timeout, and how long a transfer may stall\n"
  "                         (default 10 and 30).\n"
  "snapshot-http-retries=<N>\n"
  "                         Tries again after a connection error, a timeout or\n"
  "                         a 5xx answer, 0..20 (default 4).";

#define DEFAULT_SNAPSHOT_LEVEL 1
#define MAX_SNAPSHOT_LEVEL 19
#define MAX_SNAPSHOT_THREADS 256

static int
parse_size (const char *value)
{
  int64_t size;

  if (memdisk_config.size_given) {
    nbdkit_error ("size: given more than once (second value '%s')", value);
    return -1;
  }
  /* nbdkit_parse_size explains what is wrong with the number; add which
   * parameter it came from. */
  size = nbdkit_parse_size (value);
  if (size == -1) {
    nbdkit_error ("size: invalid value '%s'", value);
    return -1;
  }
  if ((uint64_t) size > STORE_MAX_SIZE) {
    nbdkit_error ("size: %s is larger than the maximum %" PRIu64,
                  value, (uint64_t) STORE_MAX_SIZE);
    return -1;
  }
  memdisk_config.size = (uint64_t) size;
  memdisk_config.size_given = true;
  return 0;
}

/* snapshot-region-size=: a power of two from the smallest page size to
 * 64 MiB (whether it holds a page of the disk's size is checked when the
 * store is made: the page size may come from the snapshot file). */
static int
parse_region_size (const char *key, const char *value)
{
  int64_t size = nbdkit_parse_size (value);

  if (size == -1) {
    nbdkit_error ("%s: invalid value '%s'", key, value);
    return -1;
  }
  if (!md_region_size_valid ((uint64_t) size, MD_MIN_PAGE_SIZE)) {
    nbdkit_error ("%s: '%s' is not a power of two from 4K to 64M", key, value);
    return -1;
  }
  memdisk_config.snapshot_region_size = (uint32_t) size;
  return 0;
}

static int
parse_snapshot (const char *value)
{
  if (memdisk_config.snapshot) {
    nbdkit_error ("snapshot: given more than once (second value '%s')", value);
    return -1;
  }
  if (*value == '\0') {
    nbdkit_error ("snapshot: the file name is empty");
    return -1;
  }
  /* nbdkit changes directory to / when it daemonizes. */
  memdisk_config.snapshot = nbdkit_absolute_path (value);
  return memdisk_config.snapshot ? 0 : -1;
}

static int
parse_snapshot_bool (const char *key, const char *value, bool *result)
{
  int r = nbdkit_parse_bool (value);

  if (r == -1) {
    nbdkit_error ("%s: invalid value '%s' (expected true or false)", key, value);
    return -1;
  }
  *result = r;
  return 0;
}

static int
parse_snapshot_number (const char *key, const char *value,
                       unsigned min, unsigned max, unsigned *result)
{
  if (nbdkit_parse_unsigned (key, value, result) == -1)
    return -1;
  if (*result < min || *result > max) {
    nbdkit_error ("%s: %u is out of range (%u to %u)", key, *result, min, max);
    return -1;
  }
  return 0;
}

static int
parse_mlock (const char *value)
{
  int r = nbdkit_parse_bool (value);

  if (r == -1) {
    nbdkit_error ("mlock: invalid value '%s' (expected true or false)", value);
    return -1;
  }
  memdisk_config.mlock = r;
  return 0;
}

/* allocator=TYPE[,KEY=VALUE...] is how nbdkit's memory plugin chooses its
 * allocator; a command line written for it should either work the same
 * or say what memdisk does instead.  memdisk's store is nbdkit's sparse
 * allocator's idea (memory only for pages that hold data); "malloc" is
 * the store with every page allocated at start (store_preallocate), with
 * memory's one parameter, mlock=BOOL; "zstd" is refused. */
static bool
allocator_is (const char *value, size_t type_len, const char *type)
{
  return type_len == strlen (type) && strncmp (value, type, type_len) == 0;
}

/* allocator=malloc's parameters: ",mlock=BOOL", as memory takes them. */
static int
parse_malloc_params (const char *value, const char *params)
{
  while (*params == ',') {
    const char *key = params + 1;
    size_t len = strcspn (key, ",");
    char item[64];

    if (len >= sizeof item || strncmp (key, "mlock=", strlen ("mlock=")) != 0) {
      nbdkit_error ("allocator: '%s': allocator=malloc: unknown parameter '%.*s' "
                    "(it takes mlock=true|false)", value, (int) len, key);
      return -1;
    }
    memcpy (item, key, len);
    item[len] = '\0';
    if (parse_mlock (item + strlen ("mlock=")) == -1)
      return -1;
    params = key + len;
  }
  memdisk_config.allocator_malloc = true;
  return 0;
}

static int
parse_allocator (const char *value)
{
  size_t type_len = strcspn (value, ",");
  const char *params = value + type_len;

  if (allocator_is (value, type_len, "sparse")) {
    if (*params == '\0')
      return 0;
    nbdkit_error ("allocator: '%s': allocator=sparse takes no parameters%s",
                  value, strstr (params, "mlock") ? "; for mlock, use mlock=true" : "");
    return -1;
  }
  if (allocator_is (value, type_len, "malloc"))
    return parse_malloc_params (value, params);
  if (allocator_is (value, type_len, "zstd")) {
    nbdkit_error ("allocator: '%s' is not supported: memdisk keeps pages "
                  "uncompressed in memory, for speed, and compresses with zstd "
                  "only the snapshot file (snapshot=FILE, snapshot-level=N); "
                  "leave out allocator=", value);
    return -1;
  }
  nbdkit_error ("allocator: unknown value '%s' (expected sparse or malloc)", value);
  return -1;
}

int
memdisk_config_key (const char *key, const char *value)
{
  unsigned number;

  if (strcmp (key, "size") == 0)
    return parse_size (value);
  if (strcmp (key, "snapshot") == 0)
    return parse_snapshot (value);
  if (strcmp (key, "snapshot-readonly") == 0)
    return parse_snapshot_bool (key, value, &memdisk_config.snapshot_readonly);
  if (strcmp (key, "snapshot-memory-check") == 0)
    return parse_snapshot_bool (key, value, &memdisk_config.snapshot_memory_check);
  if (strcmp (key, "snapshot-interval") == 0)
    return parse_snapshot_number (key, value, 0, UINT_MAX,
                                  &memdisk_config.snapshot_interval);
  if (strcmp (key, "snapshot-level") == 0) {
    if (parse_snapshot_number (key, value, 1, MAX_SNAPSHOT_LEVEL, &number) == -1)
      return -1;
    memdisk_config.snapshot_level = (int) number;
    return 0;
  }
  if (strcmp (key, "snapshot-load") == 0) {
    if (strcmp (value, "lazy") == 0)
      memdisk_config.snapshot_load_eager = false;
    else if (strcmp (value, "eager") == 0)
      memdisk_config.snapshot_load_eager = true;
    else {
      nbdkit_error ("%s: invalid value '%s' (expected lazy or eager)", key, value);
      return -1;
    }
    return 0;
  }
  if (strcmp (key, "snapshot-load-threads") == 0) {
    memdisk_config.snapshot_load_threads_given = true;
    return parse_snapshot_number (key, value, 0, MAX_SNAPSHOT_THREADS,
                                  &memdisk_config.snapshot_load_threads);
  }
  if (strcmp (key, "snapshot-region-size") == 0)
    return parse_region_size (key, value);
  if (strcmp (key, "snapshot-threads") == 0)
    return parse_snapshot_number (key, value, 1, MAX_SNAPSHOT_THREADS,
                                  &memdisk_config.snapshot_threads);
  if (strcmp (key, "mlock") == 0)
    return parse_mlock (value);
  if (strcmp (key, "allocator") == 0)
    return parse_allocator (value);

  nbdkit_error ("unknown parameter '%s' (see nbdkit memdisk --help)", key);
  return -1;
}

int
memdisk_config_complete (void)
{
  if (memdisk_config.snapshot_level == 0)
    memdisk_config.snapshot_level = DEFAULT_SNAPSHOT_LEVEL;
  if (!memdisk_config.snapshot_load_threads_given)
    memdisk_config.snapshot_load_threads = snap_resolve_threads (memdisk_config.snapshot_threads);
  /* Without a snapshot file the size can come from nowhere else.  (With
   * one, whether the file exists decides; that is checked when it is
   * loaded.) */
  if (!memdisk_config.size_given && memdisk_config.snapshot == NULL) {
    nbdkit_error ("size: parameter is required, e.g. nbdkit memdisk size=1G");
    return -1;
  }
  if (memdisk_config.snapshot == NULL && memdisk_config.snapshot_readonly) {
    nbdkit_error ("snapshot-readonly needs snapshot=FILE");
    return -1;
  }
  if (memdisk_config.snapshot == NULL && memdisk_config.snapshot_interval) {
    nbdkit_error ("snapshot-interval needs snapshot=FILE");
    return -1;
  }
  return 0;
}

const char *
memdisk_config_snapshot_source (void)
{
  return memdisk_config.snapshot_url ? memdisk_config.snapshot_url : memdisk_config.snapshot;
}

void
memdisk_config_unload (void)
{
  free (memdisk_config.snapshot);
  memdisk_config.snapshot = NULL;
}

int
memdisk_config_parse_number (const char *key, const char *value, unsigned min, unsigned max,
                             unsigned *result)
{
  return parse_snapshot_number (key, value, min, max, result);
}
