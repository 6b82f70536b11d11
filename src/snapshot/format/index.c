/* Snapshot index: building, encoding and validating decoding. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/error.h"
#include "snapshot/format/format.h"
#include "snapshot/format/index.h"

void
snap_index_init (struct snap_index *index)
{
  memset (index, 0, sizeof *index);
}

void
snap_index_init_regions (struct snap_index *index, uint32_t region_size,
                         uint32_t page_size)
{
  snap_index_init (index);
  index->region_size = region_size;
  index->page_size = page_size;
}

void
snap_index_free (struct snap_index *index)
{
  free (index->frames);
  free (index->runs);
  uint32_t region_size = index->region_size, page_size = index->page_size;
  memset (index, 0, sizeof *index);
  index->region_size = region_size;
  index->page_size = page_size;
}

/* Make room for one more element in *ARRAY (of *CAP elements of SIZE). */
static int
grow (void **array, size_t *cap, size_t count, size_t size)
{
  if (count < *cap)
    return 0;
  size_t new_cap = *cap ? *cap * 2 : 64;
  if (new_cap > SIZE_MAX / size) {
    md_error_set ("snapshot index: too many entries");
    return -1;
  }
  void *p = realloc (*array, new_cap * size);
  if (p == NULL) {
    md_error_set ("snapshot index: out of memory");
    return -1;
  }
  *array = p;
  *cap = new_cap;
  return 0;
}

static int
add_run (struct snap_index *index, uint64_t first_page, uint64_t page_count)
{
  if (grow ((void **) &index->runs, &index->run_cap, index->run_count,
            sizeof *index->runs) == -1)
    return -1;
  index->runs[index->run_count++] = (struct snap_run) { first_page, page_count };
  return 0;
}

int
snap_index_add_frame (struct snap_index *index, uint64_t offset,
                      uint64_t compressed_size, uint64_t checksum,
                      uint64_t region_digest, const uint64_t *pages, size_t npages)
{
  if (grow ((void **) &index->frames, &index->frame_cap, index->frame_count,
            sizeof *index->frames) == -1)
    return -1;

  struct snap_frame frame = {
    .offset = offset,
    .compressed_size = compressed_size,
    .checksum = checksum,
    .region = index->region_size == 0 || npages == 0 ? 0
              : pages[0] / (index->region_size / index->page_size),
    .region_digest = index->region_size == 0 ? 0 : region_digest,
    .first_run = index->run_count,
    .page_count = npages,
  };
  for (size_t i = 0; i < npages;) {
    size_t j = i + 1;
    while (j < npages && pages[j] == pages[j - 1] + 1)
      j++;
    if (add_run (index, pages[i], j - i) == -1)
      return -1;
    i = j;
  }
  frame.run_count = index->run_count - frame.first_run;
  index->frames[index->frame_count++] = frame;
  index->page_count += npages;
  return 0;
}

int
snap_index_copy_frame (struct snap_index *index, uint64_t offset,
                       const struct snap_index *source, size_t k)
{
  const struct snap_frame *from = &source->frames[k];

  if (grow ((void **) &index->frames, &index->frame_cap, index->frame_count,
            sizeof *index->frames) == -1)
    return -1;
  struct snap_frame frame = *from;
  frame.offset = offset;
  frame.first_run = index->run_count;
  for (size_t i = 0; i < from->run_count; i++) {
    const struct snap_run *run = &source->runs[from->first_run + i];
    if (add_run (index, run->first_page, run->page_count) == -1)
      return -1;
  }
  index->frames[index->frame_count++] = frame;
  index->page_count += frame.page_count;
  return 0;
}

int
snap_index_encode (const struct snap_index *index, struct snap_cbor_buffer *out)
{
  snap_cbor_put_array (out, index->frame_count);
  for (size_t f = 0; f < index->frame_count; f++) {
    const struct snap_frame *frame = &index->frames[f];
    snap_cbor_put_array (out, index->region_size != 0 ? 5 : 4);
    snap_cbor_put_uint (out, frame->offset);
    snap_cbor_put_uint (out, frame->compressed_size);
    snap_cbor_put_uint (out, frame->checksum);
    if (index->region_size != 0)
      snap_cbor_put_uint (out, frame->region_digest);
    snap_cbor_put_array (out, 2 * (uint64_t) frame->run_count);
    for (size_t i = 0; i < frame->run_count; i++) {
      snap_cbor_put_uint (out, index->runs[frame->first_run + i].first_page);
      snap_cbor_put_uint (out, index->runs[frame->first_run + i].page_count);
    }
  }
  if (out->failed) {
    md_error_set ("encoding the snapshot index: out of memory");
    return -1;
  }
  return 0;
}

/* Decoding state shared by the helpers below. */
struct index_decoder {
  struct snap_cbor_reader r;
  const struct snap_metadata *meta;
  uint64_t disk_pages;          /* pages of the virtual disk */
  uint64_t next_offset;         /* where the next frame must start */
  uint64_t next_page;           /* the lowest page the next run may hold */
  uint64_t data_end;
  uint64_t pages_per_region;    /* format 2; 0 in 1.0 */
  uint64_t next_region;         /* format 2: the lowest region the next frame may hold */
  bool aligned;                 /* format 2.1: frames on 4 KiB boundaries */
  struct snap_index *index;
};

/* The smallest possible encoding of a frame entry:
 * [offset, size, checksum, [first, count]] with one-byte integers. */
#define MIN_FRAME_ENTRY_BYTES 7

static int
decode_runs (struct index_decoder *d, size_t frame_number, struct snap_frame *frame)
{
  uint64_t count;
  const uint64_t max_frame_pages = SNAP_MAX_FRAME_CONTENT / d->meta->page_size;
  const uint64_t runs_at = snap_cbor_offset (&d->r);

  if (snap_cbor_expect_count (&d->r, SNAP_CBOR_ARRAY, "the list of a frame's runs", 1,
                              &count) == -1)
    return -1;
  if (count == 0 || count % 2 != 0) {
    md_error_set ("index at byte %llu: frame %zu: runs must be a non-empty "
                  "list of (first page, page count) pairs",
                  (unsigned long long) runs_at, frame_number);
    return -1;
  }

  frame->first_run = d->index->run_count;
  frame->run_count = count / 2;
  frame->page_count = 0;
  for (uint64_t i = 0; i < count / 2; i++) {
    uint64_t offset = snap_cbor_offset (&d->r);
    uint64_t first, pages;
    if (snap_cbor_expect_uint (&d->r, "a run's first page", &first) == -1
        || snap_cbor_expect_uint (&d->r, "a run's page count", &pages) == -1)
      return -1;
    if (pages == 0) {
      md_error_set ("index at byte %llu: frame %zu: a run of zero pages",
                    (unsigned long long) offset, frame_number);
      return -1;
    }
    if (first < d->next_page) {
      md_error_set ("index at byte %llu: frame %zu: run at page %llu overlaps "
                    "or precedes the previous run (which ends at page %llu)",
                    (unsigned long long) offset, frame_number,
                    (unsigned long long) first, (unsigned long long) d->next_page);
      return -1;
    }
    if (first >= d->disk_pages || pages > d->disk_pages - first) {
      md_error_set ("index at byte %llu: frame %zu: a run of %llu page%s at page "
                    "%llu lies beyond the disk's %llu page%s",
                    (unsigned long long) offset, frame_number,
                    (unsigned long long) pages, pages == 1 ? "" : "s",
                    (unsigned long long) first, (unsigned long long) d->disk_pages,
                    d->disk_pages == 1 ? "" : "s");
      return -1;
    }
    if (pages > max_frame_pages - frame->page_count) {
      md_error_set ("index at byte %llu: frame %zu holds more than %u bytes "
                    "of pages", (unsigned long long) offset, frame_number,
                    SNAP_MAX_FRAME_CONTENT);
      return -1;
    }
    if (add_run (d->index, first, pages) == -1)
      return -1;
    frame->page_count += pages;
    d->next_page = first + pages;
  }
  return 0;
}

/* Format 2: a frame holds pages of one region, and frames follow the
 * regions' order, one frame per region at most. */
static int
check_region (struct index_decoder *d, size_t frame_number, uint64_t offset_at,
              struct snap_frame *frame)
{
  const struct snap_run *first = &d->index->runs[frame->first_run];
  const struct snap_run *last = &d->index->runs[frame->first_run + frame->run_count - 1];
  uint64_t region = first->first_page / d->pages_per_region;
  uint64_t last_region = (last->first_page + last->page_count - 1) / d->pages_per_region;

  if (last_region != region) {
    md_error_set ("index at byte %llu: frame %zu holds pages of regions %llu "
                  "to %llu; a frame holds pages of one region",
                  (unsigned long long) offset_at, frame_number,
                  (unsigned long long) region, (unsigned long long) last_region);
    return -1;
  }
  if (region < d->next_region) {
    md_error_set ("index at byte %llu: frame %zu holds pages of region %llu, "
                  "as the previous frame does", (unsigned long long) offset_at,
                  frame_number, (unsigned long long) region);
    return -1;
  }
  frame->region = region;
  d->next_region = region + 1;
  return 0;
}

static int
decode_frame (struct index_decoder *d, size_t frame_number)
{
  struct snap_cbor_item head;
  struct snap_frame frame;

  if (snap_cbor_expect (&d->r, SNAP_CBOR_ARRAY, "a frame entry", &head) == -1)
    return -1;
  const bool regions = d->pages_per_region != 0;
  if (head.value != (regions ? 5 : 4)) {
    md_error_set ("index at byte %llu: frame %zu: entry must be [offset, "
                  "compressed size, checksum, %sruns]",
                  (unsigned long long) head.offset, frame_number,
                  regions ? "region digest, " : "");
    return -1;
  }
  uint64_t offset_at = snap_cbor_offset (&d->r);
  frame.region = 0;
  frame.region_digest = 0;
  if (snap_cbor_expect_uint (&d->r, "a frame's offset", &frame.offset) == -1
      || snap_cbor_expect_uint (&d->r, "a frame's compressed size",
                                &frame.compressed_size) == -1
      || snap_cbor_expect_uint (&d->r, "a frame's checksum", &frame.checksum) == -1
      || (regions && snap_cbor_expect_uint (&d->r, "a frame's region digest",
                                            &frame.region_digest) == -1))
    return -1;
  uint64_t start = d->aligned ? snap_aligned_frame_start (d->next_offset) : d->next_offset;
  if (frame.offset != start) {
    md_error_set ("index at byte %llu: frame %zu: offset %llu, but the "
                  "previous part ends at %llu%s",
                  (unsigned long long) offset_at, frame_number,
                  (unsigned long long) frame.offset,
                  (unsigned long long) d->next_offset,
                  d->aligned ? " (an aligned frame must start at the first 4 KiB "
                               "boundary that leaves 8 bytes or more of padding)" : "");
    return -1;
  }
  if (frame.compressed_size == 0
      || frame.compressed_size > d->data_end - frame.offset) {
    md_error_set ("index at byte %llu: frame %zu: compressed size %llu at "
                  "offset %llu runs past the data frames' end at %llu",
                  (unsigned long long) offset_at, frame_number,
                  (unsigned long long) frame.compressed_size,
                  (unsigned long long) frame.offset,
                  (unsigned long long) d->data_end);
    return -1;
  }
  if (decode_runs (d, frame_number, &frame) == -1)
    return -1;
  if (regions && check_region (d, frame_number, offset_at, &frame) == -1)
    return -1;
  /* zstd never expands data beyond this bound, so a larger frame is not
   * one a writer made; refusing it also bounds the reader's buffer. */
  if (frame.compressed_size > ZSTD_compressBound (frame.page_count * d->meta->page_size)) {
    md_error_set ("index at byte %llu: frame %zu: compressed size %llu is "
                  "more than zstd can produce for %llu pages",
                  (unsigned long long) offset_at, frame_number,
                  (unsigned long long) frame.compressed_size,
                  (unsigned long long) frame.page_count);
    return -1;
  }
  d->index->frames[frame_number] = frame;
  d->index->page_count += frame.page_count;
  d->next_offset = frame.offset + frame.compressed_size;
  return 0;
}

int
snap_index_decode (const void *buf, size_t len, uint64_t file_offset,
                   const struct snap_metadata *meta, uint64_t data_end,
                   struct snap_index *index)
{
  struct index_decoder d = {
    .meta = meta,
    .disk_pages = snap_page_count (meta->virtual_size, meta->page_size),
    .next_offset = SNAP_HEADER_SIZE,
    .next_page = 0,
    .data_end = data_end,
    .pages_per_region = meta->version_major >= 2 ? meta->region_size / meta->page_size : 0,
    .next_region = 0,
    .aligned = snap_frames_aligned (meta->version_major, meta->version_minor),
    .index = index,
  };
  uint64_t frames;

  if (meta->version_major >= 2)
    snap_index_init_regions (index, meta->region_size, meta->page_size);
  else
    snap_index_init (index);
  snap_cbor_reader_init (&d.r, buf, len, file_offset, "index");
  if (snap_cbor_expect_count (&d.r, SNAP_CBOR_ARRAY, "the index",
                              MIN_FRAME_ENTRY_BYTES, &frames) == -1)
    return -1;
  if (data_end < SNAP_HEADER_SIZE) {
    md_error_set ("index at byte %llu: data frames end at %llu, before the "
                  "header ends", (unsigned long long) file_offset,
                  (unsigned long long) data_end);
    return -1;
  }
  if (frames > 0) {
    /* The count is bounded by the index's size (checked above). */
    index->frames = calloc (frames, sizeof *index->frames);
    if (index->frames == NULL) {
      md_error_set ("snapshot index: out of memory for %llu frames",
                    (unsigned long long) frames);
      return -1;
    }
    index->frame_cap = frames;
  }
  for (uint64_t f = 0; f < frames; f++) {
    if (decode_frame (&d, f) == -1)
      goto fail;
    index->frame_count++;
  }
  if (snap_cbor_expect_end (&d.r) == -1)
    goto fail;

  if (d.next_offset != data_end) {
    md_error_set ("index at byte %llu: the data frames end at %llu but the "
                  "metadata starts at %llu", (unsigned long long) file_offset,
                  (unsigned long long) d.next_offset, (unsigned long long) data_end);
    goto fail;
  }
  if (index->page_count != meta->allocated_size / meta->page_size) {
    md_error_set ("index at byte %llu: the frames hold %llu pages but the "
                  "metadata's allocated size is %llu pages",
                  (unsigned long long) file_offset,
                  (unsigned long long) index->page_count,
                  (unsigned long long) (meta->allocated_size / meta->page_size));
    goto fail;
  }
  return 0;

fail:
  snap_index_free (index);
  return -1;
}

uint64_t
snap_index_frame_first_page (const struct snap_index *index, size_t k)
{
  return index->runs[index->frames[k].first_run].first_page;
}

size_t
snap_index_frame_of_page (const struct snap_index *index, uint64_t page)
{
  size_t lo = 0, hi = index->frame_count;

  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    if (snap_index_frame_first_page (index, mid) <= page)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}
