#include <stdint.h>
#include <string.h>

#include "common/iszero.h"

/* Comparing against a block of zeros lets libc's vectorised memcmp do the
 * work; the block stays in L1 cache.  Data pages usually differ in their
 * first bytes, so the common case returns at once. */
static const unsigned char zeros[4096];

bool
snap_is_zero (const void *buf, size_t len)
{
  const unsigned char *p = buf;

  while (len > 0) {
    size_t n = len < sizeof zeros ? len : sizeof zeros;
    if (memcmp (p, zeros, n) != 0)
      return false;
    p += n;
    len -= n;
  }
  return true;
}
