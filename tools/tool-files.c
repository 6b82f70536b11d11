/* The files a command reads and writes: its output checked before it is
 * written (links followed as a save follows them), its input opened
 * without blocking, a snapshot told from a raw image, stdout flushed. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/fullio.h"
#include "files/replace.h"
#include "files/trust.h"
#include "remote/url.h"
#include "snapshot/format/format.h"
#include "snapshot/read/reader.h"
#include "tool.h"

int
tool_finish_stdout (void)
{
  if (fflush (stdout) == EOF || ferror (stdout)) {
    tool_error ("cannot write to standard output: %s", strerror (errno));
    return TOOL_EXIT_FAILURE;
  }
  return TOOL_EXIT_OK;
}

int
tool_check_new_output (const char *path, bool force)
{
  struct stat st;

  if (strcmp (path, "-") == 0) {
    if (!force && isatty (STDOUT_FILENO)) {
      tool_error ("standard output is a terminal; not writing a binary file "
                  "there (redirect it, or use --force)");
      return -1;
    }
    return 0;
  }
  if (path[0] == '\0') {
    tool_error ("the output file name is empty (use - for standard output)");
    return -1;
  }
  /* A link is followed (the file it leads to would be replaced) only if
   * we may trust it, as a save does (replace.h): another user's link is
   * refused, with or without --force. */
  char *target = snap_replace_target (path);
  if (target == NULL) {
    tool_error ("%s", md_error ());
    return -1;
  }
  free (target);
  /* --force never replaces a device, a FIFO or a folder by a regular
   * file. */
  if (stat (path, &st) == 0 && !S_ISREG (st.st_mode)) {
    tool_error ("%s: is %s; only a regular file is replaced, even with --force "
                "(use - for standard output)", path, snap_trust_file_type (st.st_mode));
    return -1;
  }
  if (!force && lstat (path, &st) == 0) {
    tool_error ("%s: already exists; not overwritten (use --force to replace it)",
                path);
    return -1;
  }
  return 0;
}

int
tool_open_input (const char *path)
{
  struct stat st;
  /* O_NONBLOCK: a FIFO must not make open(2) wait for a writer. */
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

  if (fd == -1) {
    tool_error ("%s: cannot open: %s", path, strerror (errno));
    return -1;
  }
  if (fstat (fd, &st) == -1) {
    tool_error ("%s: cannot stat: %s", path, strerror (errno));
    close (fd);
    return -1;
  }
  if (!S_ISREG (st.st_mode) && !S_ISBLK (st.st_mode)) {
    tool_error ("%s: is %s, neither a disk image nor a snapshot (convert reads "
                "a regular file or a block device, whose size it can know)",
                path, snap_trust_file_type (st.st_mode));
    close (fd);
    return -1;
  }
  if (snap_fd_clear_nonblock (fd) == -1) {
    tool_error ("%s: %s", path, md_error ());
    close (fd);
    return -1;
  }
  return fd;
}

const char *
tool_shown_name (const char *path, char *buf, size_t size)
{
  if (!md_url_is_http (path))
    return path;
  md_url_shown (path, buf, size);
  return buf;
}

struct snap_reader *
tool_open_snapshot (const char *path)
{
  struct snap_reader *reader = snap_reader_open (path);
  char shown[1024];

  if (reader == NULL)
    tool_error ("%s: %s", tool_shown_name (path, shown, sizeof shown), md_error ());
  return reader;
}

int
tool_detect_format (int fd, const char *name, enum tool_file_format *format)
{
  unsigned char head[16];
  size_t got;

  /* A file shorter than HEAD is not an error here: it is a raw image. */
  if (md_pread_full (fd, head, sizeof head, 0, &got) == -1 && errno != 0) {
    tool_error ("%s: cannot read: %s", name,
                errno == ESPIPE ? "it must be a file, not a pipe" : strerror (errno));
    return -1;
  }
  if (snap_is_snapshot_prefix (head, got))
    *format = TOOL_FORMAT_SNAPSHOT;
  else if (got >= 4 && snap_get_le32 (head) == SNAP_ZSTD_MAGIC) {
    tool_error ("%s: a plain zstd file, neither a memdisk snapshot nor a raw "
                "image; decompress it with zstd -d first", name);
    return -1;
  }
  else
    *format = TOOL_FORMAT_RAW;
  return 0;
}
