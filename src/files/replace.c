/* Atomic replacement of a file through a temporary in its folder, and
 * removal of the temporaries a killed save left behind (replace.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "files/replace.h"
#include "files/trust.h"

/* The folder holding PATH ("." for a bare name); malloc'd. */
static char *
folder_of (const char *path)
{
  char *copy = strdup (path);
  if (copy == NULL)
    return NULL;
  char *dir = strdup (dirname (copy));
  free (copy);
  return dir;
}

char *
snap_replace_target (const char *target)
{
  return snap_trust_resolve_for (target, geteuid ());
}

static void
release (struct snap_tmpfile *tmp)
{
  if (tmp->fd >= 0)
    close (tmp->fd);
  free (tmp->path);
  free (tmp->target);
  tmp->fd = -1;
  tmp->path = tmp->target = NULL;
}

/* The mode the replacement of an existing TARGET gets: its permission
 * bits, never setuid, setgid or sticky, and only when it is ours (another
 * user's mode says nothing about who may read our data).  Otherwise
 * mkostemp's 0600. */
static int
copy_mode (int fd, const struct stat *st)
{
  if (st->st_uid != geteuid ())
    return 0;
  return fchmod (fd, st->st_mode & 0777);
}

int
snap_tmpfile_create (struct snap_tmpfile *tmp, const char *target)
{
  char *copy = NULL, *dir = NULL;
  struct stat st;
  bool exists;

  tmp->fd = -1;
  tmp->path = NULL;
  tmp->state = SNAP_REPLACE_UNTOUCHED;
  tmp->timeline = NULL;
  /* A symbolic link is followed, if we may trust it: the file it leads
   * to is replaced, by a temporary in that file's folder. */
  tmp->target = snap_replace_target (target);
  if (tmp->target == NULL)
    goto fail;
  exists = stat (tmp->target, &st) == 0;
  if (exists && !S_ISREG (st.st_mode)) {
    md_error_set ("%s is %s; only a regular file is replaced", tmp->target,
                  snap_trust_file_type (st.st_mode));
    goto fail;
  }
  copy = strdup (tmp->target);
  dir = folder_of (tmp->target);
  if (copy == NULL || dir == NULL
      || asprintf (&tmp->path, "%s/.%s.tmp.XXXXXX", dir, basename (copy)) == -1) {
    tmp->path = NULL;
    md_error_set ("out of memory");
    goto fail;
  }
  /* mkostemp creates the file with mode 0600. */
  tmp->fd = mkostemp (tmp->path, O_CLOEXEC);
  if (tmp->fd == -1) {
    md_error_set ("cannot create a temporary file in %s: %s", dir, strerror (errno));
    goto fail;
  }
  if (exists && copy_mode (tmp->fd, &st) == -1) {
    md_error_set ("cannot copy the mode of the existing file: %s", strerror (errno));
    unlink (tmp->path);
    goto fail;
  }
  free (copy);
  free (dir);
  return 0;

fail:
  free (copy);
  free (dir);
  release (tmp);
  return -1;
}

static int
fsync_folder (const char *target)
{
  char *dir = folder_of (target);
  int fd, r = 0;

  if (dir == NULL) {
    md_error_set ("out of memory");
    return -1;
  }
  fd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd == -1 || fsync (fd) == -1) {
    md_error_set ("cannot fsync the folder %s: %s", dir, strerror (errno));
    r = -1;
  }
  if (fd >= 0)
    close (fd);
  free (dir);
  return r;
}

const char *
snap_replace_state_text (enum snap_replace_state state)
{
  switch (state) {
  case SNAP_REPLACE_DONE:
    return "the new file is in place";
  case SNAP_REPLACE_UNTOUCHED:
    return "the file is untouched";
  case SNAP_REPLACE_NOT_DURABLE:
    return "the new file is in place but may not survive a crash";
  }
  return "the file's state is unknown";
}

int
snap_tmpfile_commit (struct snap_tmpfile *tmp)
{
  if (fsync (tmp->fd) == -1) {
    md_error_set ("fsync of %s failed: %s", tmp->path, strerror (errno));
    snap_tmpfile_abort (tmp);
    return -1;
  }
  snap_timeline_mark (tmp->timeline, SNAP_PHASE_FSYNCED);
  if (close (tmp->fd) == -1) {
    tmp->fd = -1;
    md_error_set ("closing %s failed: %s", tmp->path, strerror (errno));
    snap_tmpfile_abort (tmp);
    return -1;
  }
  tmp->fd = -1;
  if (rename (tmp->path, tmp->target) == -1) {
    md_error_set ("cannot rename %s into place: %s", tmp->path, strerror (errno));
    snap_tmpfile_abort (tmp);
    return -1;
  }
  /* The new file is in place; only its durability is in question now. */
  int r = fsync_folder (tmp->target);
  release (tmp);
  tmp->state = r == 0 ? SNAP_REPLACE_DONE : SNAP_REPLACE_NOT_DURABLE;
  return r;
}

void
snap_tmpfile_abort (struct snap_tmpfile *tmp)
{
  if (tmp->path != NULL)
    unlink (tmp->path);
  release (tmp);
  tmp->state = SNAP_REPLACE_UNTOUCHED;
}

/* The name pattern of snap_tmpfile_create: "." NAME ".tmp." and six characters
 * from mkostemp. */
static bool
is_temporary_of (const char *entry, const char *name)
{
  size_t name_len = strlen (name);

  return entry[0] == '.' &&
         strncmp (entry + 1, name, name_len) == 0 &&
         strncmp (entry + 1 + name_len, ".tmp.", 5) == 0 &&
         strlen (entry + 1 + name_len + 5) == 6;
}

int
snap_stale_remove (const char *target, snap_stale_fn removed, void *opaque)
{
  char *dir_copy = strdup (target), *name_copy = strdup (target);
  const char *folder, *name;
  DIR *dir = NULL;
  struct dirent *entry;
  int r = -1;

  if (dir_copy == NULL || name_copy == NULL) {
    md_error_set ("%s: out of memory", target);
    goto out;
  }
  folder = dirname (dir_copy);
  name = basename (name_copy);
  dir = opendir (folder);
  if (dir == NULL) {
    md_error_set ("cannot read the folder %s: %s", folder, strerror (errno));
    goto out;
  }
  r = 0;
  while ((entry = readdir (dir)) != NULL) {
    struct stat st;
    if (!is_temporary_of (entry->d_name, name))
      continue;
    /* Ours only: another user's file of that name is not our save's. */
    if (fstatat (dirfd (dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == -1
        || !S_ISREG (st.st_mode) || st.st_uid != geteuid ())
      continue;
    if (unlinkat (dirfd (dir), entry->d_name, 0) == -1) {
      md_error_set ("cannot remove the stale temporary %s/%s: %s",
                    folder, entry->d_name, strerror (errno));
      r = -1;
      continue;
    }
    if (removed != NULL) {
      char *path = NULL;
      if (asprintf (&path, "%s/%s", folder, entry->d_name) >= 0) {
        removed (opaque, path);
        free (path);
      }
    }
  }

 out:
  if (dir)
    closedir (dir);
  free (dir_copy);
  free (name_copy);
  return r;
}
