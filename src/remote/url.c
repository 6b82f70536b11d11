/* URLs as memdisk shows and recognises them (url.h). */
#include <string.h>
#include <strings.h>

#include "remote/url.h"

bool
md_url_is_http (const char *name)
{
  return strncasecmp (name, "http://", 7) == 0 || strncasecmp (name, "https://", 8) == 0;
}

/* The length of NAME's "SCHEME://", the scheme made of letters, digits,
 * '+', '-' and '.' (RFC 3986); 0 when NAME does not start with one. */
size_t
md_url_scheme_length (const char *name)
{
  size_t n = strspn (name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");

  return n > 0 && strncmp (name + n, "://", 3) == 0 ? n + 3 : 0;
}

void
md_url_shown (const char *name, char *out, size_t out_size)
{
  /* Nothing from the query string or the fragment on, wherever they are. */
  const size_t end = strcspn (name, "?#");
  const char *authority = name + md_url_scheme_length (name);
  size_t n = 0;

  if (out_size == 0)
    return;
  /* The scheme as given. */
  for (const char *p = name; p < authority && n + 1 < out_size; p++)
    out[n++] = *p;
  /* The authority ends at the path; its userinfo ends at its last '@'.
   * Without a scheme there is no telling where the authority ends: no
   * '@' is kept at all. */
  size_t authority_len = authority == name ? end : strcspn (authority, "/?#");
  const char *host = authority;
  for (size_t i = 0; i < authority_len; i++)
    if (authority[i] == '@')
      host = authority + i + 1;
  /* Host, port and path, up to the query string or the fragment. */
  for (const char *p = host; p < name + end && n + 1 < out_size; p++)
    out[n++] = *p;
  out[n] = '\0';
}
