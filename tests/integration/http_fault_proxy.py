#!/usr/bin/python3
"""A fault proxy for the tests of a snapshot at a URL (http-base.sh).

Sits between memdisk and nginx (127.0.0.1:UPSTREAM) and forwards GET
requests, except that the requests it picks get the fault --fault names:

    pass        none
    delay       wait --delay-ms before forwarding
    drop        send the headers and half the body, then close the connection
    full        ignore Range: answer 200 with the whole file, streamed
    corrupt     flip one byte in the middle of the body
    status      answer --status (404, 503, ...) with a short body
    etag        forward, with a different ETag

A request is picked when its range starts in [--min-offset, --max-offset)
and it is one of the first --count such requests (-1: all) after
--skip of them.  Every request is logged on stdout: the range, what was
done and how many body bytes were sent.  Only the standard library.
"""
import argparse
import http.client
import http.server
import socketserver
import sys
import threading
import time

lock = threading.Lock()
seen = 0
args = None


def picked(first):
    global seen
    if first is None or not args.min_offset <= first < args.max_offset:
        return False
    with lock:
        seen += 1
        n = seen
    return n > args.skip and (args.count < 0 or n <= args.skip + args.count)


def range_start(value):
    if value and value.startswith("bytes=") and "-" in value:
        try:
            return int(value[6:].split("-")[0])
        except ValueError:
            return None
    return None


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        pass

    def log(self, what, sent):
        print(f"{self.headers.get('Range')} {what} sent={sent}", flush=True)

    def upstream(self, headers):
        conn = http.client.HTTPConnection("127.0.0.1", args.upstream, timeout=30)
        conn.request("GET", self.path, headers=headers)
        return conn, conn.getresponse()

    def send_body(self, status, headers, body_chunks, length):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("connection", "keep-alive", "content-length", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(length))
        self.end_headers()
        sent = 0
        try:
            for chunk in body_chunks:
                self.wfile.write(chunk)
                sent += len(chunk)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        return sent

    def do_GET(self):
        rng = self.headers.get("Range")
        fault = args.fault if picked(range_start(rng)) else "pass"
        fwd = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
        if fault == "delay":
            time.sleep(args.delay_ms / 1000)
        if fault == "status":
            body = b"fault\n"
            self.send_body(args.status, [], [body], len(body))
            self.log(f"status {args.status}", len(body))
            return
        if fault == "full":
            fwd.pop("Range", None)
        conn, resp = self.upstream(fwd)
        headers = resp.getheaders()
        length = int(resp.getheader("Content-Length", "0"))
        if fault == "etag":
            headers = [(k, '"changed"' if k.lower() == "etag" else v) for k, v in headers]
        if fault == "drop":
            body = resp.read()
            self.send_body(resp.status, headers, [body[: len(body) // 2]], length)
            self.close_connection = True
            self.log("drop", len(body) // 2)
        elif fault == "corrupt":
            body = bytearray(resp.read())
            if body:
                body[len(body) // 2] ^= 0x40
            sent = self.send_body(resp.status, headers, [bytes(body)], length)
            self.log("corrupt", sent)
        else:
            chunks = iter(lambda: resp.read(65536), b"")
            sent = self.send_body(resp.status, headers, chunks, length)
            self.log(fault, sent)
            if sent < length:
                self.close_connection = True
        conn.close()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", type=int, required=True)
    p.add_argument("--port-file", required=True)
    p.add_argument("--fault", default="pass",
                   choices=["pass", "delay", "drop", "full", "corrupt", "status", "etag"])
    p.add_argument("--count", type=int, default=-1)
    p.add_argument("--skip", type=int, default=0)
    p.add_argument("--min-offset", type=int, default=0)
    p.add_argument("--max-offset", type=int, default=1 << 62)
    p.add_argument("--status", type=int, default=503)
    p.add_argument("--delay-ms", type=int, default=0)
    args = p.parse_args()
    server = Server(("127.0.0.1", 0), Proxy)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
