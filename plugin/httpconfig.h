/* The parameters of a snapshot at a URL (snapshot=URL and the
 * snapshot-http-* keys): parsed here, handed to src/remote/ as the
 * process's HTTP options.  A URL's credentials stay in
 * memdisk_config.snapshot_url; every message shows memdisk_config.snapshot,
 * the URL without them. */
#ifndef MEMDISK_PLUGIN_HTTPCONFIG_H
#define MEMDISK_PLUGIN_HTTPCONFIG_H

/* Before memdisk_config_key: a snapshot-http-* KEY, or snapshot=VALUE
 * where VALUE is a URL: "+FILE" (the URL is read from FILE, so that
 * neither the command line nor nbdkit -v shows it) or http(s)://...
 * 1 when KEY=VALUE is not one of those, 0 when taken, -1 after
 * nbdkit_error. */
int httpconfig_key (const char *key, const char *value);
/* After memdisk_config_complete: what a URL allows, the options set.  0
 * or -1 after nbdkit_error. */
int httpconfig_complete (void);
/* .unload, before memdisk_config_unload. */
void httpconfig_unload (void);

#endif
