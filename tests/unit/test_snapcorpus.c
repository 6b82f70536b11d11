/* Replays the fuzzer's seed corpus (tests/fuzz/corpus: valid files, which
 * must verify) and its saved crashes (tests/fuzz/regressions: any file a
 * fuzzer run once crashed on, which must now be handled) through the same
 * harness, in the normal build, so that CI keeps them fixed without
 * libFuzzer. */
#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#define SNAP_FUZZ_NO_MAIN
#include "../fuzz/fuzz_snapread.c"
#include "test_snaphelp.h"

/* tests/fuzz/SUB, found from this file's own path. */
static const char *
fuzz_dir (const char *sub)
{
  static char path[1024];
  char here[1024];

  snprintf (here, sizeof here, "%s", __FILE__);
  snprintf (path, sizeof path, "%s/../fuzz/%s", dirname (here), sub);
  return path;
}

/* Call FN on every regular file in DIR; returns how many, or -1 (after a
 * test failure) when DIR cannot be read: a wrong path must not pass. */
static int
for_each_file (const char *dir, void (*fn) (const char *path))
{
  DIR *d = opendir (dir);
  struct dirent *e;
  int n = 0;

  if (d == NULL) {
    fail_msg ("cannot read the folder %s: %s", dir, strerror (errno));
    return -1;
  }
  while ((e = readdir (d)) != NULL) {
    char path[2048];
    struct stat st;
    snprintf (path, sizeof path, "%s/%s", dir, e->d_name);
    if (e->d_name[0] == '.' || stat (path, &st) != 0 || !S_ISREG (st.st_mode)
        || strcmp (e->d_name, "README.md") == 0)
      continue;
    fn (path);
    n++;
  }
  closedir (d);
  return n;
}

static void
replay (const char *path)
{
  size_t len;
  unsigned char *bytes = read_file (path, &len);

  snap_fuzz_one_input (bytes, len);
  free (bytes);
}

static void
seed_verifies (const char *path)
{
  if (open_and_verify (path) == -1)
    fail_msg ("seed %s: %s", path, md_error ());
  replay (path);
}

static void
test_seed_corpus (void **state)
{
  (void) state;
  assert_true (for_each_file (fuzz_dir ("corpus"), seed_verifies) >= 5);
}

static void
test_regressions (void **state)
{
  (void) state;
  /* Empty is fine (nothing found yet); missing is not. */
  assert_true (for_each_file (fuzz_dir ("regressions"), replay) >= 0);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_seed_corpus),
    cmocka_unit_test (test_regressions),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
