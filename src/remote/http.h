/* An HTTP(S) range reader: the bytes of one file on a web server, read at
 * any offset by range requests (libcurl).  No nbdkit, no snapshot format
 * here: src/snapshot/read/ puts it under the reader as a byte source.
 *
 * The network as it is: a connect timeout and a low-speed timeout; a
 * connection error, a timeout or a 5xx answer is tried again with a
 * growing pause; redirects are followed; a bounded number of connections
 * (one libcurl handle each, reused) serves any number of threads.  What is
 * never tried again: a server that ignores Range (answers 200: the
 * transfer is cut at its first byte, the file is never downloaded into
 * memory), a 4xx answer, and a file that changed on the server (its ETag
 * or Last-Modified differs from the first answer's).  Messages name the
 * bytes and the cause, never the URL: the caller names it, as
 * md_url_shown (remote/url.h) shows it, without its credentials. */
#ifndef MEMDISK_REMOTE_HTTP_H
#define MEMDISK_REMOTE_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define MD_HTTP_MAX_HEADERS 16

struct md_http_options {
  const char *headers[MD_HTTP_MAX_HEADERS]; /* "Name: value" lines sent with every request */
  size_t header_count;
  const char *cafile;           /* CA bundle for https; NULL: the system's */
  unsigned connections;         /* at most this many at once; 0: 4 */
  long connect_timeout_s;       /* 0: 10 */
  long low_speed_time_s;        /* below 1 byte/s this long fails the try; 0: 30 */
  unsigned retries;             /* tries after the first; 0: none */
  long retry_pause_ms;          /* the first pause, doubled each time; 0: 200 */
};

struct md_http;

/* Open URL: one range request for its first byte, which learns the file's
 * size and validators.  NULL with md_error set. */
struct md_http *md_http_open (const char *url, const struct md_http_options *options);
void md_http_close (struct md_http *http);

uint64_t md_http_size (const struct md_http *http);

/* Read LEN bytes at OFFSET into BUF (any thread, concurrently).  0, or -1
 * with md_error set to the cause ("bytes A-B: ..."). */
int md_http_read_at (struct md_http *http, void *buf, size_t len, uint64_t offset);

/* The options a process uses for every URL it opens (the plugin's
 * snapshot-http-* parameters); copied, the strings must stay. */
void md_http_set_default_options (const struct md_http_options *options);
const struct md_http_options *md_http_default_options (void);

#endif
