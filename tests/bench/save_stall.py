#!/usr/bin/python3
"""The figures and the plot of save-stall.sh.

  save_stall.py MANIFEST PLOT.png

MANIFEST: a line per run, tab-separated: system (memdisk, floor or redis),
label (memdisk, baseline, floor, redis), round, kind (with or without a
save; for the floor, with or without the zstd CLI beside it), the
latency log (fio's format: ms since the epoch, latency in ns, ...), the
server's log (memdisk: its "save timeline" debug line) or the events JSON
(redis), "T0 T1" (when memdisk-tool save was started and returned, seconds
since the epoch), the peak RSS during the save in KiB, the allocated bytes.
"""
import json
import re
import statistics
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FLOOR_MS = 10.0     # the goal's floor for noise: a max at or under it passes
MAX_RATIO = 2.0
P999_RATIO = 1.5
RSS_RATIO = 1.1

# The steps of a save (the plugin's "save timeline" line), as shaded spans.
PHASES = [
    ("begin", "instant", "instant (old epoch drains)", "tab:red"),
    ("instant", "written", "walk, compress, write", "tab:orange"),
    ("written", "fsynced", "fsync", "tab:purple"),
    ("fsynced", "renamed", "rename, folder fsync", "tab:brown"),
    ("renamed", "released", "copy-on-write released", "tab:green"),
    ("released", "end", "clean-up", "tab:cyan"),
]


def read_log(path):
    """[(completion s since the epoch, latency s)]"""
    out = []
    with open(path) as f:
        for line in f:
            fields = line.split(",")
            if len(fields) >= 2:
                out.append((int(fields[0]) / 1e3, int(fields[1]) / 1e9))
    return out


def timeline(path):
    with open(path) as f:
        for line in f:
            if "save timeline:" in line:
                return {k: float(v) for k, v in
                        re.findall(r"(\w+)=([\d.]+)", line.split("save timeline:", 1)[1])}
    return None


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(len(v) * p))] if v else float("nan")


def stats(values):
    return {"n": len(values), "max": max(values) * 1e3 if values else float("nan"),
            "p999": pct(values, 0.999) * 1e3, "p99": pct(values, 0.99) * 1e3}


class Run:
    def __init__(self, fields):
        (self.system, self.label, rnd, self.kind, log, side, times, hwm, alloc) = fields
        self.round = int(rnd)
        self.log = read_log(log)
        self.hwm = int(hwm) * 1024
        self.alloc = int(alloc)
        self.phases = None
        t0, t1 = (float(x) for x in times.split())
        self.window = (t0, t1) if t1 > 0 else None
        if self.system == "memdisk" and self.kind == "with":
            self.phases = timeline(side)
            if self.phases and "begin" in self.phases and "end" in self.phases:
                self.window = (self.phases["begin"], self.phases["end"])
        if self.system == "redis" and self.kind == "with":
            with open(side) as f:
                self.events = json.load(f)
            self.window = (self.events["begin"], self.events["end"])
        self.start = min(t - lat for t, lat in self.log) if self.log else 0.0
        self.end = max(t for t, _ in self.log) if self.log else 0.0

    def during(self):
        """Latencies of the requests in flight at some time in the save."""
        if self.window is None:
            return [lat for _, lat in self.log]
        a, b = self.window
        # fio stamps whole milliseconds: a request may have ended up to
        # 1 ms after its stamp.
        return [lat for t, lat in self.log if t + 0.001 >= a and t - lat <= b]


def ratio(a, b):
    return a / b if b > 0 else float("inf")


def report(label, pairs):
    print()
    print("%s: 4 KiB random writes, queue depth 1 (ms; 'save' = requests in flight during the save)"
          % label)
    print("%5s | %8s %8s %8s %6s | %8s %8s %8s %6s | %6s %6s | %6s %6s | %s" %
          ("round", "max", "p99.9", "p99", "kIOPS", "max", "p99.9", "p99", "kIOPS", "max",
           "p99.9", "save s", "RSS", "note"))
    print("%5s | %33s | %33s | %13s | %13s |" % ("", "without a save", "during the save",
                                                   "ratio", "peak RSS/alloc"))
    rows = []
    for rnd in sorted(pairs):
        w, s = pairs[rnd].get("without"), pairs[rnd].get("with")
        if w is None or s is None:
            continue
        a, b = stats([lat for _, lat in w.log]), stats(s.during())
        rmax, r999 = ratio(b["max"], a["max"]), ratio(b["p999"], a["p999"])
        rss = ratio(s.hwm, s.alloc) if s.hwm else float("nan")
        note = ""
        if s.window and s.window[1] > s.end + 0.1:
            note = "save outlasted the run"
        secs = s.window[1] - s.window[0] if s.window else float("nan")
        ok = b["max"] <= max(MAX_RATIO * a["max"], FLOOR_MS)
        # Requests completed per second: a client that gets more done
        # during the save also leaves the save less CPU.
        a["kiops"] = len(w.log) / max(w.end - w.start, 1e-9) / 1e3
        b["kiops"] = b["n"] / max(secs, 1e-9) / 1e3 if secs == secs else float("nan")
        rows.append((a, b, rmax, r999, rss, ok))
        print("%5d | %8.2f %8.3f %8.3f %6.1f | %8.2f %8.3f %8.3f %6.1f | %6.2f %6.2f | %6.2f %6s | %s" %
              (rnd, a["max"], a["p999"], a["p99"], a["kiops"], b["max"], b["p999"], b["p99"],
               b["kiops"], rmax, r999, secs, "%.3f" % rss if rss == rss else "-", note))
    if not rows:
        return None
    med = lambda xs: statistics.median(xs)  # noqa: E731
    print("%6s| %8.2f %8.3f %8.3f %6.1f | %8.2f %8.3f %8.3f %6.1f | %6.2f %6.2f | %6s %6s |" %
          ("median", med([r[0]["max"] for r in rows]), med([r[0]["p999"] for r in rows]),
           med([r[0]["p99"] for r in rows]), med([r[0]["kiops"] for r in rows]),
           med([r[1]["max"] for r in rows]), med([r[1]["p999"] for r in rows]),
           med([r[1]["p99"] for r in rows]), med([r[1]["kiops"] for r in rows]),
           med([r[2] for r in rows]), med([r[3] for r in rows]), "",
           "%.3f" % max(r[4] for r in rows) if rows[0][4] == rows[0][4] else "-"))
    passed = sum(r[5] for r in rows)
    print("goals: max during a save <= %.0fx max without (or <= %.0f ms) in every round: %d of %d"
          " rounds %s" % (MAX_RATIO, FLOOR_MS, passed, len(rows),
                          "PASS" if passed == len(rows) else "FAIL"))
    r999 = med([r[3] for r in rows])
    print("       p99.9 during a save <= %.1fx without (median of rounds): %.2fx %s"
          % (P999_RATIO, r999, "PASS" if r999 <= P999_RATIO else "FAIL"))
    if rows[0][4] == rows[0][4]:
        worst = max(r[4] for r in rows)
        print("       peak RSS during a save <= %.1fx allocated (worst round): %.3fx %s"
              % (RSS_RATIO, worst, "PASS" if worst <= RSS_RATIO else "FAIL"))
    return rows


def worst_round(pairs):
    best = None
    for rnd, p in pairs.items():
        if "with" in p and "without" in p:
            m = max(p["with"].during(), default=0.0)
            if best is None or m > best[0]:
                best = (m, rnd)
    return best[1] if best else None


def plot_pair(ax, title, pair):
    w, s = pair["without"], pair["with"]
    ax.scatter([t - w.start for t, _ in w.log], [lat * 1e3 for _, lat in w.log], s=2,
               color="tab:blue", alpha=0.5, label="without a save", rasterized=True)
    ax.scatter([t - s.start for t, _ in s.log], [lat * 1e3 for _, lat in s.log], s=2,
               color="black", alpha=0.6, label="with a save", rasterized=True)
    if s.phases:
        for a, b, name, color in PHASES:
            if a in s.phases and b in s.phases:
                x0, x1 = s.phases[a] - s.start, s.phases[b] - s.start
                ax.axvspan(x0, max(x1, x0 + 0.004), color=color, alpha=0.25,
                           label="%s %.1f ms" % (name, (s.phases[b] - s.phases[a]) * 1e3))
    elif s.window:
        a, b = s.window
        if s.system == "redis":
            label = "BGSAVE (fork %.1f ms)" % (s.events["latest_fork_usec"] / 1e3)
        elif s.system == "floor":
            label = "nice -n 19 zstd -1 beside the server"
        else:
            label = "save"
        ax.axvspan(a - s.start, b - s.start, color="tab:orange", alpha=0.25, label=label)
    ax.set_yscale("log")
    ax.set_ylabel("write latency (ms)")
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper right", fontsize=7, markerscale=4)


def main():
    manifest, out = sys.argv[1], sys.argv[2]
    by_label = {}
    with open(manifest) as f:
        for line in f:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 9:
                r = Run(fields)
                by_label.setdefault(r.label, {}).setdefault(r.round, {})[r.kind] = r
    names = {"memdisk": "memdisk (MEMDISK_PLUGIN)", "baseline": "memdisk baseline (MEMDISK_BASELINE)",
             "floor": "the floor: nbdkit memory, the zstd CLI compressing the image beside it"
                      " ('save' = the zstd run)",
             "redis": "Redis, SET of 4 KiB values across a BGSAVE"}
    order = [x for x in ("memdisk", "baseline", "floor", "redis") if x in by_label]
    rows = {}
    for label in order:
        rows[label] = report(names[label], by_label[label])
    if rows.get("floor") and rows.get("memdisk"):
        print()
        for label in ("memdisk", "baseline"):
            if rows.get(label):
                ours = statistics.median(r[1]["p999"] for r in rows[label])
                floor = statistics.median(r[1]["p999"] for r in rows["floor"])
                print("%s: p99.9 during its save %.3f ms, during the zstd CLI beside nbdkit"
                      " memory %.3f ms (medians of rounds): %.2fx the floor"
                      % (label, ours, floor, ratio(ours, floor)))
    if "redis" in by_label:
        forks = [p["with"].events["latest_fork_usec"] / 1e3 for p in by_label["redis"].values()
                 if "with" in p]
        print("Redis latest_fork_usec (the server stopped for fork()): %s ms"
              % ", ".join("%.1f" % x for x in forks))

    fig, axes = plt.subplots(len(order), 1, figsize=(11, 3.6 * len(order)), squeeze=False)
    for ax, label in zip(axes[:, 0], order):
        rnd = worst_round(by_label[label])
        if rnd is None:
            continue
        plot_pair(ax, "%s: round %d of %d, the worst max during the save"
                  % (names[label], rnd, len(by_label[label])), by_label[label][rnd])
    axes[-1, 0].set_xlabel("seconds since the run began")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print()
    print("plot: %s" % out)


if __name__ == "__main__":
    main()
