/* Where the store's pages come from and go back to.
 *
 *   struct page_pool
 *     shard[PAGE_POOL_SHARDS]        a thread always uses one shard
 *       lock                         a mutex, held for a pointer bump or a pop
 *       carve ──► the rest of the newest slab, cut into pages on demand
 *       freed[] ──► pages given back; their memory is the kernel's again
 *       slabs[] ──► every slab the shard mapped (unmapped at the end)
 *
 * Why not malloc a page each time.  A first write into a fresh disk then
 * pays a page fault for every 4 KiB of the page (the kernel zeroes each
 * on the fault) plus the allocator's bookkeeping.  A slab is
 * PAGE_SLAB_SIZE bytes of anonymous memory mapped and faulted in by one
 * madvise(MADV_POPULATE_WRITE): one system call that faults every 4 KiB
 * inside the kernel, with no trap per page.  Fresh memory is zeros, so a
 * partial write into a new page needs no memset either.  (Transparent
 * huge pages measured slower here: each fault zeroes 2 MiB, and a
 * trimmed hole in one can be filled again by khugepaged.)
 *
 * Giving memory back.  page_free returns the page's memory at once with
 * MADV_DONTNEED (its next touch reads zeros, so every page page_alloc
 * returns is all zeros) and keeps its address for reuse; zero and trim
 * therefore lower RSS like free() of a large block does.  If the freed
 * list cannot grow the page is unmapped instead (its address is not
 * reused, nothing leaks).  Slabs themselves are unmapped with the pool.
 *
 * No global lock: a thread's shard is fixed by the order threads first
 * allocate, and a shard's lock is held for a few instructions, or for
 * the mmap of a new slab once per PAGE_SLAB_SIZE bytes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "common/threads.h"
#include "store/pages.h"

/* Under ASan, pages not handed out (the rest of a slab, freed pages) are
 * poisoned, so a use after page_free or a run past the end of a page into
 * one still to be cut is reported as it is for malloc'd memory. */
#if defined(__SANITIZE_ADDRESS__)
#define MEMDISK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MEMDISK_ASAN 1
#endif
#endif
#ifdef MEMDISK_ASAN
#include <sanitizer/asan_interface.h>
#define pages_poison(p, n) ASAN_POISON_MEMORY_REGION ((p), (n))
#define pages_unpoison(p, n) ASAN_UNPOISON_MEMORY_REGION ((p), (n))
#else
#define pages_poison(p, n) ((void) (p), (void) (n))
#define pages_unpoison(p, n) ((void) (p), (void) (n))
#endif

static struct page_shard *
page_shard (struct page_pool *pool)
{
  return &pool->shard[thread_shard_index (PAGE_POOL_SHARDS)];
}

/* Grow *ARRAY (of *CAP entries) so that one more fits.  -1 on ENOMEM. */
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

void
page_pool_init (struct page_pool *pool, uint32_t page_size)
{
  pool->page_size = page_size;
  pool->slab_size = page_size > PAGE_SLAB_SIZE ? page_size : PAGE_SLAB_SIZE;
  for (unsigned i = 0; i < PAGE_POOL_SHARDS; i++) {
    struct page_shard *sh = &pool->shard[i];
    pthread_mutex_init (&sh->lock, NULL);
    sh->carve = NULL;
    sh->carve_pages = 0;
    sh->freed = sh->slabs = NULL;
    sh->nfreed = sh->freed_cap = sh->nslabs = sh->slabs_cap = 0;
  }
}

void
page_pool_destroy (struct page_pool *pool)
{
  for (unsigned i = 0; i < PAGE_POOL_SHARDS; i++) {
    struct page_shard *sh = &pool->shard[i];
    for (size_t s = 0; s < sh->nslabs; s++) {
      pages_unpoison (sh->slabs[s], pool->slab_size);
      munmap (sh->slabs[s], pool->slab_size);
    }
    free (sh->slabs);
    free (sh->freed);
    pthread_mutex_destroy (&sh->lock);
  }
}

/* Map and fault in a new slab for SH.  Caller holds SH's lock.  -1 when
 * out of memory. */
static int
shard_new_slab (struct page_pool *pool, struct page_shard *sh)
{
  uint8_t *slab;

  if (grow (&sh->slabs, &sh->slabs_cap, sh->nslabs) == -1)
    return -1;
  slab = mmap (NULL, pool->slab_size, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (slab == MAP_FAILED)
    return -1;
#ifdef MADV_POPULATE_WRITE
  /* ENOMEM here is a clean "out of memory" instead of a fault later; any
   * other error (EINVAL before Linux 5.14) only loses the prefault. */
  if (madvise (slab, pool->slab_size, MADV_POPULATE_WRITE) == -1 && errno == ENOMEM) {
    munmap (slab, pool->slab_size);
    return -1;
  }
#endif
  pages_poison (slab, pool->slab_size);
  sh->slabs[sh->nslabs++] = slab;
  sh->carve = slab;
  sh->carve_pages = pool->slab_size / pool->page_size;
  return 0;
}

void *
page_alloc (struct page_pool *pool)
{
  struct page_shard *sh = page_shard (pool);
  void *page = NULL;

  pthread_mutex_lock (&sh->lock);
  if (sh->nfreed > 0)
    page = sh->freed[--sh->nfreed];
  else if (sh->carve_pages > 0 || shard_new_slab (pool, sh) == 0) {
    page = sh->carve;
    sh->carve += pool->page_size;
    sh->carve_pages--;
  }
  pthread_mutex_unlock (&sh->lock);
  if (page)
    pages_unpoison (page, pool->page_size);
  return page;
}

void
page_free (struct page_pool *pool, void *page)
{
  struct page_shard *sh;
  bool kept = false;

  if (page == NULL)
    return;
  /* Cannot fail on a private anonymous mapping of ours. */
  (void) madvise (page, pool->page_size, MADV_DONTNEED);
  pages_poison (page, pool->page_size);   /* before another thread can pop it */
  sh = page_shard (pool);
  pthread_mutex_lock (&sh->lock);
  if (grow (&sh->freed, &sh->freed_cap, sh->nfreed) == 0) {
    sh->freed[sh->nfreed++] = page;
    kept = true;
  }
  pthread_mutex_unlock (&sh->lock);
  if (!kept) {
    pages_unpoison (page, pool->page_size);   /* the address may be mapped again */
    munmap (page, pool->page_size);
  }
}
