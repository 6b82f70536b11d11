/* Parsing and validation of the plugin's parameters (see config.h). */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <inttypes.h>
#include <string.h>

#include "config.h"
#include "store.h"

struct memdisk_config memdisk_config;

const char memdisk_config_help[] =
  "[size=]<SIZE>     (required) Virtual size of the disk in bytes; suffixes\n"
  "                  k, M, G, T, P, E are accepted (e.g. 10G), up to 2^63-1.";

static int
parse_size (const char *value)
{
  int64_t size;

  if (memdisk_config.size_given) {
    nbdkit_error ("size: given more than once (second value '%s')", value);
    return -1;
  }
  /* nbdkit_parse_size explains what is wrong with the number; add which
   * parameter it came from. */
  size = nbdkit_parse_size (value);
  if (size == -1) {
    nbdkit_error ("size: invalid value '%s'", value);
    return -1;
  }
  if ((uint64_t) size > STORE_MAX_SIZE) {
    nbdkit_error ("size: %s is larger than the maximum %" PRIu64,
                  value, (uint64_t) STORE_MAX_SIZE);
    return -1;
  }
  memdisk_config.size = (uint64_t) size;
  memdisk_config.size_given = true;
  return 0;
}

int
memdisk_config_key (const char *key, const char *value)
{
  if (strcmp (key, "size") == 0)
    return parse_size (value);

  nbdkit_error ("unknown parameter '%s' (see nbdkit memdisk --help)", key);
  return -1;
}

int
memdisk_config_complete (void)
{
  if (!memdisk_config.size_given) {
    nbdkit_error ("size: parameter is required, e.g. nbdkit memdisk size=1G");
    return -1;
  }
  return 0;
}
