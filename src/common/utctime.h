/* An instant as ISO 8601 UTC text, "2026-12-01T21:40:00Z": how the
 * plugin's status and messages and memdisk-tool info show a time. */
#ifndef MEMDISK_UTCTIME_H
#define MEMDISK_UTCTIME_H

#include <stdint.h>

/* Room for the text and its NUL. */
#define MD_UTC_TEXT_SIZE 32

/* SECONDS since the epoch into BUF.  0, or -1 with BUF "" when the
 * instant is before the epoch or after 9999-12-31T23:59:59Z (the text
 * has four digits of year). */
int md_format_utc (int64_t seconds, char buf[MD_UTC_TEXT_SIZE]);

#endif
