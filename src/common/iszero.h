/* Whether a buffer holds only zero bytes: the store keeps no page for
 * zeros, the writer skips such pages, the digest skips such blocks, the
 * raw writer leaves holes for them.  The one is-zero test of memdisk. */
#ifndef MEMDISK_ISZERO_H
#define MEMDISK_ISZERO_H

#include <stdbool.h>
#include <stddef.h>

bool snap_is_zero (const void *buf, size_t len);

#endif
