/* Whether a snapshot path can be trusted by the user who loads and saves
 * it: the start-up checks of snapshot=FILE and its folders, modelled on
 * OpenSSH's StrictModes and sudo's checks of its files.
 *
 * A server that loads FILE and later replaces it must be the only one
 * who can change what FILE is.  Another user who owns FILE, or who can
 * write to a folder on its path that is not sticky, could plant a disk
 * for the server to load, or make a save write the server's data where
 * that user can read it.  So, for the user UID that saves:
 *
 *   - FILE, after following symbolic links, is a regular file (or does
 *     not exist yet) and is owned by UID;
 *   - every symbolic link on the way is owned by root or UID (the rule of
 *     the kernel's fs.protected_symlinks, which realpath(3) would skip);
 *   - every folder from FILE's up to / is owned by root or UID and is not
 *     writable by its group or by others, unless it has the sticky bit
 *     (/tmp: others can add files there but not rename or remove ours).
 *
 * Symbolic links: FILE may be a link; it is followed (all the way), the
 * checks apply to the file it leads to and that file's folders, and saves
 * replace that file in its own folder.  A link to a file that does not
 * exist yet, in a folder that does, is fine: the first save creates it.
 */
#ifndef MEMDISK_SNAPSHOT_TRUST_H
#define MEMDISK_SNAPSHOT_TRUST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* The file PATH names once symbolic links are followed, as an absolute
 * name without links (malloc'd), resolved one component at a time as the
 * kernel does; the last component need not exist (a link may lead to a
 * file yet to be made).  NULL with md_error set when a folder on the way
 * is missing or a link cannot be read. */
char *snap_trust_resolve (const char *path);

/* The same, following only the links that may be trusted for user UID:
 * every link on the way must be owned by root or UID, and the folders
 * holding links (and every folder above them) must pass the folder rule
 * above.  What a user who writes PATH may follow: saves and
 * memdisk-tool's outputs replace the file this names (replace.h).  NULL
 * with md_error set as snap_trust_resolve, or naming the link that is not
 * followed and why. */
char *snap_trust_resolve_for (const char *path, uid_t uid);

/* Resolve PATH as snap_trust_resolve_for does for UID, into *RESOLVED
 * (malloc'd); then the rules above for the file and its folders, for
 * user UID.  *EXISTS tells whether the
 * file exists.  0, or -1 with *RESOLVED NULL and md_error saying what is
 * wrong and what to do about it. */
int snap_trust_check (const char *path, uid_t uid, char **resolved, bool *exists);

/* Only the file-type check: an existing RESOLVED must be a regular file
 * (for a snapshot that is only read).  0, or -1 with md_error set. */
int snap_trust_check_type (const char *resolved, bool *exists);

/* "a directory", "a FIFO", "a character device", ...: what MODE is. */
const char *snap_trust_file_type (mode_t mode);

/* Files that may be FIFOs or devices are opened with O_NONBLOCK, so that
 * open(2) cannot wait for ever, and their type checked; then reads should
 * block again: clear O_NONBLOCK on FD.  0, or -1 with md_error set. */
int snap_fd_clear_nonblock (int fd);

#endif
