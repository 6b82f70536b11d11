/* Option values shared by the commands: numbers (level, threads, the
 * --timeout seconds) and sizes in nbdkit's grammar, each checked and
 * explained when it is wrong. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/pagesize.h"
#include "common/threads.h"
#include "tool.h"

static int
parse_long (const char *arg, long *value)
{
  char *end;

  errno = 0;
  *value = strtol (arg, &end, 10);
  return errno != 0 || end == arg || *end != '\0' ? -1 : 0;
}

int
tool_parse_level (const char *arg, int *level)
{
  long v;

  if (parse_long (arg, &v) == -1 || v < ZSTD_minCLevel () || v > ZSTD_maxCLevel ()) {
    tool_error ("compression level '%s' is not a number from %d to %d", arg,
                ZSTD_minCLevel (), ZSTD_maxCLevel ());
    return -1;
  }
  *level = (int) v;
  return 0;
}

int
tool_parse_threads (const char *arg, unsigned *threads)
{
  long v;

  if (parse_long (arg, &v) == -1 || v < 0 || v > SNAP_MAX_THREADS) {
    tool_error ("thread count '%s' is not a number from 0 (all CPUs) to %u",
                arg, SNAP_MAX_THREADS);
    return -1;
  }
  *threads = (unsigned) v;
  return 0;
}

/* nbdkit's grammar (nbdkit_parse_size), so that a size means the same to
 * the tool as to nbdkit memdisk: what strtoimax reads (leading blanks, a
 * sign, decimal digits), then nothing or one of b (bytes), s (512-byte
 * sectors), k, m, g, t, p, e (powers of 1024), in either case, and
 * nothing after it; not negative, at most 2^63-1. */
int
tool_parse_size (const char *arg, const char *what, uint64_t *size)
{
  char *end;
  uint64_t scale = 1;
  static const char binary[] = "kmgtpe";

  errno = 0;
  intmax_t v = strtoimax (arg, &end, 10);
  if (end == arg)
    goto not_a_size;
  if (errno == ERANGE && v > 0)
    goto too_large;
  if (v < 0 || errno != 0) {
    tool_error ("%s '%s' is negative; sizes are 0 or more", what, arg);
    return -1;
  }
  if (*end != '\0') {
    const char *unit = strchr (binary, *end | 0x20);
    if ((*end | 0x20) == 'b')
      scale = 1;
    else if ((*end | 0x20) == 's')
      scale = 512;
    else if (unit != NULL && *unit != '\0')
      scale = (uint64_t) 1 << (10 * (unit - binary + 1));
    else
      goto not_a_size;
    if (end[1] != '\0')
      goto not_a_size;
  }
  if ((uint64_t) v > (uint64_t) INT64_MAX / scale)
    goto too_large;
  *size = (uint64_t) v * scale;
  return 0;

 too_large:
  tool_error ("%s '%s' is larger than the maximum, 2^63-1 bytes", what, arg);
  return -1;
 not_a_size:
  tool_error ("%s '%s' is not a size: a number of bytes, optionally followed by "
              "one letter, b (bytes), s (512-byte sectors) or K, M, G, T, P, E "
              "(powers of 1024), e.g. 512M or 10G, as nbdkit reads sizes "
              "(10GB, 1MiB and 1.5G are not sizes)", what, arg);
  return -1;
}

int
tool_parse_page_size (const char *command, const char *arg, uint64_t *page_size)
{
  if (tool_parse_size (arg, "page size", page_size) == -1)
    return -1;
  if (!md_page_size_valid (*page_size)) {
    tool_usage_error (command, "page size %s is not a power of two from 4K to 1M", arg);
    return -1;
  }
  return 0;
}

int
tool_parse_region_size (const char *command, const char *arg, uint32_t *region_size)
{
  uint64_t size;

  if (tool_parse_size (arg, "region size", &size) == -1)
    return -1;
  if (!md_region_size_valid (size, MD_MIN_PAGE_SIZE)) {
    tool_usage_error (command, "region size %s is not a power of two from 4K to 64M", arg);
    return -1;
  }
  *region_size = (uint32_t) size;
  return 0;
}

int
tool_parse_timeout (const char *arg, int *timeout_ms)
{
  char *end;
  double v;

  errno = 0;
  v = strtod (arg, &end);
  if (errno != 0 || end == arg || *end != '\0' || !(v >= 0) || v > INT_MAX / 1000) {
    tool_error ("timeout '%s' is not a number of seconds", arg);
    return -1;
  }
  *timeout_ms = v == 0 ? -1 : (int) (v * 1000);
  return 0;
}
