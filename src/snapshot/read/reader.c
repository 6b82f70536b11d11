/* The snapshot reader: opening a file and validating its structure
 * (header, footer, metadata, index), and reading its pages in order.  The
 * checks follow docs/snapshot-format.md section 10 in its order; decoder.c
 * decodes and checks single data frames, loader.c all of them on several
 * threads. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/xxh64.h"
#include "files/trust.h"
#include "remote/url.h"
#include "snapshot/format/digest.h"
#include "snapshot/format/format.h"
#include "snapshot/read/decoder.h"
#include "snapshot/read/readat.h"
#include "snapshot/read/reader-internal.h"
#include "snapshot/read/reader.h"

/* ---- header and footer ---- */

/* The checksum of the header or footer PART, read at byte AT. */
static int
check_fixed_part (const char *what, uint64_t at, const unsigned char *part,
                  size_t checksum_offset)
{
  uint64_t stored = snap_get_le64 (part + checksum_offset);
  uint64_t computed = snap_fixed_part_checksum (part, checksum_offset);

  if (!snap_checksum_matches (stored, computed)) {
    md_error_set ("%s at byte %llu: checksum mismatch (stored %016llx, "
                  "computed %016llx)", what, (unsigned long long) at,
                  (unsigned long long) stored, (unsigned long long) computed);
    return -1;
  }
  return 0;
}

static int
check_header (struct snap_reader *r)
{
  unsigned char h[SNAP_HEADER_SIZE];

  if (snap_read_at (&r->source, h, sizeof h, 0, "header") == -1)
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
  if (check_fixed_part ("header", 0, h, SNAP_HEADER_OFF_CHECKSUM) == -1)
    return -1;
  uint16_t major = snap_get_le16 (h + SNAP_HEADER_OFF_MAJOR);
  uint16_t minor = snap_get_le16 (h + SNAP_HEADER_OFF_MINOR);
  uint32_t features = snap_get_le32 (h + SNAP_HEADER_OFF_FEATURES);
  if (major > SNAP_VERSION_MAJOR) {
    md_error_set ("header at byte %d: the file has format version %u.%u, "
                  "newer than this program supports (%u.x); use a newer memdisk",
                  SNAP_HEADER_OFF_MAJOR, major, minor, SNAP_VERSION_MAJOR);
    return -1;
  }
  if (major < SNAP_VERSION_MAJOR_OLDEST) {
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
  if (snap_read_at (&r->source, f, sizeof f, at, "footer") == -1)
    return -1;
  if (snap_get_le32 (f) != SNAP_SKIPPABLE_MAGIC
      || snap_get_le32 (f + 4) != SNAP_FOOTER_PAYLOAD_SIZE
      || memcmp (f + SNAP_FOOTER_OFF_SIGNATURE, SNAP_FOOTER_SIGNATURE,
                 SNAP_SIGNATURE_SIZE) != 0) {
    md_error_set ("footer at byte %llu: no snapshot footer at the end of the "
                  "file (truncated or damaged)", at);
    return -1;
  }
  if (check_fixed_part ("footer", at, f, SNAP_FOOTER_OFF_CHECKSUM) == -1)
    return -1;
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

  if (snap_read_at (&r->source, h, sizeof h, offset, what) == -1)
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
  if (snap_read_at (&r->source, payload, size, offset + sizeof h, what) == -1)
    goto fail;
  uint64_t computed = snap_xxh64 (payload, size, 0);
  if (!snap_checksum_matches (checksum, computed)) {
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
snap_reader_open_source (const struct snap_source *source, uint64_t file_size)
{
  struct snap_reader *r = calloc (1, sizeof *r);
  struct footer ft;

  if (r == NULL) {
    if (source->remote_close != NULL)
      source->remote_close (source->remote);
    md_error_set ("opening a snapshot: out of memory");
    return NULL;
  }
  r->source = *source;
  snap_index_init (&r->index);
  r->file_size = file_size;
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
snap_reader_open_fd (int fd)
{
  const struct snap_source source = { .fd = fd };
  struct stat st;

  if (fstat (fd, &st) == -1) {
    md_error_set ("cannot stat the file: %s", strerror (errno));
    return NULL;
  }
  /* A snapshot is a regular file: a FIFO or a device has no footer to
   * find, and reading one may block for ever. */
  if (!S_ISREG (st.st_mode)) {
    md_error_set ("is %s, not a snapshot (a snapshot is a regular file)",
                  snap_trust_file_type (st.st_mode));
    return NULL;
  }
  return snap_reader_open_source (&source, (uint64_t) st.st_size);
}

struct snap_reader *
snap_reader_open (const char *path)
{
  /* O_NONBLOCK: opening a FIFO must not wait for a writer; the type is
   * checked before anything is read. */
  int fd;

  if (md_url_is_http (path))
    return snap_reader_open_url (path);
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd == -1) {
    md_error_set ("cannot open: %s", strerror (errno));
    return NULL;
  }
  if (snap_fd_clear_nonblock (fd) == -1) {
    close (fd);
    return NULL;
  }
  return snap_reader_adopt_fd (fd);
}

struct snap_reader *
snap_reader_adopt_fd (int fd)
{
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
    close (r->source.fd);
  if (r->source.remote_close != NULL)
    r->source.remote_close (r->source.remote);
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

int
snap_reader_fd (const struct snap_reader *r)
{
  return r->source.fd;
}

void
snap_reader_close_file (struct snap_reader *r)
{
  if (r->own_fd) {
    close (r->source.fd);
    r->own_fd = false;
    r->source.fd = -1;
  }
  if (r->source.remote_close != NULL) {
    r->source.remote_close (r->source.remote);
    r->source = (struct snap_source) { .fd = -1 };
  }
}

/* ---- sequential reading ---- */

uint64_t
snap_reader_comparable_digest (const struct snap_reader *r)
{
  return snap_digest_final (&r->seq_composed);
}

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
    snap_reader_digest_init (r, &r->seq_digest);
    snap_digest_init_composed (&r->seq_composed, snap_store_region_size (&r->meta, 0));
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
    snap_digest_add (&r->seq_composed, rec, count);
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
