#!/usr/bin/env bash
# One writer per snapshot, and a control channel nobody else can use or
# hurt: a second writer of FILE is refused naming the first one's pid,
# and so are memdisk-tool convert and create; read-only servers run beside
# a writer (and each other); clients that send garbage or nothing do not
# hurt the server; a FILE path longer than a Unix socket path (108 bytes)
# works; another user is refused by the server, and root may use another
# user's server.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands setpriv
[[ -x ${MEMDISK_TOOL:-} ]] || fail "MEMDISK_TOOL is not set (run the tests with ctest)"
tool () { "$MEMDISK_TOOL" "$@"; }

snap=$MD_TMP/disk.snap
memdisk_start disk -v 16M snapshot="$snap"
pid=$(nbdkit_pid disk)
tool save "$snap" >/dev/null || fail "the first save failed"

# --- a second writer, convert and create: refused, naming the pid ---
persist_expect_refusal snapshot="$snap" -- "$snap is being written by process $pid" \
  "refusing to start a second writer"
for cmd in "create -f -s 1M $snap" "convert -f -O snapshot $MD_TMP/disk.img $snap"; do
  truncate -s 1M "$MD_TMP/disk.img"
  cp -- "$snap" "$MD_TMP/before.snap"
  status=0; out=$(tool $cmd 2>&1) || status=$?
  ((status == 1)) || fail "memdisk-tool $cmd on a served file: exit $status: $out"
  [[ $out == *"$snap is being written by process $pid"* ]] || fail "memdisk-tool $cmd says: $out"
  cmp -- "$MD_TMP/before.snap" "$snap" || fail "memdisk-tool $cmd changed a served file"
done

# --- readers beside the writer, and beside each other ---
memdisk_start reader1 snapshot="$snap" snapshot-readonly=true
memdisk_start reader2 snapshot="$snap" snapshot-readonly=true
[[ $(tool status --json "$snap" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["pid"])') == "$pid" ]] ||
  fail "status does not name the writer with readers running"
nbdkit_stop reader1
nbdkit_stop reader2

# --- garbage, silence, too long, hang-ups: the server shrugs ---
/usr/bin/python3 - "$snap" "$MEMDISK_TOOL" <<'PY' || fail "hostile clients: see above"
import os, socket, subprocess, sys, time
snap, tool = sys.argv[1:]
# The server's socket name: the token in FILE's lock file.
with open(os.path.join(os.path.dirname(snap), "." + os.path.basename(snap) + ".lock"), "rb") as f:
    name = b"\0memdisk-control/" + f.readline().strip()
def conn():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(name)
    s.settimeout(10)
    return s
def answer(s):
    data = b""
    while not data.endswith(b"\n\n"):
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.decode()
def tool_ok(*args):
    t = time.monotonic()
    r = subprocess.run([tool, *args, snap], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, (args, r.returncode, r.stderr)
    return time.monotonic() - t
silent = [conn() for _ in range(5)]
started = time.monotonic()
half = conn(); half.sendall(b"sta")            # half a request, then nothing
for garbage in (b"bogus\n", os.urandom(200).replace(b"\n", b"x"), b"\x00\xff\n", b"save now please\n"):
    s = conn(); s.sendall(garbage)
    a = answer(s)
    assert a.startswith("result error\nerror "), (garbage, a)
    assert ("unknown request" in a) or ("too long" in a), a
s = conn(); s.sendall(b"save\n"); s.close()    # asks, then hangs up
s = conn(); s.sendall(b"status\nstatus\nstatus\n"); assert "result ok" in answer(s)
# Meanwhile the real tool gets prompt answers.
assert tool_ok("status") < 3
assert tool_ok("save") < 10
# The silent ones are dropped after 5 s, with a word.
for s in silent + [half]:
    a = answer(s)
    assert "no request within 5 seconds" in a, a
waited = time.monotonic() - started
assert 4 <= waited < 15, waited
assert tool_ok("status") < 3
print("ok: garbage, silence and hang-ups; the tool still answered")
PY
nbdkit_running disk || fail "the server died of hostile clients"

# --- a FILE path longer than a Unix socket path ---
deep=$MD_TMP
while ((${#deep} < 200)); do deep+=/a-folder-with-a-long-name; done
mkdir -p "$deep"
long=$deep/disk.snap
((${#long} > 108)) || fail "the long path is not long"
memdisk_start deep -v 8M snapshot="$long"
nbdsh -u "$(nbdkit_uri deep)" -c 'h.pwrite(b"deep" * 1024, 4096)'
tool save "$long" >"$MD_TMP/deep.out" || fail "save of a ${#long}-byte path failed"
grep -q "^saved $long at " "$MD_TMP/deep.out" || fail "save of the long path printed: $(cat "$MD_TMP/deep.out")"
tool status "$long" | grep -qx "state: serving" || fail "status of the long path"
# Reached by another spelling of the same path, too.
(cd "$deep" && tool status disk.snap | grep -qx "server pid: $(nbdkit_pid deep)") || fail "status by a relative path"
nbdkit_stop deep

# --- another user ---
as_nobody () { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
chmod 0711 "$MD_TMP"
cp -- "$MEMDISK_TOOL" "$MD_TMP/memdisk-tool"
cp -- "$MEMDISK_PLUGIN" "$MD_TMP/plugin.so"
chmod 0755 "$MD_TMP/memdisk-tool" "$MD_TMP/plugin.so"
# nobody asks root's server: nobody may not read the lock file that names
# its socket...
status=0; out=$(as_nobody "$MD_TMP/memdisk-tool" save "$snap" 2>&1) || status=$?
((status == 1)) || fail "nobody's save on root's server: exit $status: $out"
[[ $out == *"cannot open the lock file $MD_TMP/.disk.snap.lock: permission denied (only its owner, root (uid 0), and root may ask the server of $snap)"* ]] ||
  fail "nobody's save on root's server says: $out"
status=0; out=$(as_nobody "$MD_TMP/memdisk-tool" status "$snap" 2>&1) || status=$?
((status == 1)) && [[ $out == *"permission denied"* ]] || fail "nobody's status on root's server: exit $status: $out"
# ... and told the name, the server refuses it.
name=$(head -n 1 "$MD_TMP/.disk.snap.lock")
for request in save status; do
  out=$(as_nobody /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(b"\0memdisk-control/" + sys.argv[1].encode())
try:
    s.sendall(sys.argv[2].encode() + b"\n")
except BrokenPipeError:
    pass                    # refused at once: the answer is there already
s.settimeout(10)
data = b""
while not data.endswith(b"\n\n"):
    chunk = s.recv(4096)
    if not chunk:
        break
    data += chunk
print(data.decode())' "$name" "$request") || fail "nobody could not reach root's server with its name"
  [[ $out == *"result error"*"permission denied: uid $(id -u nobody) is neither this server's user nor root"* ]] ||
    fail "root's server answered nobody's $request with: $out"
done
# nobody's own server: nobody may, root may (it runs as FILE's owner).
mkdir -m 0755 "$MD_TMP/nobodys"
chown nobody:nogroup "$MD_TMP/nobodys"
nsnap=$MD_TMP/nobodys/disk.snap
as_nobody nbdkit -P "$MD_TMP/nobodys/pid" -U "$MD_TMP/nobodys/sock" "$MD_TMP/plugin.so" 8M snapshot="$nsnap" </dev/null ||
  fail "nobody's server did not start"
wait_until 30 "nobody's server" test -s "$MD_TMP/nobodys/pid"
npid=$(cat "$MD_TMP/nobodys/pid")
as_nobody "$MD_TMP/memdisk-tool" save "$nsnap" >/dev/null || fail "nobody's save on nobody's server failed"
tool status "$nsnap" | grep -qx "server pid: $npid" || fail "root's status on nobody's server"
# A lock file of another user does not make root trust a squatter.
kill "$npid"
wait_until 30 "nobody's server to exit" eval "! md_pid_alive $npid"
[[ ! -e $MD_TMP/nobodys/.disk.snap.lock ]] || fail "nobody's server left its lock file"
echo "ok: one writer per snapshot; the channel refuses strangers and survives hostile clients"
