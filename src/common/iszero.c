/* The is-zero test (iszero.h). */
#include <stdint.h>
#include <string.h>

#include "common/iszero.h"

/* Comparing against a block of zeros lets libc's vectorised memcmp do the
 * work; the block stays in L1 cache.  Data pages usually differ in their
 * first bytes, so the common case returns at once.  Measured against
 * comparing the buffer with itself shifted by 16 bytes (what store.c used
 * to do): as fast from 32 KiB up, 1.2x faster at 4 KiB, 2x at 100 bytes
 * (gcc 12 -O2, glibc 2.36, all-zero buffers). */
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
