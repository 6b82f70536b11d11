/* Whether a buffer holds only zero bytes: the writer skips such pages, the
 * digest skips such blocks, the raw writer leaves holes for them. */
#ifndef MEMDISK_SNAPZERO_H
#define MEMDISK_SNAPZERO_H

#include <stdbool.h>
#include <stddef.h>

bool snap_is_zero (const void *buf, size_t len);

#endif
