/* The user that will save: nbdkit's -u USER and -g GROUP switch users
 * after .get_ready and do not tell plugins, so the start-up checks of
 * snapshot=FILE, made while nbdkit is still root, would hold for root
 * rather than for the user who saves.  This reads the two options from
 * nbdkit's own command line (/proc/self/cmdline, parsed with nbdkit's
 * option table, nbdkit-options.h, by getopt_long, as nbdkit parses it),
 * resolves them as nbdkit does (a name, else a number), and runs a check
 * as that user in a child process that switches as nbdkit will.  Once
 * nbdkit has switched (.after_fork), runas_verify compares the user it
 * runs as with the one the checks were made for: a command line this
 * plugin misread stops the server rather than pass unnoticed.
 */
#ifndef MEMDISK_PLUGIN_RUNAS_H
#define MEMDISK_PLUGIN_RUNAS_H

#include <stdbool.h>
#include <sys/types.h>

/* Read -u and -g.  0, or -1 after nbdkit_error (an unknown user, an
 * unreadable command line: better to refuse than to check the wrong
 * user). */
int runas_init (void);

/* The uid saves will run as: -u's, or ours. */
uid_t runas_saving_uid (void);
/* Whether nbdkit will switch users or groups after .get_ready. */
bool runas_will_switch (void);

/* .after_fork, where nbdkit has switched: whether it runs as the user
 * and group runas_init foresaw (a no-op without runas_init).  0, or -1
 * after nbdkit_error. */
int runas_verify (void);

/* Run CHECK (ARG) as the user (and group) nbdkit will switch to: in a
 * child that switches as nbdkit does, when it will; directly otherwise.
 * CHECK returns 0, or -1 with md_error set; so does this, with the
 * child's message. */
int runas_check (int (*check) (void *arg), void *arg);

#endif
