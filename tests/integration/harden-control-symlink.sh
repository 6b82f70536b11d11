#!/usr/bin/env bash
# Issue 23, item 6: one identity for a symlinked FILE in every command.
# A server started on a link binds its lock and socket at the file the
# link leads to; memdisk-tool save and status reach it by the link and by
# the file, and convert -f by either path is refused while it runs.  The
# same for nobody's own server in nobody's folder, asked by nobody's tool
# through nobody's link, and by root's.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
source "$(dirname "$0")/control_lib.sh"

roots=$MD_TMP/roots
mkdir -m 0755 "$roots"
ln -s real.snap "$roots/link.snap"
memdisk_start disk 1M snapshot="$roots/link.snap"
pid=$(nbdkit_pid disk)
nbdsh -u "$(nbdkit_uri disk)" -c 'h.pwrite(b"link" * 1024, 0)'
for path in "$roots/link.snap" "$roots/real.snap"; do
  out=$(tool save "$path" 2>&1) || fail "save $path: $out"
  [[ $out == "saved $path at "* ]] || fail "save $path printed: $out"
  tool status "$path" | grep -qx "server pid: $pid" || fail "status $path does not name the server"
done
id=$(persist_file_id "$roots/real.snap")
truncate -s 1M "$MD_TMP/disk.img"
for path in "$roots/link.snap" "$roots/real.snap"; do
  status=0; out=$(tool convert -f -O snapshot "$MD_TMP/disk.img" "$path" 2>&1) || status=$?
  ((status == 1)) && [[ $out == *"is being written by process $pid"* ]] ||
    fail "convert -f $path while the server runs: exit $status: $out"
done
[[ $(persist_file_id "$roots/real.snap") == "$id" && -L $roots/link.snap ]] ||
  fail "convert replaced the served file or the link"
nbdkit_stop disk
[[ ! -e $roots/.real.snap.lock && ! -e $roots/.link.snap.lock ]] || fail "a lock file was left"

# nobody's server, link and tool.
mkdir -m 0755 "$MD_TMP/nobodys"
chown nobody:nogroup "$MD_TMP/nobodys"
as_nobody ln -s real.snap "$MD_TMP/nobodys/link.snap"
as_nobody nbdkit -P "$MD_TMP/nobodys/pid" -U "$MD_TMP/nobodys/sock" "$MD_TMP/plugin.so" 1M \
  snapshot="$MD_TMP/nobodys/link.snap" </dev/null || fail "nobody's server did not start"
wait_until 30 "nobody's server" test -s "$MD_TMP/nobodys/pid"
npid=$(cat "$MD_TMP/nobodys/pid")
out=$(as_nobody "$MD_TMP/memdisk-tool" save "$MD_TMP/nobodys/link.snap" 2>&1) ||
  { kill "$npid"; fail "nobody's save through nobody's link: $out"; }
as_nobody "$MD_TMP/memdisk-tool" status "$MD_TMP/nobodys/real.snap" | grep -qx "server pid: $npid" ||
  { kill "$npid"; fail "nobody's status by the file"; }
tool status "$MD_TMP/nobodys/link.snap" | grep -qx "server pid: $npid" ||
  { kill "$npid"; fail "root's status of nobody's server through the link"; }
kill "$npid"
wait_until 30 "nobody's server to exit" eval "! md_pid_alive $npid"
[[ ! -e $MD_TMP/nobodys/.real.snap.lock ]] || fail "nobody's server left its lock file"
echo "ok: a link and its file are one FILE for the server and every command"
