/* Replacing a file atomically, and cleaning up after a replacement that
 * was killed half-way: write a temporary file in the target's
 * folder, then fsync it, rename it over the target and fsync the folder.
 * Until the rename the target is untouched; after a crash it is either the
 * old file or the complete new one.  A new file gets mode 0600 (disk
 * images can hold secrets); replacing a file of ours keeps its permission
 * bits (rwx only: never setuid, setgid or sticky), another user's file
 * gets 0600.  A symbolic link is followed: the file it leads to is
 * replaced, in that file's folder.  Only a regular file is replaced. */
#ifndef MEMDISK_SNAPSHOT_REPLACE_H
#define MEMDISK_SNAPSHOT_REPLACE_H

struct snap_tmpfile {
  int fd;                       /* open for writing, -1 when closed */
  char *path;                   /* the temporary's name */
  char *target;                 /* TARGET with its links followed */
};

/* Create the temporary for TARGET.  -1 with md_error set on failure,
 * e.g. when TARGET is a device, a FIFO or a folder, or a link to
 * nothing. */
int snap_tmpfile_create (struct snap_tmpfile *tmp, const char *target);
/* fsync, rename over the target, fsync the folder, release.  On failure,
 * -1 with md_error set, and the temporary is gone either way:
 *   - the temporary's fsync or close, or the rename, failed: the temporary
 *     is removed and the target untouched (the old file, or none);
 *   - the folder's open or fsync failed, after the rename: the target is
 *     the new file, complete, but the rename may not survive a crash
 *     (then the target is the old file or the new one). */
int snap_tmpfile_commit (struct snap_tmpfile *tmp);
/* Close and remove the temporary; the target is untouched (nothing was
 * renamed yet). */
void snap_tmpfile_abort (struct snap_tmpfile *tmp);

/* Temporaries left behind by a save that was killed (kill -9, power
 * loss) before it could rename or remove its temporary file: remove the
 * ones snap_tmpfile_create made for TARGET (".NAME.tmp.XXXXXX" in
 * TARGET's folder) and count them in *REMOVED.  Call only when no save of
 * TARGET can be running.  Returns 0, or -1 with md_error set when the
 * folder cannot be read or a file not removed. */
int snap_stale_remove (const char *target, unsigned *removed);

#endif
