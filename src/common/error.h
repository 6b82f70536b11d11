/* libmemdisk error reporting.
 *
 * Functions in src/ return -1 (or NULL) on failure and leave a message
 * for the caller to show.  The message is per thread, so concurrent
 * callers never see each other's errors.  errno is preserved by
 * md_error_set so callers may still test it.
 */
#ifndef MEMDISK_ERROR_H
#define MEMDISK_ERROR_H

/* Record the message describing the current failure (printf format). */
void md_error_set (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

/* Forget this thread's message, so that a caller can tell whether a
 * callback it is about to call sets one. */
void md_error_clear (void);

/* The last message recorded by this thread ("" when none). */
const char *md_error (void);

#endif
