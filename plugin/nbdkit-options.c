/* nbdkit 1.32's command-line options (nbdkit-options.h). */
#include <stddef.h>

#include "nbdkit-options.h"

#define OTHER NBDKIT_OPTION_OTHER

const char nbdkit_short_options[] = ":46D:e:fg:i:nop:P:rst:u:U:vV";

const struct option nbdkit_long_options[] = {
  { "ipv4-only", no_argument, NULL, OTHER },
  { "ipv6-only", no_argument, NULL, OTHER },
  { "debug", required_argument, NULL, OTHER },
  { "dump-config", no_argument, NULL, OTHER },
  { "dump-plugin", no_argument, NULL, OTHER },
  { "exit-with-parent", no_argument, NULL, OTHER },
  { "export", required_argument, NULL, OTHER },
  { "export-name", required_argument, NULL, OTHER },
  { "exportname", required_argument, NULL, OTHER },
  { "filter", required_argument, NULL, OTHER },
  { "foreground", no_argument, NULL, OTHER },
  { "no-fork", no_argument, NULL, OTHER },
  { "group", required_argument, NULL, 'g' },
  { "help", no_argument, NULL, OTHER },
  { "ip-addr", required_argument, NULL, OTHER },
  { "ipaddr", required_argument, NULL, OTHER },
  { "log", required_argument, NULL, OTHER },
  { "long-options", no_argument, NULL, OTHER },
  { "mask-handshake", required_argument, NULL, OTHER },
  { "new-style", no_argument, NULL, OTHER },
  { "newstyle", no_argument, NULL, OTHER },
  { "no-sr", no_argument, NULL, OTHER },
  { "old-style", no_argument, NULL, OTHER },
  { "oldstyle", no_argument, NULL, OTHER },
  { "pid-file", required_argument, NULL, OTHER },
  { "pidfile", required_argument, NULL, OTHER },
  { "port", required_argument, NULL, OTHER },
  { "read-only", no_argument, NULL, OTHER },
  { "readonly", no_argument, NULL, OTHER },
  { "run", required_argument, NULL, OTHER },
  { "selinux-label", required_argument, NULL, OTHER },
  { "short-options", no_argument, NULL, OTHER },
  { "single", no_argument, NULL, OTHER },
  { "stdin", no_argument, NULL, OTHER },
  { "swap", no_argument, NULL, OTHER },
  { "threads", required_argument, NULL, OTHER },
  { "tls", required_argument, NULL, OTHER },
  { "tls-certificates", required_argument, NULL, OTHER },
  { "tls-psk", required_argument, NULL, OTHER },
  { "tls-verify-peer", no_argument, NULL, OTHER },
  { "unix", required_argument, NULL, OTHER },
  { "user", required_argument, NULL, 'u' },
  { "verbose", no_argument, NULL, OTHER },
  { "version", no_argument, NULL, OTHER },
  { "vsock", no_argument, NULL, OTHER },
  { NULL, 0, NULL, 0 },
};
