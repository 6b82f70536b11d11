#!/usr/bin/env bash
# A save at exit that fails is loud: nbdkit exits 1 (not 0) after an error
# saying which changes are lost and why, in the foreground (-f) and
# daemonized.  The cases: the folder was removed while serving, and a
# tmpfs too small for the disk (the old file stays as it was).  A
# root-owned FILE in a sticky folder served by another user, which could
# only fail its saves, is refused at start.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands nbdsh

# foreground SNAP ACTION: serve SNAP with -f, write 1 MiB, run ACTION,
# SIGTERM; sets $status and $log.
foreground ()
{
  local snap=$1 action=$2 pid
  log=$MD_TMP/fg.log
  rm -f "$MD_TMP/fg.pid" "$MD_TMP/fg.sock"
  nbdkit -f -P "$MD_TMP/fg.pid" -U "$MD_TMP/fg.sock" "$MEMDISK_PLUGIN" 16M \
    snapshot="$snap" </dev/null 2>"$log" &
  pid=$!
  wait_until 30 "the pid file" test -s "$MD_TMP/fg.pid"
  nbdsh -u "nbd+unix:///?socket=$MD_TMP/fg.sock" \
    -c "import os; h.pwrite(os.urandom(8 << 20), 0)" ||
    fail "nbdsh pwrite failed"
  eval "$action"
  kill -TERM "$pid"
  status=0
  wait "$pid" || status=$?
}

# 1. The folder removed while serving, foreground.
mkdir "$MD_TMP/gone"
foreground "$MD_TMP/gone/disk.snap" 'rm -rf -- "$MD_TMP/gone"'
((status == 1)) || fail "a failed exit save (folder removed): nbdkit exited $status, expected 1: $(cat "$log")"
grep -qE "error: exit: the changes since the start at [0-9T:-]+Z are not saved in $MD_TMP/gone/disk.snap: .*No such file or directory" "$log" ||
  fail "the error does not say what is lost and why: $(cat "$log")"

# 2. The same, daemonized: a subreaper collects the daemon's exit status.
mkdir "$MD_TMP/gone2"
/usr/bin/python3 - "$MEMDISK_PLUGIN" "$MD_TMP" <<'PY' || fail "daemonized: see above"
import ctypes, os, subprocess, shutil, signal, sys, time
plugin, tmp = sys.argv[1], sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
PR_SET_CHILD_SUBREAPER = 36
assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
pidfile, sock, log = tmp + "/d.pid", tmp + "/d.sock", tmp + "/d.log"
with open(log, "w") as err:
    r = subprocess.run(["nbdkit", "-P", pidfile, "-U", sock, "--log=stderr", "-v", "-D", "nbdkit.backend.datapath=0", plugin,
                        "16M", "snapshot=%s/gone2/disk.snap" % tmp],
                       stdin=subprocess.DEVNULL, stderr=err)
assert r.returncode == 0, "nbdkit did not start"
while not os.path.exists(pidfile) or os.path.getsize(pidfile) == 0:
    time.sleep(0.05)
pid = int(open(pidfile).read())
subprocess.run(["nbdsh", "-u", "nbd+unix:///?socket=" + sock,
                "-c", "h.pwrite(b'x' * 4096, 0)"], check=True)
shutil.rmtree(tmp + "/gone2")
os.kill(pid, signal.SIGTERM)
got, status = os.waitpid(pid, 0)
text = open(log).read()
if not os.WIFEXITED(status) or os.WEXITSTATUS(status) != 1:
    sys.exit("daemonized: a failed exit save ended with status %#x, expected exit 1: %s" % (status, text))
if "are not saved in %s/gone2/disk.snap" % tmp not in text:
    sys.exit("daemonized: no error saying what is lost: " + text)
PY

# 3. A tmpfs too small: exit 1, the old file kept byte for byte.
mnt=$MD_TMP/small
persist_mount "$mnt" -t tmpfs -o size=4m,mode=0755 tmpfs
nbdkit -U - "$MEMDISK_PLUGIN" 16M snapshot="$mnt/disk.snap" \
  --run 'nbdsh -u "$uri" -c "h.pwrite(b\"old\" * 1000, 0)"' </dev/null || fail "the first save failed"
cp -- "$mnt/disk.snap" "$MD_TMP/old.snap"
foreground "$mnt/disk.snap" ':'
((status == 1)) || fail "a failed exit save (disk full): nbdkit exited $status, expected 1: $(cat "$log")"
grep -qE "error: exit: the changes since the load at [0-9T:-]+Z are not saved in $mnt/disk.snap: .*No space left on device" "$log" ||
  fail "the error does not say what is lost and why: $(cat "$log")"
grep -q "saving $mnt/disk.snap (exit) failed, the file is untouched" "$log" ||
  fail "the error does not say the file is untouched: $(cat "$log")"
cmp -- "$MD_TMP/old.snap" "$mnt/disk.snap" || fail "a failed exit save changed the old file"
[[ -z $(persist_temporaries "$mnt/disk.snap") ]] || fail "a temporary was left"

# 4. A root-owned FILE in a sticky folder, served by nobody: a save could
#    not replace it (a rename over another user's file there is EPERM), so
#    the server refuses to start instead of losing every save, exit save
#    included (the checks of issue 11: harden-hostile-path tests them all).
require_commands setpriv
chmod 0711 "$MD_TMP"
cp -- "$MEMDISK_PLUGIN" "$MD_TMP/plugin.so"
chmod 0755 "$MD_TMP/plugin.so"
mkdir -m 1777 "$MD_TMP/sticky"
nbdkit -U - "$MEMDISK_PLUGIN" 16M snapshot="$MD_TMP/sticky/disk.snap" --run true </dev/null ||
  fail "could not make root's snapshot"
chmod 0644 "$MD_TMP/sticky/disk.snap"
cp -- "$MD_TMP/sticky/disk.snap" "$MD_TMP/root.snap"
status=0
setpriv --reuid=nobody --regid=nogroup --clear-groups \
  nbdkit -f -U "$MD_TMP/sticky/fg.sock" "$MD_TMP/plugin.so" \
  snapshot="$MD_TMP/sticky/disk.snap" </dev/null 2>"$MD_TMP/sticky.log" || status=$?
((status == 1)) || fail "nobody serving root's file in a sticky folder: exit $status, expected 1: $(cat "$MD_TMP/sticky.log")"
grep -q "is owned by root (uid 0), not by nobody" "$MD_TMP/sticky.log" ||
  fail "the refusal does not say whose file it is: $(cat "$MD_TMP/sticky.log")"
cmp -- "$MD_TMP/root.snap" "$MD_TMP/sticky/disk.snap" || fail "root's file was changed"
[[ -z $(persist_temporaries "$MD_TMP/sticky/disk.snap") ]] || fail "a temporary was left in the sticky folder"

# A save that works still exits 0.
foreground "$MD_TMP/ok.snap" ':'
((status == 0)) || fail "a good exit save: nbdkit exited $status: $(cat "$log")"
persist_verify "$MD_TMP/ok.snap"
echo "ok: a failed exit save makes nbdkit exit 1, foreground and daemonized"
