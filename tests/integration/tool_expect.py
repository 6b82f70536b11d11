#!/usr/bin/python3
"""What memdisk-tool should report about a disk, computed from the raw image
with the Python standard library alone, independently of the C code.

    tool_expect.py RAW PAGE_SIZE

prints a JSON object: "virtual-size", "allocated-size" (bytes of pages
holding a non-zero byte), "pages" (how many), "digest" (the content digest
of docs/snapshot-format.md section 7, as 16 hex digits) and "map" (the
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


def main():
    path, page_size = sys.argv[1], int(sys.argv[2])
    size = os.path.getsize(path)
    zero_page = bytes(page_size)
    data_pages = []
    records = bytearray()
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
                        records += struct.pack("<QQ", index, xxh64(block))
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
        "digest": "%016x" % xxh64(bytes(records)),
        "map": extents,
    }, sys.stdout)
    print()


main()
