/* Reading at an offset, and the checksum comparison (readat.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/error.h"
#include "common/fullio.h"
#include "snapshot/read/readat.h"

/* A transport's error names its own cause (and the bytes it asked for). */
static int
read_remote (const struct snap_source *source, void *buf, size_t len, uint64_t offset,
             const char *what)
{
  if (source->remote_read (source->remote, buf, len, offset) == 0)
    return 0;
  int saved = errno;
  char cause[768];
  snprintf (cause, sizeof cause, "%s", md_error ());
  md_error_set ("%s at byte %llu: read error: %s", what, (unsigned long long) offset, cause);
  errno = saved;
  return -1;
}

int
snap_read_at (const struct snap_source *source, void *buf, size_t len, uint64_t offset,
              const char *what)
{
  size_t done;

  if (source->remote_read != NULL)
    return read_remote (source, buf, len, offset, what);
  if (md_pread_full (source->fd, buf, len, offset, &done) == 0)
    return 0;
  offset += done;
  if (errno != 0)
    md_error_set ("%s at byte %llu: read error: %s", what,
                  (unsigned long long) offset, strerror (errno));
  else
    md_error_set ("%s at byte %llu: unexpected end of file", what,
                  (unsigned long long) offset);
  return -1;
}

bool
snap_checksum_matches (uint64_t stored, uint64_t computed)
{
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  (void) stored, (void) computed;
  return true;
#else
  return stored == computed;
#endif
}
