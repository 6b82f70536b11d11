/* The slab core (slab.h has the picture and its two users). */
#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "store/slab.h"

#if defined(__SANITIZE_ADDRESS__)
#define MEMDISK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEMDISK_ASAN 1
#endif
#endif
#ifdef MEMDISK_ASAN
#include <sanitizer/asan_interface.h>
#define slab_poison(p, n) ASAN_POISON_MEMORY_REGION ((p), (n))
#define slab_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION ((p), (n))
#else
#define slab_poison(p, n) ((void) (p), (void) (n))
#define slab_unpoison(p, n) ((void) (p), (void) (n))
#endif

/* Grow *ARRAY (of *CAP entries, USED of them used) so that one more fits.
 * -1 on ENOMEM. */
static int
grow (void ***array, size_t *cap, size_t used)
{
  void **bigger;
  size_t n;

  if (used < *cap)
    return 0;
  n = *cap ? *cap * 2 : 64;
  bigger = realloc (*array, n * sizeof **array);
  if (bigger == NULL)
    return -1;
  *array = bigger;
  *cap = n;
  return 0;
}

void *
slab_map (const struct slab_policy *policy)
{
  void *slab = mmap (NULL, policy->slab_bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

  if (slab == MAP_FAILED)
    return NULL;
  if (policy->no_huge_pages)
    (void) madvise (slab, policy->slab_bytes, MADV_NOHUGEPAGE);   /* a hint only */
#ifdef MADV_POPULATE_WRITE
  /* ENOMEM here is a clean "out of memory" instead of a fault later; any
   * other error (EINVAL before Linux 5.14) only loses the prefault. */
  if (policy->populate
      && madvise (slab, policy->slab_bytes, MADV_POPULATE_WRITE) == -1 && errno == ENOMEM) {
    munmap (slab, policy->slab_bytes);
    return NULL;
  }
#endif
  return slab;
}

void
slab_unmap (const struct slab_policy *policy, void *slab)
{
  munmap (slab, policy->slab_bytes);
}

int
slab_arena_add (struct slab_arena *arena, const struct slab_policy *policy, void *slab)
{
  if (grow (&arena->slabs, &arena->slabs_cap, arena->nslabs) == -1)
    return -1;
  arena->slabs[arena->nslabs++] = slab;
  arena->bump = slab;
  arena->bump_end = arena->bump + policy->slab_bytes / policy->unit * policy->unit;
  slab_poison (arena->bump, (size_t) (arena->bump_end - arena->bump));
  return 0;
}

void *
slab_arena_take (struct slab_arena *arena, const struct slab_policy *policy)
{
  void *unit;

  if (policy->freed_apart ? arena->nfreed > 0 : arena->free != NULL) {
    unit = policy->freed_apart ? arena->freed[--arena->nfreed] : arena->free;
    slab_unpoison (unit, policy->unit);
    if (!policy->freed_apart)
      arena->free = *(void **) unit;      /* the link, in the unit's first bytes */
    return unit;
  }
  if (arena->bump == arena->bump_end)
    return NULL;
  unit = arena->bump;
  arena->bump += policy->unit;
  slab_unpoison (unit, policy->unit);
  return unit;
}

void *
slab_arena_alloc (struct slab_arena *arena, const struct slab_policy *policy)
{
  void *unit = slab_arena_take (arena, policy);
  void *slab;

  if (unit != NULL)
    return unit;
  slab = slab_map (policy);
  if (slab == NULL)
    return NULL;
  if (slab_arena_add (arena, policy, slab) == -1) {
    slab_unmap (policy, slab);
    return NULL;
  }
  return slab_arena_take (arena, policy);
}

int
slab_arena_give (struct slab_arena *arena, const struct slab_policy *policy, void *unit)
{
  if (policy->freed_apart) {
    if (grow (&arena->freed, &arena->freed_cap, arena->nfreed) == -1)
      return -1;
    arena->freed[arena->nfreed++] = unit;
  }
  else {
    *(void **) unit = arena->free;
    arena->free = unit;
  }
  slab_poison (unit, policy->unit);
  return 0;
}

void
slab_arena_release (struct slab_arena *arena, const struct slab_policy *policy)
{
  for (size_t s = 0; s < arena->nslabs; s++) {
    /* Unpoisoned: the kernel may map something else at the address. */
    slab_unpoison (arena->slabs[s], policy->slab_bytes);
    slab_unmap (policy, arena->slabs[s]);
  }
  free (arena->slabs);
  free (arena->freed);
  *arena = (struct slab_arena) SLAB_ARENA_INIT;
}
