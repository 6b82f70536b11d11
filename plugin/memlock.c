/* mlock=true (see memlock.h). */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "memlock.h"

#define RAISE_HINT \
  "raise it (ulimit -l unlimited, prlimit --memlock=unlimited, or " \
  "LimitMEMLOCK=infinity in a systemd unit) or leave out mlock=true"

/* The kernel ignores RLIMIT_MEMLOCK for a process with CAP_IPC_LOCK. */
static bool
has_cap_ipc_lock (void)
{
  struct __user_cap_header_struct header = { .version = _LINUX_CAPABILITY_VERSION_3 };
  struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = { { 0 } };

  if (syscall (SYS_capget, &header, data) == -1)
    return false;
  return (data[CAP_TO_INDEX (CAP_IPC_LOCK)].effective & CAP_TO_MASK (CAP_IPC_LOCK)) != 0;
}

/* VmSize of /proc/self/status in bytes: every mapping of the process,
 * which is what the kernel counts against RLIMIT_MEMLOCK once it is all
 * locked (even with MCL_ONFAULT, and PROT_NONE reservations included). */
static int
mapped_bytes (uint64_t *bytes)
{
  static const char key[] = "VmSize:";
  FILE *fp = fopen ("/proc/self/status", "re");
  char line[256], *end;
  unsigned long long kib;
  int r = -1;

  if (fp == NULL)
    return -1;
  while (fgets (line, sizeof line, fp) != NULL) {
    if (strncmp (line, key, sizeof key - 1) != 0)
      continue;
    errno = 0;
    kib = strtoull (line + sizeof key - 1, &end, 10);
    if (errno == 0 && end != line + sizeof key - 1 && strncmp (end, " kB", 3) == 0) {
      *bytes = (uint64_t) kib * 1024;
      r = 0;
    }
    break;
  }
  fclose (fp);
  return r;
}

/* Refuse at start, with the numbers, rather than fail writes later. */
static int
check_limit (const struct rlimit *limit, uint64_t disk_size, uint64_t allocated)
{
  uint64_t mapped, needed;

  if (limit->rlim_cur == RLIM_INFINITY || has_cap_ipc_lock ())
    return 0;
  if (mapped_bytes (&mapped) == -1) {
    nbdkit_error ("mlock: cannot read VmSize in /proc/self/status: %m");
    return -1;
  }
  /* ALLOCATED may pass DISK_SIZE by the rest of a partial last page
   * (allocator=malloc allocates it whole). */
  needed = mapped + (disk_size > allocated ? disk_size - allocated : 0);
  if (needed < mapped)
    needed = UINT64_MAX;
  if (needed > (uint64_t) limit->rlim_cur) {
    nbdkit_error ("mlock: RLIMIT_MEMLOCK is %" PRIu64 " bytes, too small for "
                  "a disk of %" PRIu64 " bytes: nbdkit needs at least %" PRIu64
                  " bytes (the disk, and the %" PRIu64 " bytes it has mapped "
                  "already; more for each connection's threads); " RAISE_HINT,
                  (uint64_t) limit->rlim_cur, disk_size, needed, mapped);
    return -1;
  }
  return 0;
}

int
memlock_check (uint64_t disk_size, uint64_t allocated)
{
  struct rlimit limit;

  if (getrlimit (RLIMIT_MEMLOCK, &limit) == -1) {
    nbdkit_error ("mlock: getrlimit RLIMIT_MEMLOCK: %m");
    return -1;
  }
  return check_limit (&limit, disk_size, allocated);
}

int
memlock_all (void)
{
  if (mlockall (MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == -1) {
    nbdkit_error ("mlock: mlockall: %m%s", errno == EINVAL ? " (MCL_ONFAULT needs Linux 4.4)"
                  : "; " RAISE_HINT);
    return -1;
  }
  nbdkit_debug ("mlock: the server's memory is locked");
  return 0;
}
