/* Writing a snapshot to a path atomically (writer.h, snap_write_file): a
 * temporary in the same folder, written by snap_write_fd, fsync'd and
 * renamed over the path (files/replace.c); optionally a descriptor of the new
 * file kept for the caller. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "files/replace.h"
#include "snapshot/write/writer.h"

/* A read-only descriptor of the temporary into *KEPT (when asked): after
 * the rename it is the new file at PATH, whatever replaces PATH later. */
static int
keep_fd (const struct snap_tmpfile *tmp, int *kept)
{
  if (kept == NULL)
    return 0;
  *kept = open (tmp->path, O_RDONLY | O_CLOEXEC);
  if (*kept == -1) {
    md_error_set ("opening the new snapshot %s again: %s", tmp->path, strerror (errno));
    return -1;
  }
  return 0;
}

int
snap_write_file (const char *path, const struct snap_write_options *options,
                 snap_next_page_fn next_page, void *opaque, struct snap_write_result *result)
{
  struct snap_write_result ignored = { 0 };
  struct snap_tmpfile tmp;
  int r = -1;

  if (result == NULL)
    result = &ignored;
  snap_write_result_clear (result);
  if (snap_tmpfile_create (&tmp, path) == -1)
    tmp.state = SNAP_REPLACE_UNTOUCHED;
  else if (snap_write_fd (tmp.fd, options, next_page, opaque, result) == -1
           || keep_fd (&tmp, options->keep_fd ? &result->kept_fd : NULL) == -1)
    snap_tmpfile_abort (&tmp);  /* keeps md_error: it sets none */
  else {
    snap_timeline_mark (&result->timeline, SNAP_PHASE_WRITTEN);
    tmp.timeline = &result->timeline;
    if ((r = snap_tmpfile_commit (&tmp)) == -1 && result->kept_fd != -1
        && tmp.state == SNAP_REPLACE_UNTOUCHED) {
      close (result->kept_fd);  /* not the file at PATH */
      result->kept_fd = -1;
    }
    else if (r == 0)
      snap_timeline_mark (&result->timeline, SNAP_PHASE_RENAMED);
  }
  result->replaced = tmp.state;
  return r;
}
