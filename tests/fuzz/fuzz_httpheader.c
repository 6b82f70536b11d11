/* libFuzzer harness for what memdisk parses of an HTTP response
 * (src/remote/httpparse.c) and for how it shows a URL (src/remote/url.c).
 *
 * Each input is a response's header lines, separated by '\n'.  The oracle:
 *   - a Content-Range accepted alone or in a line has FIRST <= LAST < TOTAL
 *     (TOTAL may be unknown), and written back in its canonical form it
 *     parses to the same three numbers;
 *   - the response's status is 0 or 100..599; the validators are strings
 *     shorter than their room;
 *   - the input taken as a URL and shown (md_url_shown) keeps no query
 *     string, no fragment and no userinfo: no '?', no '#', no '@' in its
 *     authority (after its "SCHEME://", if any, up to the first '/'), and
 *     it never grows longer than the input. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "remote/httpparse.h"
#include "remote/url.h"

static void
check_range_round_trip (uint64_t first, uint64_t last, uint64_t total)
{
  char text[96];
  uint64_t f, l, t;

  assert (first <= last);
  assert (total == UINT64_MAX || last < total);
  if (total == UINT64_MAX)
    snprintf (text, sizeof text, "bytes %llu-%llu/*", (unsigned long long) first,
              (unsigned long long) last);
  else
    snprintf (text, sizeof text, "bytes %llu-%llu/%llu", (unsigned long long) first,
              (unsigned long long) last, (unsigned long long) total);
  assert (md_http_parse_content_range (text, strlen (text), &f, &l, &t) == 0);
  assert (f == first && l == last && t == total);
}

static void
check_line (struct md_http_response *r, const char *line, size_t len)
{
  uint64_t first, last, total;

  if (md_http_parse_content_range (line, len, &first, &last, &total) == 0)
    check_range_round_trip (first, last, total);
  md_http_parse_header_line (r, line, len);
  assert (r->status == 0 || (r->status >= 100 && r->status <= 599));
  if (r->has_range)
    check_range_round_trip (r->range_first, r->range_last, r->range_total);
  assert (!(r->has_range && r->bad_range));
  assert (strlen (r->etag) < sizeof r->etag);
  assert (strlen (r->last_modified) < sizeof r->last_modified);
}

static void
check_url (const uint8_t *data, size_t size)
{
  char *url = malloc (size + 1);
  char shown[512];

  assert (url != NULL);
  memcpy (url, data, size);
  url[size] = '\0';
  md_url_shown (url, shown, sizeof shown);
  assert (strlen (shown) <= strlen (url));
  assert (strchr (shown, '?') == NULL && strchr (shown, '#') == NULL);
  const char *authority = shown + md_url_scheme_length (shown);
  size_t authority_len = strcspn (authority, "/");
  assert (memchr (authority, '@', authority_len) == NULL);
  (void) md_url_is_http (url);
  free (url);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  struct md_http_response response = { 0 };
  const char *text = (const char *) data;
  size_t start = 0;

  for (size_t i = 0; i <= size; i++)
    if (i == size || text[i] == '\n') {
      check_line (&response, text + start, i - start);
      start = i + 1;
    }
  check_url (data, size);
  return 0;
}
