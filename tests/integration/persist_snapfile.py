#!/usr/bin/python3
"""Edit the version fields of a memdisk snapshot, keeping it consistent.

    persist_snapfile.py set-version FILE MAJOR MINOR
        header major/minor and the metadata's "format-version"
    persist_snapfile.py set-features FILE BITS
        the header's required-features bit set
    persist_snapfile.py bomb FILE FRAME COUNT [CREATOR]
        a new snapshot of COUNT data frames, each a copy of the zstd frame
        in the file FRAME (64 MiB of non-zero bytes: 2048 pages of 32 KiB),
        with valid checksums everywhere but the content digest: a small
        file that declares COUNT * 64 MiB of pages.  With COUNT 0, a good
        snapshot of an empty disk of 1 MiB; CREATOR (UTF-8 with
        surrogateescape, so any bytes) is its creator string
    persist_snapfile.py set-digest FILE HEX
        the metadata's "content-digest" (a forgery: the pages no longer
        give it, which only decoding them shows)
    persist_snapfile.py frames FILE
        print one line per data frame: K OFFSET COMPRESSED-SIZE FIRST-PAGE
        LAST-PAGE (from the index)
    persist_snapfile.py damage-frame FILE K
        flip one bit in the middle of data frame K (damage that only
        loading that frame finds: its checksum no longer matches)
    persist_snapfile.py add-touch-order FILE JSON
        append the metadata key "touch-order" with the value JSON (a list
        of integers, or a string: any value the CBOR helper writes) to a
        file that has no such key; the index and footer move with it

Checksums are recomputed (header, metadata, footer: docs/snapshot-format.md
sections 3, 6 and 9), so the result is what a later writer would produce,
not a damaged file.  Only the Python standard library is used; XXH64 is
written from section 12 of the spec.
"""
import struct
import sys

MASK = (1 << 64) - 1
P1, P2, P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9
P4, P5 = 0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5
FOOTER_SIZE = 56


def rotl(x, r):
    return ((x << r) | (x >> (64 - r))) & MASK


def xxh_round(acc, x):
    return (rotl((acc + x * P2) & MASK, 31) * P1) & MASK


def xxh_merge(acc, v):
    return ((acc ^ xxh_round(0, v)) * P1 + P4) & MASK


def xxh64(data, seed=0):
    n, i = len(data), 0
    if n >= 32:
        v = [(seed + P1 + P2) & MASK, (seed + P2) & MASK, seed, (seed - P1) & MASK]
        while i + 32 <= n:
            for k in range(4):
                v[k] = xxh_round(v[k], struct.unpack_from("<Q", data, i + 8 * k)[0])
            i += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & MASK
        for k in range(4):
            h = xxh_merge(h, v[k])
    else:
        h = (seed + P5) & MASK
    h = (h + n) & MASK
    while i + 8 <= n:
        h = (rotl(h ^ xxh_round(0, struct.unpack_from("<Q", data, i)[0]), 27) * P1 + P4) & MASK
        i += 8
    if i + 4 <= n:
        h = (rotl(h ^ (struct.unpack_from("<I", data, i)[0] * P1 & MASK), 23) * P2 + P3) & MASK
        i += 4
    while i < n:
        h = (rotl(h ^ (data[i] * P5 & MASK), 11) * P1) & MASK
        i += 1
    h ^= h >> 33
    h = (h * P2) & MASK
    h ^= h >> 29
    h = (h * P3) & MASK
    h ^= h >> 32
    return h


assert xxh64(b"") == 0xEF46DB3751D8E999 and xxh64(b"abc") == 0x44BC2CF5AD770999


def fix_header_checksum(buf):
    struct.pack_into("<Q", buf, 24, xxh64(bytes(buf[8:24])))


def set_metadata_version(buf, major, minor):
    footer = len(buf) - FOOTER_SIZE
    meta_off, _, index_off, _ = struct.unpack_from("<QQQQ", buf, footer + 16)
    payload = bytes(buf[meta_off + 8:index_off])
    # "format-version" as CBOR text (0x6e = text of 14 bytes), then the
    # array [major, minor]; small numbers (< 24) are one byte each.
    key = b"\x6eformat-version\x82"
    at = payload.find(key)
    if at < 0 or major >= 24 or minor >= 24:
        sys.exit("persist_snapfile.py: cannot find a small format-version in the metadata")
    at += meta_off + 8 + len(key)
    buf[at], buf[at + 1] = major, minor
    payload = bytes(buf[meta_off + 8:index_off])
    struct.pack_into("<Q", buf, footer + 24, xxh64(payload))
    struct.pack_into("<Q", buf, footer + 48, xxh64(bytes(buf[footer + 8:footer + 48])))


def fix_metadata_checksum(buf):
    footer = len(buf) - FOOTER_SIZE
    meta_off, _, index_off, _ = struct.unpack_from("<QQQQ", buf, footer + 16)
    struct.pack_into("<Q", buf, footer + 24, xxh64(bytes(buf[meta_off + 8:index_off])))
    struct.pack_into("<Q", buf, footer + 48, xxh64(bytes(buf[footer + 8:footer + 48])))


def set_metadata_digest(buf, digest):
    footer = len(buf) - FOOTER_SIZE
    meta_off, _, index_off, _ = struct.unpack_from("<QQQQ", buf, footer + 16)
    # "content-digest" as CBOR text, then a uint of 8 bytes (0x1b), big-endian.
    key = b"\x6econtent-digest\x1b"
    at = bytes(buf[meta_off + 8:index_off]).find(key)
    if at < 0:
        sys.exit("persist_snapfile.py: cannot find an 8-byte content-digest in the metadata")
    struct.pack_into(">Q", buf, meta_off + 8 + at + len(key), digest)
    fix_metadata_checksum(buf)


def cbor_head(major, n):
    if n < 24:
        return bytes([major << 5 | n])
    for extra, fmt in ((24, ">B"), (25, ">H"), (26, ">I"), (27, ">Q")):
        if n < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | extra]) + struct.pack(fmt, n)
    raise ValueError(n)


def cbor(value):
    if isinstance(value, int):
        return cbor_head(0, value)
    if isinstance(value, str):
        raw = value.encode("utf-8", "surrogateescape")
        return cbor_head(3, len(raw)) + raw
    if isinstance(value, list):
        return cbor_head(4, len(value)) + b"".join(cbor(v) for v in value)
    if isinstance(value, dict):
        return cbor_head(5, len(value)) + b"".join(cbor(k) + cbor(v) for k, v in value.items())
    raise TypeError(value)


def skippable(payload):
    return struct.pack("<II", 0x184D2A5D, len(payload)) + payload


def make_bomb(path, frame_path, count, creator="a bomb"):
    frame = open(frame_path, "rb").read()
    page_size, frame_pages = 32768, (64 << 20) // 32768
    checksum = xxh64(frame)
    header = bytearray(struct.pack("<II8sHHI", 0x184D2A5D, 24, b"MDSNAPSH", 1, 0, 0) + bytes(8))
    fix_header_checksum(header)
    data_end = 32 + count * len(frame)
    meta = cbor({"format-version": [1, 0],
                 "virtual-size": count * frame_pages * page_size if count else 1 << 20,
                 "page-size": page_size, "allocated-size": count * frame_pages * page_size,
                 "compression-level": 3, "creator": creator, "creation-time": 0,
                 "content-digest": 0 if count else xxh64(b"")})
    index = cbor([[32 + k * len(frame), len(frame), checksum, [k * frame_pages, frame_pages]]
                  for k in range(count)])
    index_off = data_end + 8 + len(meta)
    footer = bytearray(struct.pack("<II8sQQQQ", 0x184D2A5D, 48, b"MDSNAPFT", data_end,
                                   xxh64(meta), index_off, xxh64(index)) + bytes(8))
    struct.pack_into("<Q", footer, 48, xxh64(bytes(footer[8:48])))
    with open(path, "wb") as f:
        f.write(header)
        for _ in range(count):
            f.write(frame)
        f.write(skippable(meta) + skippable(index) + footer)


def add_touch_order(buf, value):
    footer = len(buf) - FOOTER_SIZE
    meta_off, _, index_off, _ = struct.unpack_from("<QQQQ", buf, footer + 16)
    meta = bytearray(buf[meta_off + 8:index_off])
    index = bytes(buf[index_off + 8:footer])
    # A map of fewer than 23 pairs has a one-byte head: one pair more.
    if meta[0] >> 5 != 5 or (meta[0] & 31) >= 23 or b"touch-order" in meta:
        sys.exit("persist_snapfile.py: cannot add touch-order to this metadata")
    meta[0] += 1
    meta += cbor("touch-order") + cbor(value)
    meta = bytes(meta)
    new_index_off = meta_off + 8 + len(meta)
    out = bytearray(buf[:meta_off]) + skippable(meta) + skippable(index)
    out += struct.pack("<II8sQQQQ", 0x184D2A5D, 48, b"MDSNAPFT", meta_off, xxh64(meta),
                       new_index_off, xxh64(index)) + bytes(8)
    at = len(out) - FOOTER_SIZE
    struct.pack_into("<Q", out, at + 48, xxh64(bytes(out[at + 8:at + 48])))
    return out


def cbor_decode(buf, at=0):
    """The index's CBOR (unsigned integers and arrays): (value, next)."""
    major, info = buf[at] >> 5, buf[at] & 31
    at += 1
    if info < 24:
        n = info
    else:
        width = {24: 1, 25: 2, 26: 4, 27: 8}[info]
        n = int.from_bytes(buf[at:at + width], "big")
        at += width
    if major == 0:
        return n, at
    if major == 4:
        items = []
        for _ in range(n):
            item, at = cbor_decode(buf, at)
            items.append(item)
        return items, at
    raise ValueError("unexpected CBOR major type %d in the index" % major)


def read_index(buf):
    """Each frame as (offset, compressed-size, checksum, runs), whatever the
    version: 2.0 entries also hold the region digest, before the runs."""
    footer = len(buf) - FOOTER_SIZE
    _, _, index_off, _ = struct.unpack_from("<QQQQ", buf, footer + 16)
    frames, _ = cbor_decode(bytes(buf[index_off + 8:footer]))
    return [(f[0], f[1], f[2], f[-1]) for f in frames]


def main(argv):
    if len(argv) == 3 and argv[1] == "frames":
        for k, (offset, size, _, runs) in enumerate(read_index(open(argv[2], "rb").read())):
            print(k, offset, size, runs[0], runs[-2] + runs[-1] - 1)
        return
    if len(argv) == 4 and argv[1] == "damage-frame":
        buf = bytearray(open(argv[2], "rb").read())
        offset, size, _, _ = read_index(buf)[int(argv[3])]
        buf[offset + size // 2] ^= 0x10
        open(argv[2], "wb").write(buf)
        return
    if len(argv) == 4 and argv[1] == "add-touch-order":
        import json
        buf = add_touch_order(open(argv[2], "rb").read(), json.loads(argv[3]))
        open(argv[2], "wb").write(buf)
        return
    if len(argv) >= 5 and argv[1] == "bomb":
        make_bomb(argv[2], argv[3], int(argv[4]), *argv[5:6])
        return
    if len(argv) < 3 or argv[1] not in ("set-version", "set-features", "set-digest"):
        sys.exit(__doc__)
    path = argv[2]
    with open(path, "rb") as f:
        buf = bytearray(f.read())
    if argv[1] == "set-version":
        major, minor = int(argv[3]), int(argv[4])
        struct.pack_into("<HH", buf, 16, major, minor)
        set_metadata_version(buf, major, minor)
    elif argv[1] == "set-digest":
        set_metadata_digest(buf, int(argv[3], 16))
    else:
        struct.pack_into("<I", buf, 20, int(argv[3], 0))
    fix_header_checksum(buf)
    with open(path, "wb") as f:
        f.write(buf)


if __name__ == "__main__":
    main(sys.argv)
