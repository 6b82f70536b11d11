/* A user as messages name one: "nobody (uid 65534)", or "uid 1234" when
 * the password database does not know the number. */
#ifndef MEMDISK_USERNAME_H
#define MEMDISK_USERNAME_H

#include <sys/types.h>

/* Room for the text and its NUL (a name is cut at 80 characters). */
#define MD_USER_NAME_SIZE 128

/* UID's name into BUF; returns BUF. */
const char *md_user_name (uid_t uid, char buf[MD_USER_NAME_SIZE]);

#endif
