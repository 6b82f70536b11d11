/* Whole reads and writes: read(2) and write(2) may transfer less than
 * asked, and fail with EINTR when a signal arrives (the plugin's saver
 * runs alongside a SIGUSR1 handler).  These retry until everything is
 * transferred, so callers have one way to say "all of it or an error".
 *
 * Each returns 0 when all LEN bytes were transferred, else -1 with errno
 * set to the call's error, or to 0 when the file ended first (reads) or a
 * write made no progress.  *DONE, when DONE is not NULL, is set to the
 * bytes transferred either way, so a message can name the offset where it
 * stopped.  They set no md_error: the caller knows what the bytes are.
 */
#ifndef MEMDISK_FULLIO_H
#define MEMDISK_FULLIO_H

#include <stddef.h>
#include <stdint.h>

int md_pread_full (int fd, void *buf, size_t len, uint64_t offset, size_t *done);
int md_pwrite_full (int fd, const void *buf, size_t len, uint64_t offset, size_t *done);
int md_write_full (int fd, const void *buf, size_t len, size_t *done);

#endif
