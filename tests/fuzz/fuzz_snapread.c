/* libFuzzer harness for the snapshot reader (src/snapshot/read/reader.h).
 *
 * The input is a whole snapshot file.  The harness opens it, and when the
 * structure validates and the declared content is small, decodes every
 * frame three ways: verify, sequential reading, and parallel loading into
 * pages, which must agree (check_agreement says how).  Any crash,
 * sanitizer report, leak, hang or disagreement is a bug; rejecting the
 * input with an error is the expected outcome for almost all inputs.
 *
 * tests/unit/test_snapcorpus.c replays the seed corpus and the saved
 * crashes (regressions/) through snap_fuzz_one_input without libFuzzer.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/error.h"
#include "snapshot/read/reader.h"
#include "snapshot/format/touchorder.h"

/* Decoding more than this per input would make the fuzzer slow, not find
 * more bugs: the frame decoder is the same whatever the size. */
#define FUZZ_MAX_CONTENT (16u << 20)

/* What one way of decoding made of the input: whether it accepted the
 * file, and if so how many pages and a hash of them that does not depend
 * on the order they came in (the loader's threads deliver in any order). */
struct fuzz_outcome {
  bool accepted;
  uint64_t pages;
  uint64_t hash;
  char error[256];
};

/* FNV-1a over the page's index, then its bytes. */
static uint64_t
page_hash (uint64_t index, const unsigned char *page, uint32_t page_size)
{
  uint64_t h = 0xcbf29ce484222325u;

  for (int i = 0; i < 8; i++)
    h = (h ^ ((index >> (8 * i)) & 0xff)) * 0x100000001b3u;
  for (uint32_t i = 0; i < page_size; i++)
    h = (h ^ page[i]) * 0x100000001b3u;
  return h;
}

static void
outcome_refused (struct fuzz_outcome *o)
{
  o->accepted = false;
  snprintf (o->error, sizeof o->error, "%s", md_error ());
}

static void
fuzz_verify (struct snap_reader *r, struct fuzz_outcome *o)
{
  if (snap_reader_verify (r, 1) == -1)
    outcome_refused (o);
  else
    o->accepted = true;
}

static void
fuzz_read (struct snap_reader *r, uint32_t page_size, struct fuzz_outcome *o)
{
  unsigned char *buf = malloc (page_size);
  uint64_t index;
  int got;

  if (buf == NULL)
    abort ();
  while ((got = snap_reader_next_page (r, &index, buf)) == 1) {
    o->pages++;
    o->hash += page_hash (index, buf, page_size);
  }
  if (got == 0)
    o->accepted = true;
  else
    outcome_refused (o);
  free (buf);
}

/* Pages loaded in parallel each get the next buffer of a pool as large as
 * the declared content (the loader asks once per page), and the slot
 * remembers which page it holds. */
struct fuzz_dest {
  unsigned char *pages;
  uint64_t *indexes;
  uint32_t page_size;
  uint64_t count;
  uint64_t next;                /* atomic */
};

static void *
fuzz_page_dest (void *opaque, uint64_t page_index)
{
  struct fuzz_dest *d = opaque;
  uint64_t slot = __atomic_fetch_add (&d->next, 1, __ATOMIC_RELAXED);

  if (slot >= d->count)
    abort ();                   /* more pages than the metadata declared */
  d->indexes[slot] = page_index;
  return d->pages + slot * d->page_size;
}

static void
fuzz_load (struct snap_reader *r, const struct snap_metadata *m, struct fuzz_outcome *o)
{
  struct fuzz_dest dest = {
    .pages = malloc (m->allocated_size + 1),
    .indexes = malloc ((m->allocated_size / m->page_size + 1) * sizeof (uint64_t)),
    .page_size = m->page_size,
    .count = m->allocated_size / m->page_size,
  };

  if (dest.pages == NULL || dest.indexes == NULL)
    abort ();
  if (snap_reader_load (r, 2, fuzz_page_dest, &dest) == -1)
    outcome_refused (o);
  else {
    o->accepted = true;
    o->pages = dest.next;
    for (uint64_t slot = 0; slot < dest.next; slot++)
      o->hash += page_hash (dest.indexes[slot], dest.pages + slot * dest.page_size,
                            dest.page_size);
  }
  free (dest.pages);
  free (dest.indexes);
}

static void
disagree (const char *what, const struct fuzz_outcome *v, const struct fuzz_outcome *s,
          const struct fuzz_outcome *l)
{
  fprintf (stderr, "fuzz_snapread: %s\n"
           "  verify:     %s %s\n"
           "  sequential: %s, %llu pages, hash %016llx %s\n"
           "  load:       %s, %llu pages, hash %016llx %s\n", what,
           v->accepted ? "accepted" : "refused", v->error,
           s->accepted ? "accepted" : "refused", (unsigned long long) s->pages,
           (unsigned long long) s->hash, s->error,
           l->accepted ? "accepted" : "refused", (unsigned long long) l->pages,
           (unsigned long long) l->hash, l->error);
  abort ();
}

/* The oracle: sequential reading and loading check the same things, so
 * they accept the same files with the same pages, or both refuse.
 * Verify checks more (zstd's own content checksums, which the other two
 * skip: docs/snapshot-format.md section 10), so it may refuse a file they
 * accept, for that reason alone; whatever it accepts, they accept. */
static void
check_agreement (const struct fuzz_outcome *v, const struct fuzz_outcome *s,
                 const struct fuzz_outcome *l)
{
  if (s->accepted != l->accepted)
    disagree ("sequential reading and loading disagree", v, s, l);
  if (s->accepted && (s->pages != l->pages || s->hash != l->hash))
    disagree ("sequential reading and loading gave different pages", v, s, l);
  if (v->accepted && !s->accepted)
    disagree ("verify accepted a file that reading refuses", v, s, l);
  if (!v->accepted && s->accepted && strstr (v->error, "match checksum") == NULL)
    disagree ("verify refused a file that reading accepts, not for a zstd checksum", v, s, l);
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
    /* An accepted touch order keeps the key's rules (a lazy load maps
     * its regions to frames without checking again). */
    size_t bad;
    const char *why;
    if (m->touch_order_count > 0
        && (m->version_major < 2
            || snap_touch_order_check (m->touch_order, m->touch_order_count,
                                       snap_touch_region_count (m->virtual_size, m->region_size),
                                       &bad, &why) == -1))
      abort ();
    if (m->allocated_size <= FUZZ_MAX_CONTENT) {
      struct fuzz_outcome verified = { 0 }, sequential = { 0 }, loaded = { 0 };
      fuzz_verify (r, &verified);
      fuzz_read (r, m->page_size, &sequential);
      fuzz_load (r, m, &loaded);
      check_agreement (&verified, &sequential, &loaded);
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
