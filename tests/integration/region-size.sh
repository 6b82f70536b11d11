#!/usr/bin/env bash
# snapshot-region-size through the plugin: a 96 MiB disk saved with
# regions of 256 KiB is a format 2.1 file whose `memdisk-tool info` shows
# the region size and that verifies, and whose frames are those of a
# convert of it (a full save, which keeps its region size); an
# incremental save copies regions.  Restarted lazily without the
# parameter, the server keeps the file's region size: it reads the disk
# back, and its first save copies regions from the file.  Restarted with
# another region size, the first save is full and says why.  Invalid
# values are refused with a message naming the parameter.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
source "$(dirname "$0")/incremental_lib.sh"
require_commands nbdsh
[[ -x ${MEMDISK_TOOL:-} ]] || fail "MEMDISK_TOOL is not set (run the tests with ctest)"
tool () { "$MEMDISK_TOOL" "$@"; }
json () { tool status --json "$1" | /usr/bin/python3 -c "import json, sys; j = json.load(sys.stdin); print($2)"; }

snap=$MD_TMP/disk.snap
export SOURCE_DATE_EPOCH=1700000000

# Refused: not a power of two, too small, too large, not a size, and
# smaller than the page of a new disk (32 KiB).
persist_expect_refusal 96M snapshot-region-size=3M -- snapshot-region-size "'3M'"
persist_expect_refusal 96M snapshot-region-size=2K -- snapshot-region-size
persist_expect_refusal 96M snapshot-region-size=128M -- snapshot-region-size
persist_expect_refusal 96M snapshot-region-size=big -- snapshot-region-size
persist_expect_refusal 96M snapshot="$snap" snapshot-region-size=16K -- \
  snapshot-region-size "page size"

# write URI SEED COUNT: COUNT writes of 64 KiB of random bytes at random
# offsets of the disk.
write () {
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY'
import random, sys
import nbd
uri, seed, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
h = nbd.NBD()
h.connect_uri(uri)
size = h.get_size()
for _ in range(count):
    h.pwrite(rnd.randbytes(65536), rnd.randrange(0, size - 65536))
h.shutdown()
PY
}

# region_is FILE SIZE-TEXT VERSION: what `memdisk-tool info` says.
region_is () {
  local info
  info=$(tool info "$1") || fail "info $1 failed"
  grep -qxF "region size: $2" <<<"$info" || fail "info $1 does not show region size $2: $info"
  grep -qxF "format: memdisk snapshot $3" <<<"$info" || fail "info $1 does not show format $3: $info"
  tool verify "$1" >/dev/null || fail "$1 does not verify"
}

memdisk_start disk -v 96M snapshot="$snap" snapshot-threads=2 snapshot-level=3 \
  snapshot-region-size=256K
uri=$(nbdkit_uri disk)
write "$uri" 1 300
tool save "$snap" >/dev/null || fail "save 1 failed"
region_is "$snap" "256 KiB (262144 bytes)" 2.1
same_as_full "$snap"
[[ $(json "$snap" 'j["last-save"]["regions-copied"]') == 0 ]] || fail "the first save copied regions"
write "$uri" 2 3
tool save "$snap" >/dev/null || fail "save 2 failed"
same_as_full "$snap"
holds_disk "$snap" "$uri"
copied=$(json "$snap" 'j["last-save"]["regions-copied"]')
compressed=$(json "$snap" 'j["last-save"]["regions-compressed"]')
# Three writes of 64 KiB touch at most two 256 KiB regions each.
((copied > 0 && compressed >= 1 && compressed <= 6)) ||
  fail "save 2 copied $copied and compressed $compressed regions for 3 writes"
nbdkit_stop disk

# Restarted lazily without the parameter: the file's region size; the
# disk reads back, and the first save copies from the file.
memdisk_start disk-lazy -v snapshot="$snap" snapshot-threads=2 snapshot-level=3 \
  snapshot-load=lazy snapshot-load-threads=0
uri=$(nbdkit_uri disk-lazy)
holds_disk "$snap" "$uri"
write "$uri" 3 1
tool save "$snap" >/dev/null || fail "the save after a lazy restart failed"
region_is "$snap" "256 KiB (262144 bytes)" 2.1
(($(json "$snap" 'j["last-save"]["regions-copied"]') > 0)) ||
  fail "the save after a lazy restart copied nothing"
same_as_full "$snap"
holds_disk "$snap" "$uri"
nbdkit_stop disk-lazy

# Restarted with another region size: a full first save, which says why,
# then incremental ones at the new size.
memdisk_start disk-1m -v snapshot="$snap" snapshot-threads=2 snapshot-level=3 \
  snapshot-region-size=1M
uri=$(nbdkit_uri disk-1m)
write "$uri" 4 1
tool save "$snap" >/dev/null || fail "the save at 1 MiB regions failed"
region_is "$snap" "1 MiB (1048576 bytes)" 2.1
[[ $(json "$snap" 'j["last-save"]["regions-copied"]') == 0 ]] ||
  fail "a save copied regions of another size"
grep -q "a full save: its region size differs" "$(nbdkit_log disk-1m)" ||
  fail "the log does not say why the save was full"
write "$uri" 5 1
tool save "$snap" >/dev/null || fail "the second save at 1 MiB regions failed"
(($(json "$snap" 'j["last-save"]["regions-copied"]') > 0)) || fail "no copy at 1 MiB regions"
same_as_full "$snap"
holds_disk "$snap" "$uri"
nbdkit_stop disk-1m
echo PASS
