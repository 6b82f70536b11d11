/* URLs as memdisk shows and recognises them.  A URL given for a snapshot
 * may carry credentials (user:password@, or a presigned URL's query
 * string): every message, log line and status shows md_url_shown's form
 * instead, which keeps only the scheme, host, port and path. */
#ifndef MEMDISK_REMOTE_URL_H
#define MEMDISK_REMOTE_URL_H

#include <stdbool.h>
#include <stddef.h>

/* Whether NAME is an http:// or https:// URL (case-insensitive scheme)
 * rather than a path. */
bool md_url_is_http (const char *name);

/* The length of NAME's "SCHEME://" (RFC 3986's scheme characters), 0 when
 * NAME does not start with one. */
size_t md_url_scheme_length (const char *name);

/* NAME without its userinfo, query string and fragment, into OUT (always
 * NUL-terminated, cut at OUT_SIZE - 1 bytes). */
void md_url_shown (const char *name, char *out, size_t out_size);

#endif
