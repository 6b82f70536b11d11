#!/usr/bin/python3
"""The figures of tests/bench/reset.sh: reset_bench.py SNAPSHOT WORKDIR."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

import nbd

SNAP, WORK = sys.argv[1], sys.argv[2]
PLUGIN, TOOL = os.environ["MEMDISK_PLUGIN"], os.environ["MEMDISK_TOOL"]
RUN = os.path.join(WORK, "run.snap")       # the servers' copy: never the cache
SOCK, PID = os.path.join(WORK, "nbd.sock"), os.path.join(WORK, "nbd.pid")
CHUNK = 64 * 1024


def start(*params):
    """Start a server on RUN; seconds until it serves."""
    for f in (SOCK, PID):
        if os.path.exists(f):
            os.unlink(f)
    t0 = time.monotonic()
    proc = subprocess.Popen(["nbdkit", "-f", "-U", SOCK, "-P", PID, PLUGIN,
                             "snapshot=" + RUN, *params])
    while not os.path.exists(PID) or os.path.getsize(PID) == 0:
        if proc.poll() is not None:
            sys.exit("reset: nbdkit did not start")
        time.sleep(0.001)
    return proc, time.monotonic() - t0


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait()


def status():
    out = subprocess.run([TOOL, "status", "--json", RUN], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def wait_loaded():
    while status().get("load") not in ("loaded", "eager"):
        time.sleep(0.05)


def full_read():
    """Seconds to read the whole disk once, 1 MiB at a time."""
    h = nbd.NBD()
    h.connect_unix(SOCK)
    size, step = h.get_size(), 1 << 20
    t0 = time.monotonic()
    for off in range(0, size, step):
        h.pread(min(step, size - off), off)
    seconds = time.monotonic() - t0
    h.shutdown()
    return seconds


def scribble(fraction, seed):
    """Scattered 64 KiB writes over FRACTION of the allocated data."""
    st = status()
    h = nbd.NBD()
    h.connect_unix(SOCK)
    size = h.get_size()
    count = max(1, int(st["allocated-size"] * fraction / CHUNK))
    r = random.Random(seed)
    for _ in range(count):
        off = r.randrange(0, size // CHUNK) * CHUNK
        h.pwrite(bytes([r.randrange(1, 256)]) * CHUNK, off)
    h.flush()
    h.shutdown()
    return count


def reset():
    t0 = time.monotonic()
    out = subprocess.run([TOOL, "reset", "--json", RUN], check=True,
                         capture_output=True, text=True).stdout
    wall = time.monotonic() - t0
    j = json.loads(out)
    return wall, float(j["duration"]), int(j["regions"])


def main():
    shutil.copyfile(SNAP, RUN)
    print(f"fixture: {SNAP}, {os.path.getsize(SNAP)} bytes")
    proc, _ = start()
    wait_loaded()
    full_read()
    warm = full_read()
    print(f"warm full read: {warm * 1000:.1f} ms")
    print(f"{'case':<24}{'ready ms':>12}{'server ms':>12}{'regions':>9}"
          f"{'read ms':>10}{'read/warm':>11}")
    for pct in (0.1, 1, 10):
        writes = scribble(pct / 100, int(pct * 10))
        wall, server, regions = reset()
        read = full_read()
        print(f"{f'reset, {pct} % changed':<24}{wall * 1000:>12.2f}{server * 1000:>12.3f}"
              f"{regions:>9}{read * 1000:>10.1f}{read / warm:>11.2f}   ({writes} writes)")
        full_read()              # warm again for the next case
    stop(proc)
    for mode in ("lazy", "eager"):
        proc, ready = start("snapshot-load=" + mode)
        read = full_read()
        print(f"{f'restart, {mode} load':<24}{ready * 1000:>12.2f}{'':>12}{'':>9}"
              f"{read * 1000:>10.1f}{read / warm:>11.2f}")
        stop(proc)


main()
