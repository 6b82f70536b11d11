/* Raw disk images as a page source for the writer and a page sink for the
 * reader, so that raw images and snapshots convert both ways.
 *
 * The source reads only the data regions of a sparse file (SEEK_DATA /
 * SEEK_HOLE), so a 2 GiB file with 1 GiB of data costs 1 GiB of reading.
 * The sink writes a sparse file: holes wherever the disk is zero.
 */
#ifndef MEMDISK_SNAPRAW_H
#define MEMDISK_SNAPRAW_H

#include <stdbool.h>
#include <stdint.h>

struct snap_raw_source {
  int fd;
  uint64_t size;                /* the image's size: the virtual disk size */
  uint32_t page_size;
  uint64_t pos;                 /* the next byte not yet returned */
  uint64_t data_end;            /* the end of the current data region */
  bool seek_data;               /* whether the file reports its holes */
  uint64_t bytes_read;          /* for statistics */
};

/* Prepare to read the image open on FD (the caller keeps it) in pages of
 * PAGE_SIZE.  -1 with md_error set. */
int snap_raw_source_init (struct snap_raw_source *src, int fd, uint32_t page_size);

/* A snap_next_page_fn: the next page that may hold data.  Pages wholly
 * inside holes are never returned; others are, zero or not (the writer
 * drops zero pages).  OPAQUE is the struct snap_raw_source. */
int snap_raw_source_next (void *opaque, uint64_t *page_index, void *buf);

struct snap_raw_sink {
  int fd;
  uint64_t virtual_size;
  uint32_t page_size;
  bool sequential;              /* a pipe: write everything in order */
  uint64_t pos;                 /* sequential: bytes written so far */
};

/* Prepare to write a disk of VIRTUAL_SIZE bytes to FD.  Not SEQUENTIAL:
 * FD is a regular file written with pwrite from any thread, its size set
 * now; SEQUENTIAL: FD gets every byte in order (runs must come in
 * order), zeros included. */
int snap_raw_sink_init (struct snap_raw_sink *sink, int fd, uint64_t virtual_size,
                        uint32_t page_size, bool sequential);

/* A snap_run_sink_fn: write the pages, clipped to the disk's end, leaving
 * holes for zero 4 KiB blocks when not sequential.  OPAQUE is the sink. */
int snap_raw_sink_write (void *opaque, uint64_t first_page, uint64_t page_count,
                         const void *data);

/* Sequential: write the zeros up to the disk's end. */
int snap_raw_sink_finish (struct snap_raw_sink *sink);

#endif
