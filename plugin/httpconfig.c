/* The parameters of a snapshot at a URL (httpconfig.h). */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "httpconfig.h"
#include "remote/http.h"
#include "remote/url.h"

static struct md_http_options options = {
  .connections = 4, .connect_timeout_s = 10, .low_speed_time_s = 30, .retries = 4,
  .retry_pause_ms = 200,
};
static char *headers[MD_HTTP_MAX_HEADERS];
static char *cafile;

static bool
is_url (const char *value)
{
  return value[0] == '+' || md_url_is_http (value);
}

/* nbdkit_read_password's forms: the value itself, +FILE, - or -FD. */
static char *
read_secret (const char *key, const char *value)
{
  char *secret = NULL;

  if (value[0] != '+')
    return strdup (value);
  if (nbdkit_read_password (value, &secret) == -1) {
    nbdkit_error ("%s: cannot read %s", key, value + 1);
    return NULL;
  }
  return secret;
}

static int
parse_url (const char *value)
{
  char shown[1024];

  if (memdisk_config.snapshot) {
    nbdkit_error ("snapshot: given more than once");
    return -1;
  }
  char *url = read_secret ("snapshot", value);

  if (url == NULL)
    return -1;
  if (!md_url_is_http (url)) {
    nbdkit_error ("snapshot: %s does not hold an http:// or https:// URL", value + 1);
    free (url);
    return -1;
  }
  md_url_shown (url, shown, sizeof shown);
  memdisk_config.snapshot_url = url;
  memdisk_config.snapshot = strdup (shown);
  if (memdisk_config.snapshot == NULL) {
    nbdkit_error ("snapshot: out of memory");
    return -1;
  }
  return 0;
}

static int
add_header (const char *key, const char *value)
{
  if (options.header_count == MD_HTTP_MAX_HEADERS) {
    nbdkit_error ("%s: at most %d headers", key, MD_HTTP_MAX_HEADERS);
    return -1;
  }
  char *header = read_secret (key, value);
  if (header == NULL)
    return -1;
  /* A header is one line: a line break would add headers unseen. */
  header[strcspn (header, "\r\n")] = '\0';
  if (strchr (header, ':') == NULL) {
    nbdkit_error ("%s: a header is 'Name: value' (no ':' in the value given)", key);
    free (header);
    return -1;
  }
  headers[options.header_count] = header;
  options.headers[options.header_count++] = header;
  return 0;
}

int
httpconfig_key (const char *key, const char *value)
{
  unsigned n;

  if (strcmp (key, "snapshot") == 0)
    return is_url (value) ? parse_url (value) : 1;
  if (strcmp (key, "snapshot-http-header") == 0)
    return add_header (key, value);
  if (strcmp (key, "snapshot-http-cafile") == 0) {
    free (cafile);
    cafile = nbdkit_absolute_path (value);
    options.cafile = cafile;
    return cafile ? 0 : -1;
  }
  if (strcmp (key, "snapshot-http-connections") == 0)
    return memdisk_config_parse_number (key, value, 1, 64, &options.connections);
  if (strcmp (key, "snapshot-http-retries") == 0)
    return memdisk_config_parse_number (key, value, 0, 20, &options.retries);
  if (strcmp (key, "snapshot-http-timeout") == 0) {
    if (memdisk_config_parse_number (key, value, 1, 3600, &n) == -1)
      return -1;
    options.connect_timeout_s = options.low_speed_time_s = n;
    return 0;
  }
  return 1;
}

int
httpconfig_complete (void)
{
  if (memdisk_config.snapshot_url == NULL) {
    if (options.header_count > 0 || cafile != NULL) {
      nbdkit_error ("snapshot-http-*: these parameters need snapshot=URL");
      return -1;
    }
    return 0;
  }
  if (memdisk_config.snapshot_load_eager) {
    nbdkit_error ("snapshot-load=eager: a snapshot at a URL loads lazily only (frames "
                  "are fetched when first touched and in the background); leave out "
                  "snapshot-load=eager");
    return -1;
  }
  if (memdisk_config.snapshot_interval) {
    nbdkit_error ("snapshot-interval: a snapshot at a URL is never written (writes "
                  "stay in memory); leave out snapshot-interval");
    return -1;
  }
  /* The base at a URL is read-only: a save has nowhere to go. */
  memdisk_config.snapshot_readonly = true;
  md_http_set_default_options (&options);
  return 0;
}

void
httpconfig_unload (void)
{
  for (size_t i = 0; i < options.header_count; i++) {
    free (headers[i]);
    headers[i] = NULL;
  }
  options.header_count = 0;
  free (cafile);
  cafile = NULL;
  free (memdisk_config.snapshot_url);
  memdisk_config.snapshot_url = NULL;
}
