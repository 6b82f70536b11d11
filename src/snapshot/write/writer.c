/* The snapshot writer (writer.h): sets up the pipeline (pipeline.h: the
 * producer in produce.c, the workers in compress.c, the emitter in
 * emit.c), writes the header, runs the pipeline, then has the trailer
 * written.
 *
 * A frame holds the stored pages of one region (format 2.0, section 4):
 * the producer cuts frames where the page index enters another region, so
 * the output depends on the pages alone, not on the thread count or
 * timing, and a region's frame does not depend on the other regions.
 *
 * The file's fixed parts (header, metadata, index, footer) are encoded by
 * skippable.c.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "common/error.h"
#include "common/threads.h"
#include "snapshot/format/digest.h"
#include "snapshot/format/format.h"
#include "snapshot/format/index.h"
#include "snapshot/format/metadata.h"
#include "snapshot/write/pipeline.h"
#include "snapshot/write/skippable.h"
#include "snapshot/write/writer-internal.h"
#include "snapshot/write/writer.h"

/* ---- setting up and tearing down ---- */

/* W for OPTIONS (already checked; LEVEL is the zstd level they mean),
 * writing to FD.  -1 with md_error set; W is to be freed either way. */
static int
writer_init (struct writer *w, int fd, const struct snap_write_options *options, int level)
{
  *w = (struct writer) {
    .fd = fd,
    .page_size = options->page_size,
    .virtual_size = options->virtual_size,
    .region_size = snap_write_region_size (options),
    .frame_pages = snap_write_region_size (options) / options->page_size,   /* >= 1: checked */
    .level = level,
    .previous = options->previous,
    .compress_at_nice_19 = options->compress_at_nice_19,
    .nworkers = snap_resolve_threads (options->threads),
  };
  w->nslots = w->nworkers + 2;
  pthread_mutex_init (&w->lock, NULL);
  pthread_cond_init (&w->work_ready, NULL);
  pthread_cond_init (&w->frame_done, NULL);
  pthread_cond_init (&w->slot_free, NULL);
  snap_index_init_regions (&w->index, w->region_size, options->page_size);
  snap_digest_init_composed (&w->digest, w->region_size);
  w->slots = calloc (w->nslots, sizeof *w->slots);
  if (w->previous != NULL)
    w->copy_buf = malloc (COPY_BUFFER_SIZE);
  if (w->slots == NULL || (w->previous != NULL && w->copy_buf == NULL)) {
    md_error_set ("writing a snapshot: out of memory");
    return -1;
  }
  snap_writer_clone_init (w);
  return 0;
}

static void
writer_free (struct writer *w)
{
  if (w->slots != NULL)
    for (size_t i = 0; i < w->nslots; i++) {
      free (w->slots[i].pages);
      free (w->slots[i].page_index);
      free (w->slots[i].out);
      free (w->slots[i].records);
    }
  free (w->slots);
  free (w->copy_buf);
  snap_index_free (&w->index);
  pthread_mutex_destroy (&w->lock);
  pthread_cond_destroy (&w->work_ready);
  pthread_cond_destroy (&w->frame_done);
  pthread_cond_destroy (&w->slot_free);
}

/* ---- running ---- */

/* Start the workers and the emitter, produce, and wait for them all. */
static int
run_pipeline (struct writer *w, snap_next_page_fn next_page, void *opaque)
{
  pthread_t *threads = calloc (w->nworkers + 1, sizeof *threads);
  size_t started = 0;

  if (threads == NULL) {
    md_error_set ("writing a snapshot: out of memory");
    return -1;
  }
  for (; started < w->nworkers + 1; started++) {
    int err = pthread_create (&threads[started], NULL,
                              started == 0 ? snap_writer_emit_main
                                           : snap_writer_compress_main, w);
    if (err != 0) {
      md_error_set ("writing a snapshot: cannot start a thread: %s", strerror (err));
      writer_fail (w);
      break;
    }
  }
  if (started == w->nworkers + 1)
    snap_writer_produce (w, next_page, opaque);
  else {
    pthread_mutex_lock (&w->lock);
    w->input_done = true;
    pthread_mutex_unlock (&w->lock);
  }
  for (size_t i = 0; i < started; i++)
    pthread_join (threads[i], NULL);
  free (threads);

  if (w->failure.failed) {
    md_error_set ("%s", w->failure.message);
    return -1;
  }
  return 0;
}

/* ---- the trailer ---- */

/* The metadata of the file W wrote, for OPTIONS at zstd LEVEL (its
 * creation time is already in *META). */
static void
fill_metadata (struct snap_metadata *meta, const struct writer *w,
               const struct snap_write_options *options, int level)
{
  meta->version_major = SNAP_VERSION_MAJOR;
  meta->version_minor = (uint16_t) snap_write_minor_version (w->region_size);
  meta->virtual_size = options->virtual_size;
  meta->page_size = options->page_size;
  meta->region_size = w->region_size;
  meta->zstd_version = ZSTD_versionNumber ();
  meta->allocated_size = w->index.page_count * options->page_size;
  meta->compression_level = level;
  snprintf (meta->creator, sizeof meta->creator, "%s",
            options->creator ? options->creator : "libmemdisk " MEMDISK_VERSION);
  meta->content_digest = snap_digest_final (&w->digest);
  meta->touch_order_count = options->touch_order_count;
  if (options->touch_order_count > 0)
    memcpy (meta->touch_order, options->touch_order,
            options->touch_order_count * sizeof *meta->touch_order);
}

static struct snap_write_stats
write_stats (const struct writer *w, const struct snap_metadata *meta)
{
  return (struct snap_write_stats) {
    .pages_read = w->pages_read,
    .pages_written = w->index.page_count,
    .allocated_bytes = meta->allocated_size,
    .file_bytes = w->file_offset,
    .frames = w->index.frame_count,
    .frames_copied = w->frames_copied,
    .frames_cloned = w->frames_cloned,
    .clone_refused_errno = w->clone_errno,
    .content_digest = meta->content_digest,
  };
}

/* ---- the entry point ---- */

int
snap_write_fd (int fd, const struct snap_write_options *options,
               snap_next_page_fn next_page, void *opaque, struct snap_write_result *result)
{
  struct snap_write_result ignored = { 0 };
  struct writer w = { .fd = -1 };
  struct snap_metadata meta = { 0 };
  const char *why;
  int level, r = -1;

  if (result == NULL)
    result = &ignored;
  snap_write_result_clear (result);
  if (snap_writer_check_options (options, &level) == -1
      || snap_meta_creation_time (&meta.creation_time) == -1)
    return -1;
  if (options->previous != NULL && !snap_write_can_copy (options->previous, options, &why)) {
    md_error_set ("writing a snapshot: cannot copy frames from the previous file: %s", why);
    return -1;
  }

  int err = writer_init (&w, fd, options, level);
  w.previous_bad = &result->previous_bad;
  if (err == 0
      && snap_write_header (w.fd, snap_write_minor_version (w.region_size),
                            &w.file_offset) == 0
      && run_pipeline (&w, next_page, opaque) == 0) {
    fill_metadata (&meta, &w, options, level);
    if (snap_write_trailer (w.fd, &w.file_offset, &meta, &w.index) == 0
        && snap_writer_clone_finish (&w) == 0) {
      result->stats = write_stats (&w, &meta);
      r = 0;
    }
  }
  writer_free (&w);
  return r;
}
