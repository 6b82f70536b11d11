#!/usr/bin/env bash
# Incremental saves that clone (issue 24): on XFS (reflink) and btrfs,
# each on a loop-mounted image made here, an incremental save shares the
# unchanged frames' blocks with the previous file (FICLONERANGE) instead
# of copying them.  Checked as a user would: `filefrag -v` shows the new
# file's extents shared with the previous one (kept by a hard link), df's
# used bytes grow by much less than the file, the file is byte for byte
# what a full save writes (header, frames, padding, index), it verifies,
# and `zstd -t` and `zstd -d` accept it.  Then the previous file is damaged
# in place behind the server (the save must redo itself full and write a
# good file) and replaced by rename (the server clones from the file it
# holds), and the clone call fails by fault injection (EOPNOTSUPP: the
# save copies, and the log line says why).
#
# Root only (it mounts): not root, it skips (77).  As root a mount that
# fails is a failure: CI runs this as root and must not skip it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
if ((EUID != 0)); then
  echo "SKIP: persist-clone mounts XFS and btrfs images: run it as root"
  exit 77
fi
require_commands nbdsh mkfs.xfs mkfs.btrfs filefrag zstd cmp df losetup
[[ -x ${MEMDISK_TOOL:-} ]] || fail "MEMDISK_TOOL is not set (run the tests with ctest)"
tool () { "$MEMDISK_TOOL" "$@"; }
json () { tool status --json "$1" | /usr/bin/python3 -c "import json, sys; j = json.load(sys.stdin); print($2)"; }
last () { json "$1" "j['last-save']['$2']"; }
export SOURCE_DATE_EPOCH=1700000000
MiB=$((1024 * 1024))

# fill URI SEED REGION...: 3 MiB of half-compressible bytes in each 4 MiB
# region named (frames of about 1.5 MiB at level 1).
fill () {
  /usr/bin/python3 - "$@" <<'PY'
import random, sys
import nbd
uri, seed, regions = sys.argv[1], int(sys.argv[2]), [int(r) for r in sys.argv[3:]]
rnd = random.Random(seed)
h = nbd.NBD()
h.connect_uri(uri)
for r in regions:
    data = b"".join(rnd.randbytes(2048) + bytes([rnd.randrange(256)]) * 2048 for _ in range(768))
    h.pwrite(data, r * 4 * 1024 * 1024 + rnd.randrange(0, 1024) * 1024)
h.shutdown()
PY
}

same_as_full () { persist_same_as_full "$1" 1; }

good_file () {
  tool verify "$1" >/dev/null || fail "$1 does not verify"
  zstd -q -t "$1" || fail "zstd -t refuses $1"
  zstd -q -d -c "$1" >/dev/null || fail "zstd -d refuses $1"
  same_as_full "$1"
}

# shared_bytes FILE: bytes of FILE's extents flagged shared by filefrag.
shared_bytes () {
  filefrag -v -b1 "$1" | /usr/bin/python3 -c '
import re, sys
total = 0
for line in sys.stdin:
    m = re.match(r"\s*\d+:\s*\d+\.\.\s*\d+:\s*\d+\.\.\s*\d+:\s*(\d+):.*shared", line)
    if m:
        total += int(m.group(1))
print(total)'
}

used () { sync; df --output=used -B1 "$1" | tail -1 | tr -d ' '; }

run_on () {
  local fs=$1 mnt=$MD_TMP/$1 name=$1-disk
  local snap=$mnt/disk.snap
  truncate -s 512M "$MD_TMP/$fs.img"
  case $fs in
    xfs) mkfs.xfs -q -m reflink=1 "$MD_TMP/$fs.img" || fail "mkfs.xfs -m reflink=1 failed" ;;
    btrfs) mkfs.btrfs -q "$MD_TMP/$fs.img" || fail "mkfs.btrfs failed" ;;
  esac
  mkdir -p "$mnt"
  mount -o loop "$MD_TMP/$fs.img" "$mnt" 2>"$MD_TMP/mount.err" ||
    fail "cannot mount the $fs image on a loop device (root, but: $(cat "$MD_TMP/mount.err")); this test needs loop devices and $fs"
  PERSIST_MOUNTS=("$mnt" "${PERSIST_MOUNTS[@]}")
  trap persist_cleanup EXIT

  memdisk_start "$name" -v 64M snapshot="$snap" snapshot-level=1 snapshot-threads=2
  local uri
  uri=$(nbdkit_uri "$name")
  fill "$uri" 1 0 1 2 3 4 5 6 7 8 9 10 11
  tool save "$snap" >/dev/null || fail "$fs: the first save failed"
  [[ $(last "$snap" regions-compressed) == 12 ]] || fail "$fs: the first save did not compress 12 regions"
  good_file "$snap"

  # An incremental save, the previous file kept by a hard link to see the
  # sharing.
  ln "$snap" "$mnt/previous.snap"
  fill "$uri" 2 5
  local before after size
  before=$(used "$mnt")
  tool save "$snap" >/dev/null || fail "$fs: the incremental save failed"
  after=$(used "$mnt")
  size=$(stat -c %s "$snap")
  [[ $(last "$snap" regions-cloned) == 11 && $(last "$snap" regions-copied) == 0 &&
     $(last "$snap" regions-compressed) == 1 ]] ||
    fail "$fs: the incremental save cloned $(last "$snap" regions-cloned), copied $(last "$snap" regions-copied), compressed $(last "$snap" regions-compressed), not 11, 0, 1"
  grep -qE "debug: saved $snap \(request\) in .*, 11 regions cloned, 0 copied, 1 compressed$" \
    "$(nbdkit_log "$name")" || fail "$fs: the log line does not count the clones"
  good_file "$snap"
  local shared
  shared=$(shared_bytes "$snap")
  ((shared >= size * 3 / 4)) ||
    fail "$fs: filefrag shows $shared of $size bytes shared with the previous file"
  (((after - before) < size / 4)) ||
    fail "$fs: df's used bytes grew by $((after - before)) for a file of $size bytes"
  echo "$fs: incremental save: $shared of $size bytes shared, df grew by $((after - before))"
  rm "$mnt/previous.snap"

  # The previous file damaged in place, in a frame the next save clones:
  # it must notice, save again in full, and write a good file.
  local frame2
  frame2=$(tool info --json "$snap" >/dev/null; /usr/bin/python3 - "$snap" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
# frame 2 starts at the third 4 KiB boundary after frame 0 and 1: find it
# as the third zstd magic on a 4 KiB boundary.
offs = [o for o in range(4096, len(d), 4096) if d[o:o + 4] == b"\x28\xb5\x2f\xfd"]
print(offs[2] + 1000)
PY
)
  printf 'XXXX' | dd of="$snap" bs=1 seek="$frame2" conv=notrunc status=none
  fill "$uri" 3 7
  tool save "$snap" >/dev/null || fail "$fs: the save after damage failed"
  grep -qE "debug: saved $snap \(request\) in .*, 0 regions cloned, 0 copied, 12 compressed \(a full save: the previous file failed a check\)$" \
    "$(nbdkit_log "$name")" || fail "$fs: the save after damage was not redone in full"
  good_file "$snap"

  # Replaced behind the server by a rename: it clones from the file it holds.
  cp "$snap" "$mnt/other.snap"
  fill "$uri" 4 9
  mv "$mnt/other.snap" "$snap"
  tool save "$snap" >/dev/null || fail "$fs: the save after a replacement failed"
  [[ $(last "$snap" regions-cloned) == 11 ]] || fail "$fs: the save after a replacement did not clone"
  good_file "$snap"
  nbdkit_stop "$name"

  # The clone call refused (fault injection): the save copies, says so.
  LD_PRELOAD=$MEMDISK_FAULTINJECT MEMDISK_FAULT_PROGRAM=nbdkit MEMDISK_FAULT="ficlone:1+:EOPNOTSUPP" \
    MEMDISK_FAULT_LOG="$MD_TMP/fault.log" \
    memdisk_start "$name-fault" -v snapshot="$snap" snapshot-level=1 snapshot-threads=2
  fill "$(nbdkit_uri "$name-fault")" 5 2
  tool save "$snap" >/dev/null || fail "$fs: the save with cloning refused failed"
  grep -q "faultinject: ficlone #1 .*: failed with EOPNOTSUPP" "$MD_TMP/fault.log" ||
    fail "$fs: no clone call was refused"
  [[ $(grep -c "faultinject: ficlone" "$MD_TMP/fault.log") == 1 ]] ||
    fail "$fs: cloning was tried again after a refusal"
  grep -qE "debug: saved $snap \(request\) in .*, 0 regions cloned, 11 copied, 1 compressed \(the file system cannot clone: Operation not supported\)$" \
    "$(nbdkit_log "$name-fault")" || fail "$fs: the log line does not say the save copied and why"
  good_file "$snap"
  nbdkit_stop "$name-fault"
  rm -f "$MD_TMP/fault.log"
}

run_on xfs
run_on btrfs
echo "persist-clone: OK"
