/* A reserve of pages whose memory is already faulted in, for the lazy
 * load's client faults (snapshot/lazy.c).
 *
 * A page that has never been touched costs a page fault per 4 KiB on its
 * first write; for a 4 MiB frame that is 1024 faults, a third of the
 * first read of an unloaded frame (docs/design.md, "Lazy load").  One
 * thread (page_reserve_start) keeps TARGET pages malloc'ed and touched,
 * so the thread that decodes a frame for a waiting client copies its pages
 * into memory that is there already.  The pages are ordinary malloc'ed
 * blocks of page_size bytes: the store frees them with free() like any
 * other page.
 *
 *   refill thread ──malloc, touch──► pages[] ──page_reserve_take──► store
 *
 * pages[], count, target and stopping are under lock; the refill thread
 * sleeps on wake while the reserve is full (or its target is 0).
 */
#ifndef MEMDISK_STORE_RESERVE_H
#define MEMDISK_STORE_RESERVE_H

#include <stddef.h>
#include <stdint.h>

struct page_reserve;

/* A reserve of up to TARGET pages of PAGE_SIZE bytes, empty until
 * page_reserve_start.  NULL with md_error set on ENOMEM. */
struct page_reserve *page_reserve_new (uint32_t page_size, size_t target);
/* Start the refill thread (after any fork: threads do not survive it).
 * 0, or -1 with md_error set; the reserve then stays empty, which only
 * costs speed. */
int page_reserve_start (struct page_reserve *reserve);
/* A touched page (page_size bytes, malloc'ed, the caller's now), or NULL
 * when the reserve is empty: the caller allocates its own.  Any thread. */
void *page_reserve_take (struct page_reserve *reserve);
/* No more pages wanted (the load is complete): free those held, and let
 * the thread sleep until page_reserve_free.  Any thread. */
void page_reserve_retire (struct page_reserve *reserve);
/* Stop the thread and free the pages.  NULL is allowed. */
void page_reserve_free (struct page_reserve *reserve);

#endif
