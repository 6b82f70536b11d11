#!/usr/bin/env bash
# Issue 23, item 4: nobody cannot squat the control socket of root's
# server.  nobody binds the name older versions derived from public facts
# (FILE's folder's device and inode, a hash of its name) before root's
# server of a FILE in root's own folder starts: the server starts all the
# same (its name is random, written in its private lock file), and root's
# save and status reach it.  A start that fails leaves no lock file.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
source "$(dirname "$0")/control_lib.sh"

priv=$MD_TMP/private
mkdir -m 0755 "$priv"
snap=$priv/disk.snap
lockfile=$priv/.disk.snap.lock
control_fake "$snap" >/dev/null
memdisk_start disk 1M snapshot="$snap"
pid=$(nbdkit_pid disk)
nbdsh -u "$(nbdkit_uri disk)" -c 'h.pwrite(b"mine" * 1024, 0)'
out=$(tool save "$snap") || fail "root's save failed beside the squatter: $out"
[[ $out == "saved $snap at "* && $out != *0123456789abcdef* ]] || fail "root's save printed: $out"
tool status "$snap" | grep -qx "server pid: $pid" || fail "root's status does not name root's server"
# The name is in a file nobody cannot read.
! as_nobody cat -- "$lockfile" >/dev/null 2>&1 || fail "nobody can read the socket name"
nbdkit_stop disk
[[ ! -e $lockfile ]] || fail "the server left its lock file"
persist_verify "$snap"

# A start that fails after taking the lock leaves no lock file.
printf 'not a snapshot at all, but long enough to be read as one.....\n' >"$priv/bad.snap"
persist_expect_refusal snapshot="$priv/bad.snap" -- "$priv/bad.snap"
[[ ! -e $priv/.bad.snap.lock ]] || fail "a failed start left $priv/.bad.snap.lock"
echo "ok: a squatter of the old name does not stop root's server; a failed start leaves no lock"
