#!/usr/bin/env bash
# SIGUSR1 before the load has finished is safe: a writer remembers it and
# saves once the disk is ready; a read-only server ignores it with a
# debug line.  And `memdisk-tool save` while loading answers with a save
# made after the load.  The snapshot is large (incompressible, loaded on
# one thread) so that the load takes a while; the test waits for the
# server to say it is loading, never on a sleep.  The load is eager: a
# lazy one is ready before a signal could be sent.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
[[ -x ${MEMDISK_TOOL:-} ]] || fail "MEMDISK_TOOL is not set (run the tests with ctest)"
tool () { "$MEMDISK_TOOL" "$@"; }
json () { tool status --json "$1" 2>/dev/null | /usr/bin/python3 -c "import json, sys; j = json.load(sys.stdin); print($2)"; }

snap=$MD_TMP/big.snap
head -c $((384 * 1024 * 1024)) /dev/urandom >"$MD_TMP/big.img"
tool convert -l 1 "$MD_TMP/big.img" "$snap" || fail "convert failed"
rm -f -- "$MD_TMP/big.img"

# start NAME ARGS...: nbdkit -f in the background; $pid is its pid.
start ()
{
  local name=$1
  shift
  rm -f "$MD_TMP/$name.pid"
  nbdkit -f -v -D nbdkit.backend.datapath=0 -P "$MD_TMP/$name.pid" -U "$MD_TMP/$name.sock" \
    "$MEMDISK_PLUGIN" snapshot-threads=1 snapshot-load=eager "$@" </dev/null 2>"$MD_TMP/$name.log" &
  pid=$!
}
loading () { [[ $(json "$snap" 'j["state"]') == loading ]]; }
# ready_or_dead NAME: the pid file is there, or the process is gone.
ready_or_dead () { [[ -s $MD_TMP/$1.pid ]] || ! kill -0 "$pid" 2>/dev/null; }

# --- a writer: SIGUSR1 and save while loading ---
start writer snapshot="$snap"
wait_until 60 "the server to report that it is loading" loading
[[ ! -s $MD_TMP/writer.pid ]] || fail "the server was ready already: the load is too short to test"
kill -USR1 "$pid"
tool save --json "$snap" >"$MD_TMP/save.json" &
saver=$!
wait_until 60 "the pid file" ready_or_dead writer
kill -0 "$pid" || fail "SIGUSR1 during the load killed nbdkit: $(cat "$MD_TMP/writer.log")"
wait "$saver" || fail "save during the load failed: $(cat "$MD_TMP/save.json")"
/usr/bin/python3 -c 'import json, sys; j = json.load(open(sys.argv[1])); assert j["result"] == "saved", j' "$MD_TMP/save.json" ||
  fail "save during the load: $(cat "$MD_TMP/save.json")"
# Both the signal and the request were served by saves after the load.
grep -q "debug: saved $snap (\(SIGUSR1\|request\))" "$MD_TMP/writer.log" || fail "no save after the load"
loaded_line=$(grep -n "debug: loaded $snap" "$MD_TMP/writer.log" | head -1 | cut -d: -f1)
first_save=$(grep -n "debug: saved $snap" "$MD_TMP/writer.log" | head -1 | cut -d: -f1)
((loaded_line < first_save)) || fail "a save was logged before the load ended"
kill -TERM "$pid"
status=0; wait "$pid" || status=$?
((status == 0)) || fail "the writer exited $status"
persist_verify "$snap"

# --- a reader: SIGUSR1 during the load is ignored ---
start reader snapshot="$snap" snapshot-readonly=true
wait_until 30 "the reader's process" test -d "/proc/$pid"
# Its load has begun once it has the snapshot open.
opened () { ls -l "/proc/$pid/fd" 2>/dev/null | grep -qF -- "$snap"; }
wait_until 30 "the reader to open the snapshot" opened
[[ ! -s $MD_TMP/reader.pid ]] || fail "the reader was ready already: the load is too short to test"
kill -USR1 "$pid"
wait_until 60 "the reader's pid file" ready_or_dead reader
has_ignored () { grep -q "SIGUSR1: snapshot-readonly is set, $snap is not written" "$MD_TMP/reader.log"; }
wait_until 10 "the reader to log the ignored SIGUSR1" has_ignored
kill -0 "$pid" || fail "SIGUSR1 during the load killed the reader"
kill -TERM "$pid"
status=0; wait "$pid" || status=$?
((status == 0)) || fail "the reader exited $status"
echo "ok: SIGUSR1 and save during the load are served after it, or ignored by a reader"
