#!/usr/bin/python3
"""Prove that a snapshot taken on SIGUSR1 is one instant of the disk.

record: several clients write 4 KiB blocks, each client its own blocks,
  logging every write's issue and acknowledgement times (monotonic clock)
  and a digest of its bytes.  Meanwhile this script makes a naive live copy
  (reading the disk block by block while the clients write, as
  `nbdcopy | zstd` would), then sends SIGUSR1 and waits for the snapshot
  file to appear, and lets the clients write on for a while.

check LOG IMAGE: the image (a restored snapshot, or the naive copy) must be
  explainable by one instant T: every block holds exactly one logged write
  (not torn, not garbage); the writes it shows and the earlier ones to the
  same block are "included", the later ones "excluded"; T exists iff
      max(issue time of included) <= min(ack time of excluded).
  For a snapshot, every write acknowledged before the signal must be
  included and none issued after the file appeared; and the run must have
  tested something: writes issued after the signal and acknowledged before
  the file appeared (during the save) must exist, and some of them must be
  missing from the snapshot (written after its instant).  With --held and
  --release the recorder makes sure of that: the server runs under
  tests/faultinject holding the save at its rename (the file is written,
  not yet in place), and the recorder lets it go on only once the clients
  have made --during more writes.

The check must fail on the naive copy: the shell wrapper asserts that, so
this checker is known to be able to fail.
"""
import argparse
import hashlib
import json
import os
import signal
import struct
import sys
import threading
import time

BLOCK = 4096
MAGIC = b"PIT1"
HEADER = struct.Struct("<4sIII")  # magic, client, seq, block


def digest(data):
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def payload(client, seq, block):
    header = HEADER.pack(MAGIC, client, seq, block)
    return header + os.urandom(BLOCK - len(header))


def record(args):
    import nbd

    def connect():
        h = nbd.NBD()
        h.connect_uri(args.uri)
        return h

    size = connect().get_size()
    nblocks = size // BLOCK
    if args.blocks:
        nblocks = min(nblocks, args.blocks)
    clients = args.clients
    log = {c: [] for c in range(clients)}  # client -> [(seq, block, issue, ack, digest)]

    # Prefill: every block holds write 0 of its owner, acknowledged before
    # anything else happens.
    h = connect()
    for block in range(nblocks):
        client = block % clients
        data = payload(client, 0, block)
        t0 = time.monotonic_ns()
        h.pwrite(data, block * BLOCK)
        log[client].append((0, block, t0, time.monotonic_ns(), digest(data)))

    stop = threading.Event()
    errors = []

    def writer(client):
        try:
            import random
            rng = random.Random(args.seed * 1000 + client)
            conn = connect()
            owned = range(client, nblocks, clients)
            seq = 0
            while not stop.is_set():
                seq += 1
                block = rng.choice(owned)
                data = payload(client, seq, block)
                t_issue = time.monotonic_ns()
                conn.pwrite(data, block * BLOCK)
                t_ack = time.monotonic_ns()
                log[client].append((seq, block, t_issue, t_ack, digest(data)))
        except Exception as e:  # reported by the main thread
            errors.append(f"client {client}: {e}")

    threads = [threading.Thread(target=writer, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()

    # The naive live copy, block by block, while the clients write.
    reader = connect()
    with open(args.naive, "wb") as f:
        for block in range(nblocks):
            f.write(reader.pread(BLOCK, block * BLOCK))

    # The snapshot: a new file at the path (a save renames a new inode
    # over the old file, if there is one).
    def inode():
        try:
            return os.stat(args.snapshot).st_ino
        except FileNotFoundError:
            return None
    old_inode = inode()
    t_signal = time.monotonic_ns()
    os.kill(args.pid, signal.SIGUSR1)
    deadline = time.monotonic() + 60
    if args.held:
        # The save has taken its instant and written the file: writes from
        # now on are after the instant, acknowledged before the file is in
        # place, and must be missing from it.
        while not (os.path.exists(args.held) and ": held" in open(args.held).read()):
            if time.monotonic() > deadline:
                sys.exit("FAIL: the save did not reach its rename within 60 s of SIGUSR1")
            time.sleep(0.005)
        issued = {c: len(log[c]) for c in log}
        # A write in flight when the save stood still may have been issued
        # before: one per client more.
        while sum(len(log[c]) - issued[c] for c in log) < args.during + clients:
            if time.monotonic() > deadline or errors:
                sys.exit("FAIL: the clients did not write while the save stood at its rename"
                         + (": " + "; ".join(errors) if errors else ""))
            time.sleep(0.005)
        open(args.release, "w").close()
    while inode() in (None, old_inode):
        if time.monotonic() > deadline:
            sys.exit("FAIL: the snapshot file did not appear within 60 s of SIGUSR1")
        time.sleep(0.005)
    t_file = time.monotonic_ns()

    # Keep writing a little after the save, so excluded writes exist.
    time.sleep(0.2)
    stop.set()
    for t in threads:
        t.join()
    if errors:
        sys.exit("FAIL: " + "; ".join(errors))

    writes = sum(len(v) for v in log.values()) - nblocks
    print(f"record: {writes} writes by {clients} clients on {nblocks} blocks; "
          f"save took {(t_file - t_signal) / 1e6:.1f} ms after SIGUSR1")
    with open(args.log, "w") as f:
        json.dump({"nblocks": nblocks, "clients": clients, "t_signal": t_signal,
                   "t_file": t_file, "log": log}, f)


def check(args):
    with open(args.log) as f:
        rec = json.load(f)
    nblocks, clients = rec["nblocks"], rec["clients"]
    # (client, seq, block) -> write; block -> its writes in order
    by_id = {}
    per_block = {b: [] for b in range(nblocks)}
    for client, writes in rec["log"].items():
        for seq, block, t_issue, t_ack, dig in writes:
            w = {"client": int(client), "seq": seq, "block": block,
                 "issue": t_issue, "ack": t_ack, "digest": dig}
            by_id[(int(client), seq, block)] = w  # prefill writes are all seq 0
            per_block[block].append(w)

    problems = []
    image_seq = {}
    max_issue_included = None
    min_ack_excluded = None
    with open(args.image, "rb") as f:
        for block in range(nblocks):
            data = f.read(BLOCK)
            magic, client, seq, hblock = HEADER.unpack_from(data)
            w = by_id.get((client, seq, hblock)) if magic == MAGIC else None
            if w is None or hblock != block or w["digest"] != digest(data):
                problems.append(f"block {block} (offset {block * BLOCK}) holds no "
                                "complete logged write: torn or garbage")
                continue
            image_seq[block] = seq
            for other in per_block[block]:
                if other["seq"] <= seq:
                    if max_issue_included is None or other["issue"] > max_issue_included[0]:
                        max_issue_included = (other["issue"], other)
                elif min_ack_excluded is None or other["ack"] < min_ack_excluded[0]:
                    min_ack_excluded = (other["ack"], other)
            if args.snapshot_times:
                for other in per_block[block]:
                    if other["seq"] > seq and other["ack"] < rec["t_signal"]:
                        problems.append(f"block {block}: write {other['seq']} of client "
                                        f"{client} was acknowledged before SIGUSR1 "
                                        "but is missing")
                    if other["seq"] <= seq and other["issue"] > rec["t_file"]:
                        problems.append(f"block {block}: write {other['seq']} was issued "
                                        "after the snapshot file appeared but is in it")

    if args.snapshot_times:
        # The run must have tested the property: writes during the save,
        # some of them (after its instant) left out of the file.
        during = [w for ws in per_block.values() for w in ws
                  if rec["t_signal"] < w["issue"] and w["ack"] < rec["t_file"]]
        left_out = [w for w in during
                    if w["block"] in image_seq and w["seq"] > image_seq[w["block"]]]
        print(f"check: {len(during)} writes during the save, {len(left_out)} of them "
              "not in the snapshot")
        if not during:
            problems.append("no write was made during the save: the run tested nothing")
        elif not left_out:
            problems.append(f"none of the {len(during)} writes made during the save is "
                            "missing from the snapshot: the run did not show an instant")

    if max_issue_included and min_ack_excluded and max_issue_included[0] > min_ack_excluded[0]:
        inc, exc = max_issue_included[1], min_ack_excluded[1]
        problems.append(
            "not point-in-time: write {}/{} to block {} is included but was issued "
            "{:.3f} ms after write {}/{} to block {} was acknowledged, which is "
            "missing".format(inc["client"], inc["seq"], inc["block"],
                             (inc["issue"] - exc["ack"]) / 1e6,
                             exc["client"], exc["seq"], exc["block"]))
    if problems:
        for p in problems[:10]:
            print("check:", p)
        print(f"check: {args.image}: {len(problems)} problem(s)")
        sys.exit(1)
    print(f"check: {args.image}: consistent with one instant")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("record")
    r.add_argument("--uri", required=True)
    r.add_argument("--pid", type=int, required=True)
    r.add_argument("--snapshot", required=True)
    r.add_argument("--log", required=True)
    r.add_argument("--naive", required=True)
    r.add_argument("--clients", type=int, default=4)
    r.add_argument("--seed", type=int, default=1)
    r.add_argument("--held", help="tests/faultinject's log: it says 'held' when the "
                   "save stands at its rename")
    r.add_argument("--release", help="the file whose creation lets the held save go on")
    r.add_argument("--during", type=int, default=200,
                   help="writes the clients make while the save is held (default 200)")
    r.add_argument("--blocks", type=int, default=0,
                   help="write only the first BLOCKS 4 KiB blocks (default: all)")
    c = sub.add_parser("check")
    c.add_argument("--log", required=True)
    c.add_argument("--image", required=True)
    c.add_argument("--snapshot-times", action="store_true",
                   help="also check against the SIGUSR1 and file times")
    args = ap.parse_args()
    record(args) if args.cmd == "record" else check(args)


if __name__ == "__main__":
    main()
