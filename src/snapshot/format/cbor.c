/* CBOR pull decoding and deterministic encoding; see cbor.h. */
#include <cbor.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "snapshot/format/cbor.h"

/* What one call of cbor_stream_decode saw. */
struct decoded {
  struct snap_cbor_item *item;
  bool indefinite;      /* indefinite-length string, array or map, or break */
};

#define DECODED(ctx) ((struct decoded *) (ctx))

static void
on_uint8 (void *ctx, uint8_t v)
{
  DECODED (ctx)->item->type = SNAP_CBOR_UINT;
  DECODED (ctx)->item->value = v;
}
static void
on_uint16 (void *ctx, uint16_t v)
{
  on_uint8 (ctx, 0);
  DECODED (ctx)->item->value = v;
}
static void
on_uint32 (void *ctx, uint32_t v)
{
  on_uint8 (ctx, 0);
  DECODED (ctx)->item->value = v;
}
static void
on_uint64 (void *ctx, uint64_t v)
{
  on_uint8 (ctx, 0);
  DECODED (ctx)->item->value = v;
}
static void
on_negint8 (void *ctx, uint8_t v)
{
  DECODED (ctx)->item->type = SNAP_CBOR_NEGINT;
  DECODED (ctx)->item->value = v;
}
static void
on_negint16 (void *ctx, uint16_t v)
{
  on_negint8 (ctx, 0);
  DECODED (ctx)->item->value = v;
}
static void
on_negint32 (void *ctx, uint32_t v)
{
  on_negint8 (ctx, 0);
  DECODED (ctx)->item->value = v;
}
static void
on_negint64 (void *ctx, uint64_t v)
{
  on_negint8 (ctx, 0);
  DECODED (ctx)->item->value = v;
}
static void
on_bytes (void *ctx, cbor_data data, size_t len)
{
  DECODED (ctx)->item->type = SNAP_CBOR_BYTES;
  DECODED (ctx)->item->value = len;
  DECODED (ctx)->item->data = data;
}
static void
on_text (void *ctx, cbor_data data, size_t len)
{
  DECODED (ctx)->item->type = SNAP_CBOR_TEXT;
  DECODED (ctx)->item->value = len;
  DECODED (ctx)->item->data = data;
}
static void
on_array (void *ctx, size_t count)
{
  DECODED (ctx)->item->type = SNAP_CBOR_ARRAY;
  DECODED (ctx)->item->value = count;
}
static void
on_map (void *ctx, size_t count)
{
  DECODED (ctx)->item->type = SNAP_CBOR_MAP;
  DECODED (ctx)->item->value = count;
}
static void
on_tag (void *ctx, uint64_t tag)
{
  DECODED (ctx)->item->type = SNAP_CBOR_TAG;
  DECODED (ctx)->item->value = tag;
}
static void
on_indefinite (void *ctx)
{
  DECODED (ctx)->indefinite = true;
}
static void
on_simple (void *ctx)
{
  DECODED (ctx)->item->type = SNAP_CBOR_SIMPLE;
}
static void
on_float (void *ctx, float f)
{
  (void) f;
  on_simple (ctx);
}
static void
on_double (void *ctx, double d)
{
  (void) d;
  on_simple (ctx);
}
static void
on_bool (void *ctx, bool b)
{
  (void) b;
  on_simple (ctx);
}

static const struct cbor_callbacks callbacks = {
  .uint8 = on_uint8,
  .uint16 = on_uint16,
  .uint32 = on_uint32,
  .uint64 = on_uint64,
  .negint8 = on_negint8,
  .negint16 = on_negint16,
  .negint32 = on_negint32,
  .negint64 = on_negint64,
  .byte_string = on_bytes,
  .byte_string_start = on_indefinite,
  .string = on_text,
  .string_start = on_indefinite,
  .array_start = on_array,
  .indef_array_start = on_indefinite,
  .map_start = on_map,
  .indef_map_start = on_indefinite,
  .tag = on_tag,
  .float2 = on_float,
  .float4 = on_float,
  .float8 = on_double,
  .undefined = on_simple,
  .null = on_simple,
  .boolean = on_bool,
  .indef_break = on_indefinite,
};

void
snap_cbor_reader_init (struct snap_cbor_reader *r, const void *buf, size_t len,
                       uint64_t file_offset, const char *part)
{
  r->buf = buf;
  r->len = len;
  r->pos = 0;
  r->file_offset = file_offset;
  r->part = part;
}

int
snap_cbor_next (struct snap_cbor_reader *r, struct snap_cbor_item *item)
{
  struct decoded d = { .item = item, .indefinite = false };
  uint64_t offset = snap_cbor_offset (r);

  memset (item, 0, sizeof *item);
  item->type = (enum snap_cbor_type) -1;
  item->offset = offset;
  if (r->pos >= r->len) {
    md_error_set ("%s at byte %llu: CBOR data ends early", r->part,
                  (unsigned long long) offset);
    return -1;
  }

  struct cbor_decoder_result res
    = cbor_stream_decode (r->buf + r->pos, r->len - r->pos, &callbacks, &d);
  if (res.status == CBOR_DECODER_NEDATA) {
    md_error_set ("%s at byte %llu: CBOR item runs past the end of the %s",
                  r->part, (unsigned long long) offset, r->part);
    return -1;
  }
  if (res.status != CBOR_DECODER_FINISHED || res.read == 0
      || res.read > r->len - r->pos) {
    md_error_set ("%s at byte %llu: malformed CBOR", r->part, (unsigned long long) offset);
    return -1;
  }
  if (d.indefinite) {
    md_error_set ("%s at byte %llu: indefinite-length CBOR item (not allowed)",
                  r->part, (unsigned long long) offset);
    return -1;
  }
  if (item->type == (enum snap_cbor_type) -1) {
    md_error_set ("%s at byte %llu: unsupported CBOR item", r->part,
                  (unsigned long long) offset);
    return -1;
  }
  r->pos += res.read;
  return 0;
}

static const char *
type_name (enum snap_cbor_type type)
{
  switch (type) {
  case SNAP_CBOR_UINT: return "an unsigned integer";
  case SNAP_CBOR_NEGINT: return "a negative integer";
  case SNAP_CBOR_BYTES: return "a byte string";
  case SNAP_CBOR_TEXT: return "a text string";
  case SNAP_CBOR_ARRAY: return "an array";
  case SNAP_CBOR_MAP: return "a map";
  case SNAP_CBOR_TAG: return "a tag";
  case SNAP_CBOR_SIMPLE: return "a simple value";
  }
  return "an unknown item";
}

int
snap_cbor_expect (struct snap_cbor_reader *r, enum snap_cbor_type type,
                  const char *what, struct snap_cbor_item *item)
{
  if (snap_cbor_next (r, item) == -1)
    return -1;
  if (item->type != type) {
    md_error_set ("%s at byte %llu: %s must be %s, found %s", r->part,
                  (unsigned long long) item->offset, what, type_name (type),
                  type_name (item->type));
    return -1;
  }
  return 0;
}

int
snap_cbor_expect_uint (struct snap_cbor_reader *r, const char *what, uint64_t *value)
{
  struct snap_cbor_item item;

  if (snap_cbor_expect (r, SNAP_CBOR_UINT, what, &item) == -1)
    return -1;
  *value = item.value;
  return 0;
}

int
snap_cbor_expect_count (struct snap_cbor_reader *r, enum snap_cbor_type type,
                        const char *what, size_t min_item_bytes, uint64_t *count)
{
  struct snap_cbor_item item;

  if (snap_cbor_expect (r, type, what, &item) == -1)
    return -1;
  if (item.value > snap_cbor_remaining (r) / min_item_bytes) {
    md_error_set ("%s at byte %llu: %s claims %llu entries, more than the "
                  "%zu bytes left can hold", r->part,
                  (unsigned long long) item.offset, what,
                  (unsigned long long) item.value, snap_cbor_remaining (r));
    return -1;
  }
  *count = item.value;
  return 0;
}

int
snap_cbor_skip (struct snap_cbor_reader *r)
{
  /* Items still to skip; each needs at least one byte, so the count stays
   * below the buffer size and the loop ends. */
  uint64_t pending = 1;

  while (pending > 0) {
    struct snap_cbor_item item;
    if (snap_cbor_next (r, &item) == -1)
      return -1;
    pending--;
    uint64_t more = 0;
    if (item.type == SNAP_CBOR_ARRAY)
      more = item.value;
    else if (item.type == SNAP_CBOR_MAP) {
      if (item.value > SIZE_MAX / 2)
        more = SIZE_MAX;
      else
        more = item.value * 2;
    }
    else if (item.type == SNAP_CBOR_TAG)
      more = 1;
    if (more > snap_cbor_remaining (r) || pending + more > snap_cbor_remaining (r)) {
      md_error_set ("%s at byte %llu: CBOR item claims more entries than the "
                    "%s holds", r->part, (unsigned long long) item.offset, r->part);
      return -1;
    }
    pending += more;
  }
  return 0;
}

int
snap_cbor_expect_end (struct snap_cbor_reader *r)
{
  if (r->pos != r->len) {
    md_error_set ("%s at byte %llu: %zu unexpected bytes after the CBOR data",
                  r->part, (unsigned long long) snap_cbor_offset (r),
                  snap_cbor_remaining (r));
    return -1;
  }
  return 0;
}

void
snap_cbor_buffer_init (struct snap_cbor_buffer *b)
{
  memset (b, 0, sizeof *b);
}

void
snap_cbor_buffer_free (struct snap_cbor_buffer *b)
{
  free (b->data);
  memset (b, 0, sizeof *b);
}

static void
append (struct snap_cbor_buffer *b, const void *data, size_t len)
{
  if (b->failed)
    return;
  if (len > b->cap - b->len) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < len) {
      if (cap > SIZE_MAX / 2) {
        b->failed = true;
        return;
      }
      cap *= 2;
    }
    unsigned char *data2 = realloc (b->data, cap);
    if (data2 == NULL) {
      b->failed = true;
      return;
    }
    b->data = data2;
    b->cap = cap;
  }
  memcpy (b->data + b->len, data, len);
  b->len += len;
}

/* libcbor's encoders write at most 9 bytes for a head. */
#define HEAD_MAX 9

void
snap_cbor_put_uint (struct snap_cbor_buffer *b, uint64_t value)
{
  unsigned char head[HEAD_MAX];
  append (b, head, cbor_encode_uint (value, head, sizeof head));
}

void
snap_cbor_put_int (struct snap_cbor_buffer *b, int64_t value)
{
  unsigned char head[HEAD_MAX];
  size_t n;

  if (value >= 0)
    n = cbor_encode_uint ((uint64_t) value, head, sizeof head);
  else
    n = cbor_encode_negint ((uint64_t) (-(value + 1)), head, sizeof head);
  append (b, head, n);
}

void
snap_cbor_put_text (struct snap_cbor_buffer *b, const char *text)
{
  unsigned char head[HEAD_MAX];
  size_t len = strlen (text);

  append (b, head, cbor_encode_string_start (len, head, sizeof head));
  append (b, text, len);
}

void
snap_cbor_put_array (struct snap_cbor_buffer *b, uint64_t count)
{
  unsigned char head[HEAD_MAX];
  append (b, head, cbor_encode_array_start (count, head, sizeof head));
}

void
snap_cbor_put_map (struct snap_cbor_buffer *b, uint64_t count)
{
  unsigned char head[HEAD_MAX];
  append (b, head, cbor_encode_map_start (count, head, sizeof head));
}
