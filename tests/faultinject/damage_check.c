/* damage_check [--xor MASKS] [--jobs N] FILE: every single-byte change
 * and every truncation of the snapshot FILE must be refused both by
 * verification (what `memdisk-tool verify` runs) and by loading
 * (snapstore_load, what the plugin runs at start).  FILE itself must pass
 * both.  Used by tests/integration/harden-damage.sh.
 *
 *   --xor MASKS  change each byte only by XOR with these hex masks
 *                (e.g. 01,80,ff) instead of to all 255 other values, for
 *                files whose frames are slow to decode;
 *   --jobs N     share the offsets among N processes.
 *
 * The zeros of a format 2.1 file's padding frames (runs of 64 zero bytes
 * or more: the reader checks the padding byte by byte against fixed
 * contents, so one byte and one value tell as much as another): every
 * 61st of them is changed, by XOR 01, 80 and ff, which keeps the run as
 * long as it was for a 2.0 file, whose frames had no padding.
 *
 * Each damaged copy is written to a memfd and opened by its /proc path,
 * so the file-level code is the real one.  Prints one line per damaged
 * copy that was accepted, and a summary; exits 0 only when every one was
 * refused.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <getopt.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/error.h"
#include "snapshot/read/reader.h"
#include "snapshot/storefile.h"
#include "store/store.h"

static unsigned long accepted;

/* Whether the bytes in FD are refused by verification and by loading.
 * Sets *WHY to a short description of what accepted them, if anything. */
static bool
refused (int fd, const char **why)
{
  char path[64];
  struct snap_reader *reader;
  struct store *store;
  uint64_t virtual_size;
  bool ok = true;

  snprintf (path, sizeof path, "/proc/self/fd/%d", fd);
  reader = snap_reader_open (path);
  if (reader != NULL) {
    if (snap_reader_verify (reader, 1) == 0) {
      *why = "verify";
      ok = false;
    }
    snap_reader_close (reader);
  }
  store = snapstore_load (path, 0, 0, 1, &virtual_size, NULL);
  if (store != NULL) {
    *why = ok ? "load" : "verify and load";
    ok = false;
    store_destroy (store);
  }
  return ok;
}

static void
put_bytes (int fd, const unsigned char *data, size_t len)
{
  if (ftruncate (fd, 0) == -1 || pwrite (fd, data, len, 0) != (ssize_t) len) {
    perror ("damage_check: memfd");
    exit (2);
  }
}

/* Whether the byte at OFFSET lies in a run of 64 zero bytes or more:
 * a format 2.1 padding frame's contents. */
static bool
in_zero_run (const unsigned char *data, size_t size, size_t offset)
{
  size_t first = offset, end = offset;

  if (data[offset] != 0)
    return false;
  while (first > 0 && data[first - 1] == 0 && offset - first < 64)
    first--;
  while (end < size && data[end] == 0 && end - first < 64)
    end++;
  return end - first >= 64;
}

/* Try the damaged copies of DATA (SIZE bytes) whose offset or length is
 * JOB modulo JOBS, counting the accepted ones in ACCEPTED. */
static void
check_share (unsigned char *data, size_t size, const unsigned char *masks,
             size_t nmasks, unsigned job, unsigned jobs)
{
  const char *why = NULL;
  int fd = memfd_create ("damaged", MFD_CLOEXEC);

  if (fd == -1) {
    perror ("damage_check: memfd_create");
    exit (2);
  }
  static const unsigned char padding_masks[] = { 0x01, 0x80, 0xff };
  for (size_t offset = job; offset < size; offset += jobs) {
    const unsigned char original = data[offset];
    const bool in_padding = in_zero_run (data, size, offset);
    if (in_padding && offset % 61 != 0)
      continue;
    const unsigned char *m = in_padding ? padding_masks : masks;
    const size_t n = in_padding ? sizeof padding_masks : nmasks;
    for (unsigned i = 0; i < (n ? n : 255); i++) {
      const unsigned value = n ? original ^ m[i] : (original + 1 + i) & 0xff;
      data[offset] = (unsigned char) value;
      put_bytes (fd, data, size);
      if (!refused (fd, &why)) {
        printf ("byte %zu changed from 0x%02x to 0x%02x: accepted by %s\n",
                offset, original, value, why);
        accepted++;
      }
    }
    data[offset] = original;
  }
  for (size_t len = job; len < size; len += jobs) {
    put_bytes (fd, data, len);
    if (!refused (fd, &why)) {
      printf ("truncated to %zu bytes: accepted by %s\n", len, why);
      accepted++;
    }
  }
  close (fd);
}

int
main (int argc, char **argv)
{
  unsigned char masks[255];
  size_t nmasks = 0;
  unsigned jobs = 1;
  const char *name;
  unsigned char *data;
  struct stat st;
  int in, fd, opt;
  const char *why = NULL;

  static const struct option longopts[] = {
    { "xor", required_argument, NULL, 'x' },
    { "jobs", required_argument, NULL, 'j' },
    { NULL, 0, NULL, 0 },
  };

  while ((opt = getopt_long (argc, argv, "x:j:", longopts, NULL)) != -1) {
    char *p = optarg, *end;
    switch (opt) {
    case 'x':
      do {
        unsigned long mask = strtoul (p, &end, 16);
        if (end == p || mask == 0 || mask > 0xff || nmasks == sizeof masks)
          goto usage;
        masks[nmasks++] = (unsigned char) mask;
        p = end + (*end == ',');
      } while (*end == ',');
      if (*end != '\0')
        goto usage;
      break;
    case 'j':
      jobs = (unsigned) strtoul (optarg, &end, 10);
      if (*end != '\0' || jobs == 0 || jobs > 64)
        goto usage;
      break;
    default:
      goto usage;
    }
  }
  if (argc - optind != 1)
    goto usage;
  name = argv[optind];
  in = open (name, O_RDONLY | O_CLOEXEC);
  if (in == -1 || fstat (in, &st) == -1) {
    fprintf (stderr, "damage_check: %s: %s\n", name, strerror (errno));
    return 2;
  }
  data = malloc ((size_t) st.st_size + 1);
  if (data == NULL || pread (in, data, (size_t) st.st_size, 0) != st.st_size) {
    fprintf (stderr, "damage_check: cannot read %s\n", name);
    return 2;
  }
  close (in);

  fd = memfd_create ("pristine", MFD_CLOEXEC);
  if (fd == -1) {
    perror ("damage_check: memfd_create");
    return 2;
  }
  put_bytes (fd, data, (size_t) st.st_size);
  if (refused (fd, &why)) {
    fprintf (stderr, "damage_check: %s itself is refused: %s\n", name, md_error ());
    return 2;
  }
  close (fd);

  /* Children share the work; each exits with its count of acceptances. */
  fflush (stdout);
  for (unsigned job = 1; job < jobs; job++) {
    pid_t pid = fork ();
    if (pid == -1) {
      perror ("damage_check: fork");
      return 2;
    }
    if (pid == 0) {
      accepted = 0;
      check_share (data, (size_t) st.st_size, masks, nmasks, job, jobs);
      fflush (stdout);
      _exit (accepted > 0);
    }
  }
  check_share (data, (size_t) st.st_size, masks, nmasks, 0, jobs);
  bool failed = accepted > 0;
  int status;
  while (wait (&status) > 0)
    if (!WIFEXITED (status) || WEXITSTATUS (status) != 0)
      failed = true;

  size_t copies = (size_t) st.st_size * (nmasks ? nmasks : 255) + (size_t) st.st_size;
  printf ("damage_check: %s (%lld bytes): %zu damaged copies (%s), %s\n",
          name, (long long) st.st_size, copies,
          nmasks ? "some values per byte" : "every value of every byte",
          failed ? "SOME ACCEPTED (above)" : "every one refused");
  free (data);
  return failed ? 1 : 0;

usage:
  fprintf (stderr, "usage: damage_check [--xor MASKS] [--jobs N] FILE\n");
  return 2;
}
