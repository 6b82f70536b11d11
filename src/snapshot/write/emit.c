/* The writer's emitter (pipeline.h): one thread that writes the finished
 * frames in order (a copied frame straight from the previous file),
 * builds the index and folds the region digests.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "snapshot/format/digest.h"
#include "snapshot/format/format.h"
#include "snapshot/format/index.h"
#include "snapshot/read/decoder.h"
#include "snapshot/read/reader.h"
#include "snapshot/write/pipeline.h"
#include "snapshot/write/skippable.h"

/* Ask the kernel to start writing what we wrote so far, every few MiB, so
 * that the final fsync finds little left to do.  A hint only: on a pipe it
 * fails harmlessly, and real errors surface at fsync. */
#define WRITEBACK_STEP (8u << 20)

static void
start_writeback (struct writer *w)
{
  if (w->file_offset - w->writeback_offset < WRITEBACK_STEP)
    return;
  (void) sync_file_range (w->fd, (off_t) w->writeback_offset,
                          (off_t) (w->file_offset - w->writeback_offset),
                          SYNC_FILE_RANGE_WRITE);
  w->writeback_offset = w->file_offset;
}

static int
write_to_file (void *opaque, const void *data, size_t len)
{
  const struct writer *w = opaque;

  return snap_write_bytes (w->fd, data, len);
}

/* A copied frame's bytes, from the previous file to ours through one
 * small buffer, checked against the previous index's checksum as they
 * pass (what is checked is what is written).  The emitter does it, in
 * place of a worker's read and its own write of a whole frame: each byte
 * is read from the page cache once, into a buffer that stays in this
 * core's cache for the hash and the write.  A mismatch fails the save
 * after some of the frame's bytes are in the temporary file, which is
 * then removed. */
static int
copy_frame_bytes (struct writer *w, const struct slot *s)
{
  bool source_bad;

  if (snap_reader_pass_frame_bytes (w->previous, s->copy_frame, w->copy_buf,
                                    COPY_BUFFER_SIZE, write_to_file, w, &source_bad) == 0)
    return 0;
  if (source_bad) {
    md_error_set ("copying from the previous snapshot: %s", md_error ());
    if (w->previous_bad != NULL)
      *w->previous_bad = true;
  }
  return -1;
}

/* Format 2.1: the padding frame from the end of the previous part to the
 * next frame's 4 KiB boundary, unless a clone already put it there. */
static int
pad_to_frame (struct writer *w)
{
  uint64_t start = snap_aligned_frame_start (w->file_offset);
  unsigned char padding[SNAP_MAX_PADDING];

  if (start == w->file_offset)
    return 0;
  if (start == w->padded_to) {
    if (lseek (w->fd, (off_t) start, SEEK_SET) == -1) {
      md_error_set ("writing the snapshot: seeking past cloned padding: %s",
                    strerror (errno));
      return -1;
    }
  }
  else {
    snap_padding_fill (padding, (size_t) (start - w->file_offset));
    if (snap_write_bytes (w->fd, padding, (size_t) (start - w->file_offset)) == -1)
      return -1;
  }
  w->file_offset = start;
  return 0;
}

/* A copied frame: shared with the previous file where the file system
 * can (clone.c), else copied. */
static int
take_frame (struct writer *w, const struct slot *s)
{
  int r = snap_writer_clone_frame (w, s->copy_frame);

  return r == 1 ? copy_frame_bytes (w, s) : r;
}

static int
emit_slot (struct writer *w, struct slot *s)
{
  if (pad_to_frame (w) == -1)
    return -1;
  w->padded_to = 0;
  if (s->copy ? take_frame (w, s) : snap_write_bytes (w->fd, s->out, s->out_len))
    return -1;
  if (s->copy ? snap_index_copy_frame (&w->index, w->file_offset,
                                       snap_reader_index (w->previous), s->copy_frame)
              : snap_index_add_frame (&w->index, w->file_offset, s->out_len, s->checksum,
                                      s->region_digest, s->page_index, s->npages))
    return -1;
  snap_digest_add_region (&w->digest, s->region, s->region_digest);
  w->file_offset += s->out_len;
  start_writeback (w);
  return 0;
}

void *
snap_writer_emit_main (void *arg)
{
  struct writer *w = arg;

  pthread_setname_np (pthread_self (), "md-emit");
  for (;;) {
    pthread_mutex_lock (&w->lock);
    struct slot *s = &w->slots[w->next_write % w->nslots];
    while (!w->failure.failed && !(w->next_write < w->produced && s->state == SLOT_DONE)
           && !(w->input_done && w->next_write == w->produced))
      pthread_cond_wait (&w->frame_done, &w->lock);
    if (w->failure.failed || w->next_write == w->produced) {
      pthread_mutex_unlock (&w->lock);
      break;
    }
    pthread_mutex_unlock (&w->lock);

    if (emit_slot (w, s) == -1) {
      writer_fail (w);
      break;
    }

    pthread_mutex_lock (&w->lock);
    s->state = SLOT_FREE;
    s->npages = 0;
    s->copy = false;
    w->next_write++;
    pthread_cond_signal (&w->slot_free);
    pthread_mutex_unlock (&w->lock);
  }
  return NULL;
}
