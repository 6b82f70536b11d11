#!/usr/bin/env bash
# Damage: every single-byte change and every truncation of a small
# snapshot must be refused.
#
#   1. A 5.9 KiB snapshot with one frame (runs, holes, text, random bytes,
#      a partial last page; 4 KiB of it the format 2.1 padding before the
#      frame): all 255 other values at every offset, and every truncation,
#      through the reader's verification and the plugin's loader in
#      process (tests/faultinject/damage_check.c, about 510,000 copies:
#      every 61st of the padding's zeros, by 3 values).
#   2. A snapshot with two frames (5 MiB of pages, 0.5 KiB of file; each
#      copy decodes megabytes, so not all values): every offset changed by
#      XOR 01, 80 and ff, and every truncation, the same way.
#   3. `memdisk-tool verify` on file 1 with every offset's lowest bit
#      flipped and every truncation: exit 1 and a message naming the file
#      and the byte offset of what is wrong (or, below the smallest
#      snapshot, the file's size).
#   4. nbdkit memdisk snapshot=DAMAGED on a sample of those copies (every
#      30th offset flipped, every 30th truncation: 130 starts): with
#      snapshot-load=eager refuses to start with an exit status and a
#      message naming the file, and leaves the file alone; with the lazy
#      load, refuses or fails the reads of the damaged frame (a whole-disk
#      nbdcopy never succeeds), naming the file and the byte.
# Sanitizer builds, where a process start costs more, run 3 and 4 on every
# 5th copy of theirs (1 and 2, in one process, stay whole).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_commands cmp
[[ -x ${MEMDISK_TOOL:-} ]] || fail "MEMDISK_TOOL is not set (run the tests with ctest)"
[[ -x ${MEMDISK_DAMAGE_CHECK:-} ]] || fail "MEMDISK_DAMAGE_CHECK is not set (run the tests with ctest)"
jobs=$(nproc)
stride=1
[[ -z ${MEMDISK_SANITIZE:-} ]] || stride=5

# --- the two snapshots ---
/usr/bin/python3 - "$MD_TMP/one.img" "$MD_TMP/two.img" <<'EOF'
import random, sys
rnd = random.Random(20261126)
size = 1024 * 1024 + 1234                         # a partial last 4K page
with open(sys.argv[1], "wb") as f:
    f.truncate(size)
    for start, pages in ((0, 3), (40960, 1), (98304, 7), (524288, 2)):
        f.seek(start)
        f.write(b"memdisk damage test, page after page.\n" * (pages * 4096 // 38))
    f.seek(700 * 1024 + 12345)
    f.write(bytes(rnd.getrandbits(8) for _ in range(1500)))
    f.seek(size - 10)
    f.write(b"the end.\n")
with open(sys.argv[2], "wb") as f:                # frames hold 4 MiB of pages
    f.write(b"y" * (5 * 1024 * 1024))
EOF
"$MEMDISK_TOOL" convert --page-size=4K -l 1 -T 1 "$MD_TMP/one.img" "$MD_TMP/one.snap" ||
  fail "convert one.img failed"
"$MEMDISK_TOOL" convert --page-size=4K -l 1 -T 1 "$MD_TMP/two.img" "$MD_TMP/two.snap" ||
  fail "convert two.img failed"
"$MEMDISK_TOOL" info "$MD_TMP/two.snap" | grep -qx 'frames: 2' || fail "two.snap does not have two frames"
one_size=$(stat -c %s "$MD_TMP/one.snap")
((one_size > 4096 + 1024 && one_size < 8192)) || fail "one.snap is $one_size bytes, not a few KiB"

# --- 1 and 2: in process ---
"$MEMDISK_DAMAGE_CHECK" --jobs "$jobs" "$MD_TMP/one.snap" || fail "damaged copies of one.snap were accepted"
"$MEMDISK_DAMAGE_CHECK" --jobs "$jobs" --xor 01,80,ff "$MD_TMP/two.snap" ||
  fail "damaged copies of two.snap were accepted"

# --- 3: memdisk-tool verify, a process per copy ---
/usr/bin/python3 - "$MEMDISK_TOOL" "$MD_TMP/one.snap" "$MD_TMP" "$jobs" "$stride" <<'EOF'
import concurrent.futures, os, re, subprocess, sys
tool, original, tmp = sys.argv[1:4]
jobs, stride = int(sys.argv[4]), int(sys.argv[5])
data = open(original, "rb").read()

def check(case):
    kind, n = case
    path = os.path.join(tmp, f"damaged-{kind}-{n}.snap")
    damaged = bytearray(data)
    if kind == "flip":
        damaged[n] ^= 1
    else:
        del damaged[n:]
    with open(path, "wb") as f:
        f.write(damaged)
    r = subprocess.run([tool, "verify", path], capture_output=True, text=True)
    os.unlink(path)
    what = f"byte {n} flipped" if kind == "flip" else f"truncated to {n} bytes"
    if r.returncode != 1:
        return f"{what}: memdisk-tool verify exited {r.returncode}: {r.stderr.strip()}"
    if path not in r.stderr or not re.search(r"at byte \d+|the file is \d+ bytes?, too small",
                                              r.stderr):
        return f"{what}: the message does not name the file and the byte: {r.stderr.strip()}"
    return None

# The zeros of the padding before frame 0 (bytes 40 to 4095, format 2.1)
# are checked alike: every 61st of them.
offsets = [n for n in range(0, len(data), stride) if not 40 <= n < 4096 or n % 61 == 0]
cases = [("flip", n) for n in offsets] + [("cut", n) for n in offsets]
with concurrent.futures.ThreadPoolExecutor(jobs) as pool:
    failures = [f for f in pool.map(check, cases) if f]
for f in failures[:20]:
    print("FAIL:", f, file=sys.stderr)
if failures:
    sys.exit(f"FAIL: memdisk-tool verify let {len(failures)} of {len(cases)} damaged copies through")
print(f"ok: memdisk-tool verify refused all {len(cases)} damaged copies, naming the byte")
EOF

# --- 4: the plugin refuses a sample ---
sample=0
for ((n = 0; n < one_size; n += 30 * stride)); do
  # The padding's zeros (format 2.1): a few of them are enough.
  ((n < 40 || n >= 4096 || n % 600 == 0)) || continue
  for kind in flip cut; do
    damaged=$MD_TMP/damaged.snap
    cp -- "$MD_TMP/one.snap" "$damaged"
    if [[ $kind == flip ]]; then
      /usr/bin/python3 -c 'import sys; p, n = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read()); b[n] ^= 1; open(p, "wb").write(b)' "$damaged" "$n"
      what="byte $n flipped"
    else
      truncate -s "$n" "$damaged"
      what="truncated to $n bytes"
    fi
    cp -- "$damaged" "$MD_TMP/before.snap"
    status=0
    err=$(nbdkit -U - "$MEMDISK_PLUGIN" snapshot="$damaged" snapshot-load=eager --run 'echo served' \
          </dev/null 2>&1) || status=$?
    ((status != 0 && status < 128)) || fail "$what: nbdkit exited $status, expected a refusal: $err"
    [[ $err != *served* ]] || fail "$what: nbdkit served the damaged snapshot"
    grep -qE "error: snapshot: cannot load $damaged: (.* at byte [0-9]|the file is [0-9]+ bytes?, too small)" <<<"$err" ||
      fail "$what: the error does not name the file and the byte: $err"
    cmp -s -- "$MD_TMP/before.snap" "$damaged" || fail "$what: the refused start changed the file"
    # A lazy load refuses it at start, or serves and fails the reads of the
    # damaged frame: a whole-disk copy never succeeds.
    err=$(nbdkit -U - "$MEMDISK_PLUGIN" snapshot="$damaged" snapshot-readonly=true \
          --run 'nbdcopy "$uri" null: && echo copied' </dev/null 2>&1) || true
    [[ $err != *copied* ]] || fail "$what: a lazy load served the damaged snapshot whole"
    grep -qE "error: snapshot(: cannot load)? $damaged: (.* at byte [0-9]|the file is [0-9]+ bytes?, too small)" <<<"$err" ||
      fail "$what: the lazy load's error does not name the file and the byte: $err"
    cmp -s -- "$MD_TMP/before.snap" "$damaged" || fail "$what: the lazy load changed the file"
    sample=$((sample + 1))
  done
done
echo "ok: nbdkit refused all $sample damaged snapshots of the sample (eager), never served one whole (lazy)"
