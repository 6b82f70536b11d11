/* What the reader's files share (reader.c opens and validates, decoder.c
 * decodes frames): the reader itself.  Not for use outside
 * src/snapshot/read/; the others go through reader.h. */
#ifndef MEMDISK_SNAPREAD_INTERNAL_H
#define MEMDISK_SNAPREAD_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/format/digest.h"
#include "snapshot/format/index.h"
#include "snapshot/format/metadata.h"
#include "snapshot/read/readat.h"

struct snap_reader {
  struct snap_source source;    /* the file's bytes: a descriptor or a transport */
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
  struct snap_digest seq_digest;        /* in the file's form */
  struct snap_digest seq_composed;      /* in the form this program writes */
};

/* Validate the fixed parts of the file SOURCE reads, FILE_SIZE bytes
 * long.  The reader owns SOURCE's transport (closed by snap_reader_close,
 * or at once when opening fails), never its descriptor.  NULL with
 * md_error set. */
struct snap_reader *snap_reader_open_source (const struct snap_source *source,
                                             uint64_t file_size);
/* Format 2.1's padding (padding.c): where the padding before frame K
 * starts (frame K's own offset in a file without padding), and whether
 * the GAP bytes GOT read there, at byte AT, are that padding (-1 with
 * md_error set if not). */
uint64_t snap_reader_padding_start (const struct snap_reader *r, size_t k);
int snap_padding_check (const unsigned char *got, size_t gap, uint64_t at, size_t k);

#endif
