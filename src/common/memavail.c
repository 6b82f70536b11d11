/* The memory a process can still take (see memavail.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "common/error.h"
#include "common/memavail.h"

/* The value in kB of the line "KEY: N kB" of the file PATH, in bytes.
 * -1 when the file or the line is missing. */
static int
read_kb_field (const char *path, const char *key, uint64_t *bytes)
{
  FILE *f = fopen (path, "re");
  char line[256];
  size_t key_len = strlen (key);
  int r = -1;

  if (f == NULL)
    return -1;
  while (fgets (line, sizeof line, f) != NULL) {
    if (strncmp (line, key, key_len) != 0 || line[key_len] != ':')
      continue;
    const char *digits = line + key_len + 1;
    char *end;
    while (*digits == ' ' || *digits == '\t')
      digits++;
    errno = 0;
    unsigned long long kb = strtoull (digits, &end, 10);
    if (end != digits && errno == 0 && kb <= UINT64_MAX / 1024) {
      *bytes = (uint64_t) kb * 1024;
      r = 0;
    }
    break;
  }
  fclose (f);
  if (r == -1)
    errno = 0;                  /* the file is there, the line is not */
  return r;
}

/* Lower *BYTES to what the limit RESOURCE leaves above the process's
 * current USED_KEY figure in STATUS. */
static void
apply_rlimit (int resource, const char *status, const char *used_key,
              const char *name, uint64_t *bytes, const char **source)
{
  struct rlimit rl;
  uint64_t used = 0;

  if (getrlimit (resource, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
    return;
  if (read_kb_field (status, used_key, &used) == -1)
    used = 0;
  uint64_t room = (uint64_t) rl.rlim_cur > used ? (uint64_t) rl.rlim_cur - used : 0;
  if (room < *bytes) {
    *bytes = room;
    *source = name;
  }
}

int
md_memory_available (const char *meminfo, const char *status,
                     uint64_t *bytes, const char **source)
{
  if (read_kb_field (meminfo, "MemAvailable", bytes) == -1) {
    md_error_set ("cannot find MemAvailable in %s%s%s", meminfo,
                  errno ? ": " : "", errno ? strerror (errno) : "");
    return -1;
  }
  *source = "MemAvailable in /proc/meminfo";
  apply_rlimit (RLIMIT_AS, status, "VmSize", "RLIMIT_AS", bytes, source);
  apply_rlimit (RLIMIT_DATA, status, "VmData", "RLIMIT_DATA", bytes, source);
  return 0;
}
