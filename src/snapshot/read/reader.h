/* Reading snapshot files (docs/snapshot-format.md).
 *
 * The reader trusts nothing in the file until it has checked it: opening
 * validates the header, footer, metadata and index (cheap: it reads only
 * those parts); each data frame is checked when it is read.  Errors name
 * what is wrong and the byte offset, e.g. "frame 3 at byte 1234: checksum
 * mismatch"; callers add the file name.
 *
 * reader.c: opening, metadata, sequential reading.
 * decoder.h, decoder.c: decoding one frame (with the format 2.1 padding
 *   before it, checked by padding.c), checking a frame's bytes or the
 *   content digest (what the loaders and the writer's copy use).
 * loader.c: decoding all frames on several threads.
 */
#ifndef MEMDISK_SNAPREAD_H
#define MEMDISK_SNAPREAD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/threads.h"
#include "snapshot/format/digest.h"
#include "snapshot/format/index.h"
#include "snapshot/format/metadata.h"

struct snap_reader;

/* Open PATH and validate its structure.  NULL with md_error set.  An
 * http:// or https:// URL is opened with snap_reader_open_url. */
struct snap_reader *snap_reader_open (const char *path);
/* The same for a file on a web server, read by range requests with the
 * process's HTTP options (remote/http.h): the header, footer, metadata
 * and index now, each frame when it is read.  Messages name the URL
 * without its credentials (md_url_shown).  (urlsource.c) */
struct snap_reader *snap_reader_open_url (const char *url);
/* The same on an open file; FD stays the caller's and must stay open
 * until snap_reader_close. */
struct snap_reader *snap_reader_open_fd (int fd);
/* The same, and the reader owns FD (closed by snap_reader_close, or at
 * once when opening fails). */
struct snap_reader *snap_reader_adopt_fd (int fd);
void snap_reader_close (struct snap_reader *reader);

const struct snap_metadata *snap_reader_metadata (const struct snap_reader *reader);
const struct snap_index *snap_reader_index (const struct snap_reader *reader);
uint64_t snap_reader_file_size (const struct snap_reader *reader);
/* The file's descriptor (for hints such as posix_fadvise), -1 once
 * snap_reader_close_file closed it. */
int snap_reader_fd (const struct snap_reader *reader);
/* Close the descriptor now if the reader owns it, keeping the metadata
 * and the index: for a reader whose frames will not be read again (a
 * lazy load that has every frame).  Reading a frame afterwards fails. */
void snap_reader_close_file (struct snap_reader *reader);

/* Sequential reading with the shape of store_snapshot_next: the next
 * stored page into BUF (page_size bytes), 1; 0 at the end (after the
 * content digest has been checked); -1 with md_error set.  One thread. */
int snap_reader_next_page (void *reader, uint64_t *page_index, void *buf);
/* Once snap_reader_next_page has returned 0: the content digest in the form
 * this program writes (format 2: composed, in the file's regions, or the
 * default region size for a 1.0 file), whatever
 * the file's version, so that files of different versions compare.  For a
 * file this program wrote, it is the metadata's. */
uint64_t snap_reader_comparable_digest (const struct snap_reader *reader);

/* ---- all frames, in parallel (loader.c) ---- */

/* Where a loaded page goes: a writable page_size buffer for PAGE_INDEX,
 * or NULL with md_error set.  Called from several threads at once, never
 * twice for the same page.  store_page_for_load has this shape. */
typedef void *(*snap_page_dest_fn) (void *opaque, uint64_t page_index);

/* Receives PAGE_COUNT consecutive pages from FIRST_PAGE at DATA; returns
 * 0, or -1 with md_error set to stop the reading. */
typedef int (*snap_run_sink_fn) (void *opaque, uint64_t first_page,
                                 uint64_t page_count, const void *data);

/* Decode every frame with THREADS threads (0: online CPUs), copying each
 * page into the buffer PAGE_DEST gives for it, and check the content
 * digest.  On failure some pages may have been loaded. */
int snap_reader_load (struct snap_reader *reader, unsigned threads,
                      snap_page_dest_fn page_dest, void *opaque);

/* Decode every frame and hand each run of pages to SINK.  With IN_ORDER,
 * SINK sees the runs in increasing page order, one call at a time;
 * otherwise from several threads at once, in any order. */
int snap_reader_read_runs (struct snap_reader *reader, unsigned threads, bool in_order,
                           snap_run_sink_fn sink, void *opaque);

/* Loading and reading check every frame's checksum and the content
 * digest, but skip zstd's own content checksums (format section 10).
 * Verifying checks everything: every frame, every checksum, the digest. */
int snap_reader_verify (struct snap_reader *reader, unsigned threads);

#endif
