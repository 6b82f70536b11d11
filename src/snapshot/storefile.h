/* Saving a store to a snapshot file and loading one into a new store:
 * the bridge between the store (store/store.h) and the snapshot codec.
 */
#ifndef MEMDISK_SNAPSTORE_H
#define MEMDISK_SNAPSTORE_H

#include <stdatomic.h>
#include <stdint.h>

#include "snapshot/read/lazy.h"
#include "snapshot/write/writer.h"
#include "store/store.h"

/* The file a server wrote or loaded last, kept open (the descriptor is the
 * file, whatever replaces its path later) for the next save to copy the
 * frames of unchanged regions from.  Either a reader of its own, or the
 * file a lazy load serves from (snap_lazy_reader; the snap_lazy keeps
 * it): then the frames of unchanged regions are copied whether they are
 * loaded or still in the file (never decompressed for the save), and a
 * frame the load found damaged fails the save. */
struct snapstore_previous {
  struct snap_reader *reader;   /* owned; NULL: none (or LAZY) */
  struct snap_lazy *lazy;       /* not NULL: the lazily loaded file */
  uint64_t epoch;               /* the store's instant the file holds
                                   (store_snapshot_epoch, store_load_epoch) */
};
/* Let go of the file (a reader of its own is closed; a lazy load's stays
 * the lazy load's). */
void snapstore_previous_close (struct snapstore_previous *previous);

/* Make the file LAZY serves from the previous file of STORE, the store
 * snap_lazy_open made (and no client changed yet). */
void snapstore_previous_from_lazy (struct snapstore_previous *previous, struct snap_lazy *lazy,
                                   const struct store *store);

struct snapstore_save_counts {
  uint64_t regions_cloned;      /* frames shared with the previous file
                                   (FICLONERANGE), checked */
  uint64_t regions_copied;      /* frames copied from the previous file */
  uint64_t regions_compressed;  /* frames compressed from the store */
  const char *full_why;         /* why no frame could be copied, or NULL */
  int clone_refused_errno;      /* the file system refused to clone, so the
                                   frames were copied: its errno; else 0 */
};

/* Write a point-in-time snapshot of STORE to PATH (atomically replacing
 * it): the store at the instant this call began, while clients may keep
 * writing.  OPTIONS supplies level, threads, creator and touch order; the
 * virtual and page sizes come from the store.  *PAGES_DONE (if not NULL)
 * counts the pages read out of the store so far, for a progress report
 * from another thread.
 *
 * With PREVIOUS (not NULL) the save is incremental: the frames of regions
 * unchanged since that file (when its frames are the ones this save would
 * make: snap_write_can_copy) are copied from it, the others compressed;
 * the file is byte for byte what a full save would write.  On success
 * *PREVIOUS becomes the new file.  A frame of the previous file that
 * fails its checksum drops it and the save is made again, full; other
 * failures keep it.  COUNTS (if not NULL) says what was done.
 *
 * RESULT (if not NULL; snap_write_result in writer.h) gets the stats and
 * what PATH is after the call, and the save's phases marked in its
 * timeline (begin, instant, written, fsynced, renamed, released); its
 * kept_fd is always -1 (the new file, kept, is *PREVIOUS's now).  On
 * failure the store is marked changed (so the next save retries) and -1
 * is returned with md_error set, naming the step. */
int snapstore_save (struct store *store, const char *path,
                    const struct snap_write_options *options,
                    _Atomic uint64_t *pages_done, struct snapstore_previous *previous,
                    struct snapstore_save_counts *counts, struct snap_write_result *result);

/* Load the snapshot PATH into a new store of the snapshot's page size and
 * of max(its virtual size, MIN_SIZE) bytes, with regions of REGION_SIZE
 * bytes (0: the file's; snap_store_region_size), decompressing on THREADS
 * threads (0: online CPUs); *FILE_VIRTUAL_SIZE is set to the snapshot's
 * virtual size.  The new store is marked unchanged.  With PREVIOUS (not
 * NULL) the file stays open in it, for incremental saves.  Returns NULL
 * with md_error set when PATH is unreadable or damaged (the message names
 * what is wrong and where). */
struct store *snapstore_load (const char *path, uint64_t min_size, uint32_t region_size,
                              unsigned threads,
                              uint64_t *file_virtual_size,
                              struct snapstore_previous *previous);

#endif
