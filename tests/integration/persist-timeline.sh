#!/usr/bin/env bash
# Each save logs its steps on the wall clock ("save timeline:", for
# tests/bench/save-stall.sh): every step present, in order, within the
# wall-clock interval in which memdisk-tool save ran, and on the clock
# fio's --log_unix_epoch uses (seconds since the epoch).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands nbdcopy

[[ -x ${MEMDISK_TOOL:-} ]] || fail "MEMDISK_TOOL=${MEMDISK_TOOL:-} is not built"
snap=$MD_TMP/disk.zst
size=$((16 * 1024 * 1024))
persist_make_image "$MD_TMP/disk.img" "$size"
memdisk_start disk -v "$size" snapshot="$snap"
nbdcopy -- "$MD_TMP/disk.img" "$(nbdkit_uri disk)" || fail "nbdcopy into the disk failed"

before=$(date +%s.%N)
"$MEMDISK_TOOL" save "$snap" >/dev/null || fail "memdisk-tool save failed"
after=$(date +%s.%N)

line=$(grep -m1 ': debug: save timeline:' "$(nbdkit_log disk)" || true)
[[ -n $line ]] || fail "no save timeline line in the log: $(grep 'save' "$(nbdkit_log disk)")"
/usr/bin/python3 - "$line" "$before" "$after" <<'PY' || fail "bad save timeline: $line"
import re, sys
line, before, after = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
steps = re.findall(r" (\w+)=(\d+\.\d{6})", line.split("save timeline:", 1)[1])
names = [n for n, _ in steps]
want = ["begin", "instant", "written", "fsynced", "renamed", "released", "end"]
if names != want:
    sys.exit("steps %s, expected %s" % (names, want))
times = [float(t) for _, t in steps]
if times != sorted(times):
    sys.exit("steps out of order: %s" % times)
# The tool asked before the save began and returned after it ended; the
# clocks are the same wall clock (a microsecond's rounding allowed).
if not (before - 1e-6 <= times[0] and times[-1] <= after + 1e-6):
    sys.exit("steps %s..%s outside the tool's %s..%s" % (times[0], times[-1], before, after))
PY
echo "save timeline: ${line#*save timeline:}"
