/* Replacing a file atomically, and cleaning up after a replacement that
 * was killed half-way: write a temporary file in the target's
 * folder, then fsync it, rename it over the target and fsync the folder.
 * Until the rename the target is untouched; after a crash it is either the
 * old file or the complete new one.  A new file gets mode 0600 (disk
 * images can hold secrets); replacing a file of ours keeps its permission
 * bits (rwx only: never setuid, setgid or sticky), another user's file
 * gets 0600.  A symbolic link is followed only if the calling user may
 * trust it (owned by root or that user, in folders that pass trust.h's
 * rule: snap_trust_resolve_for), and then the file it leads to is
 * replaced, in that file's folder: another user's link, to a file, to
 * nothing or to a folder, is refused, never written through.  Only a
 * regular file is replaced. */
#ifndef MEMDISK_SNAPSHOT_REPLACE_H
#define MEMDISK_SNAPSHOT_REPLACE_H

#include "common/timeline.h"

/* What a replacement left TARGET as.  The code that did each step sets
 * it, so a caller never has to guess (a stat() afterwards cannot tell an
 * old file from a new one). */
enum snap_replace_state {
  SNAP_REPLACE_DONE,            /* TARGET is the new file, durably */
  SNAP_REPLACE_UNTOUCHED,       /* failed before the rename: TARGET is as it
                                   was (or still absent), no temporary left */
  SNAP_REPLACE_NOT_DURABLE,     /* renamed: TARGET is the new, complete file,
                                   but the folder could not be synced, so a
                                   crash may bring the previous one back */
};

struct snap_tmpfile {
  int fd;                       /* open for writing, -1 when closed */
  char *path;                   /* the temporary's name */
  char *target;                 /* TARGET with its links followed */
  enum snap_replace_state state; /* set by commit and abort */
  struct snap_timeline *timeline; /* optional: commit marks fsynced */
};

/* "TARGET is untouched", ...: the state in words, for messages. */
const char *snap_replace_state_text (enum snap_replace_state state);

/* The file a replacement of TARGET by the calling user replaces: TARGET
 * with the links followed that the user may trust (snap_trust_resolve_for
 * for geteuid()), as an absolute name (malloc'd).  NULL with md_error set
 * when a link is not to be followed (another user's, or in a folder
 * others may change) or a folder on the way is missing.  Commands that
 * check an output before writing it ask this, the question
 * snap_tmpfile_create asks again when it writes. */
char *snap_replace_target (const char *target);

/* Create the temporary for TARGET (snap_replace_target).  -1 with md_error set on failure,
 * e.g. when TARGET is a device, a FIFO or a folder, or a link to
 * nothing. */
int snap_tmpfile_create (struct snap_tmpfile *tmp, const char *target);
/* fsync, rename over the target, fsync the folder, release.  On failure
 * md_error names the step that failed and TMP->state says what TARGET
 * is now: untouched (the temporary removed) when a step before the
 * rename failed, the new file but not durable when the folder's fsync
 * failed. */
int snap_tmpfile_commit (struct snap_tmpfile *tmp);
/* Close and remove the temporary; the target is untouched (nothing was
 * renamed yet). */
void snap_tmpfile_abort (struct snap_tmpfile *tmp);

/* Temporaries left behind by a save that was killed (kill -9, power
 * loss) before it could rename or remove its temporary file: remove the
 * ones snap_tmpfile_create made for TARGET (".NAME.tmp.XXXXXX" in
 * TARGET's folder, exactly: six characters after ".tmp."), regular files
 * owned by the calling user only, calling REMOVED (if not NULL) with each
 * one's path.  Call only while holding TARGET's writer lock
 * (control/lock.h), so that no living writer of TARGET owns one.  Returns
 * 0, or -1 with md_error set when the folder cannot be read or a file not
 * removed. */
typedef void (*snap_stale_fn) (void *opaque, const char *path);
int snap_stale_remove (const char *target, snap_stale_fn removed, void *opaque);

#endif
