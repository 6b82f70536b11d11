/* Snapshot metadata: a CBOR map with text keys (format section 6). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/error.h"
#include "snapshot/format/metadata.h"
#include "snapshot/format/touchorder.h"

#define KEY_FORMAT_VERSION "format-version"
#define KEY_VIRTUAL_SIZE "virtual-size"
#define KEY_PAGE_SIZE "page-size"
#define KEY_ALLOCATED_SIZE "allocated-size"
#define KEY_COMPRESSION_LEVEL "compression-level"
#define KEY_CREATOR "creator"
#define KEY_CREATION_TIME "creation-time"
#define KEY_CONTENT_DIGEST "content-digest"
/* Format 2.0: region-size is required, zstd-version informative. */
#define KEY_REGION_SIZE "region-size"
#define KEY_ZSTD_VERSION "zstd-version"
#define KEY_COUNT 10
/* Format 2.0, optional, written last when there is one (touchorder.h). */
#define KEY_TOUCH_ORDER "touch-order"
#define KEY_COUNT_1_0 8

int
snap_meta_encode (const struct snap_metadata *meta, struct snap_cbor_buffer *out)
{
  const bool v2 = meta->version_major >= 2;
  const bool touch = v2 && meta->touch_order_count > 0;

  snap_cbor_put_map (out, (v2 ? KEY_COUNT : KEY_COUNT_1_0) + (touch ? 1 : 0));
  snap_cbor_put_text (out, KEY_FORMAT_VERSION);
  snap_cbor_put_array (out, 2);
  snap_cbor_put_uint (out, meta->version_major);
  snap_cbor_put_uint (out, meta->version_minor);
  snap_cbor_put_text (out, KEY_VIRTUAL_SIZE);
  snap_cbor_put_uint (out, meta->virtual_size);
  snap_cbor_put_text (out, KEY_PAGE_SIZE);
  snap_cbor_put_uint (out, meta->page_size);
  if (v2) {
    snap_cbor_put_text (out, KEY_REGION_SIZE);
    snap_cbor_put_uint (out, meta->region_size);
  }
  snap_cbor_put_text (out, KEY_ALLOCATED_SIZE);
  snap_cbor_put_uint (out, meta->allocated_size);
  snap_cbor_put_text (out, KEY_COMPRESSION_LEVEL);
  snap_cbor_put_int (out, meta->compression_level);
  if (v2) {
    snap_cbor_put_text (out, KEY_ZSTD_VERSION);
    snap_cbor_put_uint (out, meta->zstd_version);
  }
  snap_cbor_put_text (out, KEY_CREATOR);
  snap_cbor_put_text (out, meta->creator);
  snap_cbor_put_text (out, KEY_CREATION_TIME);
  snap_cbor_put_uint (out, meta->creation_time);
  snap_cbor_put_text (out, KEY_CONTENT_DIGEST);
  snap_cbor_put_uint (out, meta->content_digest);
  if (touch) {
    snap_cbor_put_text (out, KEY_TOUCH_ORDER);
    snap_cbor_put_array (out, meta->touch_order_count);
    for (size_t i = 0; i < meta->touch_order_count; i++)
      snap_cbor_put_uint (out, meta->touch_order[i]);
  }
  if (out->failed) {
    md_error_set ("encoding the snapshot metadata: out of memory");
    return -1;
  }
  return 0;
}

static bool
key_is (const struct snap_cbor_item *key, const char *name)
{
  return key->value == strlen (name) && memcmp (key->data, name, key->value) == 0;
}

static int
decode_version (struct snap_cbor_reader *r, struct snap_metadata *meta)
{
  struct snap_cbor_item head;
  uint64_t major, minor;

  if (snap_cbor_expect (r, SNAP_CBOR_ARRAY, KEY_FORMAT_VERSION, &head) == -1)
    return -1;
  if (head.value != 2) {
    md_error_set ("metadata at byte %llu: " KEY_FORMAT_VERSION
                  " must be [major, minor]", (unsigned long long) head.offset);
    return -1;
  }
  if (snap_cbor_expect_uint (r, "the major version", &major) == -1
      || snap_cbor_expect_uint (r, "the minor version", &minor) == -1)
    return -1;
  if (major > UINT16_MAX || minor > UINT16_MAX) {
    md_error_set ("metadata at byte %llu: format version %llu.%llu is out of range",
                  (unsigned long long) head.offset, (unsigned long long) major,
                  (unsigned long long) minor);
    return -1;
  }
  meta->version_major = (uint16_t) major;
  meta->version_minor = (uint16_t) minor;
  return 0;
}

static int
decode_level (struct snap_cbor_reader *r, struct snap_metadata *meta)
{
  struct snap_cbor_item item;

  if (snap_cbor_next (r, &item) == -1)
    return -1;
  if ((item.type != SNAP_CBOR_UINT && item.type != SNAP_CBOR_NEGINT)
      || item.value > INT64_MAX) {
    md_error_set ("metadata at byte %llu: " KEY_COMPRESSION_LEVEL
                  " must be an integer", (unsigned long long) item.offset);
    return -1;
  }
  if (item.type == SNAP_CBOR_UINT)
    meta->compression_level = (int64_t) item.value;
  else
    meta->compression_level = -1 - (int64_t) item.value;
  return 0;
}

static int
decode_creator (struct snap_cbor_reader *r, struct snap_metadata *meta)
{
  struct snap_cbor_item item;

  if (snap_cbor_expect (r, SNAP_CBOR_TEXT, KEY_CREATOR, &item) == -1)
    return -1;
  if (item.value > SNAP_MAX_CREATOR_SIZE || memchr (item.data, 0, item.value)) {
    md_error_set ("metadata at byte %llu: " KEY_CREATOR " is longer than %u "
                  "bytes or holds a NUL byte", (unsigned long long) item.offset,
                  SNAP_MAX_CREATOR_SIZE);
    return -1;
  }
  memcpy (meta->creator, item.data, item.value);
  meta->creator[item.value] = '\0';
  return 0;
}

/* A format 2 key's value, read whatever the version: a 1.0 file may hold
 * such a key, which its readers ignore, so its value is judged only once
 * the version is known (decode_v2_keys). */
struct lenient_uint {
  bool is_uint;
  uint64_t value;
  uint64_t offset;
};

static int
decode_lenient_uint (struct snap_cbor_reader *r, struct lenient_uint *out)
{
  struct snap_cbor_item item;
  struct snap_cbor_reader ahead = *r;   /* to look at the item's head only */

  out->offset = snap_cbor_offset (r);
  if (snap_cbor_next (&ahead, &item) == -1)
    return -1;
  out->is_uint = item.type == SNAP_CBOR_UINT;
  if (!out->is_uint)
    return snap_cbor_skip (r);
  out->value = item.value;
  *r = ahead;
  return 0;
}

/* Format 2's keys: region-size required and valid, zstd-version a uint
 * when present.  In 1.0 they are unknown keys, ignored. */
static int
decode_v2_keys (struct snap_metadata *meta, uint64_t file_offset, bool seen_region,
                const struct lenient_uint *region, bool seen_zstd,
                const struct lenient_uint *zstd)
{
  if (meta->version_major < 2)
    return 0;
  if (!seen_region) {
    md_error_set ("metadata at byte %llu: required key \"" KEY_REGION_SIZE
                  "\" is missing", (unsigned long long) file_offset);
    return -1;
  }
  if (!region->is_uint
      || !snap_region_size_valid (region->value, meta->page_size, meta->version_minor)) {
    if (meta->version_minor >= SNAP_SMALL_REGIONS_MINOR)
      md_error_set ("metadata at byte %llu: " KEY_REGION_SIZE " must be a power "
                    "of two from 4 KiB to 64 MiB and at least the page size",
                    (unsigned long long) region->offset);
    else
      md_error_set ("metadata at byte %llu: " KEY_REGION_SIZE " must be a power "
                    "of two from 1 MiB to 64 MiB and at least the page size "
                    "(smaller regions need format 2.%d or later)",
                    (unsigned long long) region->offset, SNAP_SMALL_REGIONS_MINOR);
    return -1;
  }
  meta->region_size = (uint32_t) region->value;
  if (seen_zstd && !zstd->is_uint) {
    md_error_set ("metadata at byte %llu: " KEY_ZSTD_VERSION " must be an "
                  "unsigned integer", (unsigned long long) zstd->offset);
    return -1;
  }
  meta->zstd_version = seen_zstd ? zstd->value : 0;
  return 0;
}

/* The "touch-order" value at R, once the version, the virtual size and
 * the region size are known: in 1.0 an unknown key (skipped when met),
 * in 2.0 an array of at most SNAP_MAX_TOUCH_ORDER distinct regions of
 * the disk.  Every message names the key and the byte. */
static int
decode_touch_order (struct snap_cbor_reader r, struct snap_metadata *meta)
{
  const uint64_t regions = snap_touch_region_count (meta->virtual_size, meta->region_size);
  const uint64_t key_at = snap_cbor_offset (&r);
  uint64_t count;
  const char *why;
  size_t bad;

  if (snap_cbor_expect_count (&r, SNAP_CBOR_ARRAY, KEY_TOUCH_ORDER, 1, &count) == -1)
    return -1;
  if (count > SNAP_MAX_TOUCH_ORDER) {
    md_error_set ("metadata at byte %llu: " KEY_TOUCH_ORDER " lists %llu regions, "
                  "more than %u", (unsigned long long) key_at,
                  (unsigned long long) count, SNAP_MAX_TOUCH_ORDER);
    return -1;
  }
  for (size_t i = 0; i < count; i++) {
    uint64_t at = snap_cbor_offset (&r);
    if (snap_cbor_expect_uint (&r, KEY_TOUCH_ORDER " entry", &meta->touch_order[i]) == -1)
      return -1;
    if (meta->touch_order[i] >= regions) {
      md_error_set ("metadata at byte %llu: " KEY_TOUCH_ORDER " entry %zu, region "
                    "%llu, is beyond the disk's %llu regions", (unsigned long long) at,
                    i, (unsigned long long) meta->touch_order[i],
                    (unsigned long long) regions);
      return -1;
    }
  }
  meta->touch_order_count = (size_t) count;
  if (snap_touch_order_check (meta->touch_order, meta->touch_order_count, regions,
                              &bad, &why) == -1) {
    md_error_set ("metadata at byte %llu: " KEY_TOUCH_ORDER " entry %zu, region %llu: %s",
                  (unsigned long long) key_at, bad,
                  (unsigned long long) meta->touch_order[bad], why);
    meta->touch_order_count = 0;
    return -1;
  }
  return 0;
}

/* Rules that relate several keys, checked once all are known (the page
 * size is valid: snap_meta_decode checked it). */
static int
check_consistency (const struct snap_metadata *meta, uint64_t offset)
{
  if (meta->virtual_size > SNAP_MAX_VIRTUAL_SIZE) {
    md_error_set ("metadata at byte %llu: virtual size %llu is larger than "
                  "2^63-1", (unsigned long long) offset,
                  (unsigned long long) meta->virtual_size);
    return -1;
  }
  uint64_t pages = snap_page_count (meta->virtual_size, meta->page_size);
  if (meta->allocated_size % meta->page_size != 0
      || meta->allocated_size / meta->page_size > pages) {
    md_error_set ("metadata at byte %llu: allocated size %llu is not a whole "
                  "number of pages within the disk", (unsigned long long) offset,
                  (unsigned long long) meta->allocated_size);
    return -1;
  }
  return 0;
}

/* The keys snap_meta_decode knows, but for the touch order: the first
 * KEY_COUNT_1_0 are required in every version. */
static const char *const known_keys[KEY_COUNT] = {
  KEY_FORMAT_VERSION, KEY_VIRTUAL_SIZE, KEY_PAGE_SIZE, KEY_ALLOCATED_SIZE,
  KEY_COMPRESSION_LEVEL, KEY_CREATOR, KEY_CREATION_TIME, KEY_CONTENT_DIGEST,
  KEY_REGION_SIZE, KEY_ZSTD_VERSION,
};

/* What the pairs of the map held that is judged once all are read. */
struct seen_keys {
  bool seen[KEY_COUNT];
  uint64_t page_size;
  struct lenient_uint region, zstd;
  bool touch;
  struct snap_cbor_reader touch_at;     /* the touch order's value */
};

/* The value of known key K at R into META or SEEN. */
static int
decode_known_value (struct snap_cbor_reader *r, int k, struct snap_metadata *meta,
                    struct seen_keys *seen)
{
  switch (k) {
  case 0: return decode_version (r, meta);
  case 1: return snap_cbor_expect_uint (r, KEY_VIRTUAL_SIZE, &meta->virtual_size);
  case 2: return snap_cbor_expect_uint (r, KEY_PAGE_SIZE, &seen->page_size);
  case 3: return snap_cbor_expect_uint (r, KEY_ALLOCATED_SIZE, &meta->allocated_size);
  case 4: return decode_level (r, meta);
  case 5: return decode_creator (r, meta);
  case 6: return snap_cbor_expect_uint (r, KEY_CREATION_TIME, &meta->creation_time);
  case 7: return snap_cbor_expect_uint (r, KEY_CONTENT_DIGEST, &meta->content_digest);
  case 8: return decode_lenient_uint (r, &seen->region);
  default: return decode_lenient_uint (r, &seen->zstd);
  }
}

/* One key and its value at R: a known key decoded (once), the touch
 * order put aside for later, an unknown key skipped. */
static int
decode_pair (struct snap_cbor_reader *r, struct snap_metadata *meta, struct seen_keys *seen)
{
  struct snap_cbor_item key;
  int k;

  if (snap_cbor_expect (r, SNAP_CBOR_TEXT, "a metadata key", &key) == -1)
    return -1;
  if (key_is (&key, KEY_TOUCH_ORDER)) {
    /* Judged once the version and sizes are known (decode_touch_order). */
    if (seen->touch) {
      md_error_set ("metadata at byte %llu: key \"" KEY_TOUCH_ORDER "\" appears twice",
                    (unsigned long long) key.offset);
      return -1;
    }
    seen->touch = true;
    seen->touch_at = *r;
    return snap_cbor_skip (r);
  }
  for (k = 0; k < KEY_COUNT && !key_is (&key, known_keys[k]); k++)
    ;
  if (k == KEY_COUNT)
    return snap_cbor_skip (r);  /* unknown keys belong to later minor versions */
  if (seen->seen[k]) {
    md_error_set ("metadata at byte %llu: key \"%s\" appears twice",
                  (unsigned long long) key.offset, known_keys[k]);
    return -1;
  }
  seen->seen[k] = true;
  return decode_known_value (r, k, meta, seen);
}

/* Every key of format 1.0 is there, and the page size is valid. */
static int
check_required (struct snap_metadata *meta, const struct seen_keys *seen, uint64_t file_offset)
{
  for (int k = 0; k < KEY_COUNT_1_0; k++)
    if (!seen->seen[k]) {
      md_error_set ("metadata at byte %llu: required key \"%s\" is missing",
                    (unsigned long long) file_offset, known_keys[k]);
      return -1;
    }
  if (!md_page_size_valid (seen->page_size)) {
    md_error_set ("metadata at byte %llu: page size %llu is not a power of two "
                  "from 4096 to 1048576", (unsigned long long) file_offset,
                  (unsigned long long) seen->page_size);
    return -1;
  }
  meta->page_size = (uint32_t) seen->page_size;
  return 0;
}

int
snap_meta_decode (const void *buf, size_t len, uint64_t file_offset,
                  struct snap_metadata *meta)
{
  struct seen_keys seen = { .page_size = 0 };
  struct snap_cbor_reader r;
  uint64_t pairs;

  memset (meta, 0, sizeof *meta);
  snap_cbor_reader_init (&r, buf, len, file_offset, "metadata");
  if (snap_cbor_expect_count (&r, SNAP_CBOR_MAP, "the metadata", 2, &pairs) == -1)
    return -1;
  for (uint64_t i = 0; i < pairs; i++)
    if (decode_pair (&r, meta, &seen) == -1)
      return -1;
  if (snap_cbor_expect_end (&r) == -1
      || check_required (meta, &seen, file_offset) == -1
      || decode_v2_keys (meta, file_offset, seen.seen[8], &seen.region, seen.seen[9],
                         &seen.zstd) == -1
      || check_consistency (meta, file_offset) == -1)
    return -1;
  if (seen.touch && meta->version_major >= 2)
    return decode_touch_order (seen.touch_at, meta);
  return 0;
}

int
snap_meta_creation_time (uint64_t *seconds)
{
  const char *epoch = getenv ("SOURCE_DATE_EPOCH");

  if (epoch == NULL || *epoch == '\0') {
    time_t now = time (NULL);
    *seconds = now < 0 ? 0 : (uint64_t) now;
    return 0;
  }

  char *end;
  errno = 0;
  unsigned long long v = strtoull (epoch, &end, 10);
  if (errno != 0 || *end != '\0' || epoch[0] < '0' || epoch[0] > '9') {
    md_error_set ("SOURCE_DATE_EPOCH=\"%s\" is not a number of seconds", epoch);
    return -1;
  }
  *seconds = v;
  return 0;
}
