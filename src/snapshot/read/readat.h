/* Where the reader's bytes come from, and reading them at an offset with
 * the error naming the byte; the checksum comparison every check of the
 * read side makes.  Shared by reader.c (the fixed parts), decoder.c (the
 * data frames) and urlsource.c.  Not for use outside src/snapshot/read/.
 *
 * The source is a local file (FD) or a transport behind REMOTE_READ (an
 * HTTP range reader, urlsource.c): the reader, the decoder and lazy
 * loading are one code path over either. */
#ifndef MEMDISK_SNAPREAD_AT_H
#define MEMDISK_SNAPREAD_AT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct snap_source {
  int fd;                       /* a local file, or -1 */
  /* Otherwise: read LEN bytes at OFFSET from REMOTE; 0, or -1 with
   * md_error set to the cause and errno set (0: the bytes are not there,
   * the file is damaged; else a read error that may pass). */
  int (*remote_read) (void *remote, void *buf, size_t len, uint64_t offset);
  void (*remote_close) (void *remote);
  void *remote;
  /* A frame whose bytes fail their checksum is read once more before it
   * is called damaged: bytes that crossed a network may have been spoilt
   * on the way (a proxy, a cache), not in the file. */
  bool refetch;
};

/* Read all LEN bytes at OFFSET of SOURCE; -1 with md_error set to "WHAT
 * at byte N: read error: CAUSE" or "...: unexpected end of file" (errno 0
 * then). */
int snap_read_at (const struct snap_source *source, void *buf, size_t len, uint64_t offset,
                  const char *what);

/* Whether a checksum read from the file matches the one computed.  Fuzzing
 * builds (tests/fuzz/run.sh) accept wrong checksums so that the fuzzer can
 * reach the parsers behind them; every other check stays. */
bool snap_checksum_matches (uint64_t stored, uint64_t computed);

#endif
