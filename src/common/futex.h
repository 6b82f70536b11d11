/* Waiting on a 32-bit word and waking its waiters (futex(2), private to
 * the process): what a state word needs when the common case is one
 * atomic load and waiting is rare.  Every wait may return early (a
 * signal, a spurious wake-up): callers check the word again. */
#ifndef MEMDISK_FUTEX_H
#define MEMDISK_FUTEX_H

#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Sleep while *WORD is VALUE. */
static inline void
md_futex_wait (_Atomic uint32_t *word, uint32_t value)
{
  syscall (SYS_futex, (uint32_t *) word, FUTEX_WAIT_PRIVATE, value, NULL, NULL, 0);
}

/* The same, at most MS milliseconds. */
static inline void
md_futex_wait_ms (_Atomic uint32_t *word, uint32_t value, unsigned ms)
{
  struct timespec timeout = { ms / 1000, (long) (ms % 1000) * 1000000 };

  syscall (SYS_futex, (uint32_t *) word, FUTEX_WAIT_PRIVATE, value, &timeout, NULL, 0);
}

static inline void
md_futex_wake_all (_Atomic uint32_t *word)
{
  syscall (SYS_futex, (uint32_t *) word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

#endif
