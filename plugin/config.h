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
  char *snapshot;               /* snapshot=: absolute path, or NULL; for a
                                 * URL, the URL as shown (no credentials) */
  char *snapshot_url;           /* snapshot=URL: the URL itself, or NULL */
  bool snapshot_readonly;       /* snapshot-readonly=: load, never write */
  unsigned snapshot_interval;   /* snapshot-interval=: seconds, 0 = off */
  int snapshot_level;           /* snapshot-level=: zstd level */
  unsigned snapshot_threads;    /* snapshot-threads=: 0 = online CPUs */
  uint32_t snapshot_region_size; /* snapshot-region-size=: bytes; 0 = the
                                  * loaded file's, else the default */
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

/* What opens the snapshot: the URL with its credentials, or the path.
 * Never for a message: those name memdisk_config.snapshot. */
const char *memdisk_config_snapshot_source (void);

/* The text `nbdkit memdisk --help` shows: one entry per parameter. */
extern const char memdisk_config_help[];

/* nbdkit's .config and .config_complete.  Return 0 or -1 after
 * nbdkit_error() with a message naming the parameter. */
int memdisk_config_key (const char *key, const char *value);
int memdisk_config_complete (void);
/* A number of KEY from MIN to MAX, for the parameters parsed elsewhere
 * (httpconfig.c): 0, or -1 after nbdkit_error. */
int memdisk_config_parse_number (const char *key, const char *value, unsigned min,
                                 unsigned max, unsigned *result);
/* .unload: free what parsing allocated. */
void memdisk_config_unload (void);

#endif
