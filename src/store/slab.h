/* The slab core under the store's two allocators: fixed-size units cut
 * from slabs of anonymous memory, reused through a free list, every slab
 * unmapped together at the end.
 *
 *   struct slab_policy  (the user's, fixed for the arena's life)
 *     unit, slab_bytes    a slab holds slab_bytes / unit units
 *     populate            fault the whole slab in when it is mapped
 *     no_huge_pages       4 KiB pages only (a first touch clears 4 KiB)
 *     freed_apart         freed units' memory is given back to the kernel,
 *                         so the free list cannot live inside them
 *
 *   struct slab_arena  (one per lock: the user serialises its calls)
 *     slabs[] ──► slab ──► slab ──► ...  every slab mapped, unmapped at the end
 *     bump .. bump_end                   the newest slab's units never handed out
 *     free ──► unit ──► unit ──► ...     freed units, linked through their
 *                                        first bytes, or with freed_apart
 *     freed[] ──► unit, unit, ...        their addresses in an array
 *
 *   a slab:  [unit][unit][unit] ... [unit][rest < unit]
 *
 * Users: pages.c (the store's pages: page-sized units, populated slabs,
 * freed apart, one arena per shard, slabs handed in by its refiller) and
 * cowpool.c (a snapshot's copy-on-write records and blocks: 4 KiB pages
 * only, one arena, unmapped whole when the snapshot ends).
 *
 * Under AddressSanitizer every unit not handed out (the bump range and
 * the freed units) is poisoned, so a use after a free or a run past a
 * unit's end into one still to be cut is reported as for malloc'd memory.
 */
#ifndef MEMDISK_STORE_SLAB_H
#define MEMDISK_STORE_SLAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes mapped at a time, unless a unit is larger. */
#define SLAB_BYTES ((size_t) 2 << 20)

struct slab_policy {
  size_t unit;                  /* a multiple of 64 */
  size_t slab_bytes;            /* at least one unit */
  bool populate;
  bool no_huge_pages;
  bool freed_apart;
};

struct slab_arena {
  void **slabs;
  size_t nslabs, slabs_cap;
  unsigned char *bump, *bump_end;
  void *free;                   /* !freed_apart: a list through the units */
  void **freed;                 /* freed_apart: the units' addresses */
  size_t nfreed, freed_cap;
};

#define SLAB_ARENA_INIT { 0 }

/* A new slab of POLICY, mapped (and faulted in with populate); NULL when
 * the kernel has no memory.  Not yet any arena's. */
void *slab_map (const struct slab_policy *policy);
/* Unmap a slab of POLICY that no arena holds. */
void slab_unmap (const struct slab_policy *policy, void *slab);
/* Make SLAB (from slab_map) ARENA's: its units become the bump range.
 * 0, or -1 when the registry cannot grow (SLAB is left to the caller). */
int slab_arena_add (struct slab_arena *arena, const struct slab_policy *policy, void *slab);
/* A freed unit, else one cut from the bump range; NULL when both are
 * empty (the caller adds a slab).  Its contents: zeros if it was never
 * handed out, else what the user left (or zeros, freed apart). */
void *slab_arena_take (struct slab_arena *arena, const struct slab_policy *policy);
/* slab_arena_take, adding a slab of its own when it must; NULL when out
 * of memory. */
void *slab_arena_alloc (struct slab_arena *arena, const struct slab_policy *policy);
/* Give UNIT back for a later take.  -1 only with freed_apart, when the
 * array cannot grow: UNIT is then left as it was, the caller's to unmap. */
int slab_arena_give (struct slab_arena *arena, const struct slab_policy *policy, void *unit);
/* Unmap every slab of ARENA, units handed out or not; ARENA is empty
 * again. */
void slab_arena_release (struct slab_arena *arena, const struct slab_policy *policy);

#endif
