/* libFuzzer harness for the snapshot reader (src/snapshot/reader.h).
 *
 * The input is a whole snapshot file.  The harness opens it, and when the
 * structure validates and the declared content is small, decodes every
 * frame three ways: verify, sequential reading, and parallel loading into
 * pages.  Any crash, sanitizer report, leak or hang is a bug; rejecting
 * the input with an error is the expected outcome for almost all inputs.
 *
 * tests/unit/test_snapcorpus.c replays the seed corpus and the saved
 * crashes (regressions/) through snap_fuzz_one_input without libFuzzer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "snapshot/reader.h"

/* Decoding more than this per input would make the fuzzer slow, not find
 * more bugs: the frame decoder is the same whatever the size. */
#define FUZZ_MAX_CONTENT (16u << 20)

/* Pages loaded in parallel each get the next buffer of a pool as large as
 * the declared content (the loader asks once per page). */
struct fuzz_dest {
  unsigned char *pages;
  uint32_t page_size;
  uint64_t count;
  uint64_t next;                /* atomic */
};

static void *
fuzz_page_dest (void *opaque, uint64_t page_index)
{
  struct fuzz_dest *d = opaque;
  uint64_t slot = __atomic_fetch_add (&d->next, 1, __ATOMIC_RELAXED);

  (void) page_index;
  if (slot >= d->count)
    abort ();                   /* more pages than the metadata declared */
  return d->pages + slot * d->page_size;
}

int snap_fuzz_one_input (const uint8_t *data, size_t size);

int
snap_fuzz_one_input (const uint8_t *data, size_t size)
{
  int fd = memfd_create ("snapfuzz", MFD_CLOEXEC);

  if (fd == -1)
    abort ();
  for (size_t done = 0; done < size;) {
    ssize_t n = write (fd, data + done, size - done);
    if (n <= 0)
      abort ();
    done += (size_t) n;
  }

  struct snap_reader *r = snap_reader_open_fd (fd);
  if (r != NULL) {
    const struct snap_metadata *m = snap_reader_metadata (r);
    if (m->allocated_size <= FUZZ_MAX_CONTENT) {
      (void) snap_reader_verify (r, 1);

      unsigned char *buf = malloc (m->page_size);
      uint64_t index;
      while (buf != NULL && snap_reader_next_page (r, &index, buf) == 1)
        ;
      free (buf);

      struct fuzz_dest dest = {
        .pages = malloc (m->allocated_size + 1),
        .page_size = m->page_size,
        .count = m->allocated_size / m->page_size,
      };
      if (dest.pages != NULL)
        (void) snap_reader_load (r, 2, fuzz_page_dest, &dest);
      free (dest.pages);
    }
    snap_reader_close (r);
  }
  close (fd);
  return 0;
}

#ifndef SNAP_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  return snap_fuzz_one_input (data, size);
}
#endif
