#!/usr/bin/env bash
# allocator=malloc gives what nbdkit memory's allocator=malloc gives: the
# whole disk in memory from the start (VmRSS at the disk's size before any
# client, like memory's), no allocation on a first write, trim and zero
# that keep the memory, the whole disk reported as data; mlock=true in the
# allocator's parameters locks it; a disk that does not fit is refused at
# start with both numbers; a snapshot loads into it, lazily (frames load
# into the pages put aside at start) or eagerly, and is saved at exit.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/persist_lib.sh"
require_commands nbdsh

MiB=$((1024 * 1024))
SIZE=$((256 * MiB))
# What a server holds besides the disk: nbdkit, the libraries, the page
# table, threads' stacks.  A sparse server with no data stays below it.
SLACK=$((48 * MiB))
# The most a server may hold: the disk and that; under a sanitizer also
# its shadow memory (an eighth) and ASan's quarantine of freed buffers
# (the decoders', 256 MiB by default).
UPPER=$((SIZE + SLACK))
[[ -z ${MEMDISK_SANITIZE:-} ]] || UPPER=$((UPPER + SIZE / 8 + 256 * MiB))

rss () { awk '$1 == "VmRSS:" { print $2 * 1024 }' "/proc/$(nbdkit_pid "$1")/status"; }

# The reference: nbdkit memory allocator=malloc is resident at start.
nbdkit_start memory memory $SIZE allocator=malloc
ref=$(rss memory)
((ref >= SIZE)) || fail "nbdkit memory allocator=malloc: VmRSS $ref at start (the reference changed?)"
nbdkit_stop memory

memdisk_start sparse $SIZE
sparse=$(rss sparse)
((sparse < SLACK)) || fail "a sparse server of $SIZE bytes holds $sparse bytes at start"
nbdkit_stop sparse

memdisk_start disk $SIZE allocator=malloc
start=$(rss disk)
((start >= SIZE)) || fail "allocator=malloc: VmRSS $start at start, less than the disk's $SIZE"
((start <= UPPER)) || fail "allocator=malloc: VmRSS $start at start, far above the disk's $SIZE"

MD_SERVER_PID=$(nbdkit_pid disk) MD_SIZE=$SIZE MD_SLACK=$((8 * MiB)) \
nbdsh --base-allocation -u "$(nbdkit_uri disk)" -c '
import os
pid, size, slack = (int(os.environ[k]) for k in ("MD_SERVER_PID", "MD_SIZE", "MD_SLACK"))
MiB = 1024 * 1024

def rss():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024

def data_bytes():
    found = []
    def cb(metacontext, offset, entries, err):
        found.extend(entries[i] for i in range(0, len(entries), 2) if not entries[i + 1] & 1)
    h.block_status(size, 0, cb)
    return sum(found)

start = rss()
assert data_bytes() == size, "not the whole disk is reported as data"
chunk = bytes(range(1, 256)) * (MiB // 255 + 1)
# 64 KiB requests: nbdkit keeps a buffer of a request'"'"'s size per thread.
for off in range(0, 64 * MiB, 64 * 1024):
    h.pwrite(chunk[:64 * 1024], off)
assert rss() <= start + slack, "first writes raised VmRSS from %d to %d" % (start, rss())
h.trim(32 * MiB, 0)
h.zero(32 * MiB, 32 * MiB)
assert h.pread(4096, 0) == bytes(4096) and h.pread(4096, 48 * MiB) == bytes(4096), \
    "trimmed or zeroed bytes are not zeros"
assert rss() >= size, "trim and zero gave memory back: VmRSS %d" % rss()
assert data_bytes() == size, "a trimmed range is reported as a hole"
h.pwrite(chunk[:4096], 100 * MiB + 5)
assert h.pread(4096, 100 * MiB + 5) == chunk[:4096]
' || fail "allocator=malloc does not behave as nbdkit memory allocator=malloc"
nbdkit_stop disk

# mlock=true as memory takes it: the disk is locked.  (Sanitizers lock
# their terabytes of shadow memory too: not a configuration anyone runs.)
if [[ -z ${MEMDISK_SANITIZE:-} ]]; then
  memdisk_start locked $SIZE allocator=malloc,mlock=true
  locked=$(awk '$1 == "VmLck:" { print $2 * 1024 }' "/proc/$(nbdkit_pid locked)/status")
  ((locked >= SIZE)) || fail "allocator=malloc,mlock=true: VmLck is $locked bytes"
  nbdkit_stop locked
fi

# A disk that cannot fit is refused before anything is allocated.
huge=$((2**50))
err=$(nbdkit -U - "$MEMDISK_PLUGIN" $huge allocator=malloc --run true 2>&1) &&
  fail "allocator=malloc accepted a disk of $huge bytes"
[[ $err =~ "a disk of $huge bytes needs $huge bytes of memory at start, more than the "([0-9]+)" bytes this server can have" ]] ||
  fail "the refusal does not name both numbers: $err"
((BASH_REMATCH[1] < huge)) || fail "the refusal's available memory is not below the need: $err"

# A snapshot loads into it, lazily and eagerly, and is saved at exit.
img=$MD_TMP/disk.img
snap=$MD_TMP/disk.snap
persist_make_image "$img" $((64 * MiB))
"$MEMDISK_TOOL" convert "$img" "$snap" >/dev/null
for load in "snapshot-load=lazy snapshot-load-threads=0" "snapshot-load=lazy" "snapshot-load=eager"; do
  # shellcheck disable=SC2086
  memdisk_start loaded $SIZE snapshot="$snap" allocator=malloc $load
  got=$(rss loaded)
  ((got >= SIZE)) || fail "allocator=malloc with $load: VmRSS $got at start"
  [[ $(persist_status "$snap" '[j["allocator"], j["resident-size"] + j["in-file-size"] == j["allocated-size"] == j["virtual-size"]]') == "['malloc', True]" ]] ||
    fail "allocator=malloc with $load: status $("$MEMDISK_TOOL" status "$snap")"
  persist_disk_image loaded "$MD_TMP/read.img"
  cmp -n $((64 * MiB)) "$img" "$MD_TMP/read.img" || fail "allocator=malloc with $load: the disk is not the snapshot's"
  cmp -i $((64 * MiB)) -n $((SIZE - 64 * MiB)) "$MD_TMP/read.img" /dev/zero ||
    fail "allocator=malloc with $load: the grown part is not zeros"
  got=$(rss loaded)
  ((got <= UPPER)) || fail "allocator=malloc with $load: VmRSS $got after reading, above the disk's $SIZE"
  nbdkit_stop loaded
done
memdisk_start loaded snapshot="$snap" allocator=malloc
nbdsh -u "$(nbdkit_uri loaded)" -c 'h.pwrite(b"saved by malloc" * 100, 12345)'
nbdkit_stop loaded
persist_snapshot_image "$snap" "$MD_TMP/saved.img"
printf 'saved by malloc%.0s' {1..100} | cmp -i 0:12345 -n 1500 - "$MD_TMP/saved.img" ||
  fail "the exit save of an allocator=malloc disk lost a write"
echo ok
