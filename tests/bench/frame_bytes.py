#!/usr/bin/python3
"""What an incremental save had to write: the bytes of NEW (a snapshot
file) that are not frames shared with OLD (the previous file).

    frame_bytes.py OLD NEW

Walks both files' parts in order (the header, padding frames and zstd data
frames up to the metadata; docs/snapshot-format.md sections 2 and 4), and
prints one line: "FILE_SIZE NEW_FRAMES NEEDED", where NEW_FRAMES counts the
frames of NEW whose bytes are in no frame of OLD (recompressed), and
NEEDED = their bytes, with the padding before each, plus the header, the
metadata, the index and the footer: what a save that shares every other
frame must write at least."""
import hashlib
import struct
import sys


def parts(path):
    d = open(path, "rb").read()
    meta = struct.unpack_from("<Q", d, len(d) - 56 + 16)[0]
    o, pad, frames = 0, 0, []
    while o < meta:
        if struct.unpack_from("<I", d, o)[0] == 0x184D2A5D:
            n = struct.unpack_from("<I", d, o + 4)[0] + 8
            pad, o = (n if o else 0), o + n
            continue
        start, fhd = o, d[o + 4]
        single, did, fcs, chk = (fhd >> 5) & 1, fhd & 3, fhd >> 6, (fhd >> 2) & 1
        o += 5 + (0 if single else 1) + [0, 1, 2, 4][did] + [1 if single else 0, 2, 4, 8][fcs]
        while True:
            bh = d[o] | d[o + 1] << 8 | d[o + 2] << 16
            o += 3 + (1 if (bh >> 1) & 3 == 1 else bh >> 3)
            if bh & 1:
                break
        o += 4 if chk else 0
        frames.append((hashlib.sha256(d[start:o]).digest(), o - start, pad))
        pad = 0
    return len(d), meta, frames


_, _, old = parts(sys.argv[1])
size, meta, new = parts(sys.argv[2])
known = {h for h, _, _ in old}
fresh = [(n, p) for h, n, p in new if h not in known]
needed = 32 + sum(n + p for n, p in fresh) + (size - meta)
print(size, len(fresh), needed)
