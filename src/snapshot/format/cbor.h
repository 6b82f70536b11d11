/* The CBOR subset of docs/snapshot-format.md section 5, on top of libcbor.
 *
 * Decoding pulls one data item head at a time out of an untrusted buffer
 * with libcbor's allocation-free stream decoder, so nothing is allocated on
 * the strength of a count in the input: callers check each count against
 * the bytes remaining before they act on it.  Every error message names the
 * part being read and the byte offset in the file.
 *
 * Encoding appends to a growable buffer, always in preferred (shortest)
 * serialization, so equal input gives equal bytes.
 */
#ifndef MEMDISK_SNAPCBOR_H
#define MEMDISK_SNAPCBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum snap_cbor_type {
  SNAP_CBOR_UINT,       /* value */
  SNAP_CBOR_NEGINT,     /* value: the integer is -1 - value */
  SNAP_CBOR_BYTES,      /* value: length, data */
  SNAP_CBOR_TEXT,       /* value: length, data */
  SNAP_CBOR_ARRAY,      /* value: item count */
  SNAP_CBOR_MAP,        /* value: pair count */
  SNAP_CBOR_TAG,        /* value: tag number; one item follows */
  SNAP_CBOR_SIMPLE,     /* false, true, null, undefined, floats */
};

struct snap_cbor_item {
  enum snap_cbor_type type;
  uint64_t value;
  const unsigned char *data;
  uint64_t offset;      /* file offset of the item's first byte */
};

struct snap_cbor_reader {
  const unsigned char *buf;
  size_t len;
  size_t pos;
  uint64_t file_offset; /* file offset of buf[0], for messages */
  const char *part;     /* "metadata" or "index", for messages */
};

void snap_cbor_reader_init (struct snap_cbor_reader *r, const void *buf, size_t len,
                            uint64_t file_offset, const char *part);
/* Bytes not yet consumed. */
static inline size_t
snap_cbor_remaining (const struct snap_cbor_reader *r)
{
  return r->len - r->pos;
}
/* File offset of the next item. */
static inline uint64_t
snap_cbor_offset (const struct snap_cbor_reader *r)
{
  return r->file_offset + r->pos;
}

/* Decode the next item head (for strings, the whole string).  Rejects
 * malformed and indefinite-length items.  0 or -1 with md_error set. */
int snap_cbor_next (struct snap_cbor_reader *r, struct snap_cbor_item *item);
/* The next item must be of TYPE; WHAT names it in the error message. */
int snap_cbor_expect (struct snap_cbor_reader *r, enum snap_cbor_type type,
                      const char *what, struct snap_cbor_item *item);
int snap_cbor_expect_uint (struct snap_cbor_reader *r, const char *what, uint64_t *value);
/* An array or map head whose count could fit in the bytes remaining, at
 * MIN_ITEM_BYTES per element (array) or pair (map). */
int snap_cbor_expect_count (struct snap_cbor_reader *r, enum snap_cbor_type type,
                            const char *what, size_t min_item_bytes, uint64_t *count);
/* Skip one complete data item, whatever it nests. */
int snap_cbor_skip (struct snap_cbor_reader *r);
/* The buffer must be fully consumed. */
int snap_cbor_expect_end (struct snap_cbor_reader *r);

struct snap_cbor_buffer {
  unsigned char *data;
  size_t len;
  size_t cap;
  bool failed;          /* out of memory: the contents are incomplete */
};

void snap_cbor_buffer_init (struct snap_cbor_buffer *b);
void snap_cbor_buffer_free (struct snap_cbor_buffer *b);
void snap_cbor_put_uint (struct snap_cbor_buffer *b, uint64_t value);
void snap_cbor_put_int (struct snap_cbor_buffer *b, int64_t value);
void snap_cbor_put_text (struct snap_cbor_buffer *b, const char *text);
void snap_cbor_put_array (struct snap_cbor_buffer *b, uint64_t count);
void snap_cbor_put_map (struct snap_cbor_buffer *b, uint64_t count);

#endif
