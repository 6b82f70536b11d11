#!/usr/bin/env bash
# Basic I/O through nbdsh: the advertised capabilities, reads and writes
# that straddle page boundaries, zero and trim of partial and whole pages,
# and the far end of the largest disk nbdkit allows (2^63-1 bytes).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
require_commands nbdkit nbdsh

# 300000 bytes: nine 32 KiB pages and a partial tenth.
memdisk_start small 300000
nbdsh --base-allocation -u "$(nbdkit_uri small)" -c '
import nbd

PAGE = 32768
size = h.get_size()
assert size == 300000, "size: expected 300000, got %d" % size

for name in ("can_fua", "can_multi_conn", "can_fast_zero", "can_cache",
             "can_trim", "can_zero", "can_flush"):
    assert getattr(h, name)(), name + " is not advertised"
assert not h.is_read_only(), "disk is read-only"
assert h.can_meta_context("base:allocation"), "no base:allocation"

def expect(offset, data, what):
    got = h.pread(len(data), offset)
    if got != data:
        bad = next(i for i in range(len(data)) if got[i] != data[i])
        raise AssertionError("%s: byte at offset %d is %#x, expected %#x"
                             % (what, offset + bad, got[bad], data[bad]))

# A fresh disk reads as zeros, including the partial last page.
expect(0, bytes(size), "fresh disk")

# Small write across the boundary between pages 0 and 1.
h.pwrite(b"A" * 100, PAGE - 50)
expect(PAGE - 100, bytes(50) + b"A" * 100 + bytes(50), "straddling write")

# A write spanning three pages, with FUA.
pattern = bytes((i * 7 + 3) % 251 for i in range(70000))
h.pwrite(pattern, 2 * PAGE - 1000, nbd.CMD_FLAG_FUA)
expect(2 * PAGE - 1000, pattern, "three-page write")

# The partial last page, up to the very last byte.
h.pwrite(b"END!", size - 4)
expect(size - 10, bytes(6) + b"END!", "write at the end of the disk")

# Zero and trim: partial pages keep their other bytes, whole pages go.
h.pwrite(b"\xff" * (4 * PAGE), 0)
h.zero(1000, 5000)                          # inside page 0
h.zero(PAGE, PAGE, nbd.CMD_FLAG_FAST_ZERO)  # all of page 1
h.trim(100, 3 * PAGE - 50)                  # end of page 2 .. into page 3
h.trim(100, PAGE + 10)                      # inside the freed page 1
expected = bytearray(b"\xff" * (4 * PAGE))
expected[5000:6000] = bytes(1000)
expected[PAGE:2 * PAGE] = bytes(PAGE)
expected[3 * PAGE - 50:3 * PAGE + 50] = bytes(100)
expect(0, bytes(expected), "after zero and trim")

# Zero from inside page 0 to inside page 3: partial, whole, partial.
start, end = PAGE // 2, 3 * PAGE + 1000
h.zero(end - start, start)
expected[start:end] = bytes(end - start)
expect(0, bytes(expected), "zero across pages")

h.flush()
h.cache(PAGE * 3, 0)
expect(0, bytes(expected), "after flush and cache")
print("small disk: ok")
'

memdisk_start huge $((2**63 - 1))
nbdsh --base-allocation -u "$(nbdkit_uri huge)" -c '
import nbd

PAGE = 32768
size = h.get_size()
assert size == 2**63 - 1, "size: expected 2^63-1, got %d" % size

h.pwrite(b"Z", size - 1)
assert h.pread(2, size - 2) == b"\0Z", "last byte of a 2^63-1 byte disk"

# The last page is partial: it starts at 2^63 - PAGE and holds PAGE-1 bytes.
last_page = 2**63 - PAGE
h.pwrite(b"\xab" * 100, last_page - 50)
got = h.pread(200, last_page - 100)
assert got == bytes(50) + b"\xab" * 100 + bytes(50), "write across the last page boundary"

h.zero(10, size - 10)
assert h.pread(6, size - 6) == b"\0" * 6, "zero near the end"

# The disk is sparse: block status over the start reports one big hole.
extents = []
h.block_status(1 << 30, 0,
               lambda ctx, off, entries, err: extents.extend(entries))
assert extents[0] >= 1 << 30 and extents[1] == 3, \
    "start of the huge disk should be a hole, got %r" % extents[:4]
print("huge disk: ok")
'
