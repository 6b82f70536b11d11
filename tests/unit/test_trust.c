/* Unit tests of the start-up checks of a snapshot path (src/files/trust.h):
 * resolving names one component at a time (links, "..", loops, missing
 * folders), and refusing what another user could change: their file,
 * their link, a folder they own or may write without the sticky bit. */
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "files/trust.h"
#include "test_snaphelp.h"

#define OTHER_UID 65534         /* nobody */

static int
remove_entry (const char *path, const struct stat *st, int type, struct FTW *ftw)
{
  (void) st, (void) type, (void) ftw;
  return remove (path);
}

static int
setup (void **state)
{
  (void) state;
  scratch_create ();
  return 0;
}

static int
teardown (void **state)
{
  (void) state;
  nftw (scratch_dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

static void
make_file (const char *path, mode_t mode)
{
  int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC, mode);
  assert_true (fd >= 0);
  close (fd);
  assert_int_equal (chmod (path, mode), 0);
}

/* snap_trust_resolve of PATH must be EXPECTED. */
static void
assert_resolves (const char *path, const char *expected)
{
  char *r = snap_trust_resolve (path);
  if (r == NULL)
    fail_msg ("resolving %s failed: %s", path, md_error ());
  assert_string_equal (r, expected);
  free (r);
}

static void
test_resolve (void **state)
{
  (void) state;
  char dir[512], file[600], expected[600];

  /* The scratch folder itself may sit behind a link (/tmp). */
  char *real = realpath (scratch_dir, NULL);
  assert_non_null (real);
  snprintf (dir, sizeof dir, "%s", real);
  free (real);

  assert_int_equal (mkdir (scratch_path ("a"), 0755), 0);
  assert_int_equal (mkdir (scratch_path ("b"), 0755), 0);
  make_file (scratch_path ("b/disk.snap"), 0600);

  /* A plain name, "." and "..", doubled slashes. */
  snprintf (expected, sizeof expected, "%s/b/disk.snap", dir);
  assert_resolves (scratch_path ("b/disk.snap"), expected);
  snprintf (file, sizeof file, "%s/a/../b/./disk.snap", scratch_dir);
  assert_resolves (file, expected);
  snprintf (file, sizeof file, "%s//b//disk.snap", scratch_dir);
  assert_resolves (file, expected);

  /* A relative link, a link to a link, an absolute link, a folder link. */
  assert_int_equal (symlink ("../b/disk.snap", scratch_path ("a/rel")), 0);
  assert_resolves (scratch_path ("a/rel"), expected);
  assert_int_equal (symlink ("rel", scratch_path ("a/chain")), 0);
  assert_resolves (scratch_path ("a/chain"), expected);
  assert_int_equal (symlink (expected, scratch_path ("a/abs")), 0);
  assert_resolves (scratch_path ("a/abs"), expected);
  assert_int_equal (symlink ("../b", scratch_path ("a/dirlink")), 0);
  assert_resolves (scratch_path ("a/dirlink/disk.snap"), expected);
  /* ".." after a folder link goes up from where the link leads. */
  snprintf (file, sizeof file, "%s/a/dirlink/../b/disk.snap", scratch_dir);
  assert_resolves (file, expected);

  /* A new file; a link to a new file in an existing folder. */
  snprintf (expected, sizeof expected, "%s/b/new.snap", dir);
  assert_resolves (scratch_path ("b/new.snap"), expected);
  assert_int_equal (symlink ("../b/new.snap", scratch_path ("a/tonew")), 0);
  assert_resolves (scratch_path ("a/tonew"), expected);

  /* A relative name is relative to the current folder. */
  char *cwd = getcwd (NULL, 0);
  assert_int_equal (chdir (scratch_path ("b")), 0);
  snprintf (expected, sizeof expected, "%s/b/disk.snap", dir);
  assert_resolves ("disk.snap", expected);
  assert_int_equal (chdir (cwd), 0);
  free (cwd);

  /* What cannot be resolved. */
  assert_null (snap_trust_resolve (scratch_path ("missing/disk.snap")));
  assert_error_contains ("No such file or directory");
  assert_null (snap_trust_resolve (scratch_path ("b/disk.snap/x")));
  assert_error_contains ("is not a folder");
  assert_int_equal (symlink ("loop2", scratch_path ("a/loop1")), 0);
  assert_int_equal (symlink ("loop1", scratch_path ("a/loop2")), 0);
  assert_null (snap_trust_resolve (scratch_path ("a/loop1")));
  assert_error_contains ("more than 40 symbolic links");
}

/* snap_trust_check of PATH for our uid must fail with NEEDLE. */
static void
assert_refused (const char *path, const char *needle)
{
  char *resolved = (char *) 1;
  bool exists;

  if (snap_trust_check (path, geteuid (), &resolved, &exists) == 0)
    fail_msg ("%s was accepted (resolved to %s)", path, resolved);
  assert_null (resolved);
  assert_error_contains (needle);
}

static void
assert_trusted (const char *path, bool should_exist)
{
  char *resolved = NULL;
  bool exists;

  if (snap_trust_check (path, geteuid (), &resolved, &exists) == -1)
    fail_msg ("%s was refused: %s", path, md_error ());
  assert_non_null (resolved);
  assert_int_equal (exists, should_exist);
  free (resolved);
}

static void
test_types (void **state)
{
  (void) state;
  bool exists;

  assert_int_equal (mkdir (scratch_path ("t"), 0755), 0);
  assert_int_equal (mkdir (scratch_path ("t/folder.snap"), 0755), 0);
  assert_int_equal (mkfifo (scratch_path ("t/fifo.snap"), 0600), 0);
  assert_int_equal (symlink ("/dev/null", scratch_path ("t/null.snap")), 0);
  make_file (scratch_path ("t/disk.snap"), 0600);

  assert_refused (scratch_path ("t/folder.snap"), "is a directory, not a snapshot");
  assert_refused (scratch_path ("t/fifo.snap"), "is a FIFO (named pipe), not a snapshot");
  assert_refused (scratch_path ("t/null.snap"), "/dev/null is a character device, not a snapshot");
  assert_trusted (scratch_path ("t/disk.snap"), true);
  assert_trusted (scratch_path ("t/new.snap"), false);

  assert_int_equal (snap_trust_check_type ("/dev/null", &exists), -1);
  assert_true (exists);
  assert_error_contains ("character device");
  assert_int_equal (snap_trust_check_type (scratch_path ("t/new.snap"), &exists), 0);
  assert_false (exists);
}

static void
test_folder_modes (void **state)
{
  (void) state;

  assert_int_equal (mkdir (scratch_path ("m"), 0755), 0);
  make_file (scratch_path ("m/disk.snap"), 0600);
  assert_trusted (scratch_path ("m/disk.snap"), true);

  assert_int_equal (chmod (scratch_path ("m"), 0777), 0);
  assert_refused (scratch_path ("m/disk.snap"), "can be written by every user (mode 0777) and has no sticky bit");
  assert_refused (scratch_path ("m/new.snap"), "chmod go-w");
  assert_int_equal (chmod (scratch_path ("m"), 0775), 0);
  assert_refused (scratch_path ("m/disk.snap"), "can be written by its group (mode 0775)");
  /* Sticky: others may add files but not replace ours. */
  assert_int_equal (chmod (scratch_path ("m"), 01777), 0);
  assert_trusted (scratch_path ("m/disk.snap"), true);
  assert_trusted (scratch_path ("m/new.snap"), false);

  /* A folder higher up counts as much. */
  assert_int_equal (chmod (scratch_path ("m"), 0777), 0);
  assert_int_equal (mkdir (scratch_path ("m/sub"), 0755), 0);
  assert_refused (scratch_path ("m/sub/new.snap"), "can be written by every user");
  assert_int_equal (chmod (scratch_path ("m"), 0755), 0);
  assert_trusted (scratch_path ("m/sub/new.snap"), false);

  /* A link lying in an open folder is refused before it is followed. */
  assert_int_equal (mkdir (scratch_path ("open"), 0755), 0);
  assert_int_equal (symlink ("../m/disk.snap", scratch_path ("open/link.snap")), 0);
  assert_trusted (scratch_path ("open/link.snap"), true);
  assert_int_equal (chmod (scratch_path ("open"), 0777), 0);
  assert_refused (scratch_path ("open/link.snap"), "can be written by every user");
  assert_int_equal (chmod (scratch_path ("open"), 0755), 0);
}

/* Another user's file, link and folder: root only (chown). */
static void
test_other_users (void **state)
{
  (void) state;
  char needle[600];

  if (geteuid () != 0)
    skip ();
  assert_int_equal (mkdir (scratch_path ("u"), 0755), 0);
  make_file (scratch_path ("u/theirs.snap"), 06777);
  assert_int_equal (chown (scratch_path ("u/theirs.snap"), OTHER_UID, OTHER_UID), 0);
  assert_refused (scratch_path ("u/theirs.snap"), "(uid 65534), not by");
  assert_refused (scratch_path ("u/theirs.snap"), "not by");

  /* A link of theirs to our file; our link to their file. */
  make_file (scratch_path ("u/ours.snap"), 0600);
  assert_int_equal (symlink ("ours.snap", scratch_path ("u/their-link.snap")), 0);
  assert_int_equal (lchown (scratch_path ("u/their-link.snap"), OTHER_UID, OTHER_UID), 0);
  snprintf (needle, sizeof needle, "their-link.snap is a symbolic link owned by");
  assert_refused (scratch_path ("u/their-link.snap"), needle);
  assert_refused (scratch_path ("u/their-link.snap"), "is not followed");
  assert_int_equal (symlink ("theirs.snap", scratch_path ("u/our-link.snap")), 0);
  assert_refused (scratch_path ("u/our-link.snap"), "theirs.snap is owned by");
  /* Checked for the user who saves: for them, their file is fine. */
  char *resolved = NULL;
  bool exists;
  assert_int_equal (snap_trust_check (scratch_path ("u/theirs.snap"), OTHER_UID,
                                      &resolved, &exists), 0);
  assert_true (exists);
  free (resolved);

  /* A folder they own. */
  assert_int_equal (mkdir (scratch_path ("their-folder"), 0755), 0);
  assert_int_equal (chown (scratch_path ("their-folder"), OTHER_UID, OTHER_UID), 0);
  assert_refused (scratch_path ("their-folder/new.snap"), "(uid 65534), who could replace");
}

/* snap_trust_resolve_for: the links a writer of PATH may follow. */
static void
test_resolve_for (void **state)
{
  (void) state;
  char expected[600];
  char *r;

  char *real = realpath (scratch_dir, NULL);
  assert_non_null (real);
  assert_int_equal (mkdir (scratch_path ("f"), 0755), 0);
  assert_int_equal (mkdir (scratch_path ("f/target"), 0755), 0);
  make_file (scratch_path ("f/target/disk.snap"), 0600);
  assert_int_equal (symlink ("target/disk.snap", scratch_path ("f/file.snap")), 0);
  assert_int_equal (symlink ("target/new.snap", scratch_path ("f/dangling.snap")), 0);
  assert_int_equal (symlink ("target", scratch_path ("f/build")), 0);

  /* Our own links, to a file, to nothing yet, to a folder: followed. */
  snprintf (expected, sizeof expected, "%s/f/target/disk.snap", real);
  r = snap_trust_resolve_for (scratch_path ("f/file.snap"), geteuid ());
  assert_non_null (r);
  assert_string_equal (r, expected);
  free (r);
  snprintf (expected, sizeof expected, "%s/f/target/new.snap", real);
  r = snap_trust_resolve_for (scratch_path ("f/dangling.snap"), geteuid ());
  assert_non_null (r);
  assert_string_equal (r, expected);
  free (r);
  r = snap_trust_resolve_for (scratch_path ("f/build/new.snap"), geteuid ());
  assert_non_null (r);
  assert_string_equal (r, expected);
  free (r);

  /* A link lying in a folder every user may write, without the sticky
   * bit: anyone could replace it.  With the sticky bit, only we can. */
  assert_int_equal (chmod (scratch_path ("f"), 0777), 0);
  assert_null (snap_trust_resolve_for (scratch_path ("f/file.snap"), geteuid ()));
  assert_error_contains ("can be written by every user (mode 0777)");
  assert_null (snap_trust_resolve_for (scratch_path ("f/build/new.snap"), geteuid ()));
  assert_error_contains ("can be written by every user");
  /* Without a link in it, the folder is no matter of resolving. */
  r = snap_trust_resolve_for (scratch_path ("f/plain.snap"), geteuid ());
  assert_non_null (r);
  free (r);
  assert_int_equal (chmod (scratch_path ("f"), 01777), 0);
  r = snap_trust_resolve_for (scratch_path ("f/file.snap"), geteuid ());
  assert_non_null (r);
  free (r);
  assert_int_equal (chmod (scratch_path ("f"), 0755), 0);

  if (geteuid () != 0) {
    free (real);
    skip ();
  }
  /* Another user's links, to a file, to nothing, to a folder: refused for
   * us, followed for that user; a link of root's is followed for anyone. */
  static const char *const links[] = { "f/file.snap", "f/dangling.snap", "f/build" };
  for (size_t i = 0; i < 3; i++)
    assert_int_equal (lchown (scratch_path (links[i]), OTHER_UID, OTHER_UID), 0);
  assert_null (snap_trust_resolve_for (scratch_path ("f/file.snap"), geteuid ()));
  assert_error_contains ("f/file.snap is a symbolic link owned by");
  assert_error_contains ("(uid 65534): a link that another user than");
  assert_error_contains ("is not followed");
  assert_null (snap_trust_resolve_for (scratch_path ("f/dangling.snap"), geteuid ()));
  assert_error_contains ("f/dangling.snap is a symbolic link owned by");
  assert_null (snap_trust_resolve_for (scratch_path ("f/build/new.snap"), geteuid ()));
  assert_error_contains ("f/build is a symbolic link owned by");
  r = snap_trust_resolve_for (scratch_path ("f/build/new.snap"), OTHER_UID);
  assert_non_null (r);
  assert_string_equal (r, expected);
  free (r);
  /* The unchecked walk follows them all (it reads only). */
  r = snap_trust_resolve (scratch_path ("f/build/new.snap"));
  assert_non_null (r);
  free (r);
  assert_int_equal (lchown (scratch_path ("f/build"), 0, 0), 0);
  r = snap_trust_resolve_for (scratch_path ("f/build/new.snap"), OTHER_UID);
  assert_non_null (r);
  free (r);
  free (real);
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_resolve),
    cmocka_unit_test (test_types),
    cmocka_unit_test (test_folder_modes),
    cmocka_unit_test (test_other_users),
    cmocka_unit_test (test_resolve_for),
  };
  return cmocka_run_group_tests (tests, setup, teardown);
}
