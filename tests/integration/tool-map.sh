#!/usr/bin/env bash
# memdisk-tool map: the extents of what was written, from raw images and
# from a disk written by clients through the plugin, human and JSON, and the
# same data/hole picture nbdinfo --map gets from the plugin serving the file.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/tool_lib.sh"
require_commands dd truncate nbdsh nbdinfo
cd "$MD_TMP"

# map --json must equal tool_expect.py's extents (computed from RAW).
check_map() {  # SNAP RAW PAGE_SIZE
  expect_json "$2" "$3" >expect.json
  run_tool 0 "$tool" map --json "$1"
  /usr/bin/python3 -c 'import json, sys
got = json.load(open("out")); want = json.load(open("expect.json"))["map"]
for x in got:
    assert x["depth"] == 0 and x["present"] == x["data"] and x["zero"] == (not x["data"]), x
got = [{"start": x["start"], "length": x["length"], "data": x["data"]} for x in got]
if got != want:
    sys.exit("map --json:\n%s\nexpected:\n%s" % (got, want))' || fail "$1: wrong map"
}

# A known picture, in 32 KiB pages: data in pages 0-1, one byte in page 5,
# 5 MiB (over regions 2 and 3: two frames, merged into one extent) at
# 8 MiB, and the partial last page of a 20 MiB + 1000 byte disk: 4 frames.
size=$(( (20 << 20) + 1000 ))
truncate -s $size disk.img
printf 'start' | dd of=disk.img bs=1 seek=0 conv=notrunc status=none
printf 'x' | dd of=disk.img bs=1 seek=40000 conv=notrunc status=none
printf '\001' | dd of=disk.img bs=1 seek=163840 conv=notrunc status=none
head -c 5M /dev/urandom | dd of=disk.img bs=1M seek=8 conv=notrunc status=none
printf 'tail' | dd of=disk.img bs=1 seek=$(( size - 4 )) conv=notrunc status=none
run_tool 0 "$tool" convert disk.img disk.snap
run_tool 0 "$tool" info --json disk.snap
[[ $(json_get out 'j["frames"]') == 4 ]] || fail "the test wants the data in 4 frames: $(cat out)"
run_tool 0 "$tool" map disk.snap
cat >want <<END
  offset    length  type
       0     65536  data
   65536     98304  hole
  163840     32768  data
  196608   8192000  hole
 8388608   5242880  data
13631488   7340032  hole
20971520      1000  data
END
diff -u want out || fail "map: unexpected output"
check_map disk.snap disk.img 32768

# The same disk in 4 KiB pages, finer extents.
run_tool 0 "$tool" convert --page-size=4K disk.img disk4k.snap
check_map disk4k.snap disk.img 4096
# 1 MiB pages: page 0 holds the first three writes, one extent.
run_tool 0 "$tool" convert --page-size=1M disk.img disk1m.snap
check_map disk1m.snap disk.img 1048576

# Empty and zero-size disks.
run_tool 0 "$tool" create -s 1T empty.snap
run_tool 0 "$tool" map --json empty.snap
[[ $(json_get out 'j') == '[{"start": 0, "length": 1099511627776, "depth": 0, "present": false, "zero": true, "data": false}]' ]] ||
  fail "map of an empty 1T disk: $(cat out)"
run_tool 0 "$tool" create -s 0 zero.snap
run_tool 0 "$tool" map --json zero.snap
[[ $(json_get out 'j') == '[]' ]] || fail "map of a 0-byte disk: $(cat out)"
run_tool 0 "$tool" map zero.snap
[[ $(cat out) == "offset  length  type" ]] || fail "map of a 0-byte disk: $(cat out)"

# A disk written by a client through the plugin and saved at exit.
memdisk_start srv size=16M snapshot="$MD_TMP/written.snap"
nbdsh -u "$(nbdkit_uri srv)" -c '
h.pwrite(b"\xff" * 100, 1 << 20)
h.pwrite(b"\x01" * 70000, 4 << 20)
h.pwrite(b"end", (16 << 20) - 3)
h.pwrite(b"z" * 5000, 2 << 20)
h.zero(32768, 2 << 20)      # zeroing a whole page leaves a hole
'
nbdkit_stop srv
truncate -s 16M written.img
printf '\377%.0s' $(seq 100) | dd of=written.img bs=1 seek=$(( 1 << 20 )) conv=notrunc status=none
head -c 70000 /dev/zero | tr '\0' '\001' | dd of=written.img bs=1 seek=$(( 4 << 20 )) conv=notrunc status=none
printf 'end' | dd of=written.img bs=1 seek=$(( (16 << 20) - 3 )) conv=notrunc status=none
check_map written.snap written.img 32768

# nbdinfo --map sees the same data and holes from the plugin serving it.
memdisk_start ro snapshot="$MD_TMP/written.snap" snapshot-readonly=true
nbdinfo --map --json "$(nbdkit_uri ro)" >nbdinfo.json
run_tool 0 "$tool" map --json written.snap
/usr/bin/python3 -c 'import json, sys
def merged(extents):
    out = []
    for start, length, data in extents:
        if out and out[-1][2] == data and out[-1][0] + out[-1][1] == start:
            out[-1][1] += length
        else:
            out.append([start, length, data])
    return out
nbd = merged((e["offset"], e["length"], not (e["type"] & 1)) for e in json.load(open("nbdinfo.json")))
ours = merged((e["start"], e["length"], e["data"]) for e in json.load(open("out")))
if nbd != ours:
    sys.exit("nbdinfo --map: %s\nmemdisk-tool map: %s" % (nbd, ours))' || fail "map disagrees with nbdinfo --map"

# Errors.
run_tool 1 "$tool" map disk.img
err_has "disk.img: header at byte 0: not a memdisk snapshot"
run_tool 1 "$tool" map nothere.snap
err_has "nothere.snap: cannot open: No such file or directory"
run_tool 2 "$tool" map
err_is_usage map
run_tool 2 "$tool" map --jsn disk.snap
err_has "unknown option '--jsn'"
run_tool 0 "$tool" map --help
out_has "Usage: memdisk-tool map [--json] FILE"
echo PASS
