#!/usr/bin/env bash
# Saves of a 2^63-1 byte disk cost what is allocated, not what is
# addressable: bytes written all over the disk (to its last byte), a save
# (full), more bytes, a save (incremental: the regions nothing touched are
# copied from the file), more bytes, then SIGTERM (the exit save, again
# incremental).  Each save returns within a bound meant for a hang, not a
# timing (the whole test takes about a second; before the walks skipped
# what the page table never allocated, the first incremental save passed
# over each of the disk's 2^41 regions of 4 MiB and never returned, and
# SIGTERM waited for it for ever).  The file verifies, and a server started
# on it alone (lazily, then eagerly) serves the size and every byte
# written.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands timeout
tool () { "$MEMDISK_TOOL" "$@"; }

snap=$MD_TMP/disk.snap
size=9223372036854775807
# Far beyond what these saves take on a loaded machine; a walk over the
# virtual size takes hours.
bound=120

# spots ROUND: the offsets and values ROUND writes, "OFFSET VALUE" a line:
# 40 bytes spread over the disk, the last one included; rounds of one
# parity write the same offsets, in regions of their own but the last.
spots () {
  /usr/bin/python3 - "$size" "$1" <<'PY'
import sys
size, rnd = int(sys.argv[1]), int(sys.argv[2])
for i in range(40):
    off = size - 1 - rnd % 2 if i == 39 else (size // 40) * i + (rnd % 2) * (size // 120) + i * 4099
    print(off, 1 + (rnd * 31 + i * 7) % 250)
PY
}

# write_round NAME ROUND: write ROUND's bytes through server NAME.
write_round () {
  spots "$2" | /usr/bin/python3 -c '
import sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
for line in sys.stdin:
    off, value = map(int, line.split())
    h.pwrite(bytes([value]), off)
h.shutdown()' "$(nbdkit_uri "$1")" || fail "writing round $2 failed"
}

# check_rounds NAME ROUNDS: server NAME serves SIZE bytes holding what
# rounds 0 .. ROUNDS-1 wrote (a later round's byte wins).
check_rounds () {
  local r
  for ((r = 0; r < $2; r++)); do spots "$r"; done | /usr/bin/python3 -c '
import sys, nbd
h = nbd.NBD()
h.connect_uri(sys.argv[1])
if h.get_size() != int(sys.argv[2]):
    sys.exit("the disk is %d bytes, expected %s" % (h.get_size(), sys.argv[2]))
want = {}
for line in sys.stdin:
    off, value = map(int, line.split())
    want[off] = value
for off, value in want.items():
    got = h.pread(1, off)[0]
    if got != value:
        sys.exit("byte %d reads %d, expected %d" % (off, got, value))
h.shutdown()' "$(nbdkit_uri "$1")" "$size" || fail "nbdkit '$1' does not serve the bytes written"
}

# save FILE: memdisk-tool save, within the bound.
save () {
  local out status=0
  out=$(timeout "$bound" "$MEMDISK_TOOL" save "$1" 2>&1) || status=$?
  ((status != 124)) || fail "a save of the $size byte disk did not return in ${bound}s"
  ((status == 0)) || fail "memdisk-tool save $1 failed: $out"
}

last_save () { persist_status "$snap" "j['last-save']['$1']"; }

memdisk_start disk -v size=$size snapshot="$snap"
write_round disk 0
save "$snap"
[[ $(last_save regions-copied) == 0 ]] || fail "the first save copied regions"
write_round disk 1
save "$snap"
[[ $(last_save regions-copied) == 39 && $(last_save regions-compressed) == 40 ]] ||
  fail "the incremental save copied $(last_save regions-copied) and compressed" \
       "$(last_save regions-compressed) regions, expected 39 and 40"
write_round disk 2
nbdkit_stop disk "$bound"
grep -qE "debug: saved $snap \(exit\) in .*, (0 regions cloned, 39 copied|39 regions cloned, 0 copied), 40 compressed( \(the file system cannot clone: [^)]*\))?$" \
  "$(nbdkit_log disk)" || fail "the exit save did not copy 39 regions and compress 40"
persist_verify "$snap"

memdisk_start loaded -v snapshot="$snap"
check_rounds loaded 3
write_round loaded 3
nbdkit_stop loaded "$bound"
grep -qE "debug: saved $snap \(exit\) in .*, (0 regions cloned, 39 copied|39 regions cloned, 0 copied), 40 compressed( \(the file system cannot clone: [^)]*\))?$" \
  "$(nbdkit_log loaded)" || fail "the exit save after a lazy load did not build on the file"
persist_verify "$snap"
memdisk_start eager -v snapshot="$snap" snapshot-load=eager
check_rounds eager 4
nbdkit_stop eager "$bound"
