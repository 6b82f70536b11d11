/* The user that will save (see runas.h). */
#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "nbdkit-options.h"
#include "runas.h"

static bool user_given, group_given;
static uid_t user_uid;
static gid_t group_gid;
static char description[256];
/* Who we were in .get_ready: who nbdkit stays without -u or -g. */
static bool initialised;
static uid_t start_uid;
static gid_t start_gid;

/* /proc/self/cmdline: NUL-separated words.  *LEN bytes, malloc'd. */
static char *
read_cmdline (size_t *len)
{
  int fd = open ("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  size_t cap = 4096, used = 0;
  char *buf = malloc (cap + 1);

  if (fd == -1 || buf == NULL) {
    int err = fd == -1 ? errno : ENOMEM;
    if (fd >= 0)
      close (fd);
    free (buf);
    errno = err;
    return NULL;
  }
  for (;;) {
    if (used == cap) {
      char *bigger = realloc (buf, cap * 2 + 1);
      if (bigger == NULL)
        break;
      buf = bigger;
      cap *= 2;
    }
    ssize_t n = read (fd, buf + used, cap - used);
    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0) {
      close (fd);
      if (n == -1) {
        free (buf);
        return NULL;
      }
      buf[used] = '\0';
      *len = used;
      return buf;
    }
    used += (size_t) n;
  }
  close (fd);
  free (buf);
  errno = ENOMEM;
  return NULL;
}

/* A name, else a number: as nbdkit reads -u and -g. */
static bool
parse_id (const char *s, bool is_user, unsigned *id)
{
  char strings[4096], *end;

  if (is_user) {
    struct passwd pw, *found = NULL;
    if (getpwnam_r (s, &pw, strings, sizeof strings, &found) == 0 && found) {
      *id = pw.pw_uid;
      return true;
    }
  }
  else {
    struct group gr, *found = NULL;
    if (getgrnam_r (s, &gr, strings, sizeof strings, &found) == 0 && found) {
      *id = gr.gr_gid;
      return true;
    }
  }
  errno = 0;
  long v = strtol (s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < 0 || v > INT_MAX)
    return false;
  *id = (unsigned) v;
  return true;
}

/* Split CMDLINE (LEN bytes of NUL-ended words) into a malloc'd argv. */
static char **
split_words (char *cmdline, size_t len, int *argc)
{
  int n = 0;

  for (size_t i = 0; i < len; i++)
    n += cmdline[i] == '\0';
  char **argv = calloc ((size_t) n + 1, sizeof *argv);
  if (argv == NULL)
    return NULL;
  for (int i = 0, at = 0; i < n; i++, at += (int) strlen (cmdline + at) + 1)
    argv[i] = cmdline + at;
  *argc = n;
  return argv;
}

/* Walk ARGV as nbdkit's getopt_long did, for -u (*USER) and -g (*GROUP).
 * An option this table does not know is logged: runas_verify catches
 * what a misreading would change. */
static void
find_user_and_group (int argc, char **argv, const char **user, const char **group)
{
  /* nbdkit is done with getopt; keep its state as it was anyway. */
  const int saved_optind = optind, saved_opterr = opterr, saved_optopt = optopt;
  char *const saved_optarg = optarg;
  int c;

  optind = 0;                   /* glibc: start afresh */
  opterr = 0;
  while ((c = getopt_long (argc, argv, nbdkit_short_options, nbdkit_long_options,
                           NULL)) != -1) {
    if (c == 'u')
      *user = optarg;
    else if (c == 'g')
      *group = optarg;
    else if (c == '?')
      nbdkit_debug ("snapshot: nbdkit's option %s is not in this plugin's table "
                    "(plugin/nbdkit-options.c)", argv[optind - 1]);
  }
  optind = saved_optind, opterr = saved_opterr, optopt = saved_optopt;
  optarg = saved_optarg;
}

/* Resolve -u USER and -g GROUP (either may be NULL).  0, or -1 after
 * nbdkit_error. */
static int
resolve_user_and_group (const char *user, const char *group)
{
  unsigned id = 0;

  if (user) {
    if (!parse_id (user, true, &id)) {
      nbdkit_error ("snapshot: -u %s is not a user name or uid", user);
      return -1;
    }
    user_given = true;
    user_uid = id;
  }
  if (group) {
    if (!parse_id (group, false, &id)) {
      nbdkit_error ("snapshot: -g %s is not a group name or gid", group);
      return -1;
    }
    group_given = true;
    group_gid = id;
  }
  return 0;
}

int
runas_init (void)
{
  size_t len;
  char *cmdline = read_cmdline (&len);
  const char *user = NULL, *group = NULL;
  char **argv;
  int argc, r;

  if (cmdline == NULL) {
    if (errno == ENOMEM)
      nbdkit_error ("snapshot: out of memory reading nbdkit's command line");
    else
      nbdkit_error ("snapshot: cannot read nbdkit's command line (for -u and -g) "
                    "from /proc/self/cmdline: %m");
    return -1;
  }
  argv = split_words (cmdline, len, &argc);
  if (argv == NULL) {
    free (cmdline);
    nbdkit_error ("snapshot: out of memory");
    return -1;
  }
  find_user_and_group (argc, argv, &user, &group);
  r = resolve_user_and_group (user, group);
  snprintf (description, sizeof description, "%s%.100s%s%s%.100s",
            user ? "user " : "", user ? user : "", user && group ? " and " : "",
            group ? "group " : "", group ? group : "");
  start_uid = geteuid ();
  start_gid = getegid ();
  initialised = true;
  if (r == 0 && runas_will_switch ())
    nbdkit_debug ("snapshot: nbdkit will run as %s (-u, -g): the checks of the "
                  "snapshot file are made for it", description);
  free (argv);
  free (cmdline);
  return r;
}

int
runas_verify (void)
{
  const uid_t uid = user_given ? user_uid : start_uid;
  const gid_t gid = group_given ? group_gid : start_gid;

  if (!initialised || (geteuid () == uid && getegid () == gid))
    return 0;
  nbdkit_error ("snapshot: nbdkit runs as uid %u gid %u, but the checks of the snapshot "
                "file were made for uid %u gid %u: this plugin misread nbdkit's -u or -g "
                "(does plugin/nbdkit-options.c lack an option of this nbdkit?)",
                (unsigned) geteuid (), (unsigned) getegid (), (unsigned) uid,
                (unsigned) gid);
  return -1;
}

uid_t
runas_saving_uid (void)
{
  return user_given ? user_uid : geteuid ();
}

bool
runas_will_switch (void)
{
  return user_given || group_given;
}

/* In the child: switch as nbdkit's change_user does (group first, its
 * supplementary groups dropped only with -g), then run the check. */
static void
child_check (int out, int (*check) (void *arg), void *arg)
{
  const char *failed = NULL;
  int r;

  if (group_given && (setgid (group_gid) == -1 || setgroups (1, &group_gid) == -1))
    failed = "setgid";
  else if (user_given && setuid (user_uid) == -1)
    failed = "setuid";
  if (failed) {
    dprintf (out, "cannot switch to %s (%s: %s)", description, failed, strerror (errno));
    _exit (1);
  }
  r = check (arg);
  if (r == -1)
    dprintf (out, "%s", md_error ());
  _exit (r == 0 ? 0 : 1);
}

/* Called from .get_ready, before nbdkit starts any thread of its own and
 * after the plugin's loader threads are joined: the child of fork is a
 * copy of a single-threaded process, so it may allocate. */
int
runas_check (int (*check) (void *arg), void *arg)
{
  int fds[2], status;
  char msg[1024];
  size_t used = 0;

  if (!runas_will_switch ())
    return check (arg);
  if (pipe2 (fds, O_CLOEXEC) == -1) {
    md_error_set ("pipe2: %s", strerror (errno));
    return -1;
  }
  pid_t pid = fork ();
  if (pid == -1) {
    md_error_set ("fork: %s", strerror (errno));
    close (fds[0]);
    close (fds[1]);
    return -1;
  }
  if (pid == 0) {
    close (fds[0]);
    child_check (fds[1], check, arg);
  }
  close (fds[1]);
  for (;;) {
    ssize_t n = read (fds[0], msg + used, sizeof msg - 1 - used);
    if (n == -1 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    used += (size_t) n;
    if (used == sizeof msg - 1)
      break;
  }
  msg[used] = '\0';
  close (fds[0]);
  while (waitpid (pid, &status, 0) == -1) {
    if (errno != EINTR) {
      md_error_set ("waitpid: %s", strerror (errno));
      return -1;
    }
  }
  if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
    return 0;
  if (used == 0)
    snprintf (msg, sizeof msg, "the check as %s died (status 0x%x)", description, status);
  md_error_set ("as %s: %s", description, msg);
  return -1;
}
