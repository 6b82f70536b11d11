/* Reading bytes of a snapshot file at an offset, with the error naming
 * the byte, and the checksum comparison every check of the read side
 * makes.  Shared by reader.c (the fixed parts) and decoder.c (the data
 * frames), which otherwise would call each other.  Not for use outside
 * src/snapshot/read/. */
#ifndef MEMDISK_SNAPREAD_AT_H
#define MEMDISK_SNAPREAD_AT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Read all LEN bytes at OFFSET of FD; -1 with md_error set to "WHAT at
 * byte N: read error: CAUSE" or "...: unexpected end of file" (errno 0
 * then). */
int snap_read_at (int fd, void *buf, size_t len, uint64_t offset, const char *what);

/* Whether a checksum read from the file matches the one computed.  Fuzzing
 * builds (tests/fuzz/run.sh) accept wrong checksums so that the fuzzer can
 * reach the parsers behind them; every other check stays. */
bool snap_checksum_matches (uint64_t stored, uint64_t computed);

#endif
