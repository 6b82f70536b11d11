/* nbdkit's own command-line options, as nbdkit 1.32 declares them: only
 * whether each takes a value matters to us, so that getopt_long walks
 * nbdkit's command line exactly as nbdkit's own call did (abbreviations,
 * permutation, POSIXLY_CORRECT) and finds -u and -g (runas.c).
 *
 * A copy cannot follow nbdkit by itself: tests/integration/nbdkit-options.sh
 * asks the installed nbdkit for its options (--short-options,
 * --long-options) and for what each takes (its getopt's own messages), and
 * fails on any difference; at run time runas_verify checks, once nbdkit
 * has switched users, that the checks were made for the user it runs as.
 */
#ifndef MEMDISK_PLUGIN_NBDKIT_OPTIONS_H
#define MEMDISK_PLUGIN_NBDKIT_OPTIONS_H

#include <getopt.h>

/* What getopt_long returns for an option other than -u and -g. */
#define NBDKIT_OPTION_OTHER 1

/* For getopt_long: a leading ':' (report a missing value as ':'), then
 * nbdkit's short options. */
extern const char nbdkit_short_options[];
/* Ended by an entry of NULL name. */
extern const struct option nbdkit_long_options[];

#endif
