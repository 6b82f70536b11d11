/* Sizes in plain words for people: "512 bytes", "1.5 GiB", and the
 * exact count beside them. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>

#include "tool.h"

const char *
tool_format_size (uint64_t bytes, char buf[32])
{
  static const char *const units[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };

  if (bytes < 1024) {
    snprintf (buf, 32, "%" PRIu64 " byte%s", bytes, bytes == 1 ? "" : "s");
    return buf;
  }
  /* The largest unit of which BYTES holds at least one.  An index from
   * 0, not a count from -1: the static analyzer could not tell that a
   * loop on doubles runs at least once. */
  const double d = (double) bytes;
  unsigned u = 0;               /* units[u] is 1024^(u+1) bytes */
  while (u < 5 && d >= (double) ((uint64_t) 1 << (10 * (u + 2))))
    u++;
  const uint64_t unit = (uint64_t) 1 << (10 * (u + 1));
  const double v = d / (double) unit;
  if (bytes % unit == 0)
    snprintf (buf, 32, "%.0f %s", v, units[u]);
  else
    snprintf (buf, 32, "%.1f %s", v, units[u]);
  return buf;
}

const char *
tool_format_size_exact (uint64_t bytes, char buf[64])
{
  char words[32];

  if (bytes < 1024)
    snprintf (buf, 64, "%s", tool_format_size (bytes, words));
  else
    snprintf (buf, 64, "%s (%" PRIu64 " bytes)", tool_format_size (bytes, words), bytes);
  return buf;
}
