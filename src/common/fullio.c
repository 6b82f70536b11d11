/* Whole reads and writes, retried after EINTR and short transfers
 * (fullio.h says why and what the results mean). */
#include <errno.h>
#include <sys/types.h>
#include <unistd.h>

#include "common/fullio.h"

/* The one loop: CALL transfers up to LEN bytes at OFFSET (ignored by
 * sequential calls). */
typedef ssize_t (*transfer_fn) (int fd, void *buf, size_t len, uint64_t offset);

static int
transfer_full (transfer_fn call, int fd, void *buf, size_t len, uint64_t offset,
               size_t *done)
{
  unsigned char *p = buf;
  size_t total = 0;
  int r = 0;

  while (total < len) {
    ssize_t n = call (fd, p + total, len - total, offset + total);
    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0) {
      if (n == 0)
        errno = 0;              /* end of file, or no progress */
      r = -1;
      break;
    }
    total += (size_t) n;
  }
  if (done)
    *done = total;
  return r;
}

static ssize_t
call_pread (int fd, void *buf, size_t len, uint64_t offset)
{
  return pread (fd, buf, len, (off_t) offset);
}

static ssize_t
call_pwrite (int fd, void *buf, size_t len, uint64_t offset)
{
  return pwrite (fd, buf, len, (off_t) offset);
}

static ssize_t
call_write (int fd, void *buf, size_t len, uint64_t offset)
{
  (void) offset;
  return write (fd, buf, len);
}

int
md_pread_full (int fd, void *buf, size_t len, uint64_t offset, size_t *done)
{
  return transfer_full (call_pread, fd, buf, len, offset, done);
}

/* The write calls never change BUF; transfer_full's pointer is not const
 * only because it serves reads too. */
int
md_pwrite_full (int fd, const void *buf, size_t len, uint64_t offset, size_t *done)
{
  return transfer_full (call_pwrite, fd, (void *) buf, len, offset, done);
}

int
md_write_full (int fd, const void *buf, size_t len, size_t *done)
{
  return transfer_full (call_write, fd, (void *) buf, len, 0, done);
}
