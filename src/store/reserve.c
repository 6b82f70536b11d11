/* The reserve of touched pages (reserve.h). */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"
#include "store/reserve.h"

/* The granule of a page fault: touching one byte per 4 KiB maps it all. */
#define TOUCH_STEP 4096

struct page_reserve {
  pthread_mutex_t lock;
  pthread_cond_t wake;
  void **pages;
  size_t count, target;
  uint32_t page_size;
  bool stopping, started;
  pthread_t thread;
};

struct page_reserve *
page_reserve_new (uint32_t page_size, size_t target)
{
  struct page_reserve *r = calloc (1, sizeof *r);

  if (r == NULL || (r->pages = calloc (target ? target : 1, sizeof *r->pages)) == NULL) {
    free (r);
    md_error_set ("out of memory for a reserve of %zu pages", target);
    return NULL;
  }
  pthread_mutex_init (&r->lock, NULL);
  pthread_cond_init (&r->wake, NULL);
  r->page_size = page_size;
  r->target = target;
  return r;
}

static void *
page_new_touched (uint32_t page_size)
{
  volatile unsigned char *page = malloc (page_size);

  if (page != NULL)
    for (uint32_t i = 0; i < page_size; i += TOUCH_STEP)
      page[i] = 0;
  return (void *) page;
}

static void *
refill_main (void *arg)
{
  struct page_reserve *r = arg;

  pthread_mutex_lock (&r->lock);
  while (!r->stopping) {
    if (r->count >= r->target) {
      pthread_cond_wait (&r->wake, &r->lock);
      continue;
    }
    pthread_mutex_unlock (&r->lock);
    void *page = page_new_touched (r->page_size);
    pthread_mutex_lock (&r->lock);
    if (page == NULL)           /* out of memory: take() callers malloc */
      pthread_cond_wait (&r->wake, &r->lock);
    else if (r->count < r->target)
      r->pages[r->count++] = page;
    else
      free (page);
  }
  pthread_mutex_unlock (&r->lock);
  return NULL;
}

int
page_reserve_start (struct page_reserve *r)
{
  int err = pthread_create (&r->thread, NULL, refill_main, r);

  if (err != 0) {
    md_error_set ("starting the page reserve's thread: %s", strerror (err));
    errno = err;
    return -1;
  }
  r->started = true;
  return 0;
}

void *
page_reserve_take (struct page_reserve *r)
{
  void *page = NULL;

  pthread_mutex_lock (&r->lock);
  if (r->count > 0)
    page = r->pages[--r->count];
  pthread_cond_signal (&r->wake);
  pthread_mutex_unlock (&r->lock);
  return page;
}

void
page_reserve_retire (struct page_reserve *r)
{
  pthread_mutex_lock (&r->lock);
  r->target = 0;
  while (r->count > 0)
    free (r->pages[--r->count]);
  pthread_mutex_unlock (&r->lock);
}

void
page_reserve_free (struct page_reserve *r)
{
  if (r == NULL)
    return;
  pthread_mutex_lock (&r->lock);
  r->stopping = true;
  pthread_cond_signal (&r->wake);
  pthread_mutex_unlock (&r->lock);
  if (r->started)
    pthread_join (r->thread, NULL);
  while (r->count > 0)
    free (r->pages[--r->count]);
  free (r->pages);
  pthread_cond_destroy (&r->wake);
  pthread_mutex_destroy (&r->lock);
  free (r);
}
