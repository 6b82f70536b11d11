/* Parsing an HTTP response's header lines (httpparse.h). */
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "remote/httpparse.h"

static bool
is_space (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* A decimal number of at most 19 digits (below 10^19, so no overflow)
 * at *P, advancing *P.  -1 when there is none. */
static int
parse_decimal (const char **p, const char *end, uint64_t *value)
{
  uint64_t v = 0;
  int digits = 0;

  while (*p < end && **p >= '0' && **p <= '9') {
    if (++digits > 19)
      return -1;
    v = v * 10 + (uint64_t) (**p - '0');
    (*p)++;
  }
  *value = v;
  return digits ? 0 : -1;
}

int
md_http_parse_content_range (const char *value, size_t len, uint64_t *first,
                             uint64_t *last, uint64_t *total)
{
  const char *p = value, *end = value + len;

  while (p < end && is_space (*p))
    p++;
  while (end > p && is_space (end[-1]))
    end--;
  static const char unit[] = "bytes ";
  if ((size_t) (end - p) < sizeof unit - 1 || strncasecmp (p, unit, sizeof unit - 1) != 0)
    return -1;
  p += sizeof unit - 1;
  while (p < end && *p == ' ')
    p++;
  if (parse_decimal (&p, end, first) == -1 || p == end || *p++ != '-'
      || parse_decimal (&p, end, last) == -1 || p == end || *p++ != '/')
    return -1;
  if (end - p == 1 && *p == '*')
    *total = UINT64_MAX;
  else if (parse_decimal (&p, end, total) == -1 || p != end)
    return -1;
  if (*first > *last || (*total != UINT64_MAX && *last >= *total))
    return -1;
  return 0;
}

/* "HTTP/x[.y] NNN ...": the status, or -1. */
static int
parse_status_line (const char *line, size_t len)
{
  if (len < 5 || strncmp (line, "HTTP/", 5) != 0)
    return -1;
  /* The status: the three digits after the version and one space. */
  const char *space = memchr (line, ' ', len);
  if (space == NULL)
    return -1;
  const char *code = space + 1, *end = line + len;
  if (end - code < 3 || code[0] < '1' || code[0] > '5' || code[1] < '0' || code[1] > '9'
      || code[2] < '0' || code[2] > '9' || (end - code > 3 && !is_space (code[3])))
    return -1;
  return (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
}

/* The value of header NAME in LINE, trimmed, or NULL. */
static const char *
header_value (const char *line, size_t len, const char *name, size_t *value_len)
{
  size_t n = strlen (name);
  const char *p, *end = line + len;

  if (len <= n || strncasecmp (line, name, n) != 0 || line[n] != ':')
    return NULL;
  p = line + n + 1;
  while (p < end && is_space (*p))
    p++;
  while (end > p && is_space (end[-1]))
    end--;
  *value_len = (size_t) (end - p);
  return p;
}

/* A validator longer than the room is kept cut, marked by a final '~' so
 * that a cut value never equals an uncut one. */
static void
keep_validator (char *dest, const char *value, size_t len)
{
  if (len >= MD_HTTP_VALIDATOR_MAX) {
    memcpy (dest, value, MD_HTTP_VALIDATOR_MAX - 2);
    dest[MD_HTTP_VALIDATOR_MAX - 2] = '~';
    dest[MD_HTTP_VALIDATOR_MAX - 1] = '\0';
    return;
  }
  memcpy (dest, value, len);
  dest[len] = '\0';
}

void
md_http_parse_header_line (struct md_http_response *response, const char *line, size_t len)
{
  const char *value;
  size_t value_len;
  int status = parse_status_line (line, len);

  if (status != -1) {
    memset (response, 0, sizeof *response);
    response->status = status;
    return;
  }
  if ((value = header_value (line, len, "Content-Range", &value_len)) != NULL) {
    response->has_range = md_http_parse_content_range (value, value_len, &response->range_first,
                                                       &response->range_last,
                                                       &response->range_total) == 0;
    response->bad_range = !response->has_range;
  }
  else if ((value = header_value (line, len, "ETag", &value_len)) != NULL)
    keep_validator (response->etag, value, value_len);
  else if ((value = header_value (line, len, "Last-Modified", &value_len)) != NULL)
    keep_validator (response->last_modified, value, value_len);
}
