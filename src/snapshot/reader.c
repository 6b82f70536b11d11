/* The snapshot reader: validation of the file's structure, decoding of
 * single frames, and sequential reading.  The checks follow
 * docs/snapshot-format.md section 10 in its order. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
/* For ZSTD_d_forceIgnoreChecksum (stable since zstd 1.4.7). */
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>

#include "common/error.h"
#include "snapshot/digest.h"
#include "snapshot/format.h"
#include "snapshot/reader.h"
#include "snapshot/trust.h"
#include "common/xxh64.h"
#include "common/iszero.h"

struct snap_reader {
  int fd;
  bool own_fd;
  uint64_t file_size;
  struct snap_metadata meta;
  struct snap_index index;
  uint64_t disk_pages;

  /* Sequential reading state (snap_reader_next_page). */
  struct snap_frame_decoder *seq_decoder;
  const unsigned char *seq_data;        /* the current frame's pages */
  size_t seq_frame;                     /* the current frame */
  size_t seq_run;                       /* run within the index */
  uint64_t seq_page_in_run;
  uint64_t seq_page_in_frame;
  bool seq_done;
  struct snap_digest seq_digest;
};

struct snap_frame_decoder {
  ZSTD_DCtx *dctx;
  unsigned char *in;
  size_t in_cap;
  unsigned char *out;
  size_t out_cap;
  /* Digest records of the last decoded frame. */
  struct snap_digest_record *records;
  size_t records_cap;
  size_t nrecords;
};

static int
read_at (int fd, void *buf, size_t len, uint64_t offset, const char *what)
{
  unsigned char *p = buf;

  while (len > 0) {
    ssize_t n = pread (fd, p, len, (off_t) offset);
    if (n == -1 && errno == EINTR)
      continue;
    if (n == -1) {
      md_error_set ("%s at byte %llu: read error: %s", what,
                    (unsigned long long) offset, strerror (errno));
      return -1;
    }
    if (n == 0) {
      md_error_set ("%s at byte %llu: unexpected end of file", what,
                    (unsigned long long) offset);
      return -1;
    }
    p += n;
    len -= (size_t) n;
    offset += (uint64_t) n;
  }
  return 0;
}

/* Fuzzing builds (tests/fuzz/run.sh) accept wrong checksums so that the
 * fuzzer can reach the parsers behind them; every other check stays. */
static bool
checksum_matches (uint64_t stored, uint64_t computed)
{
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
  (void) stored, (void) computed;
  return true;
#else
  return stored == computed;
#endif
}

/* ---- header and footer ---- */

static int
check_header (struct snap_reader *r)
{
  unsigned char h[SNAP_HEADER_SIZE];

  if (read_at (r->fd, h, sizeof h, 0, "header") == -1)
    return -1;
  if (snap_get_le32 (h) == SNAP_ZSTD_MAGIC) {
    md_error_set ("header at byte 0: this is a plain zstd file, not a memdisk "
                  "snapshot (no memdisk header)");
    return -1;
  }
  if (!snap_is_snapshot_prefix (h, sizeof h)) {
    md_error_set ("header at byte 0: not a memdisk snapshot (bad signature)");
    return -1;
  }
  uint64_t stored = snap_get_le64 (h + SNAP_HEADER_OFF_CHECKSUM);
  uint64_t computed = snap_xxh64 (h + SNAP_HEADER_OFF_SIGNATURE,
                                  SNAP_HEADER_OFF_CHECKSUM - SNAP_HEADER_OFF_SIGNATURE, 0);
  if (!checksum_matches (stored, computed)) {
    md_error_set ("header at byte 0: checksum mismatch (stored %016llx, "
                  "computed %016llx)", (unsigned long long) stored,
                  (unsigned long long) computed);
    return -1;
  }
  uint16_t major = snap_get_le16 (h + SNAP_HEADER_OFF_MAJOR);
  uint16_t minor = snap_get_le16 (h + SNAP_HEADER_OFF_MINOR);
  uint32_t features = snap_get_le32 (h + SNAP_HEADER_OFF_FEATURES);
  if (major > SNAP_VERSION_MAJOR) {
    md_error_set ("header at byte %d: the file has format version %u.%u, "
                  "newer than this program supports (%u.x); use a newer memdisk",
                  SNAP_HEADER_OFF_MAJOR, major, minor, SNAP_VERSION_MAJOR);
    return -1;
  }
  if (major != SNAP_VERSION_MAJOR) {
    md_error_set ("header at byte %d: format version %u.%u is not valid",
                  SNAP_HEADER_OFF_MAJOR, major, minor);
    return -1;
  }
  if ((features & ~SNAP_FEATURES_KNOWN) != 0) {
    md_error_set ("header at byte %d: the file requires features this program "
                  "does not support (flags 0x%x%s); use a newer memdisk",
                  SNAP_HEADER_OFF_FEATURES, features & ~SNAP_FEATURES_KNOWN,
                  (features & SNAP_FEATURE_DELTA) ? ", delta snapshot" : "");
    return -1;
  }
  r->meta.version_major = major;
  r->meta.version_minor = minor;
  return 0;
}

struct footer {
  uint64_t offset;              /* of the footer itself */
  uint64_t meta_offset;
  uint64_t meta_checksum;
  uint64_t index_offset;
  uint64_t index_checksum;
};

static int
check_footer (struct snap_reader *r, struct footer *ft)
{
  unsigned char f[SNAP_FOOTER_SIZE];
  const unsigned long long at = r->file_size - SNAP_FOOTER_SIZE;

  ft->offset = at;
  if (read_at (r->fd, f, sizeof f, at, "footer") == -1)
    return -1;
  if (snap_get_le32 (f) != SNAP_SKIPPABLE_MAGIC
      || snap_get_le32 (f + 4) != SNAP_FOOTER_PAYLOAD_SIZE
      || memcmp (f + SNAP_FOOTER_OFF_SIGNATURE, SNAP_FOOTER_SIGNATURE,
                 SNAP_SIGNATURE_SIZE) != 0) {
    md_error_set ("footer at byte %llu: no snapshot footer at the end of the "
                  "file (truncated or damaged)", at);
    return -1;
  }
  uint64_t stored = snap_get_le64 (f + SNAP_FOOTER_OFF_CHECKSUM);
  uint64_t computed = snap_xxh64 (f + SNAP_FOOTER_OFF_SIGNATURE,
                                  SNAP_FOOTER_OFF_CHECKSUM - SNAP_FOOTER_OFF_SIGNATURE, 0);
  if (!checksum_matches (stored, computed)) {
    md_error_set ("footer at byte %llu: checksum mismatch (stored %016llx, "
                  "computed %016llx)", at, (unsigned long long) stored,
                  (unsigned long long) computed);
    return -1;
  }
  ft->meta_offset = snap_get_le64 (f + SNAP_FOOTER_OFF_META_OFFSET);
  ft->meta_checksum = snap_get_le64 (f + SNAP_FOOTER_OFF_META_CHECKSUM);
  ft->index_offset = snap_get_le64 (f + SNAP_FOOTER_OFF_INDEX_OFFSET);
  ft->index_checksum = snap_get_le64 (f + SNAP_FOOTER_OFF_INDEX_CHECKSUM);

  /* Each part must leave room for the next one's frame header and a
   * payload of at least one byte. */
  if (ft->meta_offset < SNAP_HEADER_SIZE
      || ft->meta_offset >= at
      || ft->index_offset >= at
      || ft->index_offset <= ft->meta_offset + SNAP_SKIPPABLE_HEADER_SIZE
      || at <= ft->index_offset + SNAP_SKIPPABLE_HEADER_SIZE) {
    md_error_set ("footer at byte %llu: metadata offset %llu and index offset "
                  "%llu do not fit the file's layout", at,
                  (unsigned long long) ft->meta_offset,
                  (unsigned long long) ft->index_offset);
    return -1;
  }
  if (ft->index_offset - ft->meta_offset - SNAP_SKIPPABLE_HEADER_SIZE
      > SNAP_MAX_METADATA_SIZE) {
    md_error_set ("footer at byte %llu: the metadata would be %llu bytes, more "
                  "than the limit of %u", at,
                  (unsigned long long) (ft->index_offset - ft->meta_offset
                                        - SNAP_SKIPPABLE_HEADER_SIZE),
                  SNAP_MAX_METADATA_SIZE);
    return -1;
  }
  if (at - ft->index_offset - SNAP_SKIPPABLE_HEADER_SIZE > SNAP_MAX_INDEX_SIZE) {
    md_error_set ("footer at byte %llu: the index would be %llu bytes, more "
                  "than a skippable frame holds", at,
                  (unsigned long long) (at - ft->index_offset - SNAP_SKIPPABLE_HEADER_SIZE));
    return -1;
  }
  return 0;
}

/* Read the skippable frame at OFFSET holding SIZE payload bytes whose
 * XXH64 must be CHECKSUM.  Returns the malloc'd payload, or NULL. */
static unsigned char *
read_part (struct snap_reader *r, uint64_t offset, uint64_t size, uint64_t checksum,
           const char *what)
{
  unsigned char h[SNAP_SKIPPABLE_HEADER_SIZE];

  if (read_at (r->fd, h, sizeof h, offset, what) == -1)
    return NULL;
  if (snap_get_le32 (h) != SNAP_SKIPPABLE_MAGIC || snap_get_le32 (h + 4) != size) {
    md_error_set ("%s at byte %llu: bad frame header (expected a skippable "
                  "frame of %llu bytes, as the footer says)", what,
                  (unsigned long long) offset, (unsigned long long) size);
    return NULL;
  }
  /* SIZE was bounded by check_footer and lies within the file. */
  unsigned char *payload = malloc (size);
  if (payload == NULL) {
    md_error_set ("%s at byte %llu: out of memory for %llu bytes", what,
                  (unsigned long long) offset, (unsigned long long) size);
    return NULL;
  }
  if (read_at (r->fd, payload, size, offset + sizeof h, what) == -1)
    goto fail;
  uint64_t computed = snap_xxh64 (payload, size, 0);
  if (!checksum_matches (checksum, computed)) {
    md_error_set ("%s at byte %llu: checksum mismatch (footer says %016llx, "
                  "computed %016llx)", what, (unsigned long long) offset,
                  (unsigned long long) checksum, (unsigned long long) computed);
    goto fail;
  }
  return payload;
fail:
  free (payload);
  return NULL;
}

static int
read_metadata_and_index (struct snap_reader *r, const struct footer *ft)
{
  uint64_t meta_size = ft->index_offset - ft->meta_offset - SNAP_SKIPPABLE_HEADER_SIZE;
  uint64_t index_size = ft->offset - ft->index_offset - SNAP_SKIPPABLE_HEADER_SIZE;
  struct snap_metadata meta;
  unsigned char *buf;
  int err;

  buf = read_part (r, ft->meta_offset, meta_size, ft->meta_checksum, "metadata");
  if (buf == NULL)
    return -1;
  err = snap_meta_decode (buf, meta_size, ft->meta_offset + SNAP_SKIPPABLE_HEADER_SIZE,
                          &meta);
  free (buf);
  if (err == -1)
    return -1;
  if (meta.version_major != r->meta.version_major
      || meta.version_minor != r->meta.version_minor) {
    md_error_set ("metadata at byte %llu: format version %u.%u differs from "
                  "the header's %u.%u", (unsigned long long) ft->meta_offset,
                  meta.version_major, meta.version_minor, r->meta.version_major,
                  r->meta.version_minor);
    return -1;
  }
  r->meta = meta;
  r->disk_pages = snap_page_count (meta.virtual_size, meta.page_size);

  buf = read_part (r, ft->index_offset, index_size, ft->index_checksum, "index");
  if (buf == NULL)
    return -1;
  err = snap_index_decode (buf, index_size, ft->index_offset + SNAP_SKIPPABLE_HEADER_SIZE,
                           &r->meta, ft->meta_offset, &r->index);
  free (buf);
  return err;
}

struct snap_reader *
snap_reader_open_fd (int fd)
{
  struct snap_reader *r = calloc (1, sizeof *r);
  struct stat st;
  struct footer ft;

  if (r == NULL) {
    md_error_set ("opening a snapshot: out of memory");
    return NULL;
  }
  r->fd = fd;
  snap_index_init (&r->index);
  if (fstat (fd, &st) == -1) {
    md_error_set ("cannot stat the file: %s", strerror (errno));
    goto fail;
  }
  /* A snapshot is a regular file: a FIFO or a device has no footer to
   * find, and reading one may block for ever. */
  if (!S_ISREG (st.st_mode)) {
    md_error_set ("is %s, not a snapshot (a snapshot is a regular file)",
                  snap_trust_file_type (st.st_mode));
    goto fail;
  }
  r->file_size = (uint64_t) st.st_size;
  if (r->file_size < SNAP_MIN_FILE_SIZE) {
    md_error_set ("the file is %llu bytes, too small to be a memdisk snapshot "
                  "(at least %u bytes)", (unsigned long long) r->file_size,
                  SNAP_MIN_FILE_SIZE);
    goto fail;
  }
  if (check_header (r) == -1 || check_footer (r, &ft) == -1
      || read_metadata_and_index (r, &ft) == -1)
    goto fail;
  return r;

fail:
  snap_reader_close (r);
  return NULL;
}

struct snap_reader *
snap_reader_open (const char *path)
{
  /* O_NONBLOCK: opening a FIFO must not wait for a writer; the type is
   * checked before anything is read. */
  int fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);

  if (fd == -1) {
    md_error_set ("cannot open: %s", strerror (errno));
    return NULL;
  }
  if (snap_fd_clear_nonblock (fd) == -1) {
    close (fd);
    return NULL;
  }
  struct snap_reader *r = snap_reader_open_fd (fd);
  if (r == NULL) {
    close (fd);
    return NULL;
  }
  r->own_fd = true;
  return r;
}

void
snap_reader_close (struct snap_reader *r)
{
  if (r == NULL)
    return;
  if (r->own_fd)
    close (r->fd);
  snap_index_free (&r->index);
  snap_frame_decoder_free (r->seq_decoder);
  free (r);
}

const struct snap_metadata *
snap_reader_metadata (const struct snap_reader *r)
{
  return &r->meta;
}

const struct snap_index *
snap_reader_index (const struct snap_reader *r)
{
  return &r->index;
}

uint64_t
snap_reader_file_size (const struct snap_reader *r)
{
  return r->file_size;
}

/* ---- frames ---- */

struct snap_frame_decoder *
snap_frame_decoder_new (bool zstd_checksums)
{
  struct snap_frame_decoder *d = calloc (1, sizeof *d);

  if (d == NULL || (d->dctx = ZSTD_createDCtx ()) == NULL) {
    free (d);
    md_error_set ("creating a zstd decompression context: out of memory");
    return NULL;
  }
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

static int
compute_records (const struct snap_reader *r, const struct snap_frame *f,
                 const unsigned char *pages, size_t k, struct snap_frame_decoder *d)
{
  const uint32_t page_size = r->meta.page_size;
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
        md_error_set ("frame %zu at byte %llu: page %llu is all zeros; a "
                      "snapshot must not store an all-zero page", k,
                      (unsigned long long) f->offset,
                      (unsigned long long) (run->first_page + j));
        return -1;
      }
      d->nrecords += n;
    }
  }
  return 0;
}

const unsigned char *
snap_reader_decode_frame (struct snap_reader *r, size_t k, struct snap_frame_decoder *d)
{
  const struct snap_frame *f = &r->index.frames[k];
  const unsigned long long at = f->offset;
  /* Both bounded when the index was validated. */
  const size_t in_len = f->compressed_size;
  const size_t out_len = f->page_count * r->meta.page_size;

  if (reserve ((void **) &d->in, &d->in_cap, in_len) == -1
      || reserve ((void **) &d->out, &d->out_cap, out_len) == -1)
    return NULL;

  char what[64];
  snprintf (what, sizeof what, "frame %zu", k);
  if (read_at (r->fd, d->in, in_len, f->offset, what) == -1)
    return NULL;
  uint64_t computed = snap_xxh64 (d->in, in_len, 0);
  if (!checksum_matches (f->checksum, computed)) {
    md_error_set ("frame %zu at byte %llu: checksum mismatch (index says "
                  "%016llx, computed %016llx)", k, at,
                  (unsigned long long) f->checksum, (unsigned long long) computed);
    return NULL;
  }
  if (check_zstd_frame (d->in, in_len, k, at, out_len) == -1)
    return NULL;
  size_t n = ZSTD_decompressDCtx (d->dctx, d->out, out_len, d->in, in_len);
  if (ZSTD_isError (n) || n != out_len) {
    md_error_set ("frame %zu at byte %llu: cannot decompress: %s", k, at,
                  ZSTD_isError (n) ? ZSTD_getErrorName (n) : "wrong size");
    return NULL;
  }
  if (check_last_page_tail (r, f, d->out, k) == -1
      || compute_records (r, f, d->out, k, d) == -1)
    return NULL;
  return d->out;
}

const struct snap_digest_record *
snap_frame_decoder_records (const struct snap_frame_decoder *d, size_t *count)
{
  *count = d->nrecords;
  return d->records;
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

/* ---- sequential reading ---- */

int
snap_reader_next_page (void *opaque, uint64_t *page_index, void *buf)
{
  struct snap_reader *r = opaque;
  const uint32_t page_size = r->meta.page_size;

  if (r->seq_done)
    return 0;
  if (r->seq_decoder == NULL) {
    r->seq_decoder = snap_frame_decoder_new (false);
    if (r->seq_decoder == NULL)
      return -1;
    snap_digest_init (&r->seq_digest);
    r->seq_frame = 0;
    r->seq_data = NULL;
  }
  if (r->seq_data == NULL || r->seq_page_in_frame == r->index.frames[r->seq_frame].page_count) {
    if (r->seq_data != NULL)
      r->seq_frame++;
    if (r->seq_frame == r->index.frame_count) {
      r->seq_done = true;
      return snap_reader_check_digest (r, &r->seq_digest) == -1 ? -1 : 0;
    }
    r->seq_data = snap_reader_decode_frame (r, r->seq_frame, r->seq_decoder);
    if (r->seq_data == NULL)
      return -1;
    size_t count;
    const struct snap_digest_record *rec = snap_frame_decoder_records (r->seq_decoder, &count);
    snap_digest_add (&r->seq_digest, rec, count);
    r->seq_run = r->index.frames[r->seq_frame].first_run;
    r->seq_page_in_run = 0;
    r->seq_page_in_frame = 0;
  }
  const struct snap_run *run = &r->index.runs[r->seq_run];
  *page_index = run->first_page + r->seq_page_in_run;
  memcpy (buf, r->seq_data + r->seq_page_in_frame * page_size, page_size);
  r->seq_page_in_frame++;
  if (++r->seq_page_in_run == run->page_count) {
    r->seq_run++;
    r->seq_page_in_run = 0;
  }
  return 1;
}
