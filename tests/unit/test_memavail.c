/* Unit tests of src/common/memavail.h: MemAvailable read from a meminfo
 * file, lowered to what RLIMIT_AS and RLIMIT_DATA leave, and an error
 * when the figure is missing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <cmocka.h>

#include "common/memavail.h"
#include "test_snaphelp.h"

static void
write_text (const char *path, const char *text)
{
  FILE *f = fopen (path, "w");
  assert_non_null (f);
  fputs (text, f);
  fclose (f);
}

static void
test_meminfo (void **state)
{
  (void) state;
  uint64_t bytes = 0;
  const char *source = NULL;

  scratch_create ();
  write_text (scratch_path ("meminfo"),
              "MemTotal:       24684092 kB\n"
              "MemFree:         1000000 kB\n"
              "MemAvailable:    2000000 kB\n"
              "Buffers:          123456 kB\n");
  write_text (scratch_path ("status"), "Name:\ttest\nVmSize:\t  100 kB\nVmData:\t   50 kB\n");
  assert_int_equal (md_memory_available (scratch_path ("meminfo"), scratch_path ("status"),
                                         &bytes, &source), 0);
  /* No limits in the test's environment, or looser ones than 2 GB. */
  struct rlimit as, data;
  assert_int_equal (getrlimit (RLIMIT_AS, &as), 0);
  assert_int_equal (getrlimit (RLIMIT_DATA, &data), 0);
  if (as.rlim_cur == RLIM_INFINITY && data.rlim_cur == RLIM_INFINITY) {
    assert_int_equal (bytes, (uint64_t) 2000000 * 1024);
    assert_string_equal (source, "MemAvailable in /proc/meminfo");
  }

  /* "MemAvailableX" is another key; no MemAvailable line is an error. */
  write_text (scratch_path ("meminfo"), "MemTotal: 1 kB\nMemAvailableX: 5 kB\n");
  assert_int_equal (md_memory_available (scratch_path ("meminfo"), scratch_path ("status"),
                                         &bytes, &source), -1);
  assert_error_contains ("cannot find MemAvailable in");
  assert_int_equal (md_memory_available (scratch_path ("missing"), scratch_path ("status"),
                                         &bytes, &source), -1);
  assert_error_contains ("No such file or directory");

  /* The real files have the figure. */
  assert_int_equal (md_memory_available ("/proc/meminfo", "/proc/self/status",
                                         &bytes, &source), 0);
  assert_true (bytes > 0);
  scratch_remove ();
}

/* RLIMIT_DATA, in a child: the room above VmData (from the status file). */
static void
test_rlimit_data (void **state)
{
  (void) state;
  const uint64_t limit = (uint64_t) 16 << 40;   /* loose: nothing here fails */

  scratch_create ();
  write_text (scratch_path ("meminfo"), "MemAvailable: 1125899906842624 kB\n");   /* 2^60 */
  write_text (scratch_path ("status"), "VmSize:\t1000 kB\nVmData:\t1048576 kB\n");  /* 1 GiB */
  pid_t pid = fork ();
  assert_true (pid >= 0);
  if (pid == 0) {
    struct rlimit rl = { .rlim_cur = limit, .rlim_max = RLIM_INFINITY };
    uint64_t bytes;
    const char *source;
    getrlimit (RLIMIT_DATA, &rl);
    rl.rlim_cur = limit;
    if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < limit)
      _exit (77);
    if (setrlimit (RLIMIT_DATA, &rl) == -1
        || md_memory_available (scratch_path ("meminfo"), scratch_path ("status"),
                                &bytes, &source) == -1)
      _exit (2);
    _exit (bytes == limit - ((uint64_t) 1 << 30) && strcmp (source, "RLIMIT_DATA") == 0 ? 0 : 1);
  }
  int status;
  assert_int_equal (waitpid (pid, &status, 0), pid);
  assert_true (WIFEXITED (status));
  if (WEXITSTATUS (status) != 77)
    assert_int_equal (WEXITSTATUS (status), 0);
  scratch_remove ();
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_meminfo),
    cmocka_unit_test (test_rlimit_data),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
