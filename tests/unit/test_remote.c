/* src/remote/: URLs shown without credentials, and the parsing of an
 * HTTP response's headers (the range reader itself is tested against a
 * real nginx by tests/integration/http-base.sh). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "remote/httpparse.h"
#include "remote/url.h"

static void
assert_shown (const char *url, const char *expected)
{
  char out[256];

  md_url_shown (url, out, sizeof out);
  assert_string_equal (out, expected);
}

static void
test_url_shown (void **state)
{
  (void) state;
  assert_shown ("http://127.0.0.1:8080/disk.snap", "http://127.0.0.1:8080/disk.snap");
  assert_shown ("https://user:pa55@host.example/b/disk.snap", "https://host.example/b/disk.snap");
  assert_shown ("https://host/b/disk.snap?X-Amz-Signature=ff&X-Amz-Credential=a",
                "https://host/b/disk.snap");
  assert_shown ("https://a@b@host:1/p#frag", "https://host:1/p");
  assert_shown ("https://host?x=1", "https://host");
  assert_shown ("https://host/p/@/x", "https://host/p/@/x");
  /* Found by fuzz_httpheader: a "://" after the query string, and names
   * that do not start with a scheme, keep no query and no userinfo. */
  assert_shown ("ab?x/y://user@h/p", "ab");
  assert_shown ("\xff@@https://@@@x/p", "x/p");
  assert_shown ("er: n@/p://u@h/", "h/");
  char small[8];
  md_url_shown ("https://host/long/path", small, sizeof small);
  assert_string_equal (small, "https:/");
}

static void
test_url_is_http (void **state)
{
  (void) state;
  assert_true (md_url_is_http ("http://h/x"));
  assert_true (md_url_is_http ("HTTPS://h/x"));
  assert_false (md_url_is_http ("/srv/http://x"));
  assert_false (md_url_is_http ("ftp://h/x"));
  assert_false (md_url_is_http ("disk.snap"));
}

static void
test_content_range (void **state)
{
  uint64_t first, last, total;
  (void) state;

#define RANGE(s) md_http_parse_content_range ((s), strlen (s), &first, &last, &total)
  assert_int_equal (RANGE ("bytes 0-0/7945156"), 0);
  assert_true (first == 0 && last == 0 && total == 7945156);
  assert_int_equal (RANGE ("  bytes 100-199/*\r\n"), 0);
  assert_true (first == 100 && last == 199 && total == UINT64_MAX);
  assert_int_equal (RANGE ("Bytes 5-9/10"), 0);
  assert_int_equal (RANGE ("bytes 5-10/10"), -1);             /* last past the end */
  assert_int_equal (RANGE ("bytes 9-5/10"), -1);
  assert_int_equal (RANGE ("bytes */10"), -1);                /* a 416's form */
  assert_int_equal (RANGE ("bytes 1-2/3x"), -1);
  assert_int_equal (RANGE ("bytes -1-2/3"), -1);
  assert_int_equal (RANGE ("bytes 1-2"), -1);
  assert_int_equal (RANGE ("items 1-2/3"), -1);
  assert_int_equal (RANGE ("bytes 99999999999999999999-1/2"), -1); /* 20 digits */
  assert_int_equal (RANGE ("bytes 0-9999999999999999998/9999999999999999999"), 0);
#undef RANGE
}

static void
feed (struct md_http_response *r, const char *line)
{
  md_http_parse_header_line (r, line, strlen (line));
}

static void
test_header_lines (void **state)
{
  struct md_http_response r = { 0 };
  (void) state;

  feed (&r, "HTTP/1.1 302 Found\r\n");
  assert_int_equal (r.status, 302);
  feed (&r, "ETag: \"redirect\"\r\n");
  feed (&r, "HTTP/2 206\r\n");                 /* a new response: forget the 302's */
  assert_int_equal (r.status, 206);
  assert_string_equal (r.etag, "");
  feed (&r, "content-range: bytes 32-99/1000\r\n");
  feed (&r, "etag: \"6394c5ad-793bc4\"\r\n");
  feed (&r, "Last-Modified:   Tue, 08 Dec 2026 01:57:48 GMT  \r\n");
  feed (&r, "X-ETag: no\r\n");
  assert_true (r.has_range && !r.bad_range);
  assert_true (r.range_first == 32 && r.range_last == 99 && r.range_total == 1000);
  assert_string_equal (r.etag, "\"6394c5ad-793bc4\"");
  assert_string_equal (r.last_modified, "Tue, 08 Dec 2026 01:57:48 GMT");
  feed (&r, "Content-Range: bytes 1-0/5\r\n");
  assert_true (!r.has_range && r.bad_range);
  feed (&r, "HTTP/1.1 2000 OK\r\n");           /* not a status line */
  assert_int_equal (r.status, 206);

  /* A validator too long for its room is kept cut and marked, so that
   * it never equals a shorter one. */
  char line[600] = "ETag: ";
  memset (line + 6, 'x', 500);
  feed (&r, line);
  assert_int_equal (strlen (r.etag), MD_HTTP_VALIDATOR_MAX - 1);
  assert_int_equal (r.etag[MD_HTTP_VALIDATOR_MAX - 2], '~');
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_url_shown),
    cmocka_unit_test (test_url_is_http),
    cmocka_unit_test (test_content_range),
    cmocka_unit_test (test_header_lines),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
