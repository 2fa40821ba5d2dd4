#!/usr/bin/env python3
"""Load and soak: many concurrent sessions held through one tunnel with
periodic verified echoes, then all closed with nothing left behind; and
create/remove API churn while traffic flows.

The CI variant holds 2,000 sessions for 10 s and churns the API for 20 s.
scripts/soak.sh runs the full one through the environment:
GT_SOAK_SESSIONS (sessions, default 2000), GT_SOAK_HOLD (seconds held,
default 10), GT_SOAK_INTERVAL (seconds between echoes, default 2),
GT_SOAK_CHURN (seconds of API churn, default 20)."""

import json
import os
import socket
import subprocess
import threading
import time

import gtlib
import tunlib
from gtlib import wait_until, binpath
from tunlib import EchoStream, roundtrip_n

T = gtlib.Runner()

SESSIONS = int(os.environ.get("GT_SOAK_SESSIONS", "2000"))
HOLD = int(os.environ.get("GT_SOAK_HOLD", "10"))
INTERVAL = int(os.environ.get("GT_SOAK_INTERVAL", "2"))
CHURN = int(os.environ.get("GT_SOAK_CHURN", "20"))


class BenchEcho:
    """A gt-bench echo server on 127.0.0.1 (C, one loop: holds many sessions)."""

    def __init__(self):
        self.proc = subprocess.Popen([binpath("gt-bench"), "echo", "-listen",
                                      "127.0.0.1:0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("listening on "), line
        self.port = int(line.rsplit(":", 1)[1])

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def settled(pid, base, what, timeout=30):
    wait_until(lambda: tunlib.fd_count(pid) <= base, timeout,
               what="%s fds back to %d (now %d)" % (what, base, tunlib.fd_count(pid)))
    return tunlib.fd_count(pid)


@T.test
def test_hold_sessions_through_one_tunnel():
    need = SESSIONS + 512
    got = tunlib.raise_nofile(need)     # the server and client inherit it
    if got < need:
        print("    SKIP: RLIMIT_NOFILE hard limit %d < %d" % (got, need))
        return
    srv = tunlib.tunnel_server(hb=(5, 15))
    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    echo = BenchEcho()
    port = tunlib.tunnel_mapping(srv, echo.port)
    assert roundtrip_n(port, 3)
    wait_until(lambda: srv.mappings()[port]["active_connections"] == 0, 5)
    spid, cpid = srv.proc.pid, cli.proc.pid
    base = {"server": tunlib.fd_count(spid), "client": tunlib.fd_count(cpid)}
    base_rss = {"server": tunlib.proc_status(spid)["VmRSS"],
                "client": tunlib.proc_status(cpid)["VmRSS"]}
    t0 = time.monotonic()
    r = gtlib.run([binpath("gt-bench"), "hold", str(SESSIONS), "-target",
                   "127.0.0.1:%d" % port, "-duration", str(HOLD), "-interval",
                   str(INTERVAL), "-pids", "%d,%d" % (spid, cpid), "-json"],
                  timeout=HOLD + 120)
    took = time.monotonic() - t0
    assert r.returncode == 0, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    doc = json.loads(r.stdout)
    hwm = {"server": doc["pids"][0]["hwm_kb"], "client": doc["pids"][1]["hwm_kb"]}
    peak = {"server": doc["pids"][0]["rss_peak_kb"], "client": doc["pids"][1]["rss_peak_kb"]}
    # Everything closed: no fd, stream or session left on either side.
    fds = {"server": settled(spid, base["server"], "server"),
           "client": settled(cpid, base["client"], "client")}
    wait_until(lambda: srv.mappings()[port]["active_connections"] == 0, 15)
    wait_until(lambda: tunlib.clients(srv)[0]["streams"] == 0, 15)
    rss_after = tunlib.proc_status(spid)["VmRSS"]
    # The true peaks, closing included (gt-bench samples only while holding).
    hwm = {"server": tunlib.proc_status(spid)["VmHWM"],
           "client": tunlib.proc_status(cpid)["VmHWM"]}
    m = srv.mappings()[port]
    print("    %d sessions held %d s (connect %.1f s, run %.1f s): %d echoes, "
          "%d failures, %d wrong; peak RSS server %d KiB (%.1f KiB/session), "
          "client %d KiB (%.1f KiB/session); VmHWM (closing included) server %d "
          "client %d KiB; "
          "fds back to %s; server RSS after close %d KiB" % (
              doc["held"], HOLD, doc["connect_seconds"], took, doc["pings"],
              doc["failures"], doc["verify_errors"], peak["server"],
              (peak["server"] - base_rss["server"]) / max(1, SESSIONS),
              peak["client"], (peak["client"] - base_rss["client"]) / max(1, SESSIONS),
              hwm["server"], hwm["client"], fds, rss_after))
    assert doc["held"] == SESSIONS, doc
    assert doc["failures"] == 0 and doc["verify_errors"] == 0, doc
    assert doc["pings"] >= SESSIONS * max(1, HOLD // INTERVAL - 1), doc
    assert m["bytes_in"] == m["bytes_out"] >= 16 * doc["pings"], m
    assert srv.log().count("session closed") >= SESSIONS
    cli.stop()
    srv.stop()
    echo.close()


@T.test
def test_api_churn_while_traffic_flows():
    srv = tunlib.tunnel_server(hb=(5, 15))
    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    echo = gtlib.echo_server()
    fixed = [tunlib.tunnel_mapping(srv, echo.port) for _ in range(2)]
    for _ in range(2):
        p = gtlib.free_port()
        st, _, j = srv.create(port=p, target_host="127.0.0.1",
                              target_port=echo.port, use_tunnel=False)
        assert st == 200, (st, j)
        fixed.append(p)
    base_fds = tunlib.fd_count(srv.proc.pid)
    streams = [EchoStream(p, seed=20 + i, step=16384, pause=0.002)
               for i, p in enumerate(fixed)]
    tok = srv.token()
    stop = threading.Event()
    stats = {"create": 0, "remove": 0, "list": 0, "sessions": 0, "conflict": 0}
    errors = []
    lock = threading.Lock()

    def api(method, path, body=None):
        return gtlib.http_request(srv.api_port, method, path, body, token=tok)

    def worker(k):
        i = 0
        while not stop.is_set():
            i += 1
            port = gtlib.free_port()
            tunnel = (i + k) % 2 == 0
            try:
                st, _, j = api("POST", "/api/mapping/create",
                               {"port": port, "target_host": "127.0.0.1",
                                "target_port": echo.port, "use_tunnel": tunnel})
                if st == 409:           # the port was taken meanwhile
                    with lock:
                        stats["conflict"] += 1
                    continue
                if st != 200:
                    raise AssertionError("create %d: %d %r" % (port, st, j))
                with lock:
                    stats["create"] += 1
                # The new mapping carries a session, byte-exact.
                assert roundtrip_n(port, 2, size=512)
                with lock:
                    stats["sessions"] += 1
                if i % 4 == 0:
                    st, _, j = api("GET", "/api/mapping/list")
                    assert st == 200 and j["data"]["count"] >= len(fixed), (st, j)
                    with lock:
                        stats["list"] += 1
                st, _, j = api("POST", "/api/mapping/remove", {"port": port})
                if st != 200:
                    raise AssertionError("remove %d: %d %r" % (port, st, j))
                with lock:
                    stats["remove"] += 1
                # Removed means not listening any more.
                with socket.socket() as s:
                    assert s.connect_ex(("127.0.0.1", port)) != 0, port
            except Exception as e:
                errors.append("worker %d: %r" % (k, e))
                return

    ws = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(3)]
    t0 = time.monotonic()
    for w in ws:
        w.start()
    stop.wait(CHURN)
    stop.set()
    for w in ws:
        w.join(30)
    dt = time.monotonic() - t0
    carried = sum(s.verified for s in streams)
    serr = [(s.port, s.stop()) for s in streams]
    print("    %.0f s of churn: %d creates, %d removes, %d lists, %d sessions on "
          "fresh mappings, %d port races (409); %.0f API calls/s; %d MiB echoed "
          "meanwhile on %d long sessions" % (
              dt, stats["create"], stats["remove"], stats["list"],
              stats["sessions"], stats["conflict"],
              (stats["create"] + stats["remove"] + stats["list"]) / dt,
              carried >> 20, len(streams)))
    assert not errors, errors[:5]
    assert all(e is None for _, e in serr), serr
    assert stats["create"] >= 20, stats
    assert stats["create"] == stats["remove"], stats
    assert sorted(srv.mappings()) == sorted(fixed)
    fds = tunlib.proc_fds_settled(srv.proc.pid, base_fds, timeout=15)
    assert fds <= base_fds
    cli.stop()
    srv.stop()
    echo.close()


if __name__ == "__main__":
    try:
        T.main()
    finally:
        tunlib.stop_clients()
