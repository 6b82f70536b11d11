/* The snapshot file format's constants and fixed-size parts, as defined in
 * docs/snapshot-format.md (section numbers below refer to it).  Writer and
 * reader both take every number from here.
 */
#ifndef MEMDISK_SNAPFMT_H
#define MEMDISK_SNAPFMT_H

#include <stdint.h>
#include <string.h>

#include "common/pagesize.h"
#include "common/xxh64.h"

/* The version this program writes; it reads major versions 1 and 2
 * (2.0, and 2.1 and later with aligned frames: section 4). */
#define SNAP_VERSION_MAJOR 2
#define SNAP_VERSION_MINOR 1
#define SNAP_VERSION_MAJOR_OLDEST 1
/* Required-feature bits this program implements (section 11: none yet;
 * bit 0 is reserved for delta snapshots). */
#define SNAP_FEATURES_KNOWN 0u
#define SNAP_FEATURE_DELTA 1u

/* Section 2: every skippable frame of ours uses this magic. */
#define SNAP_SKIPPABLE_MAGIC 0x184D2A5Du
#define SNAP_SKIPPABLE_HEADER_SIZE 8u
#define SNAP_ZSTD_MAGIC 0xFD2FB528u

/* Section 3: header. */
#define SNAP_HEADER_SIZE 32u
#define SNAP_HEADER_PAYLOAD_SIZE 24u
#define SNAP_HEADER_SIGNATURE "MDSNAPSH"
#define SNAP_HEADER_OFF_SIGNATURE 8
#define SNAP_HEADER_OFF_MAJOR 16
#define SNAP_HEADER_OFF_MINOR 18
#define SNAP_HEADER_OFF_FEATURES 20
#define SNAP_HEADER_OFF_CHECKSUM 24

/* Section 9: footer, the last SNAP_FOOTER_SIZE bytes of the file. */
#define SNAP_FOOTER_SIZE 56u
#define SNAP_FOOTER_PAYLOAD_SIZE 48u
#define SNAP_FOOTER_SIGNATURE "MDSNAPFT"
#define SNAP_FOOTER_OFF_SIGNATURE 8
#define SNAP_FOOTER_OFF_META_OFFSET 16
#define SNAP_FOOTER_OFF_META_CHECKSUM 24
#define SNAP_FOOTER_OFF_INDEX_OFFSET 32
#define SNAP_FOOTER_OFF_INDEX_CHECKSUM 40
#define SNAP_FOOTER_OFF_CHECKSUM 48

#define SNAP_SIGNATURE_SIZE 8u
#define SNAP_MIN_FILE_SIZE (SNAP_HEADER_SIZE + SNAP_FOOTER_SIZE)

/* Section 1: pages (their size bounds are common/pagesize.h's, shared
 * with the store). */
#define SNAP_MAX_VIRTUAL_SIZE ((uint64_t) INT64_MAX)

/* Section 4: the most a data frame may decompress to. */
#define SNAP_MAX_FRAME_CONTENT (64u * 1024u * 1024u)
/* Section 4: format 2's regions.  A data frame holds the stored pages of
 * one region of the disk.  The writer's default is
 * SNAP_DEFAULT_REGION_SIZE; it takes any size md_region_size_valid
 * accepts (a page to 64 MiB).  A 2.0 file's regions are 1 MiB at least
 * (SNAP_MIN_REGION_SIZE_2_0); smaller ones need minor version
 * SNAP_SMALL_REGIONS_MINOR, so that a 2.0 reader, which checks the 1 MiB
 * minimum, refuses the file instead of misreading it. */
#define SNAP_DEFAULT_REGION_SIZE (4u * 1024u * 1024u)
#define SNAP_MIN_REGION_SIZE_2_0 (1u * 1024u * 1024u)
#define SNAP_SMALL_REGIONS_MINOR 1
#define SNAP_MAX_REGION_SIZE SNAP_MAX_FRAME_CONTENT
/* Section 4, format 2.1: each data frame starts at a multiple of this,
 * and the gap before it is a padding skippable frame (at least its 8-byte
 * header, zeros after). */
#define SNAP_FRAME_ALIGN 4096u
#define SNAP_MAX_PADDING (SNAP_FRAME_ALIGN + SNAP_SKIPPABLE_HEADER_SIZE - 1)
/* Format 1.0's writer put this many bytes of stored pages in a frame. */
#define SNAP_FRAME_TARGET_1_0 (4u * 1024u * 1024u)

/* Section 6 and 8: limits on the CBOR parts. */
#define SNAP_MAX_METADATA_SIZE 65536u
#define SNAP_MAX_INDEX_SIZE UINT32_MAX
#define SNAP_MAX_CREATOR_SIZE 256u
/* Section 6: the most regions the optional "touch-order" key lists (at
 * most 9 bytes of CBOR each, so the key stays far below the metadata's
 * 64 KiB with every other key). */
#define SNAP_MAX_TOUCH_ORDER 1024u

/* Section 7: the content digest works on blocks of this size. */
#define SNAP_DIGEST_BLOCK_SIZE 4096u

/* Little-endian access to the fixed-size parts. */
static inline uint16_t
snap_get_le16 (const unsigned char *p)
{
  return (uint16_t) (p[0] | (p[1] << 8));
}

static inline uint32_t
snap_get_le32 (const unsigned char *p)
{
  return (uint32_t) p[0] | ((uint32_t) p[1] << 8) | ((uint32_t) p[2] << 16)
         | ((uint32_t) p[3] << 24);
}

static inline uint64_t
snap_get_le64 (const unsigned char *p)
{
  return (uint64_t) snap_get_le32 (p) | ((uint64_t) snap_get_le32 (p + 4) << 32);
}

static inline void
snap_put_le16 (unsigned char *p, uint16_t v)
{
  p[0] = (unsigned char) v;
  p[1] = (unsigned char) (v >> 8);
}

static inline void
snap_put_le32 (unsigned char *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (unsigned char) (v >> (8 * i));
}

static inline void
snap_put_le64 (unsigned char *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (unsigned char) (v >> (8 * i));
}

/* Sections 3 and 9: the checksum of the header or footer PART, whose
 * checksum field is at CHECKSUM_OFFSET: XXH64 of the bytes from the
 * signature up to that field. */
static inline uint64_t
snap_fixed_part_checksum (const unsigned char *part, size_t checksum_offset)
{
  return snap_xxh64 (part + SNAP_SKIPPABLE_HEADER_SIZE,
                     checksum_offset - SNAP_SKIPPABLE_HEADER_SIZE, 0);
}

/* Number of pages of a disk: ceil(virtual_size / page_size). */
static inline uint64_t
snap_page_count (uint64_t virtual_size, uint32_t page_size)
{
  return virtual_size / page_size + (virtual_size % page_size != 0);
}

/* Whether a file of version MAJOR.MINOR aligns its data frames
 * (section 4: 2.1 and later minor versions of 2). */
static inline int
snap_frames_aligned (unsigned major, unsigned minor)
{
  return major == 2 && minor >= 1;
}

/* Section 4: where a data frame starts when the previous part ends at END
 * in a file whose frames are aligned: END itself on a boundary, else the
 * first boundary that leaves room for a padding frame's 8-byte header. */
static inline uint64_t
snap_aligned_frame_start (uint64_t end)
{
  uint64_t gap = (SNAP_FRAME_ALIGN - end % SNAP_FRAME_ALIGN) % SNAP_FRAME_ALIGN;

  if (gap != 0 && gap < SNAP_SKIPPABLE_HEADER_SIZE)
    gap += SNAP_FRAME_ALIGN;
  return end + gap;
}

/* Section 4: the padding skippable frame of GAP bytes (8 <= GAP <=
 * SNAP_MAX_PADDING) into BUF: the magic, GAP - 8, then zeros. */
static inline void
snap_padding_fill (unsigned char *buf, size_t gap)
{
  memset (buf, 0, gap);
  snap_put_le32 (buf, SNAP_SKIPPABLE_MAGIC);
  snap_put_le32 (buf + 4, (uint32_t) (gap - SNAP_SKIPPABLE_HEADER_SIZE));
}

/* Whether REGION_SIZE is one a file of format 2.MINOR may have with pages
 * of PAGE_SIZE (section 4). */
static inline int
snap_region_size_valid (uint64_t region_size, uint32_t page_size, unsigned minor)
{
  return md_region_size_valid (region_size, page_size)
         && (minor >= SNAP_SMALL_REGIONS_MINOR || region_size >= SNAP_MIN_REGION_SIZE_2_0);
}

/* The minor version the writer writes for regions of REGION_SIZE bytes:
 * its own, or the first that allows regions that small. */
static inline unsigned
snap_write_minor_version (uint32_t region_size)
{
  if (region_size < SNAP_MIN_REGION_SIZE_2_0 && SNAP_VERSION_MINOR < SNAP_SMALL_REGIONS_MINOR)
    return SNAP_SMALL_REGIONS_MINOR;
  return SNAP_VERSION_MINOR;
}

/* Whether the first 16 bytes in BUF (LEN bytes) start a snapshot file. */
static inline int
snap_is_snapshot_prefix (const unsigned char *buf, size_t len)
{
  return len >= 16 && snap_get_le32 (buf) == SNAP_SKIPPABLE_MAGIC
         && snap_get_le32 (buf + 4) == SNAP_HEADER_PAYLOAD_SIZE
         && memcmp (buf + 8, SNAP_HEADER_SIGNATURE, SNAP_SIGNATURE_SIZE) == 0;
}

#endif
