#!/usr/bin/env bash
# Issue 23, item 3: the writer lock takes only a regular file of the
# server's user.  nobody plants a regular file, a FIFO, a symbolic link, a
# socket or a folder at FILE's lock file name in a sticky folder: root's
# server refuses to start, naming the path, the type and the owner, and
# leaves it (and FILE) alone.  Root's own lock file is private (0600), so
# nobody cannot read the socket name in it; and a second writer hears the
# holder's pid as the kernel reports it, not what the file says.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
source "$(dirname "$0")/control_lib.sh"

snap=$CONTROL_WW/d.snap
lockfile=$CONTROL_WW/.d.snap.lock
memdisk_start disk 1M snapshot="$snap"
nbdkit_stop disk
id=$(persist_file_id "$snap")
mkdir -m 0755 "$MD_TMP/roots"
printf 'secret of root\n' >"$MD_TMP/roots/secret"
secret_id=$(persist_file_id "$MD_TMP/roots/secret")

# planted TYPE CMD...: nobody runs CMD to plant something at the lock
# file's name; root's server must refuse it as TYPE owned by nobody.
planted ()
{
  local type=$1
  shift
  as_nobody "$@" || fail "nobody could not plant $type"
  persist_expect_refusal snapshot="$snap" -- \
    "the lock file $lockfile is $type owned by nobody (uid $(id -u nobody))" \
    "needs a regular file owned by root (uid 0)"
  [[ $(stat -c %U -- "$lockfile") == nobody ]] || fail "the refused start replaced nobody's $type"
  [[ $(persist_file_id "$snap") == "$id" ]] || fail "the refused start changed $snap ($type)"
  rm -rf -- "$lockfile"
}
planted "a regular file" sh -c "printf '4242\n' >'$lockfile'; chmod 0666 '$lockfile'"
planted "a FIFO (named pipe)" mkfifo -m 0666 "$lockfile"
planted "a symbolic link" ln -s ../roots/secret "$lockfile"
[[ $(persist_file_id "$MD_TMP/roots/secret") == "$secret_id" ]] || fail "root's secret was changed through nobody's link"
planted "a socket" /usr/bin/python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$lockfile"
planted "a directory" mkdir -m 0777 "$lockfile"

# Root's server: its lock file is root's and private.
memdisk_start disk snapshot="$snap"
pid=$(nbdkit_pid disk)
[[ $(stat -c '%U %a %F' -- "$lockfile") == "root 600 regular file" ]] ||
  fail "root's lock file is $(stat -c '%U %a %F' -- "$lockfile")"
! as_nobody cat -- "$lockfile" >/dev/null 2>&1 || fail "nobody can read root's lock file"
! as_nobody rm -f -- "$lockfile" 2>/dev/null || fail "nobody removed root's lock file"
[[ -f $lockfile ]] || fail "root's lock file is gone"
# A second writer is told the holder the kernel knows, whatever the file says.
printf '1\n' >"$lockfile"
persist_expect_refusal snapshot="$snap" -- "$snap is being written by process $pid"
truncate -s 1M "$MD_TMP/disk.img"
status=0; out=$(tool convert -f -O snapshot "$MD_TMP/disk.img" "$snap" 2>&1) || status=$?
((status == 1)) && [[ $out == *"$snap is being written by process $pid"* ]] ||
  fail "convert -f on the served file: exit $status: $out"
[[ $(persist_file_id "$snap") == "$id" ]] || fail "convert replaced the served file"
nbdkit_stop disk
[[ ! -e $lockfile ]] || fail "root's server left its lock file"

# Root's convert refuses nobody's lock file too.
as_nobody sh -c "printf '4242\n' >'$lockfile'"
status=0; out=$(tool convert -f -O snapshot "$MD_TMP/disk.img" "$snap" 2>&1) || status=$?
((status == 1)) && [[ $out == *"the lock file $lockfile is a regular file owned by nobody"* ]] ||
  fail "convert -f with nobody's lock file: exit $status: $out"
[[ $(persist_file_id "$snap") == "$id" ]] || fail "convert replaced $snap beside nobody's lock file"
echo "ok: the writer lock takes only root's own regular file, and names the real holder"
