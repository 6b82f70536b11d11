#!/usr/bin/env bash
# Many clients and many saves: 16 connections do random writes, reads,
# trims, zeroes and flushes on a 32 MiB disk while SIGUSR1 asks for a save
# every 100 ms, for MEMDISK_STRESS_SECONDS (default 60).  Every snapshot
# file that appears is kept (a hard link to it, as the next save renames
# its own file over the name) and must verify; once the clients stop, one
# more save must hold exactly the disk the server serves.  No save may
# fail, and the server must keep running.  The disk starts from a snapshot
# of 24 MiB of random data loaded lazily with one background thread, so
# the first saves, the clients' first touches and the background loader
# fault the same frames in at once.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_commands nbdcopy cmp ln stat
[[ -x ${MEMDISK_TOOL:-} ]] || fail "MEMDISK_TOOL is not set (run the tests with ctest)"

seconds=${MEMDISK_STRESS_SECONDS:-60}
dir=$MD_TMP/snapshots
mkdir "$dir" "$MD_TMP/kept"
snap=$dir/disk.zst
size=$((32 * 1024 * 1024))

saves () { grep -c ': debug: saved ' "$(nbdkit_log disk)" || true; }

head -c $((24 * 1024 * 1024)) /dev/urandom >"$MD_TMP/start.img"
truncate -s "$size" "$MD_TMP/start.img"
"$MEMDISK_TOOL" convert "$MD_TMP/start.img" "$snap" >/dev/null
memdisk_start disk -v "$size" snapshot="$snap" snapshot-threads=2 \
  snapshot-load=lazy snapshot-load-threads=1

# The clients, in the background until the deadline.
/usr/bin/python3 - "$(nbdkit_uri disk)" "$seconds" >"$MD_TMP/clients.out" 2>&1 <<'EOF' &
import collections, random, sys, threading, time
import nbd

uri, seconds = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + seconds
counts = collections.Counter()
lock = threading.Lock()
errors = []

def client(k):
    rnd = random.Random(k)
    h = nbd.NBD()
    h.connect_uri(uri)
    size = h.get_size()
    done = collections.Counter()
    try:
        while time.monotonic() < deadline:
            length = rnd.choice((512, 4096, 32768, 65536, 200000))
            offset = rnd.randrange(0, size - length) // 512 * 512
            op = rnd.random()
            if op < 0.45:
                # Compressible, different for every write: a random 4 KiB
                # block, repeated.
                block = rnd.randbytes(4096)
                data = (block * (length // 4096 + 1))[:length]
                h.pwrite(data, offset, nbd.CMD_FLAG_FUA if rnd.random() < 0.1 else 0)
                done["write"] += 1
            elif op < 0.70:
                h.pread(length, offset)
                done["read"] += 1
            elif op < 0.82:
                h.trim(length, offset)
                done["trim"] += 1
            elif op < 0.95:
                h.zero(length, offset, nbd.CMD_FLAG_FAST_ZERO if rnd.random() < 0.5 else 0)
                done["zero"] += 1
            else:
                h.flush()
                done["flush"] += 1
        h.shutdown()
    except Exception as e:
        errors.append("client %d: %s" % (k, e))
    with lock:
        counts.update(done)

threads = [threading.Thread(target=client, args=(k,)) for k in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("requests:", dict(counts))
if errors:
    sys.exit("\n".join(errors))
if min(counts[op] for op in ("write", "read", "trim", "zero", "flush")) < 10:
    sys.exit("too few requests of some kind: %r" % dict(counts))
EOF
clients=$!

# SIGUSR1 every 100 ms while the clients run; keep each new file.
usec () { echo $((${EPOCHREALTIME/./} )); }
pid=$(nbdkit_pid disk)
generations=0 signals=0 last_inode= next=$(usec)
while kill -0 "$clients" 2>/dev/null; do
  kill -USR1 "$pid" || fail "the server is gone"
  signals=$((signals + 1))
  inode=$(stat -c %i "$snap" 2>/dev/null) || inode=
  if [[ -n $inode && $inode != "$last_inode" ]] &&
     ln -- "$snap" "$MD_TMP/kept/gen-$((generations + 1)).zst" 2>/dev/null; then
    generations=$((generations + 1))
    last_inode=$inode
  fi
  next=$((next + 100000))
  wait_us=$((next - $(usec)))
  ((wait_us <= 0)) || sleep "$(printf '0.%06d' "$wait_us")"
done
wait "$clients" || fail "the clients failed: $(cat "$MD_TMP/clients.out")"
cat "$MD_TMP/clients.out"
nbdkit_running disk || fail "the server died under load"

# One more save, now that the disk is still: it must be the disk.
# memdisk-tool save returns once a save that began after the call is in
# place (one still running from the signals does not count).
"$MEMDISK_TOOL" save "$snap" >/dev/null || fail "memdisk-tool save after the load failed"
failed=$("$MEMDISK_TOOL" status --json "$snap" | /usr/bin/python3 -c 'import json, sys; print(json.load(sys.stdin)["failed-saves"])')
((failed == 0)) || fail "$failed saves failed under load"
! grep -q 'error: saving' "$(nbdkit_log disk)" ||
  fail "saves failed under load: $(grep 'error: saving' "$(nbdkit_log disk)" | head -3)"
nbdcopy -- "$(nbdkit_uri disk)" "$MD_TMP/disk.img" || fail "nbdcopy of the disk failed"
"$MEMDISK_TOOL" convert -O raw "$snap" "$MD_TMP/final.img" || fail "converting the final snapshot failed"
cmp -- "$MD_TMP/disk.img" "$MD_TMP/final.img" || fail "the final snapshot is not the disk"

((generations >= 3)) || fail "only $generations snapshot files appeared in ${seconds}s of SIGUSR1"
for kept in "$MD_TMP"/kept/*.zst; do
  out=$("$MEMDISK_TOOL" verify -T 2 "$kept" 2>&1) || fail "${kept##*/}, saved under load, does not verify: $out"
done
echo "ok: $signals SIGUSR1, $(saves) saves, $generations snapshot files kept, all verify;" \
     "the final one is the disk"
