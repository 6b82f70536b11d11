/* An HTTP(S) range reader on libcurl (http.h).
 *
 * Connections: a pool of at most options.connections libcurl handles,
 * made when first needed and reused (libcurl keeps each one's connection
 * alive).  A reader borrows an idle handle, or makes one, or waits for
 * one; `lock` guards the idle list and the count, and is held only for
 * that, never across a transfer.  Everything else in struct md_http is
 * written by md_http_open only. */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "remote/http.h"
#include "remote/httpparse.h"

#define MAX_CONNECTIONS 64
#define MAX_PAUSE_MS 5000

struct md_http {
  char *url;
  struct md_http_options options;
  struct curl_slist *headers;
  uint64_t size;                /* UINT64_MAX until the first answer */
  char etag[MD_HTTP_VALIDATOR_MAX];          /* the first answer's */
  char last_modified[MD_HTTP_VALIDATOR_MAX];

  pthread_mutex_t lock;
  pthread_cond_t idle_cond;
  CURL *idle[MAX_CONNECTIONS];
  unsigned idle_count, made;
};

/* One range request, as the callbacks see it. */
struct transfer {
  struct md_http *http;
  unsigned char *buf;
  size_t len, got;
  uint64_t first;
  struct md_http_response response;
  bool checked;                 /* the response's headers were checked */
  const char *stop;             /* why a callback stopped the transfer */
  char errbuf[CURL_ERROR_SIZE];
};

static struct md_http_options default_options = {
  .connections = 4, .connect_timeout_s = 10, .low_speed_time_s = 30,
  .retries = 4, .retry_pause_ms = 200,
};

void
md_http_set_default_options (const struct md_http_options *options)
{
  default_options = *options;
}

const struct md_http_options *
md_http_default_options (void)
{
  return &default_options;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_result;

static void
init_curl (void)
{
  curl_init_result = curl_global_init (CURL_GLOBAL_DEFAULT);
}

/* ---- one transfer ---- */

static size_t
on_header (char *line, size_t size, size_t count, void *opaque)
{
  struct transfer *t = opaque;

  md_http_parse_header_line (&t->response, line, size * count);
  return size * count;
}

/* The answer is the range asked for, of the file first seen: NULL, or
 * why not. */
static const char *
check_response (struct transfer *t)
{
  const struct md_http *h = t->http;
  const struct md_http_response *r = &t->response;

  if (r->status == 200)
    return "the server ignored the range request (it answered 200 with the whole "
           "file; memdisk needs a server that serves byte ranges)";
  if (r->status != 206)
    return "unexpected answer (not 206 Partial Content)";
  if (!r->has_range)
    return r->bad_range ? "invalid Content-Range in the answer"
                        : "no Content-Range in the answer";
  if (r->range_first != t->first || r->range_last != t->first + t->len - 1)
    return "the answer's Content-Range is not the range asked for";
  if (h->size != UINT64_MAX && r->range_total != h->size)
    return "the file changed on the server (its size differs from the first answer's)";
  if (h->size != UINT64_MAX
      && (strcmp (r->etag, h->etag) != 0 || strcmp (r->last_modified, h->last_modified) != 0))
    return "the file changed on the server (its ETag or Last-Modified differs from "
           "the first answer's)";
  return NULL;
}

static size_t
on_body (char *data, size_t size, size_t count, void *opaque)
{
  struct transfer *t = opaque;
  size_t n = size * count;

  if (!t->checked) {
    t->checked = true;
    t->stop = check_response (t);
  }
  if (t->stop == NULL && n > t->len - t->got)
    t->stop = "the server sent more bytes than the range asked for";
  if (t->stop != NULL)
    return 0;                   /* libcurl ends the transfer at once */
  memcpy (t->buf + t->got, data, n);
  t->got += n;
  return n;
}

static CURL *
make_handle (struct md_http *h)
{
  const struct md_http_options *o = &h->options;
  CURL *c = curl_easy_init ();

  if (c == NULL)
    return NULL;
  curl_easy_setopt (c, CURLOPT_URL, h->url);
  curl_easy_setopt (c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  curl_easy_setopt (c, CURLOPT_FOLLOWLOCATION, 1L);
  curl_easy_setopt (c, CURLOPT_MAXREDIRS, 8L);
  curl_easy_setopt (c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt (c, CURLOPT_FAILONERROR, 1L);
  curl_easy_setopt (c, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
  curl_easy_setopt (c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt (c, CURLOPT_LOW_SPEED_TIME, o->low_speed_time_s);
  curl_easy_setopt (c, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt (c, CURLOPT_WRITEFUNCTION, on_body);
  if (h->headers != NULL)
    curl_easy_setopt (c, CURLOPT_HTTPHEADER, h->headers);
  if (o->cafile != NULL)
    curl_easy_setopt (c, CURLOPT_CAINFO, o->cafile);
  return c;
}

/* One try.  0, or -1 with CAUSE filled and *RETRY saying whether another
 * try may succeed. */
static int
try_range (CURL *c, struct transfer *t, char *cause, size_t cause_size, bool *retry)
{
  char range[64];
  long status = 0;

  snprintf (range, sizeof range, "%llu-%llu", (unsigned long long) t->first,
            (unsigned long long) (t->first + t->len - 1));
  memset (&t->response, 0, sizeof t->response);
  t->got = 0;
  t->checked = false;
  t->stop = NULL;
  t->errbuf[0] = '\0';
  curl_easy_setopt (c, CURLOPT_RANGE, range);
  curl_easy_setopt (c, CURLOPT_HEADERDATA, t);
  curl_easy_setopt (c, CURLOPT_WRITEDATA, t);
  curl_easy_setopt (c, CURLOPT_ERRORBUFFER, t->errbuf);
  CURLcode code = curl_easy_perform (c);
  curl_easy_getinfo (c, CURLINFO_RESPONSE_CODE, &status);

  *retry = false;
  if (t->stop != NULL) {
    snprintf (cause, cause_size, "%s", t->stop);
    return -1;
  }
  if (code == CURLE_HTTP_RETURNED_ERROR) {
    *retry = status >= 500;
    snprintf (cause, cause_size, "the server answered %ld", status);
    return -1;
  }
  if (code == CURLE_OK && !t->checked && t->len > 0)
    t->stop = check_response (t);           /* an answer with no body */
  if (code == CURLE_OK && t->stop == NULL && t->got == t->len)
    return 0;
  if (t->stop != NULL) {
    snprintf (cause, cause_size, "%s", t->stop);
    return -1;
  }
  *retry = code != CURLE_OK ? code == CURLE_COULDNT_CONNECT || code == CURLE_OPERATION_TIMEDOUT
                              || code == CURLE_RECV_ERROR || code == CURLE_SEND_ERROR
                              || code == CURLE_PARTIAL_FILE || code == CURLE_GOT_NOTHING
                              || code == CURLE_HTTP2 || code == CURLE_HTTP2_STREAM
                            : true;
  if (code == CURLE_OK)
    snprintf (cause, cause_size, "the answer ended after %zu of %zu bytes", t->got, t->len);
  else
    snprintf (cause, cause_size, "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror (code));
  return -1;
}

/* ---- the pool of connections ---- */

static CURL *
borrow_handle (struct md_http *h)
{
  CURL *idle = NULL;

  pthread_mutex_lock (&h->lock);
  while (h->idle_count == 0 && h->made >= h->options.connections)
    pthread_cond_wait (&h->idle_cond, &h->lock);
  if (h->idle_count > 0)
    idle = h->idle[--h->idle_count];
  else
    h->made++;                  /* a place for a new one, made below */
  pthread_mutex_unlock (&h->lock);
  if (idle != NULL)
    return idle;

  CURL *made = make_handle (h);
  if (made == NULL) {
    pthread_mutex_lock (&h->lock);
    h->made--;
    pthread_cond_signal (&h->idle_cond);
    pthread_mutex_unlock (&h->lock);
  }
  return made;
}

static void
return_handle (struct md_http *h, CURL *c)
{
  pthread_mutex_lock (&h->lock);
  h->idle[h->idle_count++] = c;
  pthread_cond_signal (&h->idle_cond);
  pthread_mutex_unlock (&h->lock);
}

static void
pause_ms (long ms)
{
  struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

  int r;

  do
    r = nanosleep (&ts, &ts);   /* a signal: sleep what is left */
  while (r == -1 && errno == EINTR);
}

static int
read_range (struct md_http *h, struct transfer *t)
{
  char cause[CURL_ERROR_SIZE + 128];
  long pause = h->options.retry_pause_ms;
  bool retry = false;
  CURL *c = borrow_handle (h);

  if (c == NULL) {
    md_error_set ("cannot make a libcurl handle");
    return -1;
  }
  for (unsigned attempt = 0;; attempt++) {
    if (try_range (c, t, cause, sizeof cause, &retry) == 0) {
      return_handle (h, c);
      return 0;
    }
    if (!retry || attempt == h->options.retries)
      break;
    pause_ms (pause);
    pause = pause * 2 < MAX_PAUSE_MS ? pause * 2 : MAX_PAUSE_MS;
  }
  return_handle (h, c);
  md_error_set ("bytes %llu-%llu: %s%s", (unsigned long long) t->first,
                (unsigned long long) (t->first + t->len - 1), cause,
                retry ? " (after every try)" : "");
  errno = EIO;                  /* a read error: the reader may try again later */
  return -1;
}

int
md_http_read_at (struct md_http *h, void *buf, size_t len, uint64_t offset)
{
  struct transfer t = { .http = h, .buf = buf, .len = len, .first = offset };

  if (len == 0)
    return 0;
  if (offset > h->size || len > h->size - offset) {
    md_error_set ("bytes %llu-%llu: past the end of the file (%llu bytes)",
                  (unsigned long long) offset, (unsigned long long) (offset + len - 1),
                  (unsigned long long) h->size);
    errno = 0;
    return -1;
  }
  return read_range (h, &t);
}

/* ---- opening ---- */

static int
take_options (struct md_http *h, const struct md_http_options *o)
{
  h->options = *o;
  if (h->options.connections == 0)
    h->options.connections = 4;
  if (h->options.connections > MAX_CONNECTIONS)
    h->options.connections = MAX_CONNECTIONS;
  if (h->options.connect_timeout_s == 0)
    h->options.connect_timeout_s = 10;
  if (h->options.low_speed_time_s == 0)
    h->options.low_speed_time_s = 30;
  if (h->options.retry_pause_ms == 0)
    h->options.retry_pause_ms = 200;
  for (size_t i = 0; i < o->header_count && i < MD_HTTP_MAX_HEADERS; i++) {
    struct curl_slist *l = curl_slist_append (h->headers, o->headers[i]);
    if (l == NULL)
      return -1;
    h->headers = l;
  }
  return 0;
}

/* The first answer: the size and the validators every later answer must
 * repeat. */
static int
learn_file (struct md_http *h)
{
  unsigned char byte;
  struct transfer t = { .http = h, .buf = &byte, .len = 1, .first = 0 };

  if (read_range (h, &t) == -1)
    return -1;
  if (t.response.range_total == UINT64_MAX) {
    md_error_set ("the server does not say the file's size (Content-Range: bytes 0-0/*)");
    return -1;
  }
  h->size = t.response.range_total;
  memcpy (h->etag, t.response.etag, sizeof h->etag);
  memcpy (h->last_modified, t.response.last_modified, sizeof h->last_modified);
  return 0;
}

struct md_http *
md_http_open (const char *url, const struct md_http_options *options)
{
  struct md_http *h;

  pthread_once (&curl_once, init_curl);
  if (curl_init_result != CURLE_OK) {
    md_error_set ("cannot initialise libcurl: %s", curl_easy_strerror (curl_init_result));
    return NULL;
  }
  if ((h = calloc (1, sizeof *h)) == NULL || (h->url = strdup (url)) == NULL) {
    free (h);
    md_error_set ("opening a URL: out of memory");
    return NULL;
  }
  h->size = UINT64_MAX;
  pthread_mutex_init (&h->lock, NULL);
  pthread_cond_init (&h->idle_cond, NULL);
  if (take_options (h, options ? options : &default_options) == -1) {
    md_error_set ("opening a URL: out of memory");
    md_http_close (h);
    return NULL;
  }
  if (learn_file (h) == -1) {
    md_http_close (h);
    return NULL;
  }
  return h;
}

void
md_http_close (struct md_http *h)
{
  if (h == NULL)
    return;
  for (unsigned i = 0; i < h->idle_count; i++)
    curl_easy_cleanup (h->idle[i]);
  curl_slist_free_all (h->headers);
  pthread_mutex_destroy (&h->lock);
  pthread_cond_destroy (&h->idle_cond);
  free (h->url);
  free (h);
}

uint64_t
md_http_size (const struct md_http *h)
{
  return h->size;
}
