/* Writing the fixed parts of a snapshot file: the header, and after the
 * data frames the metadata, the index and the footer (skippable.c).
 * *FILE_OFFSET is the length of the file so far; each call adds what it
 * wrote.  All return 0, or -1 with md_error set. */
#ifndef MEMDISK_SNAPSKIPPABLE_H
#define MEMDISK_SNAPSKIPPABLE_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/format/index.h"
#include "snapshot/format/metadata.h"

/* All LEN bytes of BUF to FD ("writing the snapshot: CAUSE"). */
int snap_write_bytes (int fd, const void *buf, size_t len);

/* The header of format 2.MINOR; the file starts with it (*FILE_OFFSET becomes its size). */
int snap_write_header (int fd, unsigned minor, uint64_t *file_offset);

/* The metadata META, the index INDEX and the footer, after the last data
 * frame. */
int snap_write_trailer (int fd, uint64_t *file_offset, const struct snap_metadata *meta,
                        const struct snap_index *index);

#endif
