/* ISO 8601 UTC text (utctime.h). */
#include <time.h>

#include "common/utctime.h"

/* 9999-12-31T23:59:59Z: the last instant with a four-digit year. */
#define LAST_FOUR_DIGIT_YEAR_SECOND INT64_C (253402300799)

int
md_format_utc (int64_t seconds, char buf[MD_UTC_TEXT_SIZE])
{
  time_t t = (time_t) seconds;
  struct tm tm;

  buf[0] = '\0';
  if (seconds < 0 || seconds > LAST_FOUR_DIGIT_YEAR_SECOND || gmtime_r (&t, &tm) == NULL
      || strftime (buf, MD_UTC_TEXT_SIZE, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    buf[0] = '\0';
    return -1;
  }
  return 0;
}
