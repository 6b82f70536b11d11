/* Per-thread error messages (error.h): one buffer per thread, so that
 * concurrent callers never see each other's errors. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "common/error.h"

static _Thread_local char last_error[1024];

void
md_error_set (const char *fmt, ...)
{
  int saved_errno = errno;
  va_list ap;

  va_start (ap, fmt);
  vsnprintf (last_error, sizeof last_error, fmt, ap);
  va_end (ap);
  errno = saved_errno;
}

void
md_error_clear (void)
{
  last_error[0] = '\0';
}

const char *
md_error (void)
{
  return last_error;
}
