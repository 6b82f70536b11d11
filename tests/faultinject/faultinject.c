/* An LD_PRELOAD shim that makes one chosen call fail, for the fault
 * injection tests (tests/integration/harden-*.sh, tests/README.md).
 *
 *   MEMDISK_FAULT=CALL:N[+][:HOW]
 *       fail the Nth matching call of CALL (with "+": that one and every
 *       later one).  CALL is one of
 *         write (write and pwrite) fsync fdatasync close rename fchmod
 *         mkostemp open ftruncate pread
 *                      on files whose path matches MEMDISK_FAULT_PATH;
 *         ficlone      ioctl (FICLONERANGE), on the destination file
 *                      (other ioctls pass untouched);
 *         alloc        malloc, calloc, realloc, strdup, strndup and
 *                      asprintf called from a module whose file name
 *                      contains one of the ':'-separated words of
 *                      MEMDISK_FAULT_MODULES (default
 *                      "nbdkit-memdisk-plugin.so:memdisk-tool:libzstd").
 *       HOW is an errno name (EIO, the default; ENOSPC, EDQUOT, EACCES,
 *       EPERM, ENOMEM, and for ficlone EOPNOTSUPP, EXDEV, EINVAL); or, for write, "short": write half the bytes and
 *       report that, which is not an error (the caller must write the
 *       rest); or "kill": the process sends itself SIGKILL instead of
 *       making the call (kill -9 at exactly that step); or "hold": the
 *       call waits until the file MEMDISK_FAULT_RELEASE exists, then is
 *       made normally (a test can act while a save stands at that step).
 *   MEMDISK_FAULT_PATH=GLOB
 *       fnmatch(3) pattern, without FNM_PATHNAME, for the file's path:
 *       the path given to open, rename (its source), mkostemp (its
 *       template), or /proc/self/fd/FD's target for the fd-based calls.
 *       Default "*".
 *   MEMDISK_FAULT_LOG=FILE
 *       append a line for each failure injected ("faultinject: write #3
 *       PATH: failed with EIO"), so that a test can check that the failure
 *       it wanted happened.  With MEMDISK_FAULT_TRACE=1, also a line for
 *       every matching file call of any kind but pread ("faultinject:
 *       fsync #2 PATH"), so that a test can list the steps of a save and
 *       then fail each one; with MEMDISK_FAULT_TRACE=all, of pread too.
 *       Calls are numbered per kind, from the process's start.
 *
 *   MEMDISK_FAULT_RELEASE=FILE
 *       for "hold": the file whose creation lets the held call go on.
 *       The log says "held" when the call starts waiting.
 *
 *   MEMDISK_FAULT_PROGRAM=NAME
 *       act only in a program of that name (program_invocation_short_name),
 *       e.g. nbdkit: not in a wrapper script's shell on the way to it.
 *
 * The shim reads its settings when it is loaded into that program and
 * then removes them and LD_PRELOAD from the environment, so that the
 * programs it starts (nbdkit --run's clients) run normally.
 *
 * Allocations are counted only from our modules, so that nbdkit and the C
 * library keep working and the failure lands in code under test.  Under
 * ASan or TSan the sanitizer's malloc comes first and this one is never
 * called: the tests check the log and skip that part there.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <linux/fs.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum fault_call {
  CALL_NONE, CALL_WRITE, CALL_FSYNC, CALL_FDATASYNC, CALL_CLOSE, CALL_RENAME,
  CALL_FCHMOD, CALL_MKOSTEMP, CALL_OPEN, CALL_FTRUNCATE, CALL_PREAD, CALL_FICLONE, CALL_ALLOC,
  CALL_COUNT
};

static const char *const call_names[] = {
  [CALL_WRITE] = "write", [CALL_FSYNC] = "fsync", [CALL_FDATASYNC] = "fdatasync",
  [CALL_CLOSE] = "close", [CALL_RENAME] = "rename", [CALL_FCHMOD] = "fchmod",
  [CALL_MKOSTEMP] = "mkostemp", [CALL_OPEN] = "open", [CALL_FTRUNCATE] = "ftruncate",
  [CALL_PREAD] = "pread", [CALL_FICLONE] = "ficlone", [CALL_ALLOC] = "alloc",
};

#define SHORT_WRITE (-1)
#define KILL_PROCESS (-2)
#define HOLD_CALL (-3)

static struct {
  enum fault_call call;
  unsigned long nth;
  bool and_later;
  int how;                      /* errno, or SHORT_WRITE */
  char how_name[16];            /* as given: "EIO", "short", ... */
  char path[4096];
  char modules[1024];
  char log[4096];
  char release[4096];           /* for HOLD_CALL */
  bool trace;
  bool trace_reads;
} fault;

static atomic_ulong calls_seen[CALL_COUNT];
static _Thread_local bool in_shim;     /* our own calls are not counted */

/* The real functions. */
extern void *__libc_malloc (size_t);
extern void *__libc_calloc (size_t, size_t);
extern void *__libc_realloc (void *, size_t);
static ssize_t (*real_write) (int, const void *, size_t);
static ssize_t (*real_pwrite) (int, const void *, size_t, off_t);
static ssize_t (*real_pread) (int, void *, size_t, off_t);
static int (*real_fsync) (int);
static int (*real_fdatasync) (int);
static int (*real_close) (int);
static int (*real_rename) (const char *, const char *);
static int (*real_fchmod) (int, mode_t);
static int (*real_mkostemp) (char *, int);
static int (*real_open) (const char *, int, ...);
static int (*real_ftruncate) (int, off_t);
static int (*real_ioctl) (int, unsigned long, ...);
static char *(*real_strdup) (const char *);
static char *(*real_strndup) (const char *, size_t);
static int (*real_vasprintf) (char **, const char *, va_list);

static void log_line (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

static void
log_line (const char *fmt, ...)
{
  char line[4200];
  va_list ap;
  int fd, len;

  if (fault.log[0] == '\0')
    return;
  va_start (ap, fmt);
  len = vsnprintf (line, sizeof line - 1, fmt, ap);
  va_end (ap);
  if (len < 0)
    return;
  if ((size_t) len > sizeof line - 2)
    len = sizeof line - 2;
  line[len++] = '\n';
  fd = real_open (fault.log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd >= 0) {
    if (real_write (fd, line, (size_t) len) == -1) { /* nowhere to say so */ }
    real_close (fd);
  }
}

static int
errno_named (const char *name)
{
  static const struct { const char *name; int value; } names[] = {
    { "EIO", EIO }, { "ENOSPC", ENOSPC }, { "EDQUOT", EDQUOT },
    { "EACCES", EACCES }, { "EPERM", EPERM }, { "ENOMEM", ENOMEM },
    { "EOPNOTSUPP", EOPNOTSUPP }, { "EXDEV", EXDEV }, { "EINVAL", EINVAL },
  };
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strcmp (name, names[i].name) == 0)
      return names[i].value;
  return 0;
}

static void
bad_setting (const char *what)
{
  fprintf (stderr, "faultinject: bad MEMDISK_FAULT: %s\n", what);
  _exit (125);
}

static void
parse_fault (const char *spec)
{
  char copy[256], *call, *count, *how, *end;

  snprintf (copy, sizeof copy, "%s", spec);
  call = strtok (copy, ":");
  count = strtok (NULL, ":");
  how = strtok (NULL, ":");
  if (call == NULL || count == NULL)
    bad_setting (spec);
  for (size_t i = 1; i < sizeof call_names / sizeof call_names[0]; i++)
    if (strcmp (call, call_names[i]) == 0)
      fault.call = (enum fault_call) i;
  if (fault.call == CALL_NONE)
    bad_setting (call);
  fault.nth = strtoul (count, &end, 10);
  fault.and_later = *end == '+';
  if (end == count || (*end != '\0' && strcmp (end, "+") != 0) || fault.nth == 0)
    bad_setting (count);
  fault.how = EIO;
  if (how != NULL && strcmp (how, "short") == 0 && fault.call == CALL_WRITE)
    fault.how = SHORT_WRITE;
  else if (how != NULL && strcmp (how, "kill") == 0 && fault.call != CALL_ALLOC)
    fault.how = KILL_PROCESS;
  else if (how != NULL && strcmp (how, "hold") == 0 && fault.call != CALL_ALLOC)
    fault.how = HOLD_CALL;
  else if (how != NULL && (fault.how = errno_named (how)) == 0)
    bad_setting (how);
  if (fault.call == CALL_ALLOC)
    fault.how = ENOMEM, how = "ENOMEM";
  snprintf (fault.how_name, sizeof fault.how_name, "%s", how ? how : "EIO");
}

__attribute__ ((constructor)) static void
faultinject_init (void)
{
  const char *spec = getenv ("MEMDISK_FAULT");
  const char *value;

  real_write = dlsym (RTLD_NEXT, "write");
  real_pwrite = dlsym (RTLD_NEXT, "pwrite");
  real_pread = dlsym (RTLD_NEXT, "pread");
  real_fsync = dlsym (RTLD_NEXT, "fsync");
  real_fdatasync = dlsym (RTLD_NEXT, "fdatasync");
  real_close = dlsym (RTLD_NEXT, "close");
  real_rename = dlsym (RTLD_NEXT, "rename");
  real_fchmod = dlsym (RTLD_NEXT, "fchmod");
  real_mkostemp = dlsym (RTLD_NEXT, "mkostemp");
  real_open = dlsym (RTLD_NEXT, "open");
  real_ftruncate = dlsym (RTLD_NEXT, "ftruncate");
  real_ioctl = dlsym (RTLD_NEXT, "ioctl");
  real_strdup = dlsym (RTLD_NEXT, "strdup");
  real_strndup = dlsym (RTLD_NEXT, "strndup");
  real_vasprintf = dlsym (RTLD_NEXT, "vasprintf");

  value = getenv ("MEMDISK_FAULT_PROGRAM");
  if (value != NULL && strcmp (value, program_invocation_short_name) != 0)
    return;
  if (spec != NULL && *spec != '\0')
    parse_fault (spec);
  value = getenv ("MEMDISK_FAULT_PATH");
  snprintf (fault.path, sizeof fault.path, "%s", value ? value : "*");
  value = getenv ("MEMDISK_FAULT_MODULES");
  snprintf (fault.modules, sizeof fault.modules, "%s",
            value ? value : "nbdkit-memdisk-plugin.so:memdisk-tool:libzstd");
  value = getenv ("MEMDISK_FAULT_LOG");
  snprintf (fault.log, sizeof fault.log, "%s", value ? value : "");
  value = getenv ("MEMDISK_FAULT_RELEASE");
  snprintf (fault.release, sizeof fault.release, "%s", value ? value : "");
  if (fault.how == HOLD_CALL && fault.release[0] == '\0')
    bad_setting ("\"hold\" without MEMDISK_FAULT_RELEASE");
  value = getenv ("MEMDISK_FAULT_TRACE");
  fault.trace = value != NULL && (strcmp (value, "1") == 0 || strcmp (value, "all") == 0);
  fault.trace_reads = value != NULL && strcmp (value, "all") == 0;

  unsetenv ("MEMDISK_FAULT");
  unsetenv ("MEMDISK_FAULT_PATH");
  unsetenv ("MEMDISK_FAULT_MODULES");
  unsetenv ("MEMDISK_FAULT_LOG");
  unsetenv ("MEMDISK_FAULT_TRACE");
  unsetenv ("MEMDISK_FAULT_RELEASE");
  unsetenv ("MEMDISK_FAULT_PROGRAM");
  unsetenv ("LD_PRELOAD");
}

/* Whether calls of CALL are counted: the one that fails, and with
 * MEMDISK_FAULT_TRACE every file call. */
static bool
counted (enum fault_call call)
{
  return !in_shim && (fault.call == call
                      || (fault.trace && call != CALL_ALLOC
                          && (call != CALL_PREAD || fault.trace_reads)));
}

/* Count a matching call of CALL on WHAT; true if it must fail. */
static bool
should_fail (enum fault_call call, const char *what)
{
  unsigned long n;
  bool fail;

  n = atomic_fetch_add (&calls_seen[call], 1) + 1;
  fail = fault.call == call && (n == fault.nth || (fault.and_later && n > fault.nth));
  if (fault.trace || fail)
    log_line ("faultinject: %s #%lu %s%s%s", call_names[call], n, what,
              !fail ? "" : fault.how == SHORT_WRITE ? ": short write"
              : fault.how == KILL_PROCESS ? ": killed"
              : fault.how == HOLD_CALL ? ": held" : ": failed with ",
              fail && fault.how >= 0 ? fault.how_name : "");
  if (fail && fault.how == KILL_PROCESS)
    kill (getpid (), SIGKILL);          /* not returning: kill -9 before the call */
  if (fail && fault.how == HOLD_CALL) {
    const struct timespec step = { .tv_nsec = 1000000 };

    while (access (fault.release, F_OK) != 0)
      nanosleep (&step, NULL);
    return false;                       /* released: the call is made */
  }
  return fail;
}

static bool
path_matches (const char *path)
{
  return path != NULL && fnmatch (fault.path, path, 0) == 0;
}

/* Count a call of CALL on FD if its file matches; true if it must fail. */
static bool
fd_should_fail (enum fault_call call, int fd)
{
  char link[64], path[4096];
  ssize_t len;

  if (!counted (call))
    return false;
  snprintf (link, sizeof link, "/proc/self/fd/%d", fd);
  len = readlink (link, path, sizeof path - 1);
  if (len < 0)
    return false;
  path[len] = '\0';
  return path_matches (path) && should_fail (call, path);
}

ssize_t
write (int fd, const void *buf, size_t count)
{
  if (count > 0 && fd_should_fail (CALL_WRITE, fd)) {
    if (fault.how == SHORT_WRITE)
      return real_write (fd, buf, count / 2 ? count / 2 : 1);
    errno = fault.how;
    return -1;
  }
  return real_write (fd, buf, count);
}

ssize_t
pwrite (int fd, const void *buf, size_t count, off_t offset)
{
  if (count > 0 && fd_should_fail (CALL_WRITE, fd)) {
    if (fault.how == SHORT_WRITE)
      return real_pwrite (fd, buf, count / 2 ? count / 2 : 1, offset);
    errno = fault.how;
    return -1;
  }
  return real_pwrite (fd, buf, count, offset);
}

/* pread64 is the same function under its other name. */
ssize_t
pread (int fd, void *buf, size_t count, off_t offset)
{
  if (count > 0 && fd_should_fail (CALL_PREAD, fd)) {
    errno = fault.how;
    return -1;
  }
  return real_pread (fd, buf, count, offset);
}

ssize_t pread64 (int fd, void *buf, size_t count, off_t offset)
  __attribute__ ((alias ("pread")));

/* The body of a call on FD that fails with -1 and fault.how. */
#define FD_CALL(name, CALL, ...)                        \
  if (fd_should_fail (CALL, fd)) {                      \
    errno = fault.how;                                  \
    return -1;                                          \
  }                                                     \
  return real_##name (__VA_ARGS__)

int fsync (int fd) { FD_CALL (fsync, CALL_FSYNC, fd); }
int fdatasync (int fd) { FD_CALL (fdatasync, CALL_FDATASYNC, fd); }
int fchmod (int fd, mode_t mode) { FD_CALL (fchmod, CALL_FCHMOD, fd, mode); }
int ftruncate (int fd, off_t length) { FD_CALL (ftruncate, CALL_FTRUNCATE, fd, length); }

/* Only FICLONERANGE (a save sharing a frame's blocks) is counted; every
 * ioctl takes at most one argument, passed on as it came. */
int
ioctl (int fd, unsigned long request, ...)
{
  va_list ap;
  void *arg;

  va_start (ap, request);
  arg = va_arg (ap, void *);
  va_end (ap);
  if (request == FICLONERANGE && fd_should_fail (CALL_FICLONE, fd)) {
    errno = fault.how;
    return -1;
  }
  return real_ioctl (fd, request, arg);
}

/* close releases the descriptor even when it reports an error (Linux). */
int
close (int fd)
{
  if (fd_should_fail (CALL_CLOSE, fd)) {
    real_close (fd);
    errno = fault.how;
    return -1;
  }
  return real_close (fd);
}

int
rename (const char *from, const char *to)
{
  if (counted (CALL_RENAME) && path_matches (from) && should_fail (CALL_RENAME, from)) {
    errno = fault.how;
    return -1;
  }
  return real_rename (from, to);
}

int
mkostemp (char *template, int flags)
{
  if (counted (CALL_MKOSTEMP) && path_matches (template)
      && should_fail (CALL_MKOSTEMP, template)) {
    errno = fault.how;
    return -1;
  }
  return real_mkostemp (template, flags);
}

int
open (const char *path, int flags, ...)
{
  mode_t mode = 0;

  if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {
    va_list ap;
    va_start (ap, flags);
    mode = va_arg (ap, mode_t);
    va_end (ap);
  }
  if (counted (CALL_OPEN) && path_matches (path) && should_fail (CALL_OPEN, path)) {
    errno = fault.how;
    return -1;
  }
  return real_open (path, flags, mode);
}

/* ---- allocations ---- */

/* Whether the code at ADDRESS belongs to one of MEMDISK_FAULT_MODULES. */
static bool
from_our_modules (const void *address)
{
  Dl_info info;
  char words[sizeof fault.modules], *word, *save;

  if (!counted (CALL_ALLOC))
    return false;
  in_shim = true;
  int found = dladdr (address, &info);
  in_shim = false;
  if (!found || info.dli_fname == NULL)
    return false;
  memcpy (words, fault.modules, sizeof words);
  for (word = strtok_r (words, ":", &save); word; word = strtok_r (NULL, ":", &save))
    if (strstr (info.dli_fname, word) != NULL)
      return true;
  return false;
}

static bool
alloc_should_fail (const void *caller, const char *what)
{
  bool fail;

  if (!from_our_modules (caller))
    return false;
  in_shim = true;
  fail = should_fail (CALL_ALLOC, what);
  in_shim = false;
  if (fail)
    errno = ENOMEM;
  return fail;
}

#define CALLER __builtin_return_address (0)

void *
malloc (size_t size)
{
  return alloc_should_fail (CALLER, "malloc") ? NULL : __libc_malloc (size);
}

void *
calloc (size_t n, size_t size)
{
  return alloc_should_fail (CALLER, "calloc") ? NULL : __libc_calloc (n, size);
}

void *
realloc (void *p, size_t size)
{
  return alloc_should_fail (CALLER, "realloc") ? NULL : __libc_realloc (p, size);
}

char *
strdup (const char *s)
{
  return alloc_should_fail (CALLER, "strdup") ? NULL : real_strdup (s);
}

char *
strndup (const char *s, size_t n)
{
  return alloc_should_fail (CALLER, "strndup") ? NULL : real_strndup (s, n);
}

int
vasprintf (char **out, const char *fmt, va_list ap)
{
  if (alloc_should_fail (CALLER, "vasprintf"))
    return -1;
  return real_vasprintf (out, fmt, ap);
}

int
asprintf (char **out, const char *fmt, ...)
{
  va_list ap;
  int r;

  if (alloc_should_fail (CALLER, "asprintf"))
    return -1;
  va_start (ap, fmt);
  r = real_vasprintf (out, fmt, ap);
  va_end (ap);
  return r;
}
