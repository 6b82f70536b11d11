/* How much memory this process can still take, so that a load can be
 * refused before it allocates what the machine does not have (a small
 * snapshot may declare gigabytes of highly compressible pages).
 */
#ifndef MEMDISK_MEMAVAIL_H
#define MEMDISK_MEMAVAIL_H

#include <stdint.h>

/* The smallest of: MemAvailable in MEMINFO (normally "/proc/meminfo"),
 * and, when they are set, RLIMIT_AS less the process's VmSize and
 * RLIMIT_DATA less its VmData (both from STATUS, normally
 * "/proc/self/status").  *BYTES gets it, *SOURCE names where it comes
 * from ("MemAvailable in /proc/meminfo", "RLIMIT_AS", "RLIMIT_DATA").
 * -1 with md_error set when MEMINFO has no MemAvailable line. */
int md_memory_available (const char *meminfo, const char *status,
                         uint64_t *bytes, const char **source);

#endif
