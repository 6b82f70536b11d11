/* The skippable frames a snapshot's writer puts around the data frames
 * (docs/snapshot-format.md sections 2, 3, 6, 8 and 9): the header first;
 * after the data, the metadata, the index and the footer that locates and
 * checksums them.  The writer's pipeline (writer.c) writes the data
 * frames between them, with snap_write_bytes.
 */
#include <errno.h>
#include <string.h>

#include "common/error.h"
#include "common/fullio.h"
#include "common/xxh64.h"
#include "snapshot/format/format.h"
#include "snapshot/write/skippable.h"

int
snap_write_bytes (int fd, const void *buf, size_t len)
{
  if (md_write_full (fd, buf, len, NULL) == -1) {
    md_error_set ("writing the snapshot: %s", errno == 0 ? "no progress" : strerror (errno));
    return -1;
  }
  return 0;
}

int
snap_write_header (int fd, unsigned minor, uint64_t *file_offset)
{
  unsigned char h[SNAP_HEADER_SIZE] = { 0 };

  snap_put_le32 (h, SNAP_SKIPPABLE_MAGIC);
  snap_put_le32 (h + 4, SNAP_HEADER_PAYLOAD_SIZE);
  memcpy (h + SNAP_HEADER_OFF_SIGNATURE, SNAP_HEADER_SIGNATURE, SNAP_SIGNATURE_SIZE);
  snap_put_le16 (h + SNAP_HEADER_OFF_MAJOR, SNAP_VERSION_MAJOR);
  snap_put_le16 (h + SNAP_HEADER_OFF_MINOR, (uint16_t) minor);
  snap_put_le32 (h + SNAP_HEADER_OFF_FEATURES, 0);
  snap_put_le64 (h + SNAP_HEADER_OFF_CHECKSUM,
                 snap_fixed_part_checksum (h, SNAP_HEADER_OFF_CHECKSUM));
  if (snap_write_bytes (fd, h, sizeof h) == -1)
    return -1;
  *file_offset = SNAP_HEADER_SIZE;
  return 0;
}

/* A skippable frame holding PAYLOAD; returns its offset in *OFFSET. */
static int
write_skippable (int fd, uint64_t *file_offset, const struct snap_cbor_buffer *payload,
                 const char *what, uint64_t *offset)
{
  unsigned char h[SNAP_SKIPPABLE_HEADER_SIZE];

  if (payload->len > UINT32_MAX) {
    md_error_set ("writing a snapshot: the %s is %zu bytes, more than a "
                  "skippable frame holds", what, payload->len);
    return -1;
  }
  snap_put_le32 (h, SNAP_SKIPPABLE_MAGIC);
  snap_put_le32 (h + 4, (uint32_t) payload->len);
  if (snap_write_bytes (fd, h, sizeof h) == -1
      || snap_write_bytes (fd, payload->data, payload->len) == -1)
    return -1;
  *offset = *file_offset;
  *file_offset += sizeof h + payload->len;
  return 0;
}

int
snap_write_trailer (int fd, uint64_t *file_offset, const struct snap_metadata *meta,
                    const struct snap_index *index)
{
  struct snap_cbor_buffer mbuf, ibuf;
  uint64_t meta_offset, index_offset;
  int r = -1;

  snap_cbor_buffer_init (&mbuf);
  snap_cbor_buffer_init (&ibuf);
  if (snap_meta_encode (meta, &mbuf) == -1 || snap_index_encode (index, &ibuf) == -1
      || write_skippable (fd, file_offset, &mbuf, "metadata", &meta_offset) == -1
      || write_skippable (fd, file_offset, &ibuf, "index", &index_offset) == -1)
    goto out;

  unsigned char f[SNAP_FOOTER_SIZE];
  snap_put_le32 (f, SNAP_SKIPPABLE_MAGIC);
  snap_put_le32 (f + 4, SNAP_FOOTER_PAYLOAD_SIZE);
  memcpy (f + SNAP_FOOTER_OFF_SIGNATURE, SNAP_FOOTER_SIGNATURE, SNAP_SIGNATURE_SIZE);
  snap_put_le64 (f + SNAP_FOOTER_OFF_META_OFFSET, meta_offset);
  snap_put_le64 (f + SNAP_FOOTER_OFF_META_CHECKSUM, snap_xxh64 (mbuf.data, mbuf.len, 0));
  snap_put_le64 (f + SNAP_FOOTER_OFF_INDEX_OFFSET, index_offset);
  snap_put_le64 (f + SNAP_FOOTER_OFF_INDEX_CHECKSUM, snap_xxh64 (ibuf.data, ibuf.len, 0));
  snap_put_le64 (f + SNAP_FOOTER_OFF_CHECKSUM,
                 snap_fixed_part_checksum (f, SNAP_FOOTER_OFF_CHECKSUM));
  if (snap_write_bytes (fd, f, sizeof f) == -1)
    goto out;
  *file_offset += sizeof f;
  r = 0;
out:
  snap_cbor_buffer_free (&mbuf);
  snap_cbor_buffer_free (&ibuf);
  return r;
}
