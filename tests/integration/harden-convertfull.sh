#!/usr/bin/env bash
# memdisk-tool convert onto a full disk: raw -> snapshot and snapshot ->
# raw, replacing an existing OUT (--force) or making a new one, on a 4 MiB
# tmpfs (as root) and with every write failing ENOSPC (tests/faultinject,
# as anyone).  Each must exit 1 with an error naming OUT and the cause,
# leave an existing OUT byte for byte and a missing one missing, and leave
# no temporary.  With room again, the same convert succeeds.
# (A save onto a full disk: persist-diskfull.sh.)
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands cmp
[[ -x ${MEMDISK_TOOL:-} ]] || fail "MEMDISK_TOOL is not set (run the tests with ctest)"
[[ -f ${MEMDISK_FAULTINJECT:-} ]] || fail "MEMDISK_FAULTINJECT is not set (run the tests with ctest)"

# 8 runs of 1 MiB of random bytes, 1 MiB apart: 8 MiB of data that no
# compressor can fit in the 4 MiB tmpfs, whatever the draw, in a snapshot
# and in a sparse raw image alike.
size=$((16 * 1024 * 1024))
truncate -s "$size" "$MD_TMP/disk.img"
for ((run = 0; run < 8; run++)); do
  dd if=/dev/urandom of="$MD_TMP/disk.img" bs=1M count=1 seek=$((run * 2)) \
     conv=notrunc status=none iflag=fullblock
done
"$MEMDISK_TOOL" convert "$MD_TMP/disk.img" "$MD_TMP/disk.snap" || fail "convert to a snapshot failed"
truncate -s 1M "$MD_TMP/small.img"
echo "the old OUT" | dd of="$MD_TMP/small.img" conv=notrunc status=none
"$MEMDISK_TOOL" convert "$MD_TMP/small.img" "$MD_TMP/small.snap" || fail "convert to a snapshot failed"

# expect_full_refused DIR HOW IN OUT-NAME OLD [ARGS...]: convert IN to
# DIR/OUT-NAME fails for lack of room; OLD is the file OUT held (empty:
# none).  HOW is "tmpfs" or "shim".
expect_full_refused ()
{
  local dir=$1 how=$2 in=$3 out=$2-$4 old=$5 status=0 err
  shift 5
  out=$dir/$out
  [[ -z $old ]] || cp -- "$old" "$out"
  if [[ $how == shim ]]; then
    err=$(LD_PRELOAD=$MEMDISK_FAULTINJECT MEMDISK_FAULT_PROGRAM=memdisk-tool \
          MEMDISK_FAULT="write:1+:ENOSPC" MEMDISK_FAULT_PATH="$dir/*" \
          MEMDISK_FAULT_LOG=$MD_TMP/faults \
          "$MEMDISK_TOOL" convert "$@" "$in" "$out" 2>&1) || status=$?
    grep -q 'failed with ENOSPC' "$MD_TMP/faults" || fail "the shim failed no write of $out"
    rm -f -- "$MD_TMP/faults"
  else
    err=$("$MEMDISK_TOOL" convert "$@" "$in" "$out" 2>&1) || status=$?
  fi
  local what="convert $* ${in##*/} to ${out#"$MD_TMP/"}"
  ((status == 1)) || fail "$what: exit $status, expected 1: $err"
  [[ $err == *"$out"*"No space left on device"* ]] ||
    fail "$what: the error does not name $out and the cause: $err"
  if [[ -n $old ]]; then
    cmp -s -- "$old" "$out" || fail "$what: the existing OUT was changed"
  else
    [[ ! -e $out ]] || fail "$what: a failed convert left $out"
  fi
  [[ -z $(persist_temporaries "$out") ]] || fail "$what: temporaries left: $(persist_temporaries "$out")"
  rm -f -- "$out"
}

for how in shim tmpfs; do
  if [[ $how == tmpfs ]]; then
    if ((EUID != 0)); then
      echo "note: not root, no tmpfs: the full disk was simulated by the shim only"
      continue
    fi
    dir=$MD_TMP/full
    persist_mount "$dir" -t tmpfs -o size=4m,mode=0755 tmpfs
  else
    dir=$MD_TMP/shim
    mkdir "$dir"
  fi
  expect_full_refused "$dir" "$how" "$MD_TMP/disk.img" new.snap ""
  expect_full_refused "$dir" "$how" "$MD_TMP/disk.img" old.snap "$MD_TMP/small.snap" --force
  expect_full_refused "$dir" "$how" "$MD_TMP/disk.snap" new.raw ""
  expect_full_refused "$dir" "$how" "$MD_TMP/disk.snap" old.raw "$MD_TMP/small.img" --force
  expect_full_refused "$dir" "$how" "$MD_TMP/disk.snap" recompressed.snap "" -O snapshot -l 1
  echo "ok: converts onto a full disk ($how) fail cleanly"
done

# With room, the same converts work: the failures were about space.
"$MEMDISK_TOOL" convert "$MD_TMP/disk.img" "$MD_TMP/again.snap" || fail "convert with room failed"
"$MEMDISK_TOOL" verify "$MD_TMP/again.snap" >/dev/null || fail "the snapshot made with room does not verify"
"$MEMDISK_TOOL" convert "$MD_TMP/again.snap" "$MD_TMP/again.img" || fail "convert back with room failed"
cmp -- "$MD_TMP/disk.img" "$MD_TMP/again.img" || fail "the round trip with room changed the disk"
echo "ok: a convert that does not fit fails cleanly and keeps OUT"
