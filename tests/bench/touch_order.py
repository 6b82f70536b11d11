"""The measurements of touch-order.sh: touch_order.py SNAP WORK-DIR SNAPFILE-PY.

The set: BENCH_TOUCH_FRAMES (default 24) frames of SNAP chosen at random
(seed 1) and read in that order, BENCH_TOUCH_READ bytes (default 256 KiB)
from the start of each, one request after the other on one connection, with
BENCH_THINK_MS (default 0 and 2: a row each) between them (a job does work
between the files it reads).  Measured from the nbdkit process's start to
the last byte of the set: start to ready plus the reads.

  plain:  SNAP as converted (no key): the background loader goes in file
          order, the client faults in what it reaches first;
  keyed:  the same frames and index, with the touch order a training run
          recorded (a lazy server, no background loader, the set read once,
          memdisk-tool save): the loader takes the set's frames first.

Both start with the file in the page cache (read through before each
start: a lazy load drops what it loaded).  Alternated, BENCH_ROUNDS
(default 7) each; median and range, and the ratio of medians.  Also the
CPU time of the server (user + system, from /proc/PID/stat at the end
of the set), which load disturbs less than the wall clock, and the median
latency of one read of the set (a read whose frame the loader prefetched
does not wait for a decode).
"""
import os
import random
import shutil
import statistics
import subprocess
import sys
import time

import nbd

snap, work, snapfile = sys.argv[1:4]
plugin = os.environ["MEMDISK_PLUGIN"]
tool = os.environ["MEMDISK_TOOL"]
rounds = int(os.environ.get("BENCH_ROUNDS", "7"))
nframes = int(os.environ.get("BENCH_TOUCH_FRAMES", "24"))
read_len = int(os.environ.get("BENCH_TOUCH_READ", str(256 << 10)))
thinks = [float(t) for t in os.environ.get("BENCH_THINK_MS", "0 2").split()]
pidfile = os.path.join(work, "nbd.pid")
sock = os.path.join(work, "nbd.sock")
uri = "nbd+unix:///?socket=" + sock
tick = os.sysconf("SC_CLK_TCK")

info = subprocess.run([tool, "info", snap], capture_output=True, text=True, check=True).stdout
page_size = int(next(l for l in info.splitlines() if l.startswith("page size")).split("(")[1].split()[0])
frames = [l.split() for l in subprocess.run(["/usr/bin/python3", snapfile, "frames", snap],
                                            capture_output=True, text=True,
                                            check=True).stdout.splitlines()]
random.seed(1)
chosen = random.sample(frames, min(nframes, len(frames)))
offsets = [int(f[3]) * page_size for f in chosen]


def warm_cache(path):
    with open(path, "rb", buffering=0) as f:
        while f.read(8 << 20):
            pass


def start(path, *extra, log=subprocess.DEVNULL):
    warm_cache(path)
    for f in (pidfile, sock):
        if os.path.exists(f):
            os.unlink(f)
    t0 = time.monotonic()
    p = subprocess.Popen(["nbdkit", "-f", "-P", pidfile, "-U", sock, plugin,
                          "snapshot=" + path] + list(extra),
                         stdin=subprocess.DEVNULL, stderr=log)
    while not (os.path.exists(pidfile) and os.path.getsize(pidfile) > 0):
        if p.poll() is not None:
            sys.exit("nbdkit exited with %d" % p.returncode)
        time.sleep(0.0005)
    return p, t0


def read_set(think_ms):
    """Read the set; return each read's latency."""
    h = nbd.NBD()
    h.connect_uri(uri)
    lat = []
    for off in offsets:
        t0 = time.monotonic()
        h.pread(read_len, off)
        lat.append(time.monotonic() - t0)
        if think_ms:
            time.sleep(think_ms / 1000)
    h.shutdown()
    return lat


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick


# The keyed file: a training run records the set's order, a save stores it.
keyed = os.path.join(work, "keyed.snap")
shutil.copyfile(snap, keyed)
p, _ = start(keyed, "snapshot-load-threads=0")
read_set(0)
subprocess.run([tool, "save", keyed], check=True, capture_output=True)
p.terminate()
p.wait()
order = next((l for l in subprocess.run([tool, "info", keyed], capture_output=True,
                                        text=True).stdout.splitlines()
              if l.startswith("touch order")), "none")
print("snapshot:", snap)
print(" ", next(l for l in info.splitlines() if l.startswith("allocated size")))
print("  frames: %d; the set: %d of them, %d KiB read from each; keyed file's %s"
      % (len(frames), len(offsets), read_len >> 10, order))
print("  load average:", open("/proc/loadavg").read().split()[:3], "cpus:", os.cpu_count())

log = os.path.join(work, "nbd.log")
for think in thinks:
    t = {"plain": [], "keyed": []}
    cpu = {"plain": [], "keyed": []}
    lat = {"plain": [], "keyed": []}
    for _ in range(rounds):
        for name, path in (("plain", snap), ("keyed", keyed)):
            with open(log, "w") as err:
                p, t0 = start(path, "snapshot-readonly=true", log=err)
                lat[name] += read_set(think)
                t[name].append(time.monotonic() - t0)
                cpu[name].append(cpu_seconds(p.pid))
                p.terminate()
                p.wait()
    mp, mk = statistics.median(t["plain"]), statistics.median(t["keyed"])
    print("\nstart + the set read, %g ms between reads (median (min-max) of %d, ms):"
          % (think, rounds))
    for name in ("plain", "keyed"):
        print("   %-6s %7.1f (%.1f-%.1f)   server CPU %.2f s   a read of the set: "
              "median %.2f ms" % (name, statistics.median(t[name]) * 1000, min(t[name]) * 1000,
                                  max(t[name]) * 1000, statistics.median(cpu[name]),
                                  statistics.median(lat[name]) * 1000))
    print("   plain / keyed = %.2fx" % (mp / mk))
print("\n  load average at the end:", open("/proc/loadavg").read().split()[:3])
