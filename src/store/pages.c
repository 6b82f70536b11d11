/* Where the store's pages come from and go back to.
 *
 *   struct page_pool
 *     policy                         page-sized units, slabs faulted in
 *                                    when mapped, freed pages kept apart
 *     shard[PAGE_POOL_SHARDS]        a thread always uses one shard
 *       lock                         a mutex, held for a pointer bump or a pop
 *       arena (slab.h)
 *         bump ──► the rest of the newest slab, cut into pages on demand
 *         freed[] ──► pages given back; their memory is the kernel's again
 *         slabs[] ──► every slab the shard cut (unmapped at the end)
 *       spare ──► the next slab, faulted in ahead by the refiller
 *     refiller                       a thread that faults in the spares
 *
 * Why not malloc a page each time.  A first write into a fresh disk then
 * pays a page fault for every 4 KiB of the page (the kernel zeroes each
 * on the fault) plus the allocator's bookkeeping.  A slab is
 * PAGE_SLAB_SIZE bytes of anonymous memory mapped and faulted in by one
 * madvise(MADV_POPULATE_WRITE): one system call that faults every 4 KiB
 * inside the kernel, with no trap per page.  Fresh memory is zeros, so a
 * partial write into a new page needs no memset either.
 *
 * Giving memory back.  page_free returns the page's memory at once with
 * MADV_DONTNEED (its next touch reads zeros, so every page page_alloc
 * returns is all zeros) and keeps its address for reuse; zero and trim
 * therefore lower RSS like free() of a large block does.  If the freed
 * list cannot grow the page is unmapped instead (its address is not
 * reused, nothing leaks).  Slabs themselves are unmapped with the pool.
 * allocator=malloc keeps the memory instead (page_pool_keep_resident):
 * a freed page is zeroed in place, and an allocation that finds no
 * freed page in its shard takes one from another shard before it maps a
 * new slab, so the pages put aside at start are all the disk ever uses.
 *
 * The refiller.  Faulting a slab in still costs its 512 faults inside
 * the kernel (for each 4 KiB: zeroing, charging the memory cgroup, the
 * LRU; in a VM also the host's fault for memory the guest had given
 * back), and in a first write of a fresh disk that was the client's
 * time: a third of the server's CPU in perf.  Once started, a thread of
 * its own faults in each shard's next slab (its "spare") while the shard
 * still cuts the current one, so the shard swaps slabs in a pointer
 * move.  A client never waits for it: if the spare is not ready the
 * shard maps and faults in a slab itself, as before.  Measured (fio
 * 1 MiB writes at queue depth 4 into a fresh disk, 2 CPUs): 0.90x to
 * 1.15x without it over three A/B runs, about 70 % of slabs ready ahead:
 * a small gain inside this VM's noise (docs/design.md, "The refiller").
 * Transparent huge pages for the spares (one fault per 2 MiB) measured
 * 2x slower on that VM, except right after another run had freed its
 * memory (then 2x faster): our reading is that a huge page is a fresh
 * 2 MiB of guest memory which the host had taken back (free page
 * reporting) and must fault in again.  And a trimmed hole in a huge page
 * can be filled again by khugepaged.
 *
 * No global lock: a thread's shard is a hash of its thread descriptor
 * (thread_shard_index, common/threads.h), the same on every call whatever
 * order threads start in (two threads may share a shard), and a shard's
 * lock is held for a few instructions, or for the mmap of a new slab once
 * per PAGE_SLAB_SIZE bytes when no spare is ready.  Lock order: a shard's
 * lock, then refill_lock.
 *
 * The slabs, the bump range, the freed list and the poisoning under
 * AddressSanitizer are the slab core's (slab.h); this file adds the
 * shards, the refiller and the return of freed memory to the kernel.
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/threads.h"
#include "store/pages.h"

static struct page_shard *
page_shard (struct page_pool *pool)
{
  return &pool->shard[thread_shard_index (PAGE_POOL_SHARDS)];
}

void
page_pool_init (struct page_pool *pool, uint32_t page_size)
{
  pool->policy = (struct slab_policy) {
    .unit = page_size,
    .slab_bytes = page_size > PAGE_SLAB_SIZE ? page_size : PAGE_SLAB_SIZE,
    .populate = true,           /* a first write finds its page faulted in */
    .freed_apart = true,        /* page_free gives the memory back */
  };
  for (unsigned i = 0; i < PAGE_POOL_SHARDS; i++) {
    struct page_shard *sh = &pool->shard[i];
    pthread_mutex_init (&sh->lock, NULL);
    sh->arena = (struct slab_arena) SLAB_ARENA_INIT;
    sh->spare = NULL;
  }
  pthread_mutex_init (&pool->refill_lock, NULL);
  pthread_cond_init (&pool->refill_wanted, NULL);
  pool->refill_shards = 0;
  pool->refiller_state = REFILLER_OFF;
  atomic_init (&pool->slabs_ahead, 0);
  pool->keep_resident = false;
}

void
page_pool_destroy (struct page_pool *pool)
{
  pthread_mutex_lock (&pool->refill_lock);
  bool running = pool->refiller_state == REFILLER_RUNNING;
  pool->refiller_state = REFILLER_STOPPING;
  pthread_cond_signal (&pool->refill_wanted);
  pthread_mutex_unlock (&pool->refill_lock);
  if (running)
    pthread_join (pool->refiller, NULL);
  pthread_cond_destroy (&pool->refill_wanted);
  pthread_mutex_destroy (&pool->refill_lock);

  for (unsigned i = 0; i < PAGE_POOL_SHARDS; i++) {
    struct page_shard *sh = &pool->shard[i];
    if (sh->spare)
      slab_unmap (&pool->policy, sh->spare);
    slab_arena_release (&sh->arena, &pool->policy);
    pthread_mutex_destroy (&sh->lock);
  }
}

/* Tell the refiller that shard I took its spare (or had none). */
static void
want_spare (struct page_pool *pool, unsigned i)
{
  pthread_mutex_lock (&pool->refill_lock);
  pool->refill_shards |= 1u << i;
  if (pool->refiller_state == REFILLER_RUNNING)
    pthread_cond_signal (&pool->refill_wanted);
  pthread_mutex_unlock (&pool->refill_lock);
}

static void *
refiller_main (void *arg)
{
  struct page_pool *pool = arg;

  pthread_setname_np (pthread_self (), "md-refill");
  pthread_mutex_lock (&pool->refill_lock);
  for (;;) {
    while (pool->refiller_state == REFILLER_RUNNING && pool->refill_shards == 0)
      pthread_cond_wait (&pool->refill_wanted, &pool->refill_lock);
    if (pool->refiller_state != REFILLER_RUNNING)
      break;
    unsigned shards = pool->refill_shards;
    pool->refill_shards = 0;
    pthread_mutex_unlock (&pool->refill_lock);

    for (unsigned i = 0; i < PAGE_POOL_SHARDS; i++) {
      if ((shards & (1u << i)) == 0)
        continue;
      /* Out of memory: no spare; the shard's own mmap will say so. */
      uint8_t *slab = slab_map (&pool->policy);
      if (slab == NULL)
        continue;
      struct page_shard *sh = &pool->shard[i];
      pthread_mutex_lock (&sh->lock);
      if (sh->spare == NULL) {
        sh->spare = slab;
        slab = NULL;
      }
      pthread_mutex_unlock (&sh->lock);
      if (slab != NULL)
        slab_unmap (&pool->policy, slab);
    }
    pthread_mutex_lock (&pool->refill_lock);
  }
  pthread_mutex_unlock (&pool->refill_lock);
  return NULL;
}

int
page_pool_start_refiller (struct page_pool *pool)
{
  int r;

  pthread_mutex_lock (&pool->refill_lock);
  if (pool->refiller_state != REFILLER_OFF) {
    pthread_mutex_unlock (&pool->refill_lock);
    return 0;
  }
  /* The refiller takes no signal: a process's signals are for its own
   * threads (the plugin's SIGUSR1 handler must not run on this one while
   * the plugin unloads; the refiller lives until the store's end). */
  sigset_t all, old;
  sigfillset (&all);
  pthread_sigmask (SIG_SETMASK, &all, &old);
  r = pthread_create (&pool->refiller, NULL, refiller_main, pool);
  pthread_sigmask (SIG_SETMASK, &old, NULL);
  if (r == 0) {
    pool->refiller_state = REFILLER_RUNNING;
    if (pool->refill_shards != 0)       /* slabs cut before the start */
      pthread_cond_signal (&pool->refill_wanted);
  }
  pthread_mutex_unlock (&pool->refill_lock);
  if (r != 0) {
    errno = r;
    return -1;
  }
  return 0;
}

/* Give SH a new slab to cut: its spare if the refiller has one ready,
 * else one mapped and faulted in here.  Caller holds SH's lock.  -1 when
 * out of memory. */
static int
shard_new_slab (struct page_pool *pool, struct page_shard *sh)
{
  uint8_t *slab = sh->spare;

  sh->spare = NULL;
  want_spare (pool, (unsigned) (sh - pool->shard));
  if (slab != NULL)
    atomic_fetch_add (&pool->slabs_ahead, 1);
  else if ((slab = slab_map (&pool->policy)) == NULL)
    return -1;
  if (slab_arena_add (&sh->arena, &pool->policy, slab) == -1) {
    slab_unmap (&pool->policy, slab);
    return -1;
  }
  return 0;
}

void
page_pool_keep_resident (struct page_pool *pool)
{
  pool->keep_resident = true;
}

/* A page freed into another shard than SH, or NULL.  One shard's lock at
 * a time. */
static void *
take_from_other_shards (struct page_pool *pool, const struct page_shard *sh)
{
  for (unsigned i = 0; i < PAGE_POOL_SHARDS; i++) {
    struct page_shard *other = &pool->shard[i];
    void *page;

    if (other == sh)
      continue;
    pthread_mutex_lock (&other->lock);
    page = slab_arena_take (&other->arena, &pool->policy);
    pthread_mutex_unlock (&other->lock);
    if (page != NULL)
      return page;
  }
  return NULL;
}

void *
page_alloc (struct page_pool *pool)
{
  struct page_shard *sh = page_shard (pool);
  void *page;

  pthread_mutex_lock (&sh->lock);
  page = slab_arena_take (&sh->arena, &pool->policy);
  pthread_mutex_unlock (&sh->lock);
  if (page == NULL && pool->keep_resident)
    page = take_from_other_shards (pool, sh);
  if (page != NULL)
    return page;
  pthread_mutex_lock (&sh->lock);
  page = slab_arena_take (&sh->arena, &pool->policy);   /* freed meanwhile? */
  if (page == NULL && shard_new_slab (pool, sh) == 0)
    page = slab_arena_take (&sh->arena, &pool->policy);
  pthread_mutex_unlock (&sh->lock);
  return page;
}

void
page_free (struct page_pool *pool, void *page)
{
  struct page_shard *sh;
  int kept;

  if (page == NULL)
    return;
  /* Cannot fail on a private anonymous mapping of ours.  The page reads
   * as zeros when it is next handed out. */
  if (pool->keep_resident)
    memset (page, 0, pool->policy.unit);
  else
    (void) madvise (page, pool->policy.unit, MADV_DONTNEED);
  sh = page_shard (pool);
  pthread_mutex_lock (&sh->lock);
  kept = slab_arena_give (&sh->arena, &pool->policy, page);
  pthread_mutex_unlock (&sh->lock);
  if (kept == -1)
    munmap (page, pool->policy.unit);   /* its address is not reused */
}
