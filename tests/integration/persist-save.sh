#!/usr/bin/env bash
# memdisk-tool save and status against a real server: status before,
# during (a save slowed by a large incompressible disk) and after a save;
# save during client writes returns only once the file holds every write
# acknowledged before the call; a save onto a full disk exits 1 with the
# server's message; exit 2 with no server.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands nbdsh
[[ -x ${MEMDISK_TOOL:-} ]] || fail "MEMDISK_TOOL is not set (run the tests with ctest)"
tool () { "$MEMDISK_TOOL" "$@"; }
# json FILE EXPR: evaluate a Python expression on `status --json FILE` (j).
json () { tool status --json "$1" | /usr/bin/python3 -c "import json, sys; j = json.load(sys.stdin); print($2)"; }

snap=$MD_TMP/disk.snap
MiB=$((1024 * 1024))

# --- no server ---
status=0; out=$(tool save "$snap" 2>&1) || status=$?
((status == 2)) || fail "save with no server: exit $status, expected 2: $out"
[[ $out == *"no server is writing $snap"* ]] || fail "save with no server says: $out"
status=0; tool status "$snap" >/dev/null 2>&1 || status=$?
((status == 2)) || fail "status with no server: exit $status, expected 2"

# --- status before any save ---
memdisk_start disk -v 256M snapshot="$snap" snapshot-threads=1 snapshot-level=3
pid=$(nbdkit_pid disk)
out=$(tool status "$snap") || fail "status failed"
for line in "server pid: $pid" "state: serving" "saves: 0 (0 failed)" "last save: none since the start" \
            "virtual size: 256 MiB (268435456 bytes)" "changed since the last save: yes"; do
  grep -qxF -- "$line" <<<"$out" || fail "status lacks '$line': $out"
done
[[ $(json "$snap" 'j["pid"], j["state"], j["last-save"], j["save"], j["changed"]') == "$pid serving None None True" ]] ||
  fail "status --json before a save: $(tool status --json "$snap")"

# --- save during client writes: every write acknowledged before the call
#     is in the file when save returns ---
/usr/bin/python3 - "$(nbdkit_uri disk)" "$MEMDISK_TOOL" "$snap" "$MD_TMP" <<'PY' || fail "save during writes: see above"
import subprocess, sys, threading
import nbd
uri, tool, snap, tmp = sys.argv[1:]
h = nbd.NBD()
h.connect_uri(uri)
acked = 0
stop = False
def block(k):
    return (b"%08d" % k) * 512           # 4 KiB
def writer():
    global acked
    k = 0
    while not stop and k < 65536:
        h.pwrite(block(k), k * 4096)
        k += 1
        acked = k                           # acknowledged: pwrite returned
t = threading.Thread(target=writer)
t.start()
for round in range(3):
    while acked < (round + 1) * 200:
        pass
    before = acked
    r = subprocess.run([tool, "save", snap], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("save during writes: exit %d: %s" % (r.returncode, r.stderr))
    if not r.stdout.startswith("saved %s at " % snap) or "digest" not in r.stdout:
        sys.exit("save printed: %r" % r.stdout)
    img = "%s/check.img" % tmp
    subprocess.run([tool, "convert", "-f", "-O", "raw", snap, img], check=True)
    with open(img, "rb") as f:
        for k in range(before):
            f.seek(k * 4096)
            if f.read(4096) != block(k):
                sys.exit("round %d: write %d, acknowledged before save, is not in the file (%d acked before)" % (round, k, before))
    print("round %d: %d writes acknowledged before save, all in the file" % (round, before))
stop = True
t.join()
PY

# --- status during a save, and after ---
head -c $((160 * MiB)) /dev/urandom >"$MD_TMP/random.img"
nbdcopy -- "$MD_TMP/random.img" "$(nbdkit_uri disk)" || fail "nbdcopy failed"
saves_before=$(json "$snap" 'j["saves"]')
tool save --json "$snap" >"$MD_TMP/save.json" &
saver=$!
saving () { [[ $(json "$snap" 'j["state"]') == saving ]]; }
wait_until 30 "status to show the save" saving
during=$(tool status "$snap")
grep -qE '^state: saving \(request, for [0-9.]+ s, [0-9]+ of [0-9]+ pages, [0-9]+%\)$' <<<"$during" ||
  fail "status during a save: $during"
[[ $(json "$snap" 'j["save"]["trigger"], j["save"]["pages-total"] >= 5000, j["save"]["pages-done"] <= j["save"]["pages-total"]') == "request True True" ]] ||
  fail "status --json during a save: $(tool status --json "$snap")"
wait "$saver" || fail "save of the large disk failed: $(cat "$MD_TMP/save.json")"
after=$(tool status --json "$snap")
digest=$(tool info --json "$snap" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["digest"])')
/usr/bin/python3 - "$after" "$(cat "$MD_TMP/save.json")" "$digest" "$saves_before" <<'PY' || fail "status after the save: $after"
import json, sys
st, sv, digest, before = json.loads(sys.argv[1]), json.loads(sys.argv[2]), sys.argv[3], int(sys.argv[4])
assert st["state"] == "serving" and st["save"] is None, st
assert st["changed"] is False, st
assert st["saves"] == before + 1, (st, before)
last = st["last-save"]
assert last["result"] == "ok" and last["trigger"] == "request", last
assert last["digest"] == digest == sv["digest"], (last, sv, digest)
assert sv["result"] == "saved" and sv["file-size"] > 160 << 20, sv
PY
# A write: the disk changed since.
nbdsh -u "$(nbdkit_uri disk)" -c 'h.pwrite(b"x" * 512, 0)'
[[ $(json "$snap" 'j["changed"]') == True ]] || fail "status does not see the write since the save"
nbdkit_stop disk

# --- a save onto a full disk: exit 1 and the server's message ---
mnt=$MD_TMP/small
persist_mount "$mnt" -t tmpfs -o size=4m,mode=0755 tmpfs
memdisk_start full -v 16M snapshot="$mnt/disk.snap"
tool save "$mnt/disk.snap" >/dev/null || fail "the first, small save failed"
cp -- "$mnt/disk.snap" "$MD_TMP/old.snap"
head -c $((8 * MiB)) /dev/urandom >"$MD_TMP/big.img"
nbdcopy -- "$MD_TMP/big.img" "$(nbdkit_uri full)" || fail "nbdcopy failed"
status=0; out=$(tool save "$mnt/disk.snap" 2>&1) || status=$?
((status == 1)) || fail "a save onto a full disk: exit $status, expected 1: $out"
[[ $out == "memdisk-tool: $mnt/disk.snap: saving $mnt/disk.snap (request) failed, the file is untouched: "*"No space left on device" ]] ||
  fail "a save onto a full disk says: $out"
cmp -- "$MD_TMP/old.snap" "$mnt/disk.snap" || fail "a failed save changed the file"
[[ $(json "$mnt/disk.snap" 'j["last-save"]["result"], "No space left" in j["last-save"]["error"], j["changed"]') == "failed True True" ]] ||
  fail "status after a failed save: $(tool status --json "$mnt/disk.snap")"
status=0; out=$(tool save --json "$mnt/disk.snap" 2>&1) || status=$?
((status == 1)) && [[ $(/usr/bin/python3 -c 'import json, sys; j = json.loads(sys.argv[1]); print(j["result"], "No space" in j["error"])' "$out") == "failed True" ]] ||
  fail "save --json onto a full disk: exit $status: $out"
nbdkit_running full || fail "the server died after a failed save"
echo "ok: save and status"
