#!/usr/bin/env bash
# Issue 23, item 2: root's memdisk-tool save, status and reset do not trust a
# fake server of nobody's.  nobody makes FILE's lock file in a sticky
# folder, holds its locks (as a real server does), writes a socket name
# into it and binds that name and the one older versions derived from
# FILE's folder and name; it answers "saved" with a forged digest, or
# never answers.  Root's tool refuses it at once (exit 1, "not trusted"),
# without waiting for ever; root's server refuses nobody's lock file,
# naming it, and starts once it is gone, the fake still bound.  `save`
# waits 600 s by default.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
source "$(dirname "$0")/control_lib.sh"

snap=$CONTROL_WW/d.snap
lockfile=$CONTROL_WW/.d.snap.lock
memdisk_start disk 1M snapshot="$snap"
nbdkit_stop disk
[[ -f $snap && ! -e $lockfile ]] || fail "root's server left no snapshot, or its lock file"
id=$(persist_file_id "$snap")

# refused CMD...: root's memdisk-tool CMD... on $snap gives up on the fake
# in time, says why, and believes nothing of it.
refused ()
{
  local status=0 out
  out=$(timeout 60 "$MEMDISK_TOOL" "$@" "$snap" 2>&1) || status=$?
  ((status != 124)) || fail "memdisk-tool $* waited for nobody's fake for a minute"
  ((status == 1)) || fail "memdisk-tool $* trusted nobody's fake (exit $status): $out"
  [[ $out == *"not trusted"* ]] || fail "memdisk-tool $* does not say why: $out"
  [[ $out != *0123456789abcdef* && $out != saved* ]] || fail "memdisk-tool $* printed the fake's answer: $out"
}

fake=$(control_fake "$snap" --lock)
refused save
refused save --json
refused status
refused status --json
refused reset
refused reset --json
kill "$fake"
rm -f -- "$lockfile"

# A fake that never answers does not hang save, whose default would
# otherwise be to wait for ever.
fake=$(control_fake "$snap" --lock --silent)
refused save
refused status

# Root's server refuses nobody's lock file, saying whose it is...
persist_expect_refusal 1M snapshot="$snap" -- \
  "the lock file $lockfile is a regular file owned by nobody (uid $(id -u nobody))"
[[ $(stat -c %U -- "$lockfile") == nobody ]] || fail "the refused start touched nobody's lock file"
[[ $(persist_file_id "$snap") == "$id" ]] || fail "the refused start changed $snap"
# ... and starts once it is gone, the fake still bound to its names.
rm -f -- "$lockfile"
memdisk_start disk snapshot="$snap"
pid=$(nbdkit_pid disk)
nbdsh -u "$(nbdkit_uri disk)" -c 'h.pwrite(b"root" * 1024, 8192)'
out=$(tool save "$snap") || fail "root's save on root's server failed: $out"
[[ $out == "saved $snap at "* && $out != *0123456789abcdef* ]] || fail "root's save printed: $out"
tool status "$snap" | grep -qx "server pid: $pid" || fail "root's status does not name root's server"
nbdkit_stop disk

# The default timeout of save, documented.
tool save --help | grep -q -- "--timeout=SECS   give up after SECS seconds (default 600; 0: wait)" ||
  fail "save --help does not give the default timeout: $(tool save --help)"
echo "ok: root's save and status refuse nobody's fake, and do not wait for it"
