/* The parameters of a snapshot at a URL (snapshot=URL and the
 * snapshot-http-* keys): parsed here, handed to src/remote/ as the
 * process's HTTP options.  A URL's credentials stay in
 * memdisk_config.snapshot_url; every message shows memdisk_config.snapshot,
 * the URL without them. */
#ifndef MEMDISK_PLUGIN_HTTPCONFIG_H
#define MEMDISK_PLUGIN_HTTPCONFIG_H

#include <stdbool.h>

/* Whether snapshot=VALUE names a URL: "+FILE" (the URL is read from FILE,
 * so that neither the command line nor nbdkit -v shows it) or
 * http(s)://...  */
bool httpconfig_is_url (const char *value);
/* snapshot=VALUE for a URL: 0, or -1 after nbdkit_error. */
int httpconfig_snapshot (const char *value);
/* A snapshot-http-* KEY: 1 when it is not one, 0 when taken, -1 after
 * nbdkit_error. */
int httpconfig_key (const char *key, const char *value);
/* .config_complete for a URL: what a URL allows, the options set.  0 or
 * -1 after nbdkit_error. */
int httpconfig_complete (void);
void httpconfig_unload (void);

/* The parameters' lines of `nbdkit memdisk --help`. */
#define HTTPCONFIG_HELP \
  "snapshot=<URL>           (or snapshot=+FILE holding the URL) Serve the\n" \
  "                         snapshot at an http:// or https:// URL: lazy load,\n" \
  "                         frames fetched by range requests and checked;\n" \
  "                         writes stay in memory, never saved to the URL.\n" \
  "snapshot-http-header=<HEADER>\n" \
  "                         (repeatable; or +FILE) A header sent with every\n" \
  "                         request, e.g. 'Authorization: Bearer TOKEN'.\n" \
  "snapshot-http-cafile=<FILE>\n" \
  "                         CA certificates for https (default: the system's).\n" \
  "snapshot-http-connections=<N>\n" \
  "                         Range requests at once, 1..64 (default 4).\n" \
  "snapshot-http-timeout=<SECS>\n" \
  "                         Connect timeout, and how long a transfer may stall\n" \
  "                         (default 10 and 30).\n" \
  "snapshot-http-retries=<N>\n" \
  "                         Tries again after a connection error, a timeout or\n" \
  "                         a 5xx answer, 0..20 (default 4).\n"

#endif
