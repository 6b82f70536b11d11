/* Unit tests of files/replace: a temporary in the target's folder,
 * committed over the target or aborted; a new file's mode is 0600; stale
 * temporaries of the target are removed and nothing else is. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "files/replace.h"
#include "test_snaphelp.h"

static void
put (int fd, const char *text)
{
  assert_int_equal (write (fd, text, strlen (text)), (ssize_t) strlen (text));
}

static void
assert_file_is (const char *path, const char *text)
{
  size_t len;
  unsigned char *got = read_file (path, &len);

  assert_int_equal (len, strlen (text));
  assert_memory_equal (got, text, len);
  free (got);
}

static void
test_commit_new_file (void **state)
{
  (void) state;
  const char *target = scratch_path ("new.snap");
  struct snap_tmpfile tmp;
  struct stat st;

  mode_t old_umask = umask (0);       /* 0600 must not come from the umask */
  assert_int_equal (snap_tmpfile_create (&tmp, target), 0);
  umask (old_umask);
  assert_true (tmp.fd >= 0);
  /* The temporary sits in the target's folder, named after it. */
  assert_non_null (strstr (tmp.path, "/.new.snap.tmp."));
  assert_int_equal (strncmp (tmp.path, scratch_dir, strlen (scratch_dir)), 0);
  assert_int_equal (access (target, F_OK), -1);
  put (tmp.fd, "new contents");
  char *tmp_path = strdup (tmp.path);
  assert_int_equal (snap_tmpfile_commit (&tmp), 0);
  assert_file_is (target, "new contents");
  assert_int_equal (access (tmp_path, F_OK), -1);
  assert_int_equal (stat (target, &st), 0);
  assert_int_equal (st.st_mode & 07777, 0600);
  assert_int_equal (scratch_count (), 1);
  free (tmp_path);
  unlink (target);
}

static void
test_commit_replaces (void **state)
{
  (void) state;
  const char *target = scratch_path ("old.snap");
  struct snap_tmpfile tmp;

  write_file (target, "old", 3);
  assert_int_equal (snap_tmpfile_create (&tmp, target), 0);
  put (tmp.fd, "replacement");
  /* Until the commit the target is the old file. */
  assert_file_is (target, "old");
  assert_int_equal (snap_tmpfile_commit (&tmp), 0);
  assert_file_is (target, "replacement");
  assert_int_equal (scratch_count (), 1);
  unlink (target);
}

static void
test_abort_keeps_target (void **state)
{
  (void) state;
  const char *target = scratch_path ("kept.snap");
  struct snap_tmpfile tmp;

  write_file (target, "old", 3);
  assert_int_equal (snap_tmpfile_create (&tmp, target), 0);
  put (tmp.fd, "abandoned");
  assert_int_equal (scratch_count (), 2);
  snap_tmpfile_abort (&tmp);
  assert_file_is (target, "old");
  assert_int_equal (scratch_count (), 1);
  unlink (target);
}

static void
test_create_fails_in_missing_folder (void **state)
{
  (void) state;
  struct snap_tmpfile tmp;

  assert_int_equal (snap_tmpfile_create (&tmp, scratch_path ("no/such/x.snap")), -1);
  assert_error_contains ("cannot find the folder");
  assert_error_contains ("No such file or directory");
}

/* snap_stale_fn: count the temporaries removed. */
static void
count_removed (void *opaque, const char *path)
{
  (void) path;
  ++*(unsigned *) opaque;
}

static void
test_stale_removal (void **state)
{
  (void) state;
  /* scratch_path's buffers are reused: keep a copy. */
  char *target = strdup (scratch_path ("disk.snap"));
  unsigned removed = 0;

  write_file (target, "keep", 4);
  write_file (scratch_path (".disk.snap.tmp.AbC123"), "x", 1);
  write_file (scratch_path (".disk.snap.tmp.zzzzzz"), "x", 1);
  /* Not temporaries of this target: another name, a wrong suffix length. */
  write_file (scratch_path (".other.snap.tmp.AbC123"), "x", 1);
  write_file (scratch_path (".disk.snap.tmp.toolong1"), "x", 1);
  write_file (scratch_path ("disk.snap.tmp.AbC123"), "x", 1);
  assert_int_equal (snap_stale_remove (target, count_removed, &removed), 0);
  assert_int_equal (removed, 2);
  assert_int_equal (access (scratch_path (".disk.snap.tmp.AbC123"), F_OK), -1);
  assert_int_equal (access (scratch_path (".disk.snap.tmp.zzzzzz"), F_OK), -1);
  assert_int_equal (access (scratch_path (".other.snap.tmp.AbC123"), F_OK), 0);
  assert_int_equal (access (scratch_path (".disk.snap.tmp.toolong1"), F_OK), 0);
  assert_int_equal (access (scratch_path ("disk.snap.tmp.AbC123"), F_OK), 0);
  assert_file_is (target, "keep");
  /* Nothing left to remove. */
  removed = 0;
  assert_int_equal (snap_stale_remove (target, count_removed, &removed), 0);
  assert_int_equal (removed, 0);
  /* A folder that does not exist cannot be read. */
  assert_int_equal (snap_stale_remove (scratch_path ("none/disk.snap"), count_removed, &removed), -1);
  unlink (scratch_path (".other.snap.tmp.AbC123"));
  unlink (scratch_path (".disk.snap.tmp.toolong1"));
  unlink (scratch_path ("disk.snap.tmp.AbC123"));
  unlink (target);
  free (target);
}

/* Links: ours are followed (the file they lead to is replaced, the link
 * stays); another user's, to a file, to nothing or to a folder, are
 * refused before anything is written. */
static void
test_links (void **state)
{
  (void) state;
  struct snap_tmpfile tmp;
  char *target = strdup (scratch_path ("linked.snap"));
  char *link = strdup (scratch_path ("link.snap"));
  char *dangling = strdup (scratch_path ("dangling.snap"));
  char *folder_link = strdup (scratch_path ("build"));
  char *real = realpath (scratch_dir, NULL);
  char expected[600];

  assert_non_null (real);
  write_file (target, "old", 3);
  assert_int_equal (symlink ("linked.snap", link), 0);
  assert_int_equal (symlink ("new.snap", dangling), 0);
  assert_int_equal (symlink (".", folder_link), 0);

  /* snap_replace_target names the file snap_tmpfile_create replaces. */
  snprintf (expected, sizeof expected, "%s/linked.snap", real);
  char *named = snap_replace_target (link);
  assert_non_null (named);
  assert_string_equal (named, expected);
  free (named);
  assert_int_equal (snap_tmpfile_create (&tmp, link), 0);
  assert_string_equal (tmp.target, expected);
  put (tmp.fd, "through our link");
  assert_int_equal (snap_tmpfile_commit (&tmp), 0);
  assert_file_is (target, "through our link");
  struct stat st;
  assert_int_equal (lstat (link, &st), 0);
  assert_true (S_ISLNK (st.st_mode));

  if (geteuid () == 0) {
    const unsigned before = scratch_count ();
    assert_int_equal (lchown (link, 65534, 65534), 0);
    assert_int_equal (lchown (dangling, 65534, 65534), 0);
    assert_int_equal (lchown (folder_link, 65534, 65534), 0);
    assert_null (snap_replace_target (link));
    assert_error_contains ("link.snap is a symbolic link owned by");
    assert_int_equal (snap_tmpfile_create (&tmp, link), -1);
    assert_error_contains ("is not followed");
    assert_int_equal (tmp.fd, -1);
    assert_int_equal (tmp.state, SNAP_REPLACE_UNTOUCHED);
    assert_int_equal (snap_tmpfile_create (&tmp, dangling), -1);
    assert_error_contains ("dangling.snap is a symbolic link owned by");
    assert_int_equal (snap_tmpfile_create (&tmp, scratch_path ("build/in-folder.snap")), -1);
    assert_error_contains ("build is a symbolic link owned by");
    /* Nothing written: no temporary, no new file, the target as it was. */
    assert_int_equal (scratch_count (), before);
    assert_int_equal (access (scratch_path ("new.snap"), F_OK), -1);
    assert_file_is (target, "through our link");
  }
  unlink (link);
  unlink (dangling);
  unlink (folder_link);
  unlink (target);
  free (link);
  free (dangling);
  free (folder_link);
  free (target);
  free (real);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_commit_new_file),
    cmocka_unit_test (test_commit_replaces),
    cmocka_unit_test (test_abort_keeps_target),
    cmocka_unit_test (test_create_fails_in_missing_folder),
    cmocka_unit_test (test_stale_removal),
    cmocka_unit_test (test_links),
  };
  int r;

  scratch_create ();
  r = cmocka_run_group_tests (tests, NULL, NULL);
  scratch_remove ();
  return r;
}
