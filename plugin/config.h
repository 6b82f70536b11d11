/* The plugin's parameters: parsed and validated here, in one place, so
 * that every later parameter (snapshot=, ...) is added next to size=.
 * Everything that can be wrong with the command line is reported by
 * memdisk_config_key or memdisk_config_complete, before nbdkit forks.
 */
#ifndef MEMDISK_PLUGIN_CONFIG_H
#define MEMDISK_PLUGIN_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

struct memdisk_config {
  uint64_t size;                /* size=: the disk's virtual size in bytes */
  bool size_given;
  char *snapshot;               /* snapshot=: absolute path, or NULL */
  bool snapshot_readonly;       /* snapshot-readonly=: load, never write */
  unsigned snapshot_interval;   /* snapshot-interval=: seconds, 0 = off */
  int snapshot_level;           /* snapshot-level=: zstd level */
  unsigned snapshot_threads;    /* snapshot-threads=: 0 = online CPUs */
  bool snapshot_memory_check;   /* snapshot-memory-check=: compare the
                                 * snapshot's pages with free memory */
  bool mlock;                   /* mlock=: keep the disk out of swap */
  bool allocator_malloc;        /* allocator=malloc: every page at start */
  bool snapshot_load_eager;     /* snapshot-load=eager (default lazy) */
  unsigned snapshot_load_threads; /* snapshot-load-threads=: background
                                   * loaders, 0 = none (resolved) */
  bool snapshot_load_threads_given;
};

/* The parsed parameters; valid after memdisk_config_complete succeeds. */
extern struct memdisk_config memdisk_config;

/* The text `nbdkit memdisk --help` shows: one entry per parameter. */
extern const char memdisk_config_help[];

/* nbdkit's .config and .config_complete.  Return 0 or -1 after
 * nbdkit_error() with a message naming the parameter. */
int memdisk_config_key (const char *key, const char *value);
int memdisk_config_complete (void);
/* .unload: free what parsing allocated. */
void memdisk_config_unload (void);

#endif
