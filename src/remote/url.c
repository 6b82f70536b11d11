/* URLs as memdisk shows and recognises them (url.h). */
#include <string.h>
#include <strings.h>

#include "remote/url.h"

bool
md_url_is_http (const char *name)
{
  return strncasecmp (name, "http://", 7) == 0 || strncasecmp (name, "https://", 8) == 0;
}

void
md_url_shown (const char *name, char *out, size_t out_size)
{
  const char *authority = strstr (name, "://");
  size_t n = 0;

  if (out_size == 0)
    return;
  authority = authority ? authority + 3 : name;
  /* The scheme as given. */
  for (const char *p = name; p < authority && n + 1 < out_size; p++)
    out[n++] = *p;
  /* The authority ends at the path, query or fragment; its userinfo ends
   * at its last '@'. */
  size_t authority_len = strcspn (authority, "/?#");
  const char *host = authority;
  for (size_t i = 0; i < authority_len; i++)
    if (authority[i] == '@')
      host = authority + i + 1;
  /* Host, port and path, up to the query string or the fragment. */
  size_t keep = strcspn (host, "?#");
  for (size_t i = 0; i < keep && n + 1 < out_size; i++)
    out[n++] = host[i];
  out[n] = '\0';
}
