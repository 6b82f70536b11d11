/* Temporaries left behind by a save that was killed (kill -9, power
 * loss) before it could rename or remove its temporary file.
 */
#ifndef MEMDISK_SNAPSTALE_H
#define MEMDISK_SNAPSTALE_H

/* Remove the temporaries that snap_tmpfile_create made for TARGET
 * (".NAME.tmp.XXXXXX" in TARGET's folder) and count them in *REMOVED.
 * Call only when no save of TARGET can be running.  Returns 0, or -1 with
 * md_error set when the folder cannot be read or a file not removed. */
int snap_stale_remove (const char *target, unsigned *removed);

#endif
