/* A user as messages name one (username.h). */
#include <pwd.h>
#include <stdio.h>

#include "common/username.h"

const char *
md_user_name (uid_t uid, char buf[MD_USER_NAME_SIZE])
{
  struct passwd pw, *found = NULL;
  char strings[1024];

  if (getpwuid_r (uid, &pw, strings, sizeof strings, &found) == 0 && found != NULL)
    snprintf (buf, MD_USER_NAME_SIZE, "%.80s (uid %u)", pw.pw_name, (unsigned) uid);
  else
    snprintf (buf, MD_USER_NAME_SIZE, "uid %u", (unsigned) uid);
  return buf;
}
