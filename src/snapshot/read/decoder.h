/* Decoding the data frames of a snapshot one at a time (decoder.c), and
 * the checks on whole frames and on the content digest that reading them
 * all ends with.  Used by reader.c's sequential reading, loader.c, lazy.c,
 * and the writer when it copies a previous file's frame; a reader comes
 * from reader.h.
 */
#ifndef MEMDISK_SNAPDECODE_H
#define MEMDISK_SNAPDECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/format/digest.h"

struct snap_reader;

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

#endif
