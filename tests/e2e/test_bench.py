#!/usr/bin/env python3
"""End-to-end test of gt-bench: servers, every client mode, corruption caught."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

BIN = os.path.join(os.environ.get("GT_BIN", "build/bin"), "gt-bench")
RESULTS = {"passed": 0, "failed": 0}
PROCS = []


def check(name, cond, detail=""):
    if cond:
        RESULTS["passed"] += 1
        print("ok   %s" % name)
    else:
        RESULTS["failed"] += 1
        print("FAIL %s %s" % (name, detail))
    return cond


def start_server(kind, listen="127.0.0.1:0", extra=()):
    """Start an echo/sink server and read its "listening on" line."""
    p = subprocess.Popen([BIN, kind, "-listen", listen] + list(extra),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    PROCS.append(p)
    line = [None]

    def reader():
        line[0] = p.stdout.readline()
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(10)
    if not line[0] or not line[0].startswith("listening on "):
        raise RuntimeError("%s did not start: %r" % (kind, line[0]))
    return p, line[0].split()[2]


def bench(args, timeout=40):
    """Run a client mode; return (exit status, parsed JSON or None, stderr)."""
    r = subprocess.run([BIN] + args, capture_output=True, text=True,
                       timeout=timeout)
    doc = None
    if "-json" in args and r.stdout.strip():
        try:
            doc = json.loads(r.stdout.strip().splitlines()[-1])
        except ValueError:
            doc = None
    return r.returncode, doc, r.stderr


def sane(name, rc, doc, err, **want):
    ok = check(name + " exits 0", rc == 0, err)
    ok = check(name + " json", doc is not None, err) and ok
    if doc is None:
        return None
    check(name + " errors 0", doc.get("errors") == 0, str(doc))
    for k, v in want.items():
        check("%s %s" % (name, k), v(doc), str(doc))
    return doc


class FlipServer:
    """An echo server, or a proxy to target, that flips one byte at flip_at."""

    def __init__(self, flip_at, target=None, upstream=True, close=False):
        self.flip_at, self.target, self.upstream = flip_at, target, upstream
        self.close = close
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            if self.close:
                c.close()
                continue
            if self.target is None:
                threading.Thread(target=self.pump, args=(c, c, True),
                                 daemon=True).start()
                continue
            host, port = self.target.rsplit(":", 1)
            u = socket.create_connection((host, int(port)))
            threading.Thread(target=self.pump, args=(c, u, self.upstream),
                             daemon=True).start()
            threading.Thread(target=self.pump, args=(u, c, not self.upstream),
                             daemon=True).start()

    def pump(self, src, dst, flip):
        off = 0
        try:
            while True:
                d = src.recv(65536)
                if not d:
                    try:
                        dst.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
                    return
                if flip and off <= self.flip_at < off + len(d):
                    b = bytearray(d)
                    b[self.flip_at - off] ^= 0x10
                    d = bytes(b)
                off += len(d)
                dst.sendall(d)
        except OSError:
            pass


def main():
    t_start = time.time()
    # Usage and version.
    r = subprocess.run([BIN, "speed", "-bogus"], capture_output=True, text=True)
    check("bad flag exits 2 with one line", r.returncode == 2 and
          len(r.stderr.strip().splitlines()) == 1, r.stderr)
    r = subprocess.run([BIN, "speed", "-duration", "0", "-target", "127.0.0.1:9"],
                       capture_output=True, text=True)
    check("duration 0 exits 2", r.returncode == 2, r.stderr)
    r = subprocess.run([BIN, "latency"], capture_output=True, text=True)
    check("missing -target exits 2", r.returncode == 2, r.stderr)
    r = subprocess.run([BIN, "sizes", "-target", "127.0.0.1:9", "-size", "1,x"],
                       capture_output=True, text=True)
    check("bad -size list exits 2", r.returncode == 2 and "-size" in r.stderr,
          r.stderr)
    r = subprocess.run([BIN, "speed", "-h"], capture_output=True, text=True)
    check("-h exits 0", r.returncode == 0 and "-target" in r.stdout, r.stdout)
    r = subprocess.run([BIN, "-version"], capture_output=True, text=True)
    check("-version", r.returncode == 0 and "gt-bench" in r.stdout, r.stdout)
    r = subprocess.run([BIN, "frobnicate"], capture_output=True, text=True)
    check("unknown command exits 2", r.returncode == 2, r.stderr)

    echo, ea = start_server("echo")
    sink, sa = start_server("sink")

    rc, doc, err = bench(["speed", "-target", ea, "-duration", "1", "-json"])
    sane("speed", rc, doc, err,
         round_trips=lambda d: d["round_trips"] > 10,
         mbps=lambda d: d["mbps"] > 0,
         bytes=lambda d: d["bytes"] == d["round_trips"] * 32768)

    rc, doc, err = bench(["latency", "-target", ea, "-count", "300", "-json"])
    sane("latency", rc, doc, err,
         count=lambda d: d["round_trips"] == 300,
         order=lambda d: d["min_us"] <= d["p50_us"] <= d["p90_us"] <=
         d["p99_us"] <= d["max_us"] and d["p50_us"] > 0)

    rc, doc, err = bench(["upload", "-target", sa, "-duration", "1",
                          "-conns", "2", "-json"])
    sane("upload", rc, doc, err,
         verified=lambda d: d["verified_bytes"] == d["bytes"] > 0,
         mbps=lambda d: d["mbps"] > 0)

    rc, doc, err = bench(["download", "-target", sa, "-duration", "1", "-json"])
    sane("download", rc, doc, err,
         verified=lambda d: d["verified_bytes"] == d["bytes"] > 0)

    rc, doc, err = bench(["rate", "-target", ea, "-duration", "1", "-json"])
    sane("rate", rc, doc, err,
         sessions=lambda d: d["sessions"] > 10 and d["failures"] == 0,
         setup=lambda d: 0 < d["p50_setup_us"] <= d["p99_setup_us"] <=
         d["max_setup_us"])

    rc, doc, err = bench(["concurrency", "-target", ea, "-conns", "1,2",
                          "-duration", "2", "-json"])
    sane("concurrency", rc, doc, err,
         rows=lambda d: [x["conns"] for x in d["rows"]] == [1, 2] and
         all(x["round_trips_per_s"] > 0 and x["errors"] == 0
             for x in d["rows"]))

    rc, doc, err = bench(["sizes", "-target", ea, "-size", "64,4K,1M",
                          "-duration", "1", "-json"])
    sane("sizes", rc, doc, err,
         rows=lambda d: [x["size"] for x in d["rows"]] == [64, 4096, 1048576]
         and all(x["round_trips"] > 0 for x in d["rows"]))

    rc, doc, err = bench(["bandwidth", "-target", ea, "-conns", "3",
                          "-duration", "1", "-json"])
    sane("bandwidth", rc, doc, err,
         mbps=lambda d: d["mbps"] > 0 and d["peak_mbps"] > 0)

    rc, doc, err = bench(["hold", "50", "-target", ea, "-duration", "2",
                          "-interval", "1", "-pids", str(echo.pid), "-json"])
    sane("hold", rc, doc, err,
         held=lambda d: d["held"] == 50 and d["failures"] == 0,
         pings=lambda d: d["pings"] >= 50,
         rss=lambda d: d["pids"][0]["rss_peak_kb"] > 0 and
         d["pids"][0]["hwm_kb"] >= d["pids"][0]["rss_peak_kb"])

    r = subprocess.run([BIN, "speed", "-target", ea, "-duration", "1"],
                       capture_output=True, text=True, timeout=30)
    check("human table", r.returncode == 0 and "throughput" in r.stdout and
          "MB/s" in r.stdout, r.stdout)

    # IPv6, when the host has ::1.
    try:
        s6 = socket.socket(socket.AF_INET6)
        s6.bind(("::1", 0))
        s6.close()
        have6 = True
    except OSError:
        have6 = False
    if have6:
        e6, a6 = start_server("echo", "[::1]:0")
        check("ipv6 address printed", a6.startswith("[::1]:"), a6)
        rc, doc, err = bench(["latency", "-target", a6, "-count", "50",
                              "-json"])
        sane("latency ipv6", rc, doc, err,
             count=lambda d: d["round_trips"] == 50)

    # Corruption and failures are caught and make exit status 1.
    flip = FlipServer(100000)
    rc, doc, err = bench(["speed", "-target", flip.addr, "-duration", "1",
                          "-json"])
    check("flipped byte: speed exits 1", rc == 1, err)
    check("flipped byte: reported", doc is not None and
          doc["verify_errors"] == 1 and "offset 100000" in err, err)

    proxy = FlipServer(300000, target=sa, upstream=True)
    rc, doc, err = bench(["upload", "-target", proxy.addr, "-duration", "1",
                          "-json"])
    check("flipped byte: upload exits 1", rc == 1 and doc is not None and
          doc["verify_errors"] == 1 and "offset 299976" in err, err)  # 24-byte header

    proxy = FlipServer(12345, target=sa, upstream=False)  # no header back
    rc, doc, err = bench(["download", "-target", proxy.addr, "-duration", "1",
                          "-json"])
    check("flipped byte: download exits 1", rc == 1 and doc is not None and
          doc["verify_errors"] == 1 and "offset 12345" in err, err)

    closer = FlipServer(0, close=True)
    rc, doc, err = bench(["speed", "-target", closer.addr, "-duration", "1",
                          "-json"])
    check("peer closes: speed exits 1", rc == 1 and doc is not None and
          doc["conn_errors"] >= 1, err)
    rc, doc, err = bench(["upload", "-target", ea, "-duration", "1", "-json"])
    check("upload to echo (no report) exits 1", rc == 1, err)

    # Refused connection.
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    dead = "127.0.0.1:%d" % s.getsockname()[1]
    s.close()
    rc, doc, err = bench(["latency", "-target", dead, "-count", "5", "-json"])
    check("refused: exits 1", rc == 1 and "refused" in err.lower(), err)

    # Servers: -duration ends them, SIGTERM ends them with 0.
    p, _ = start_server("echo", extra=["-duration", "1"])
    check("echo -duration exits 0", p.wait(10) == 0)
    for srv in (echo, sink):
        srv.terminate()
        check("server SIGTERM exits 0", srv.wait(10) == 0)

    print("took %.1f s" % (time.time() - t_start))
    print("%d passed, %d failed" % (RESULTS["passed"], RESULTS["failed"]))
    return 1 if RESULTS["failed"] else 0


if __name__ == "__main__":
    try:
        rc = main()
    finally:
        for p in PROCS:
            if p.poll() is None:
                p.kill()
                p.wait()
    sys.exit(rc)
