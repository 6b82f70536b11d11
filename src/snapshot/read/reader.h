/* Reading snapshot files (docs/snapshot-format.md).
 *
 * The reader trusts nothing in the file until it has checked it: opening
 * validates the header, footer, metadata and index (cheap: it reads only
 * those parts); each data frame is checked when it is read.  Errors name
 * what is wrong and the byte offset, e.g. "frame 3 at byte 1234: checksum
 * mismatch"; callers add the file name.
 *
 * reader.c: opening, metadata, sequential reading.
 * decoder.c: decoding one frame.
 * loader.c: decoding all frames on several threads.
 */
#ifndef MEMDISK_SNAPREAD_H
#define MEMDISK_SNAPREAD_H

#include <stdbool.h>
#include <stdint.h>

#include "snapshot/format/digest.h"
#include "snapshot/format/index.h"
#include "snapshot/format/metadata.h"
#include "common/threads.h"

struct snap_reader;

/* Open PATH and validate its structure.  NULL with md_error set. */
struct snap_reader *snap_reader_open (const char *path);
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

/* ---- one frame at a time (decoder.c) ---- */

/* Per-thread buffers and zstd context for decoding frames.  With
 * ZSTD_CHECKSUMS false the decoder skips zstd's content checksums, which
 * is safe when the caller checks the content digest (format section 10). */
struct snap_frame_decoder;
struct snap_frame_decoder *snap_frame_decoder_new (bool zstd_checksums);
void snap_frame_decoder_free (struct snap_frame_decoder *decoder);
/* Do not compute the content digest records (snap_frame_decoder_records
 * then gives none): for a reader that does not check the digest.  The
 * rule that no stored page is all zeros is still checked. */
void snap_frame_decoder_skip_records (struct snap_frame_decoder *decoder);

/* Read frame FRAME, check it and decompress it.  Returns its pages, in
 * index order, page_size bytes each, valid until the decoder's next use;
 * NULL with md_error set when it cannot, and errno saying whether trying
 * again may help: EBADMSG when the frame is damaged (a checksum, the zstd
 * data or a digest is wrong, or the file ends inside the frame), for
 * good; ENOMEM, or the read's own errno (EIO, ...), when another try may
 * succeed.  Thread-safe for distinct decoders. */
const unsigned char *snap_reader_decode_frame (struct snap_reader *reader, size_t frame,
                                               struct snap_frame_decoder *decoder);

/* The content digest records of the frame DECODER decoded last. */
const struct snap_digest_record *snap_frame_decoder_records (const struct snap_frame_decoder *decoder,
                                                             size_t *count);
/* Hand the compressed bytes of frame K (index->frames[k].compressed_size
 * of them) to SINK, in pieces of at most BUF_SIZE bytes read into BUF,
 * checking them against the index's checksum as they pass: what a save
 * that copies the frame writes.  SINK sees the bytes before the check
 * ends, so a caller must throw away what it made of them when this fails.
 * 0, or -1 with md_error set naming the frame and its byte offset; then
 * *SOURCE_BAD says whether the file was at fault (a read error, an end of
 * file, a checksum mismatch) rather than SINK (which returns 0, or -1
 * with md_error set).  Any thread; the reader is not changed. */
typedef int (*snap_bytes_sink_fn) (void *opaque, const void *data, size_t len);
int snap_reader_pass_frame_bytes (const struct snap_reader *reader, size_t k, void *buf,
                                  size_t buf_size, snap_bytes_sink_fn sink, void *opaque,
                                  bool *source_bad);

/* Start a digest of the form READER's file has (flat in 1.0, composed by
 * region in 2.0) for snap_reader_check_digest. */
void snap_reader_digest_init (const struct snap_reader *reader, struct snap_digest *digest);
/* Compare a digest of all frames' records, folded in frame order, with the
 * metadata's.  -1 with md_error set when they differ. */
int snap_reader_check_digest (const struct snap_reader *reader,
                              const struct snap_digest *digest);

/* Sequential reading with the shape of store_snapshot_next: the next
 * stored page into BUF (page_size bytes), 1; 0 at the end (after the
 * content digest has been checked); -1 with md_error set.  One thread. */
int snap_reader_next_page (void *reader, uint64_t *page_index, void *buf);
/* Once snap_reader_next_page has returned 0: the content digest in the form
 * this program writes (format 2.0's, regions of SNAP_REGION_SIZE), whatever
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
