#!/usr/bin/python3
"""What memdisk-tool should report about a disk, computed from the raw image
with the Python standard library alone, independently of the C code.

    tool_expect.py RAW PAGE_SIZE

prints a JSON object: "virtual-size", "allocated-size" (bytes of pages
holding a non-zero byte), "pages" (how many), "digest" (the content digest
of docs/snapshot-format.md section 7 in format 2.0's composed form, with
regions of 4 MiB, as 16 hex digits), "digest-1.0" (the flat form of format
1.0) and "map" (the
extents as `memdisk-tool map --json` lists them: data where a page holds a
non-zero byte, adjacent pages merged, holes between, clipped to the size).
"""
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from persist_snapfile import xxh64  # noqa: E402  (XXH64 from the spec)

BLOCK = 4096
REGION_BLOCKS = (4 << 20) // BLOCK


def main():
    path, page_size = sys.argv[1], int(sys.argv[2])
    size = os.path.getsize(path)
    zero_page = bytes(page_size)
    data_pages = []
    records = bytearray()
    regions = {}  # region -> its records
    with open(path, "rb") as f:
        page = 0
        while page * page_size < size:
            buf = f.read(page_size).ljust(page_size, b"\0")
            if buf != zero_page:
                data_pages.append(page)
                for b in range(page_size // BLOCK):
                    block = buf[b * BLOCK:(b + 1) * BLOCK]
                    if block.count(0) != BLOCK:
                        index = (page * page_size) // BLOCK + b
                        record = struct.pack("<QQ", index, xxh64(block))
                        records += record
                        region = index // REGION_BLOCKS
                        regions[region] = regions.get(region, b"") + record
            page += 1

    extents, pos, i = [], 0, 0
    while i < len(data_pages):
        first = end = data_pages[i]
        while i < len(data_pages) and data_pages[i] == end:
            end += 1
            i += 1
        start, stop = first * page_size, min(end * page_size, size)
        if start > pos:
            extents.append({"start": pos, "length": start - pos, "data": False})
        extents.append({"start": start, "length": stop - start, "data": True})
        pos = stop
    if size > pos:
        extents.append({"start": pos, "length": size - pos, "data": False})

    json.dump({
        "virtual-size": size,
        "allocated-size": len(data_pages) * page_size,
        "pages": len(data_pages),
        "digest": "%016x" % xxh64(b"".join(
            struct.pack("<QQ", r, xxh64(regions[r])) for r in sorted(regions))),
        "digest-1.0": "%016x" % xxh64(bytes(records)),
        "map": extents,
    }, sys.stdout)
    print()


main()
