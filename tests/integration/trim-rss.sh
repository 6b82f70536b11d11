#!/usr/bin/env bash
# Zero and trim give memory back: after 256 MiB of writes, a trim of the
# range, and after writing it again a zero of it, lower nbdkit's resident
# set by (nearly) what the writes raised it, and the range reads as zeros
# and is reported as a hole.  Pages come from slabs (src/store/pages.c);
# a freed page's memory must go back to the kernel, not stay in a cache.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_commands nbdkit nbdsh

memdisk_start disk 1G
pid=$(nbdkit_pid disk)

MD_SERVER_PID=$pid nbdsh --base-allocation -u "$(nbdkit_uri disk)" -c '
import os

pid = int(os.environ["MD_SERVER_PID"])
MiB = 1024 * 1024
SPAN = 256 * MiB
# What a freed range may keep resident: slabs still being cut (up to four
# of 2 MiB) and the page table.
SLACK = 32 * MiB

def rss():
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for pid %d" % pid)

def fill(what):
    before = rss()
    chunk = bytes(range(256)) * (4096 * 4)       # 4 MiB, no zero page in it
    for off in range(0, SPAN, len(chunk)):
        h.pwrite(chunk, off)
    grown = rss() - before
    assert grown >= SPAN - SLACK, \
        "%s: writing %d MiB raised RSS by only %d MiB" % (what, SPAN // MiB, grown // MiB)
    return rss()

def check_freed(what, full):
    left = rss()
    assert full - left >= SPAN - SLACK, \
        "%s: RSS went from %d MiB to %d MiB, expected a drop of about %d MiB" \
        % (what, full // MiB, left // MiB, SPAN // MiB)
    for off in (0, SPAN // 2, SPAN - 4096):
        assert h.pread(4096, off) == bytes(4096), "%s: offset %d is not zeros" % (what, off)
    holes = []
    def cb(metacontext, offset, entries, err):
        holes.extend(entries[i] for i in range(0, len(entries), 2)
                     if entries[i + 1] & 1)
    h.block_status(SPAN, 0, cb)
    assert sum(holes) == SPAN, "%s: only %d of %d bytes are reported as holes" \
        % (what, sum(holes), SPAN)
    print("%s: RSS %d MiB after the writes, %d MiB after" % (what, full // MiB, left // MiB))

full = fill("trim")
for off in range(0, SPAN, 64 * MiB):
    h.trim(64 * MiB, off)
check_freed("trim", full)

full = fill("zero")
for off in range(0, SPAN, 64 * MiB):
    h.zero(64 * MiB, off)
check_freed("zero", full)
' || fail "zero or trim did not give the memory back"
echo "ok"
