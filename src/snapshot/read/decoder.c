/* Decoding one data frame of a snapshot: read it, check it against its
 * index entry (docs/snapshot-format.md section 4 and 10, step 6), and
 * decompress it into pages, computing its content digest records on the
 * way.  A decoder holds one thread's zstd context and buffers, so several
 * threads decode frames of one reader at once (loader.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* For ZSTD_d_forceIgnoreChecksum (stable since zstd 1.4.7). */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "common/error.h"
#include "common/iszero.h"
#include "common/xxh64.h"
#include "snapshot/format/digest.h"
#include "snapshot/format/format.h"
#include "snapshot/read/decoder.h"
#include "snapshot/read/readat.h"
#include "snapshot/read/reader-internal.h"

struct snap_frame_decoder {
  ZSTD_DCtx *dctx;
  unsigned char *in;
  size_t in_cap;
  unsigned char *out;
  size_t out_cap;
  /* Digest records of the last decoded frame (unless !want_records). */
  bool want_records;
  struct snap_digest_record *records;
  size_t records_cap;
  size_t nrecords;
};

struct snap_frame_decoder *
snap_frame_decoder_new (bool zstd_checksums)
{
  struct snap_frame_decoder *d = calloc (1, sizeof *d);

  if (d == NULL || (d->dctx = ZSTD_createDCtx ()) == NULL) {
    free (d);
    md_error_set ("creating a zstd decompression context: out of memory");
    return NULL;
  }
  d->want_records = true;
  /* Frames are decoded in one shot into a buffer of the validated size,
   * which needs no window buffer: zstd applies this limit to streaming
   * decompression only, so it is a second line of defence at most. */
  size_t r = ZSTD_DCtx_setParameter (d->dctx, ZSTD_d_windowLogMax, 27);
  if (!ZSTD_isError (r) && !zstd_checksums)
    r = ZSTD_DCtx_setParameter (d->dctx, ZSTD_d_forceIgnoreChecksum,
                                ZSTD_d_ignoreChecksum);
  if (ZSTD_isError (r)) {
    md_error_set ("configuring zstd decompression: %s", ZSTD_getErrorName (r));
    snap_frame_decoder_free (d);
    return NULL;
  }
  return d;
}

void
snap_frame_decoder_free (struct snap_frame_decoder *d)
{
  if (d == NULL)
    return;
  ZSTD_freeDCtx (d->dctx);
  free (d->in);
  free (d->out);
  free (d->records);
  free (d);
}

/* Make *BUF hold at least NEED bytes. */
static int
reserve (void **buf, size_t *cap, size_t need)
{
  if (need <= *cap)
    return 0;
  void *p = realloc (*buf, need);
  if (p == NULL) {
    md_error_set ("reading a snapshot: out of memory for %zu bytes", need);
    errno = ENOMEM;
    return -1;
  }
  *buf = p;
  *cap = need;
  return 0;
}

/* Checks on the zstd frame's own header before decompressing it. */
static int
check_zstd_frame (const unsigned char *in, size_t len, size_t k, uint64_t at,
                  uint64_t expected)
{
  if (len < 5 || snap_get_le32 (in) != SNAP_ZSTD_MAGIC) {
    md_error_set ("frame %zu at byte %llu: not a zstd frame", k, (unsigned long long) at);
    return -1;
  }
  unsigned long long content = ZSTD_getFrameContentSize (in, len);
  if (content == ZSTD_CONTENTSIZE_ERROR) {
    md_error_set ("frame %zu at byte %llu: bad zstd frame header", k,
                  (unsigned long long) at);
    return -1;
  }
  if (content == ZSTD_CONTENTSIZE_UNKNOWN) {
    md_error_set ("frame %zu at byte %llu: the zstd frame header declares no "
                  "content size", k, (unsigned long long) at);
    return -1;
  }
  if (content != expected) {
    md_error_set ("frame %zu at byte %llu: the zstd frame header declares %llu "
                  "bytes, the index %llu", k, (unsigned long long) at, content,
                  (unsigned long long) expected);
    return -1;
  }
  /* Frame_Header_Descriptor bit 2: Content_Checksum_flag. */
  if ((in[4] & 0x04) == 0) {
    md_error_set ("frame %zu at byte %llu: the zstd frame has no content checksum",
                  k, (unsigned long long) at);
    return -1;
  }
  size_t frame_len = ZSTD_findFrameCompressedSize (in, len);
  if (ZSTD_isError (frame_len) || frame_len != len) {
    md_error_set ("frame %zu at byte %llu: the zstd frame is not exactly the "
                  "%zu bytes the index says%s%s", k, (unsigned long long) at, len,
                  ZSTD_isError (frame_len) ? ": " : "",
                  ZSTD_isError (frame_len) ? ZSTD_getErrorName (frame_len) : "");
    return -1;
  }
  return 0;
}

/* The disk's last page may extend past the disk; that part must be zero. */
static int
check_last_page_tail (const struct snap_reader *r, const struct snap_frame *f,
                      const unsigned char *pages, size_t k)
{
  const struct snap_run *last = &r->index.runs[f->first_run + f->run_count - 1];
  uint32_t tail = (uint32_t) (r->meta.virtual_size % r->meta.page_size);

  if (tail == 0 || last->first_page + last->page_count != r->disk_pages)
    return 0;
  const unsigned char *page = pages + (f->page_count - 1) * r->meta.page_size;
  if (!snap_is_zero (page + tail, r->meta.page_size - tail)) {
    md_error_set ("frame %zu at byte %llu: the disk's last page holds data "
                  "past the end of the disk", k, (unsigned long long) f->offset);
    return -1;
  }
  return 0;
}

void
snap_frame_decoder_skip_records (struct snap_frame_decoder *d)
{
  d->want_records = false;
}

/* Without records (a lazy load of a format 1 file, which does not check
 * the content digest): only the format's rule that no stored page is all
 * zeros (the message compute_records gives). */
static int
check_no_zero_page (const struct snap_reader *r, const struct snap_frame *f,
                    const unsigned char *pages, size_t k)
{
  const uint32_t page_size = r->meta.page_size;

  for (size_t i = 0; i < f->run_count; i++) {
    const struct snap_run *run = &r->index.runs[f->first_run + i];
    for (uint64_t j = 0; j < run->page_count; j++, pages += page_size)
      if (snap_is_zero (pages, page_size)) {
        uint64_t page = run->first_page + j;
        md_error_set ("frame %zu at byte %" PRIu64 ": page %" PRIu64 " is all "
                      "zeros; a snapshot must not store an all-zero page", k,
                      f->offset, page);
        return -1;
      }
  }
  return 0;
}

static int
compute_records (const struct snap_reader *r, const struct snap_frame *f,
                 const unsigned char *pages, size_t k, struct snap_frame_decoder *d)
{
  const uint32_t page_size = r->meta.page_size;

  /* A format 2 frame is checked against its region digest
   * (check_region_digest), which needs the records. */
  if (!d->want_records && r->meta.version_major < 2) {
    d->nrecords = 0;
    return check_no_zero_page (r, f, pages, k);
  }
  size_t need = f->page_count * (page_size / SNAP_DIGEST_BLOCK_SIZE) * sizeof *d->records;
  const unsigned char *p = pages;

  if (reserve ((void **) &d->records, &d->records_cap, need) == -1)
    return -1;
  d->nrecords = 0;
  for (size_t i = 0; i < f->run_count; i++) {
    const struct snap_run *run = &r->index.runs[f->first_run + i];
    for (uint64_t j = 0; j < run->page_count; j++, p += page_size) {
      size_t n = snap_digest_page (run->first_page + j, page_size, p,
                                   d->records + d->nrecords);
      /* No non-zero block: the page is all zeros, which the format
       * forbids a writer to store (section 1). */
      if (n == 0) {
        uint64_t page = run->first_page + j;
        md_error_set ("frame %zu at byte %" PRIu64 ": page %" PRIu64 " is all "
                      "zeros; a snapshot must not store an all-zero page", k,
                      f->offset, page);
        return -1;
      }
      d->nrecords += n;
    }
  }
  return 0;
}

int
snap_reader_pass_frame_bytes (const struct snap_reader *r, size_t k, void *buf,
                              size_t buf_size, snap_bytes_sink_fn sink, void *opaque,
                              bool *source_bad)
{
  const struct snap_frame *f = &r->index.frames[k];
  struct snap_xxh64_state state;
  char what[64];

  *source_bad = false;
  snprintf (what, sizeof what, "frame %zu", k);
  snap_xxh64_init (&state, 0);
  for (uint64_t done = 0; done < f->compressed_size;) {
    size_t n = f->compressed_size - done < buf_size ? (size_t) (f->compressed_size - done)
                                                    : buf_size;
    if (snap_read_at (&r->source, buf, n, f->offset + done, what) == -1) {
      *source_bad = true;
      return -1;
    }
    snap_xxh64_update (&state, buf, n);
    if (sink (opaque, buf, n) == -1)
      return -1;
    done += n;
  }
  uint64_t computed = snap_xxh64_final (&state);
  if (computed != f->checksum) {
    md_error_set ("frame %zu at byte %llu: checksum mismatch (index says "
                  "%016llx, computed %016llx)", k, (unsigned long long) f->offset,
                  (unsigned long long) f->checksum, (unsigned long long) computed);
    *source_bad = true;
    return -1;
  }
  return 0;
}

/* Format 2: the frame's pages give the region digest its index entry holds
 * (what a save copying this frame will take as the region's digest). */
static int
check_region_digest (const struct snap_reader *r, const struct snap_frame *f, size_t k,
                     const struct snap_frame_decoder *d)
{
  if (r->meta.version_major < 2)
    return 0;
  uint64_t computed = snap_region_digest (d->records, d->nrecords);
  if (computed != f->region_digest) {
    md_error_set ("frame %zu at byte %llu: region digest mismatch (index says "
                  "%016llx, the pages give %016llx)", k,
                  (unsigned long long) f->offset, (unsigned long long) f->region_digest,
                  (unsigned long long) computed);
    return -1;
  }
  return 0;
}

/* The frame's bytes are wrong: say so in errno (decoder.h), for good. */
static const unsigned char *
frame_damaged (void)
{
  errno = EBADMSG;
  return NULL;
}

const unsigned char *
snap_reader_decode_frame (struct snap_reader *r, size_t k, struct snap_frame_decoder *d)
{
  const struct snap_frame *f = &r->index.frames[k];
  const unsigned long long at = f->offset;
  /* Both bounded when the index was validated. */
  const size_t in_len = f->compressed_size;
  const size_t out_len = f->page_count * r->meta.page_size;
  /* Format 2.1: the padding before the frame is read with it, and checked. */
  const uint64_t pad_at = snap_reader_padding_start (r, k);
  const size_t gap = (size_t) (f->offset - pad_at);

  if (reserve ((void **) &d->in, &d->in_cap, gap + in_len) == -1
      || reserve ((void **) &d->out, &d->out_cap, out_len) == -1)
    return NULL;

  char what[64];
  snprintf (what, sizeof what, "frame %zu", k);
  uint64_t computed = 0;
  const unsigned char *in = d->in + gap;
  for (int tries = r->source.refetch ? 2 : 1; tries > 0; tries--) {
    errno = 0;
    if (snap_read_at (&r->source, d->in, gap + in_len, pad_at, what) == -1)
      return errno != 0 ? NULL : frame_damaged ();   /* a read error, or the end of the file */
    computed = snap_xxh64 (in, in_len, 0);
    if (snap_checksum_matches (f->checksum, computed))
      break;
  }
  if (snap_padding_check (d->in, gap, pad_at, k) == -1)
    return frame_damaged ();
  if (!snap_checksum_matches (f->checksum, computed)) {
    md_error_set ("frame %zu at byte %llu: checksum mismatch (index says "
                  "%016llx, computed %016llx)", k, at,
                  (unsigned long long) f->checksum, (unsigned long long) computed);
    return frame_damaged ();
  }
  if (check_zstd_frame (in, in_len, k, at, out_len) == -1)
    return frame_damaged ();
  size_t n = ZSTD_decompressDCtx (d->dctx, d->out, out_len, in, in_len);
  if (ZSTD_isError (n) || n != out_len) {
    md_error_set ("frame %zu at byte %llu: cannot decompress: %s", k, at,
                  ZSTD_isError (n) ? ZSTD_getErrorName (n) : "wrong size");
    return frame_damaged ();
  }
  errno = 0;
  if (check_last_page_tail (r, f, d->out, k) == -1
      || compute_records (r, f, d->out, k, d) == -1
      || check_region_digest (r, f, k, d) == -1)
    return errno == ENOMEM ? NULL : frame_damaged ();
  return d->out;
}

const struct snap_digest_record *
snap_frame_decoder_records (const struct snap_frame_decoder *d, size_t *count)
{
  *count = d->nrecords;
  return d->records;
}

void
snap_reader_digest_init (const struct snap_reader *r, struct snap_digest *digest)
{
  if (r->meta.version_major >= 2)
    snap_digest_init_composed (digest, r->meta.region_size);
  else
    snap_digest_init (digest);
}

int
snap_reader_check_digest (const struct snap_reader *r, const struct snap_digest *digest)
{
  uint64_t computed = snap_digest_final (digest);

  if (computed != r->meta.content_digest) {
    md_error_set ("content digest mismatch: the metadata says %016llx, the "
                  "pages give %016llx", (unsigned long long) r->meta.content_digest,
                  (unsigned long long) computed);
    return -1;
  }
  return 0;
}
