"""The measurements of lazy-load.sh:
lazy_load.py SNAP WORK-DIR SNAPFILE-PY [BIG-SNAP].

1. start to ready (the pid file appears; nbdkit -f writes it when it
   accepts clients): nbdkit null, memdisk lazy, memdisk eager; median of
   BENCH_ROUNDS (default 5); for SNAP, and for BIG-SNAP when given (the
   goal holds at any size);
2. the first read (4 KiB) of a page whose frame is not loaded, with
   snapshot-load-threads=0: median and max over up to 100 frames, next to
   a read of a page already loaded; then the same for each snapshot of
   BENCH_FRAME_SNAPS (space-separated: the image at other levels and
   region sizes), with its level, region size and file size;
3. start until the background load has ended (the server's -v log line,
   polled every 5 ms) against an eager start;
4. start + `nbdcopy URI null:` of the whole disk, lazy against eager,
   alternated (and a lazy start of BENCH_BASELINE, another build of the
   plugin, when set), with the CPU time of the server and of nbdcopy.

Every start begins with SNAP in the kernel's page cache (read through
once before it): a lazy load drops the frames it loaded from the cache,
an eager one does not, so without this whichever ran after a lazy start
would read from the disk and the order of the runs would decide the
ratios.  A request waits for its whole frame (pages are published only
once the frame's region digest is checked), so which page of the frame
(2) reads does not matter: it reads the first.
"""
import json
import os
import random
import statistics
import subprocess
import sys
import time

import nbd

snap, work, snapfile = sys.argv[1:4]
big_snap = sys.argv[4] if len(sys.argv) > 4 else None
plugin = os.environ["MEMDISK_PLUGIN"]
tool = os.environ["MEMDISK_TOOL"]
rounds = int(os.environ.get("BENCH_ROUNDS", "5"))
pidfile = os.path.join(work, "nbd.pid")
sock = os.path.join(work, "nbd.sock")
uri = "nbd+unix:///?socket=" + sock


def warm_cache(path):
    """Read PATH through, so that it is in the page cache."""
    with open(path, "rb", buffering=0) as f:
        while f.read(8 << 20):
            pass


def start(*args, cached=None):
    """Start nbdkit -f ARGS with CACHED (default SNAP) in the page cache;
    return (process, seconds until the pid file, start time)."""
    warm_cache(cached or snap)
    for f in (pidfile, sock):
        if os.path.exists(f):
            os.unlink(f)
    t0 = time.monotonic()
    p = subprocess.Popen(["nbdkit", "-f", "-P", pidfile, "-U", sock] + list(args),
                         stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not (os.path.exists(pidfile) and os.path.getsize(pidfile) > 0):
        if p.poll() is not None:
            sys.exit("nbdkit %s exited with %d" % (" ".join(args), p.returncode))
        time.sleep(0.0005)
    return p, time.monotonic() - t0, t0


def stop(p):
    """Stop P; return the CPU seconds (user + system) it used."""
    p.terminate()
    _, _, ru = os.wait4(p.pid, 0)
    p.returncode = 0
    return ru.ru_utime + ru.ru_stime


def status(path):
    out = subprocess.run([tool, "status", "--json", path], capture_output=True, text=True)
    return json.loads(out.stdout) if out.returncode == 0 else None


lazy_ro = [plugin, "snapshot=" + snap, "snapshot-readonly=true"]
eager_ro = lazy_ro + ["snapshot-load=eager"]
info = subprocess.run([tool, "info", snap], capture_output=True, text=True).stdout
allocated = next(l for l in info.splitlines() if l.startswith("allocated size"))
print("snapshot:", snap)
print(" ", allocated)
print("  load average:", open("/proc/loadavg").read().split()[:3], "cpus:", os.cpu_count())


# 1. start to ready
def ready_times(path):
    """Print the median start-to-ready times for PATH."""
    lazy_args = [plugin, "snapshot=" + path, "snapshot-readonly=true"]
    ready = {"null": [], "lazy": [], "eager": []}
    for _ in range(rounds):
        for name, args in (("null", ["null", "1G"]), ("lazy", lazy_args),
                           ("eager", lazy_args + ["snapshot-load=eager"])):
            p, t, _ = start(*args, cached=path)
            ready[name].append(t)
            stop(p)
    med = {k: statistics.median(v) for k, v in ready.items()}
    for k in ("null", "lazy", "eager"):
        print("   %-6s %8.1f" % (k, med[k] * 1000))
    print("   lazy - null = %.1f ms (goal <= 50 ms); eager / lazy = %.1fx"
          % ((med["lazy"] - med["null"]) * 1000, med["eager"] / med["lazy"]))


print("\n1. start to ready (median of %d, ms):" % rounds)
ready_times(snap)
if big_snap:
    big_info = subprocess.run([tool, "info", big_snap], capture_output=True, text=True).stdout
    print("\n1b. the same for %s (%s):" % (os.path.basename(big_snap), next(
        l for l in big_info.splitlines() if l.startswith("allocated size")).strip()))
    ready_times(big_snap)

# 2. first read of an unloaded frame
def first_reads(path):
    """(first reads, reads again) of up to 100 random unloaded frames of
    PATH, in seconds, by a server with no background loader."""
    frames = [l.split() for l in subprocess.run(["/usr/bin/python3", snapfile, "frames", path],
                                                capture_output=True, text=True).stdout.splitlines()]
    text = subprocess.run([tool, "info", path], capture_output=True, text=True).stdout
    page_size = int(next(l for l in text.splitlines()
                         if l.startswith("page size")).split("(")[1].split()[0])
    random.seed(1)
    chosen = random.sample(frames, min(100, len(frames)))
    p, _, _ = start(plugin, "snapshot=" + path, "snapshot-readonly=true",
                    "snapshot-load-threads=0", cached=path)
    h = nbd.NBD()
    h.connect_uri(uri)
    first, again = [], []
    for f in chosen:
        off = int(f[3]) * page_size
        t0 = time.monotonic()
        h.pread(4096, off)
        first.append(time.monotonic() - t0)
        t0 = time.monotonic()
        h.pread(4096, off)
        again.append(time.monotonic() - t0)
    h.shutdown()
    stop(p)
    return first, again


first, again = first_reads(snap)
print("\n2. first 4 KiB read of a frame not loaded (%d frames, ms):" % len(first))
print("   median %.2f, max %.2f (goal <= 5); the same page again: median %.3f"
      % (statistics.median(first) * 1000, max(first) * 1000, statistics.median(again) * 1000))
frame_snaps = os.environ.get("BENCH_FRAME_SNAPS", "").split()
if frame_snaps:
    print("\n2b. the same by level and region size (ms; file bytes):")
    print("   %-5s %-14s %8s %8s %8s %12s" % ("level", "region size", "median", "max", "again",
                                              "file bytes"))
    for path in frame_snaps:
        text = subprocess.run([tool, "info", path], capture_output=True, text=True).stdout
        field = {l.split(":")[0]: l.split(":", 1)[1].strip() for l in text.splitlines() if ":" in l}
        first, again = first_reads(path)
        print("   %-5s %-14s %8.2f %8.2f %8.3f %12d"
              % (field["compression level"], field["region size"].split(" (")[0],
                 statistics.median(first) * 1000, max(first) * 1000,
                 statistics.median(again) * 1000, os.path.getsize(path)))

# 3. background load vs eager: until the server logs the end of the
# background load (-v), polled in its log file every 5 ms (cheaper than
# asking memdisk-tool status, a process each time, on a small machine).
log = os.path.join(work, "nbd.log")
bg, eager_t = [], []
for _ in range(max(1, rounds // 2)):
    warm_cache(snap)
    with open(log, "w") as err:
        for f in (pidfile, sock):
            if os.path.exists(f):
                os.unlink(f)
        t0 = time.monotonic()
        p = subprocess.Popen(["nbdkit", "-f", "-v", "-P", pidfile, "-U", sock] + lazy_ro,
                             stdin=subprocess.DEVNULL, stderr=err)
        while "in the background in" not in open(log).read():
            if p.poll() is not None:
                sys.exit("nbdkit exited during the background load")
            time.sleep(0.005)
    bg.append(time.monotonic() - t0)
    stop(p)
    p, t, _ = start(*eager_ro)
    eager_t.append(t)
    stop(p)
b, e = statistics.median(bg), statistics.median(eager_t)
print("\n3. start until the background load has ended vs an eager start (median, s):")
print("   lazy %.3f, eager %.3f: lazy / eager = %.2fx (goal <= 1.1x)" % (b, e, b / e))

# 4. start + whole-disk copy
baseline = os.environ.get("BENCH_BASELINE")
runs = [("lazy", lazy_ro), ("eager", eager_ro)]
if baseline:
    runs.append(("lazy-base", [baseline] + lazy_ro[1:]))
copy_t = {name: [] for name, _ in runs}
cpu = {name: [] for name, _ in runs}
for _ in range(max(1, rounds // 2)):
    for name, args in runs:
        p, _, t0 = start(*args)
        c = subprocess.Popen(["nbdcopy", uri, "null:"])
        _, status, ru = os.wait4(c.pid, 0)
        if status != 0:
            sys.exit("nbdcopy failed")
        copy_t[name].append(time.monotonic() - t0)
        cpu[name].append((stop(p), ru.ru_utime + ru.ru_stime))
print("\n4. start + nbdcopy of the whole disk (s; median [min-max]; CPU s of server, nbdcopy):")
med = {}
for name, _ in runs:
    v = copy_t[name]
    med[name] = statistics.median(v)
    print("   %-9s %.3f [%.3f-%.3f]  cpu %.2f, %.2f" % (
        name, med[name], min(v), max(v), statistics.median(x[0] for x in cpu[name]),
        statistics.median(x[1] for x in cpu[name])))
print("   lazy / eager = %.2fx (goal <= 1.1x)" % (med["lazy"] / med["eager"]))
if baseline:
    print("   lazy-base / eager = %.2fx; lazy / lazy-base = %.2fx (%s)"
          % (med["lazy-base"] / med["eager"], med["lazy"] / med["lazy-base"], baseline))
print("\n  load average at the end:", open("/proc/loadavg").read().split()[:3])
