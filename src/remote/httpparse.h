/* The parts of an HTTP response that a range reader must understand,
 * parsed from the header lines libcurl hands over one at a time.  Input
 * from the network: every field is bounded, nothing is trusted (fuzzed by
 * tests/fuzz/fuzz_httpheader.c). */
#ifndef MEMDISK_REMOTE_HTTPPARSE_H
#define MEMDISK_REMOTE_HTTPPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MD_HTTP_VALIDATOR_MAX 256

/* One response's headers (the last one's, after redirects). */
struct md_http_response {
  int status;                   /* 0 until a status line was seen */
  bool has_range;               /* a valid Content-Range was seen */
  uint64_t range_first, range_last;
  uint64_t range_total;         /* UINT64_MAX: "*", unknown */
  bool bad_range;               /* a Content-Range that did not parse */
  /* The validators: what identifies the file's version on the server. */
  char etag[MD_HTTP_VALIDATOR_MAX];
  char last_modified[MD_HTTP_VALIDATOR_MAX];
};

/* Parse a Content-Range value "bytes FIRST-LAST/TOTAL" (TOTAL may be
 * "*": UINT64_MAX), with optional spaces around it.  0 when it is valid
 * (FIRST <= LAST, LAST < TOTAL); -1 otherwise. */
int md_http_parse_content_range (const char *value, size_t len, uint64_t *first,
                                 uint64_t *last, uint64_t *total);

/* Take one header line (as received, with or without its CRLF) into
 * RESPONSE.  A status line ("HTTP/1.1 206 ...") starts a new response
 * (after a redirect) and clears what the previous one set.  Lines of
 * other headers are ignored. */
void md_http_parse_header_line (struct md_http_response *response, const char *line,
                                size_t len);

#endif
