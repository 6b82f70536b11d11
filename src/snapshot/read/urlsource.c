/* A snapshot on a web server as the reader's byte source (reader.h,
 * snap_reader_open_url): the HTTP range reader of src/remote/ behind the
 * transport of readat.h.  Nothing else of the reader knows the bytes come
 * from a network. */
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "remote/http.h"
#include "snapshot/read/readat.h"
#include "snapshot/read/reader-internal.h"
#include "snapshot/read/reader.h"

static int
url_read (void *remote, void *buf, size_t len, uint64_t offset)
{
  return md_http_read_at (remote, buf, len, offset);
}

static void
url_close (void *remote)
{
  md_http_close (remote);
}

struct snap_reader *
snap_reader_open_url (const char *url)
{
  struct md_http *http = md_http_open (url, md_http_default_options ());

  if (http == NULL)
    return NULL;
  const struct snap_source source = {
    .fd = -1, .remote_read = url_read, .remote_close = url_close, .remote = http,
    .refetch = true,
  };
  return snap_reader_open_source (&source, md_http_size (http));
}
