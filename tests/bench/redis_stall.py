#!/usr/bin/python3
"""Redis's side of save-stall.sh: what a client feels across a BGSAVE.

  redis_stall.py fill SOCKET BYTES
      SET BYTES / 4096 keys (k:0, k:1, ...) to 4 KiB values of random
      bytes, pipelined: the same amount of data as the disk holds, and as
      incompressible as the RDB's LZF finds it.
  redis_stall.py run SOCKET BYTES --runtime S --log LOG --events JSON
                 [--bgsave-at T]
      SETs of random keys to 4 KiB values, one at a time (queue depth 1,
      like fio's run), for S seconds, each request's completion time and
      latency in LOG in fio's latency-log format ("ms since the epoch,
      nanoseconds, 1, 4096").  With --bgsave-at, a second connection sends
      BGSAVE T seconds in and waits for it to end (INFO persistence every
      50 ms); the run lasts until then if that is later.  JSON gets the
      BGSAVE's begin and end (seconds since the epoch) and
      latest_fork_usec.

A plain RESP client over the Unix socket: no redis module needed.
"""
import argparse
import json
import os
import random
import socket
import threading
import time

VALUE = 4096


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def command(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


class Reader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def reply(self):
        line = self.line()
        if line[:1] == b"-":
            raise RuntimeError(line.decode())
        if line[:1] == b"$":
            n = int(line[1:])
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise EOFError("redis closed the connection")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        return line[1:]


def nkeys(nbytes):
    return max(1, (int(nbytes) + VALUE - 1) // VALUE)


def fill(path, nbytes):
    s = connect(path)
    r = Reader(s)
    n = nkeys(nbytes)
    batch = 1024
    for first in range(0, n, batch):
        count = min(batch, n - first)
        data = os.urandom(VALUE * count)
        s.sendall(b"".join(command("SET", "k:%d" % (first + i), data[i * VALUE:(i + 1) * VALUE])
                           for i in range(count)))
        for _ in range(count):
            r.reply()
    s.close()


def info_field(reply, name):
    for line in reply.decode().splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1]
    return None


def bgsave(path, at, start, events, done):
    s = connect(path)
    r = Reader(s)
    time.sleep(max(0.0, start + at - time.monotonic()))
    events["begin"] = time.time()
    s.sendall(command("BGSAVE"))
    r.reply()
    events["forked"] = time.time()
    while True:
        s.sendall(command("INFO", "persistence"))
        info = r.reply()
        if info_field(info, "rdb_bgsave_in_progress") == "0":
            break
        time.sleep(0.05)
    events["end"] = time.time()
    s.sendall(command("INFO", "stats"))
    events["latest_fork_usec"] = int(info_field(r.reply(), "latest_fork_usec") or 0)
    events["rdb_last_bgsave_status"] = info_field(info, "rdb_last_bgsave_status")
    s.close()
    done.set()


def run(args):
    n = nkeys(args.bytes)
    s = connect(args.socket)
    r = Reader(s)
    value = bytearray(os.urandom(VALUE))
    events = {}
    done = threading.Event()
    start = time.monotonic()
    if args.bgsave_at is not None:
        threading.Thread(target=bgsave, args=(args.socket, args.bgsave_at, start, events, done),
                         daemon=True).start()
    else:
        done.set()
    lines = []
    rng = random.Random(1)
    deadline = start + args.runtime
    while time.monotonic() < deadline or not done.is_set():
        value[:8] = rng.getrandbits(64).to_bytes(8, "little")
        req = command("SET", "k:%d" % rng.randrange(n), bytes(value))
        t0 = time.perf_counter_ns()
        s.sendall(req)
        r.reply()
        lat = time.perf_counter_ns() - t0
        lines.append("%d, %d, 1, %d\n" % (time.time_ns() // 1000000, lat, VALUE))
    s.close()
    with open(args.log, "w") as f:
        f.writelines(lines)
    with open(args.events, "w") as f:
        json.dump(events, f)


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="what", required=True)
    f = sub.add_parser("fill")
    f.add_argument("socket")
    f.add_argument("bytes")
    q = sub.add_parser("run")
    q.add_argument("socket")
    q.add_argument("bytes")
    q.add_argument("--runtime", type=float, required=True)
    q.add_argument("--log", required=True)
    q.add_argument("--events", required=True)
    q.add_argument("--bgsave-at", type=float)
    args = p.parse_args()
    if args.what == "fill":
        fill(args.socket, args.bytes)
    else:
        run(args)


if __name__ == "__main__":
    main()
