/* allocator=malloc at start (allocator.h). */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <inttypes.h>

#include "allocator.h"
#include "config.h"
#include "common/error.h"
#include "common/memavail.h"
#include "common/monoclock.h"

/* The pages still to allocate must fit: better a refusal with the numbers
 * at start than the OOM killer later.  An unknown MemAvailable (no
 * /proc) skips the check, as the snapshot's memory check does. */
static int
check_memory (uint64_t size, uint64_t needed)
{
  uint64_t available;
  const char *source;

  if (md_memory_available ("/proc/meminfo", "/proc/self/status",
                           &available, &source) == -1) {
    nbdkit_debug ("allocator=malloc: memory check skipped: %s", md_error ());
    return 0;
  }
  if (needed > available) {
    nbdkit_error ("allocator=malloc: a disk of %" PRIu64 " bytes needs %" PRIu64
                  " bytes of memory at start, more than the %" PRIu64 " bytes this "
                  "server can have (%s); use a smaller size, or leave out "
                  "allocator=malloc (the default, sparse, holds only the pages "
                  "that contain data)", size, needed, available, source);
    return -1;
  }
  return 0;
}

int
allocator_prepare (struct store *disk)
{
  const double start = md_monotonic_seconds ();
  const uint64_t needed = store_preallocate_bytes (disk);

  if (!memdisk_config.allocator_malloc)
    return 0;
  if (check_memory (store_size (disk), needed) == -1)
    return -1;
  if (store_preallocate (disk) == -1) {
    nbdkit_error ("allocator=malloc: %s", md_error ());
    return -1;
  }
  nbdkit_debug ("allocator=malloc: %" PRIu64 " bytes allocated and faulted in "
                "in %.3f s", needed, md_monotonic_seconds () - start);
  return 0;
}
