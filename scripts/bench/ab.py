#!/usr/bin/env python3
"""Two builds of gt head to head, in one run, their runs alternated so that
the machine's drift weighs on both alike (python3 stdlib and the e2e
helpers). For a change's before/after on a noisy machine, where two runs of
scripts/bench.sh apart in time differ by more than the change.

usage: ab.py OLD_BIN_DIR NEW_BIN_DIR [RUNS]
  e.g. git worktree add /tmp/old REV && (cd /tmp/old && cmake -S . -B b
       -DCMAKE_BUILD_TYPE=Release && cmake --build b -j2)
       python3 scripts/bench/ab.py /tmp/old/b/bin build-bench/bin 3

Per build, through a direct mapping, the plain tunnel and the mTLS tunnel:
gt-bench upload and download to a sink, iperf3 each way, 1 KiB RTT p50 and
sessions/s to an echo; medians of RUNS (default 3). The measuring gt-bench
is NEW's.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import time

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "tests", "e2e"))
os.environ.setdefault("GT_SRC", SRC)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    dirs = {"old": os.path.abspath(sys.argv[1]), "new": os.path.abspath(sys.argv[2])}
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    os.environ["GT_BIN"] = dirs["new"]
    import gtlib
    import tunlib
    bench = os.path.join(dirs["new"], "gt-bench")

    def serve(kind):
        port = gtlib.free_port()
        p = subprocess.Popen([bench, kind, "-listen", "127.0.0.1:%d" % port],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        gtlib.wait_until(lambda: _connects(port), 5, what="gt-bench " + kind)
        return p, port

    def gtb(mode, port, secs):
        out = subprocess.run([bench, mode, "-target", "127.0.0.1:%d" % port,
                              "-duration", str(secs), "-json"],
                             capture_output=True, text=True, timeout=60).stdout
        return json.loads(out)

    def iperf(port, reverse):
        out = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", "3",
                              "-J"] + (["-R"] if reverse else []),
                             capture_output=True, text=True, timeout=60).stdout
        return json.loads(out)["end"]["sum_received"]["bits_per_second"] / 8e6

    procs = [serve("sink"), serve("echo")]
    (_, sink), (_, echo) = procs
    ip = None
    if shutil.which("iperf3"):
        ip = gtlib.free_port()
        procs.append((subprocess.Popen(["iperf3", "-s", "-p", str(ip)],
                                       stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL), ip))
        gtlib.wait_until(lambda: _connects(ip), 5, what="iperf3 -s")
    res = {}

    def note(key, v):
        res.setdefault(key, []).append(v)

    try:
        for _ in range(runs):
            for name, bindir in dirs.items():
                os.environ["GT_BIN"] = bindir
                srv = gtlib.Server()
                srv.start()
                ps, pe = gtlib.free_port(), gtlib.free_port()
                srv.create(port=ps, target_host="127.0.0.1", target_port=sink, use_tunnel=False)
                srv.create(port=pe, target_host="127.0.0.1", target_port=echo, use_tunnel=False)
                note((name, "direct upload MB/s"), gtb("upload", ps, 3)["mbps"])
                note((name, "direct download MB/s"), gtb("download", ps, 3)["mbps"])
                note((name, "direct RTT p50 us"), gtb("latency", pe, 2)["p50_us"])
                note((name, "direct sessions/s"), gtb("rate", pe, 2)["sessions_per_s"])
                if ip is not None:
                    pi = gtlib.free_port()
                    srv.create(port=pi, target_host="127.0.0.1", target_port=ip, use_tunnel=False)
                    note((name, "direct iperf3 up MB/s"), iperf(pi, False))
                    note((name, "direct iperf3 down MB/s"), iperf(pi, True))
                srv.stop()
                for tls in (False, True):
                    kind = "mTLS" if tls else "plain"
                    srv = tunlib.tunnel_server(tls=tls, hb=(10, 30))
                    cli = tunlib.Client(srv)
                    tunlib.wait_clients(srv, 1)
                    pt = tunlib.tunnel_mapping(srv, echo)
                    note((name, kind + " tunnel RTT p50 us"), gtb("latency", pt, 2)["p50_us"])
                    note((name, kind + " tunnel sessions/s"), gtb("rate", pt, 2)["sessions_per_s"])
                    pk = tunlib.tunnel_mapping(srv, sink)
                    note((name, kind + " tunnel upload MB/s"), gtb("upload", pk, 3)["mbps"])
                    note((name, kind + " tunnel download MB/s"), gtb("download", pk, 3)["mbps"])
                    if ip is not None:
                        pi = tunlib.tunnel_mapping(srv, ip)
                        note((name, kind + " tunnel iperf3 up MB/s"), iperf(pi, False))
                        note((name, kind + " tunnel iperf3 down MB/s"), iperf(pi, True))
                    cli.stop()
                    srv.stop()
    finally:
        for p, _ in procs:
            p.kill()
    figures = sorted({k[1] for k in res})
    print("| figure | old | new | new / old |")
    print("| --- | --- | --- | --- |")
    for f in figures:
        o = statistics.median(res[("old", f)])
        n = statistics.median(res[("new", f)])
        print("| %s | %.0f | %.0f | %.2f |" % (f, o, n, n / o if o else 0))


def _connects(port):
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


if __name__ == "__main__":
    main()
