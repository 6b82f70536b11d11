/* Saving a store to a snapshot file and loading one into a new store:
 * the bridge between the store (store/store.h) and the snapshot codec.
 */
#ifndef MEMDISK_SNAPSTORE_H
#define MEMDISK_SNAPSTORE_H

#include <stdatomic.h>
#include <stdint.h>

#include "snapshot/writer.h"
#include "store/store.h"

/* Write a point-in-time snapshot of STORE to PATH (atomically replacing
 * it).  OPTIONS supplies level, threads, creator and stats; the virtual
 * and page sizes come from the store.  Clients may keep writing: the
 * snapshot is the store at the instant this call began.  On failure the
 * store is marked changed (so the next save retries) and -1 is returned
 * with md_error set, naming the step; *options->replaced (if set) says
 * whether PATH is untouched or already the new file. */
int snapstore_save (struct store *store, const char *path,
                    const struct snap_write_options *options);

/* The same, counting in *PAGES_DONE (if not NULL) the pages read out of
 * the store so far, for a progress report from another thread. */
int snapstore_save_progress (struct store *store, const char *path,
                             const struct snap_write_options *options,
                             _Atomic uint64_t *pages_done);

/* Load the snapshot PATH into a new store of the snapshot's page size and
 * of max(its virtual size, MIN_SIZE) bytes, decompressing on THREADS
 * threads (0: online CPUs); *FILE_VIRTUAL_SIZE is set to the snapshot's
 * virtual size.  The new store is marked unchanged.  Returns NULL with
 * md_error set when PATH is unreadable or damaged (the message names what
 * is wrong and where). */
struct store *snapstore_load (const char *path, uint64_t min_size, unsigned threads,
                              uint64_t *file_virtual_size);

#endif
