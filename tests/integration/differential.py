"""Differential test: memdisk must behave like nbdkit's memory plugin.

One random sequence of NBD requests (writes of random, constant and zero
data, zero, trim, read, block status; unaligned and page-straddling
offsets and lengths; FUA and other flags) goes to both servers, which
serve disks of the same size.  Every read must return the same bytes from
both, and every range memdisk reports as a hole in base:allocation must
read as zeros from both.  At the end the whole disk (or, for a huge disk,
every area the requests touched) is compared.

The sequence depends only on the seed, so a failure is reproducible.

Usage: differential.py SEED REQUESTS MEMDISK_URI MEMORY_URI
Run by differential.sh; needs Debian's /usr/bin/python3 (module nbd).
"""

import random
import sys

import nbd

PAGE = 32768                    # memdisk's page size (STORE_DEFAULT_PAGE_SIZE)
AREA = 2 * 1024 * 1024          # width of each area requests go to
HOLE_READ_LIMIT = 1024 * 1024   # holes up to this long are read in full


class Mismatch(Exception):
    pass


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def describe(op, offset, length, flags):
    names = [name for bit, name in ((nbd.CMD_FLAG_FUA, "FUA"),
                                    (nbd.CMD_FLAG_NO_HOLE, "NO_HOLE"),
                                    (nbd.CMD_FLAG_FAST_ZERO, "FAST_ZERO"),
                                    (nbd.CMD_FLAG_REQ_ONE, "REQ_ONE"))
             if flags & bit]
    return "%s offset=%d length=%d%s" % (
        op, offset, length, " flags=" + "|".join(names) if names else "")


class Differential:
    def __init__(self, seed, memdisk_uri, memory_uri):
        self.rng = random.Random(seed)
        self.memdisk = self.connect(memdisk_uri)
        self.memory = self.connect(memory_uri)
        self.size = self.memdisk.get_size()
        if self.memory.get_size() != self.size:
            raise Mismatch("sizes differ: memdisk %d, memory %d"
                           % (self.size, self.memory.get_size()))
        if not self.memdisk.can_meta_context(nbd.CONTEXT_BASE_ALLOCATION):
            raise Mismatch("memdisk does not offer base:allocation")
        self.areas = self.choose_areas()
        self.current = "connecting"

    @staticmethod
    def connect(uri):
        h = nbd.NBD()
        h.add_meta_context(nbd.CONTEXT_BASE_ALLOCATION)
        h.connect_uri(uri)
        return h

    def choose_areas(self):
        """Where requests go: the whole disk if small, else a few 2 MiB
        areas: the start, the (unaligned) end, and some in between."""
        if self.size <= 4 * AREA:
            return [(0, self.size)]
        starts = [0, self.size - AREA]
        for _ in range(3):
            starts.append(self.rng.randrange(0, self.size - AREA) // PAGE * PAGE
                          - self.rng.randrange(0, PAGE))
        return [(max(0, s), min(self.size, max(0, s) + AREA)) for s in starts]

    def random_range(self, max_length=8 * PAGE):
        lo, hi = self.rng.choice(self.areas)
        if self.rng.random() < 0.5:
            # Near a page boundary, so requests start and end mid-page.
            boundary = self.rng.randrange(lo // PAGE, hi // PAGE + 1) * PAGE
            offset = boundary + self.rng.randint(-64, 64)
        else:
            offset = self.rng.randrange(lo, hi)
        offset = min(max(offset, lo), hi - 1)
        kind = self.rng.random()
        if kind < 0.3:
            length = self.rng.randint(1, 16)
        elif kind < 0.6:
            length = self.rng.randint(1, 4096)
        elif kind < 0.9:
            length = self.rng.randint(1, 3 * PAGE)
        else:
            length = self.rng.randint(1, max_length)
        return offset, min(length, hi - offset)

    def random_flags(self, *choices):
        flags = 0
        for flag in choices:
            if self.rng.random() < 0.3:
                flags |= flag
        return flags

    def compare(self, offset, length):
        a = self.memdisk.pread(length, offset)
        b = self.memory.pread(length, offset)
        if a != b:
            i = first_difference(a, b)
            raise Mismatch("reads differ: at offset %d memdisk has %#04x, memory has %#04x"
                           % (offset + i, a[i], b[i]))

    def check_zeros(self, offset, length):
        """Both servers must read zeros in [offset, offset+length)."""
        if length <= HOLE_READ_LIMIT:
            pieces = [(offset, length)]
        else:
            pieces = [(offset, 65536), (offset + length - 65536, 65536)]
            for _ in range(8):
                pieces.append((self.rng.randrange(offset, offset + length - 4096), 4096))
        for off, n in pieces:
            for name, h in (("memdisk", self.memdisk), ("memory", self.memory)):
                data = h.pread(n, off)
                if data.count(0) != n:
                    i = next(j for j, byte in enumerate(data) if byte)
                    raise Mismatch("memdisk reports a hole at [%d, %d) but "
                                   "%s reads %#04x at offset %d"
                                   % (offset, offset + length, name,
                                      data[i], off + i))

    def block_status(self, offset, length, flags):
        entries = []

        def extent(context, _offset, es, _err):
            if context == nbd.CONTEXT_BASE_ALLOCATION:
                entries.extend(es)
            return 0

        self.memdisk.block_status(length, offset, extent, flags)
        extents = list(zip(entries[0::2], entries[1::2]))
        if not extents:
            raise Mismatch("no extents returned")
        if flags & nbd.CMD_FLAG_REQ_ONE and len(extents) != 1:
            raise Mismatch("REQ_ONE but %d extents" % len(extents))
        pos, end = offset, offset + length
        for ext_len, ext_flags in extents:
            if ext_len == 0 or ext_flags not in (0, nbd.STATE_HOLE | nbd.STATE_ZERO):
                raise Mismatch("bad extent (length %d, flags %d) at %d"
                               % (ext_len, ext_flags, pos))
            if pos >= end:
                raise Mismatch("extent at %d is beyond the request" % pos)
            if ext_flags:
                self.check_zeros(pos, min(ext_len, end - pos))
            pos += ext_len
        if not flags & nbd.CMD_FLAG_REQ_ONE and pos < end:
            raise Mismatch("extents end at %d, before the request's end %d"
                           % (pos, end))

    def both(self, method, *args):
        getattr(self.memdisk, method)(*args)
        getattr(self.memory, method)(*args)

    def request(self, number):
        """Send one random request to both servers.  Sets self.current to
        its description first, for the failure message."""
        FUA, NO_HOLE = nbd.CMD_FLAG_FUA, nbd.CMD_FLAG_NO_HOLE
        FAST_ZERO, REQ_ONE = nbd.CMD_FLAG_FAST_ZERO, nbd.CMD_FLAG_REQ_ONE
        op = self.rng.choices(
            ["write-random", "write-constant", "write-zeros", "zero", "trim",
             "read", "block-status"],
            weights=[25, 10, 8, 12, 10, 20, 15])[0]
        if op == "block-status" and self.rng.random() < 0.1:
            # Sometimes a long one, crossing areas and large holes.
            offset, _ = self.rng.choice(self.areas)
            length = min(self.size - offset, self.rng.randint(1, 2**32 - 1))
        else:
            offset, length = self.random_range()
        flags = {"write-random": self.random_flags(FUA),
                 "write-constant": self.random_flags(FUA),
                 "write-zeros": self.random_flags(FUA),
                 "zero": self.random_flags(FUA, NO_HOLE, FAST_ZERO),
                 "trim": self.random_flags(FUA),
                 "read": 0,
                 "block-status": self.random_flags(REQ_ONE)}[op]
        what = "request #%d: %s" % (number, describe(op, offset, length, flags))
        self.current = what

        if op == "write-random":
            self.both("pwrite", self.rng.randbytes(length), offset, flags)
        elif op == "write-constant":
            byte = self.rng.randrange(1, 256)
            self.both("pwrite", bytes([byte]) * length, offset, flags)
        elif op == "write-zeros":
            self.both("pwrite", bytes(length), offset, flags)
        elif op == "zero":
            self.both("zero", length, offset, flags)
        elif op == "trim":
            self.both("trim", length, offset, flags)
        elif op == "read":
            self.compare(offset, length)
        else:
            self.block_status(offset, length, flags)
        return what

    def final_check(self):
        for lo, hi in self.areas:
            for offset in range(lo, hi, 1024 * 1024):
                n = min(1024 * 1024, hi - offset)
                self.current = "final check of [%d, %d)" % (offset, offset + n)
                self.compare(offset, n)
                self.block_status(offset, n, 0)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    seed, requests = int(sys.argv[1]), int(sys.argv[2])
    memdisk_uri, memory_uri = sys.argv[3], sys.argv[4]

    test = Differential(seed, memdisk_uri, memory_uri)
    recent = []
    try:
        for number in range(1, requests + 1):
            recent = (recent + [test.request(number)])[-8:]
        test.final_check()
    except (Mismatch, nbd.Error) as e:
        print("FAIL: seed %d, size %d, %s\n  %s" % (seed, test.size, test.current, e),
              file=sys.stderr)
        print("the requests before it were:\n  " + "\n  ".join(recent or ["(none)"]),
              file=sys.stderr)
        sys.exit(1)
    print("seed %d: %d requests on a %d byte disk agree" % (seed, requests, test.size))


if __name__ == "__main__":
    main()
