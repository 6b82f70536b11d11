/* The start-up checks of a snapshot path (see trust.h). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/username.h"
#include "files/trust.h"

const char *
snap_trust_file_type (mode_t mode)
{
  switch (mode & S_IFMT) {
  case S_IFREG: return "a regular file";
  case S_IFDIR: return "a directory";
  case S_IFIFO: return "a FIFO (named pipe)";
  case S_IFCHR: return "a character device";
  case S_IFBLK: return "a block device";
  case S_IFSOCK: return "a socket";
  case S_IFLNK: return "a symbolic link";
  default: return "not a regular file";
  }
}

int
snap_fd_clear_nonblock (int fd)
{
  int flags = fcntl (fd, F_GETFL);

  if (flags == -1 || fcntl (fd, F_SETFL, flags & ~O_NONBLOCK) == -1) {
    md_error_set ("fcntl: %s", strerror (errno));
    return -1;
  }
  return 0;
}

/* A folder on the path of FILE: owned by root or UID, and not writable by
 * its group or others unless sticky. */
static int
check_folder (const char *folder, const char *file, uid_t uid)
{
  struct stat st;
  char owner[MD_USER_NAME_SIZE], saver[MD_USER_NAME_SIZE];

  if (stat (folder, &st) == -1) {
    md_error_set ("cannot check the folder %s of %s: %s", folder, file, strerror (errno));
    return -1;
  }
  if (st.st_uid != 0 && st.st_uid != uid) {
    md_error_set ("the folder %s is owned by %s, who could replace %s: use a "
                  "folder owned by %s or by root", folder,
                  md_user_name (st.st_uid, owner), file, md_user_name (uid, saver));
    return -1;
  }
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st.st_mode & S_ISVTX) == 0) {
    md_error_set ("the folder %s can be written by %s (mode %04o) and has no "
                  "sticky bit, so they could replace %s: remove their write "
                  "permission (chmod go-w %s) or set the sticky bit (chmod +t)",
                  folder, (st.st_mode & S_IWOTH) ? "every user" : "its group",
                  (unsigned) (st.st_mode & 07777), file, folder);
    return -1;
  }
  return 0;
}

/* check_folder for FOLDER (a resolved, absolute name) and every folder
 * above it. */
static int
check_folders (const char *folder, const char *file, uid_t uid)
{
  char *copy = strdup (folder);
  char *f = copy;
  int r = 0;

  if (copy == NULL) {
    md_error_set ("%s: out of memory", file);
    return -1;
  }
  for (;;) {
    if (check_folder (f, file, uid) == -1) {
      r = -1;
      break;
    }
    if (strcmp (f, "/") == 0)
      break;
    f = dirname (f);            /* in place: cuts the last component */
  }
  free (copy);
  return r;
}

/* Links followed before giving up, as the kernel's limit. */
#define MAX_LINKS 40

/* Append "/" NAME to the resolved folder DONE (of LEN bytes, "" for /). */
static int
append_component (char *done, size_t *len, const char *name, size_t name_len)
{
  if (*len + 1 + name_len >= PATH_MAX) {
    errno = ENAMETOOLONG;
    return -1;
  }
  done[(*len)++] = '/';
  memcpy (done + *len, name, name_len);
  *len += name_len;
  done[*len] = '\0';
  return 0;
}

/* A walk along a path, one component at a time, as the kernel does it. */
struct walk {
  const char *path;             /* as given, for messages */
  bool check;                   /* links must be trusted for UID */
  uid_t uid;
  char done[PATH_MAX];          /* resolved so far, no trailing '/' */
  size_t len;                   /* of DONE; 0 is "/" */
  char *todo;                   /* what is left to resolve (malloc'd) */
  size_t pos;                   /* where in TODO the next name starts */
  unsigned links;               /* followed so far */
};

/* The first step: what is left is PATH made absolute. */
static int
walk_start (struct walk *w, const char *path, bool check, uid_t uid)
{
  w->path = path;
  w->check = check;
  w->uid = uid;
  w->done[0] = '\0';
  w->len = 0;
  w->links = 0;
  w->todo = NULL;
  if (path[0] == '/')
    w->todo = strdup (path);
  else {
    char *cwd = getcwd (NULL, 0);
    if (cwd == NULL) {
      md_error_set ("%s: cannot find the current folder: %s", path, strerror (errno));
      return -1;
    }
    if (asprintf (&w->todo, "%s/%s", cwd, path) == -1)
      w->todo = NULL;
    free (cwd);
  }
  if (w->todo == NULL) {
    md_error_set ("%s: out of memory", path);
    return -1;
  }
  w->pos = 0;
  return 0;
}

/* The next name in what is left, into *NAME and *NAME_LEN; *LAST when
 * nothing follows it.  false at the end of the path. */
static bool
walk_next_name (struct walk *w, const char **name, size_t *name_len, bool *last)
{
  const char *left = w->todo + w->pos;

  left += strspn (left, "/");
  if (*left == '\0')
    return false;
  *name = left;
  *name_len = strcspn (left, "/");
  left += *name_len;
  *last = left[strspn (left, "/")] == '\0';
  w->pos = (size_t) (left - w->todo);
  return true;
}

/* ".." goes up from what is resolved so far (links are already followed,
 * so this is where the kernel goes). */
static void
walk_up (struct walk *w)
{
  while (w->len > 0 && w->done[--w->len] != '/')
    ;
  w->done[w->len] = '\0';
}

/* A link met at DONE (found by lstat as ST), whose folder is DONE's first
 * BEFORE bytes: with CHECK, it must be owned by root or UID, and its
 * folder (and every one above) pass check_folder, or another user could
 * have planted it or could change it. */
static int
walk_check_link (struct walk *w, const struct stat *st, size_t before)
{
  char owner[MD_USER_NAME_SIZE], user[MD_USER_NAME_SIZE];

  if (!w->check)
    return 0;
  if (st->st_uid != 0 && st->st_uid != w->uid) {
    md_error_set ("%s is a symbolic link owned by %s: a link that another "
                  "user than %s or root owns is not followed (it could lead "
                  "anywhere, and be changed at any time)", w->done,
                  md_user_name (st->st_uid, owner), md_user_name (w->uid, user));
    return -1;
  }
  w->done[before] = '\0';
  int r = check_folders (before ? w->done : "/", w->path, w->uid);
  w->done[before] = '/';
  return r;
}

/* Replace the link at DONE by its contents: what is left becomes the
 * link's text followed by the rest, resolved from the link's folder (its
 * first BEFORE bytes) or from / for an absolute link. */
static int
walk_follow_link (struct walk *w, size_t before)
{
  char to[PATH_MAX];
  char *rest;

  if (++w->links > MAX_LINKS) {
    md_error_set ("%s: more than %d symbolic links", w->path, MAX_LINKS);
    return -1;
  }
  ssize_t n = readlink (w->done, to, sizeof to - 1);
  if (n <= 0) {
    md_error_set ("%s: cannot read the link %s: %s", w->path, w->done,
                  n == 0 ? "empty" : strerror (errno));
    return -1;
  }
  to[n] = '\0';
  if (asprintf (&rest, "%s/%s", to, w->todo + w->pos) == -1) {
    md_error_set ("%s: out of memory", w->path);
    return -1;
  }
  free (w->todo);
  w->todo = rest;
  w->pos = 0;
  w->len = to[0] == '/' ? 0 : before;
  w->done[w->len] = '\0';
  return 0;
}

enum walk_step { WALK_ON, WALK_NEW_FILE, WALK_FAILED };

/* Go into NAME: a folder, the last component (which need not exist), or
 * a link, checked and followed. */
static enum walk_step
walk_into (struct walk *w, const char *name, size_t name_len, bool last)
{
  const size_t before = w->len;
  struct stat st;

  if (append_component (w->done, &w->len, name, name_len) == -1) {
    md_error_set ("%s: %s", w->path, strerror (errno));
    return WALK_FAILED;
  }
  if (lstat (w->done, &st) == -1) {
    if (errno == ENOENT && last)
      return WALK_NEW_FILE;
    md_error_set ("cannot find the folder %s of %s: %s", w->done, w->path,
                  strerror (errno));
    return WALK_FAILED;
  }
  if (!S_ISLNK (st.st_mode)) {
    if (!last && !S_ISDIR (st.st_mode)) {
      md_error_set ("%s: %s is not a folder", w->path, w->done);
      return WALK_FAILED;
    }
    return WALK_ON;
  }
  if (walk_check_link (w, &st, before) == -1 || walk_follow_link (w, before) == -1)
    return WALK_FAILED;
  return WALK_ON;
}

/* Follow PATH one component at a time, as the kernel does.  With CHECK,
 * every symbolic link met on the way must be owned by root or UID (a link
 * another user planted is what fs.protected_symlinks refuses to follow,
 * and realpath would not), and the folders holding them must pass
 * check_folders.  Returns the resolved name (malloc'd): every component
 * but the last exists, the last may not. */
static char *
resolve (const char *path, bool check, uid_t uid)
{
  struct walk w;
  const char *name;
  size_t name_len;
  bool last;
  enum walk_step step = WALK_ON;

  if (walk_start (&w, path, check, uid) == -1)
    return NULL;
  while (step == WALK_ON && walk_next_name (&w, &name, &name_len, &last)) {
    if (name_len == 1 && name[0] == '.')
      continue;
    if (name_len == 2 && name[0] == '.' && name[1] == '.')
      walk_up (&w);
    else
      step = walk_into (&w, name, name_len, last);
  }
  free (w.todo);
  if (step == WALK_FAILED)
    return NULL;
  char *resolved = strdup (w.len == 0 ? "/" : w.done);
  if (resolved == NULL)
    md_error_set ("%s: out of memory", path);
  return resolved;
}

char *
snap_trust_resolve (const char *path)
{
  return resolve (path, false, 0);
}

char *
snap_trust_resolve_for (const char *path, uid_t uid)
{
  return resolve (path, true, uid);
}

int
snap_trust_check_type (const char *resolved, bool *exists)
{
  struct stat st;

  *exists = false;
  if (stat (resolved, &st) == -1) {
    if (errno == ENOENT)
      return 0;
    md_error_set ("%s: %s", resolved, strerror (errno));
    return -1;
  }
  *exists = true;
  if (!S_ISREG (st.st_mode)) {
    md_error_set ("%s is %s, not a snapshot (a snapshot is a regular file)",
                  resolved, snap_trust_file_type (st.st_mode));
    return -1;
  }
  return 0;
}

int
snap_trust_check (const char *path, uid_t uid, char **resolved, bool *exists)
{
  struct stat st;
  char owner[MD_USER_NAME_SIZE], saver[MD_USER_NAME_SIZE];

  *resolved = snap_trust_resolve_for (path, uid);
  if (*resolved == NULL)
    return -1;
  if (snap_trust_check_type (*resolved, exists) == -1)
    goto fail;
  if (*exists) {
    if (stat (*resolved, &st) == -1) {
      md_error_set ("%s: %s", *resolved, strerror (errno));
      goto fail;
    }
    if (st.st_uid != uid) {
      md_error_set ("%s is owned by %s, not by %s who saves it: another user's "
                    "file may be a disk planted for this server, a save would "
                    "hand that user the data, and in a sticky folder it could "
                    "not even replace the file; chown it to %s, or move it away",
                    *resolved, md_user_name (st.st_uid, owner),
                    md_user_name (uid, saver), md_user_name (uid, saver));
      goto fail;
    }
  }
  char *folder = strdup (*resolved);
  if (folder == NULL) {
    md_error_set ("%s: out of memory", path);
    goto fail;
  }
  int r = check_folders (dirname (folder), *resolved, uid);
  free (folder);
  if (r == 0)
    return 0;

 fail:
  free (*resolved);
  *resolved = NULL;
  return -1;
}
