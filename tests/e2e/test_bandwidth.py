#!/usr/bin/env python3
"""bandwidth_limit (SPEC 9, issue 13): bytes per second, each direction on
its own, shared by all the sessions of a mapping, for direct and tunnel
mappings. Real processes: gt-server (and gt-client for the tunnel), a
target in this process that sends while it reads, users that send while
they read, every byte checked.

Done when (issue 13): a 2 MB/s limit measured over a 10 MB transfer lands
within 10 % (each direction; the figures are printed), and two sessions of
the mapping share it (their sum within 10 % of the limit, each within 25 %
of half). Also: an update to 4 MB/s during a transfer speeds it up at once
and an update to 0 lifts the limit; bad values are 400s naming the field;
/metrics shows the limit and the waits. A first burst of at most 64 KiB
goes unpaced (docs/API.md), well inside the 10 %."""

import hashlib
import os
import socket
import threading
import time

import gtlib
import tunlib
from gtlib import Server, wait_until

T = gtlib.Runner()
_logged = tunlib.logged(T)

LIMIT = 2000000
SIZE = 10000000          # the Done-when's 10 MB, each way
SHARE = 4000000          # each of two sessions, each way: 4 s at LIMIT
CHUNK = 65536
DATA = gtlib.pattern(14000000, seed=13)
TIMEOUT = 30


def digest(n):
    return hashlib.sha256(memoryview(DATA)[:n]).hexdigest()


class Half:
    """One direction of one session as its receiver saw it."""

    def __init__(self):
        self.n = 0
        self.h = hashlib.sha256()
        self.t_last = None
        self.done = False

    def take(self, b):
        self.h.update(b)
        self.n += len(b)
        self.t_last = time.monotonic()


def pump(sock, half):
    """Read sock until EOF into half."""
    while True:
        b = sock.recv(CHUNK)
        if not b:
            break
        half.take(b)
    half.done = True


def feed(sock, n):
    """Send the first n bytes of DATA, then half-close."""
    mv = memoryview(DATA)
    for i in range(0, n, CHUNK):
        sock.sendall(mv[i:min(i + CHUNK, n)])
    sock.shutdown(socket.SHUT_WR)


class Target:
    """Per connection: sends `down` bytes of DATA while it reads the user's
    bytes to EOF; ups[] holds what each connection received."""

    def __init__(self):
        self.down = SIZE
        self.ups = []
        self.srv = gtlib.TCPServer(self._handle)
        self.port = self.srv.port

    def _handle(self, c):
        half = Half()
        self.ups.append(half)
        c.settimeout(TIMEOUT)
        t = threading.Thread(target=feed, args=(c, self.down), daemon=True)
        t.start()
        pump(c, half)
        t.join(TIMEOUT)

    def close(self):
        self.srv.close()


class Session:
    """A user of the mapping: sends `up` bytes while it reads what comes."""

    def __init__(self, port, up):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.t0 = time.monotonic()
        self.down = Half()
        self.err = []
        self._w = threading.Thread(target=self._run, args=(feed, self.s, up),
                                   daemon=True)
        self._r = threading.Thread(target=self._run,
                                   args=(pump, self.s, self.down), daemon=True)
        self._w.start()
        self._r.start()

    def _run(self, fn, *args):
        try:
            fn(*args)
        except Exception as e:
            self.err.append(e)

    def join(self):
        self._w.join(TIMEOUT)
        self._r.join(TIMEOUT)
        assert not self._w.is_alive() and not self._r.is_alive(), \
            "session did not end within %d s" % TIMEOUT
        assert not self.err, self.err
        self.s.close()


def check_intact(half, n, what):
    assert half.done and half.n == n, "%s: %d of %d bytes" % (what, half.n, n)
    assert half.h.hexdigest() == digest(n), "%s: bytes differ" % what


def within(v, want, tol):
    return abs(v - want) <= tol * want


def update(srv, port, limit):
    st, _, j = srv.api("POST", "/api/mapping/update",
                       {"port": port, "bandwidth_limit": limit})
    assert st == 200 and j["data"]["bandwidth_limit"] == limit, (st, j)


def metrics(srv):
    st, _, body = srv.api("GET", "/metrics")
    assert st == 200
    text = body.decode() if isinstance(body, bytes) else str(body)
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            out[k] = float(v)
    return out


def one_session(tgt, port, kind):
    """10 MB each way at once, one session: each direction within 10 %."""
    tgt.down = SIZE
    n0 = len(tgt.ups)
    u = Session(port, SIZE)
    u.join()
    wait_until(lambda: len(tgt.ups) > n0 and tgt.ups[n0].done, 10,
               what="the target's half")
    up = tgt.ups[n0]
    check_intact(up, SIZE, "user -> target")
    check_intact(u.down, SIZE, "target -> user")
    r_up = SIZE / (up.t_last - u.t0)
    r_down = SIZE / (u.down.t_last - u.t0)
    print("    %s, one session, %d bytes each way at bandwidth_limit %d: "
          "user->target %.0f B/s (%+.1f %%), target->user %.0f B/s (%+.1f %%)"
          % (kind, SIZE, LIMIT, r_up, 100.0 * (r_up / LIMIT - 1), r_down,
             100.0 * (r_down / LIMIT - 1)))
    assert within(r_up, LIMIT, 0.10), "user->target %.0f B/s" % r_up
    assert within(r_down, LIMIT, 0.10), "target->user %.0f B/s" % r_down


def two_sessions(tgt, port, kind):
    """Two sessions at once share the limit: sum within 10 %, each within 25 % of half."""
    tgt.down = SHARE
    n0 = len(tgt.ups)
    us = [Session(port, SHARE) for _ in range(2)]
    for u in us:
        u.join()
    wait_until(lambda: len(tgt.ups) >= n0 + 2 and
               all(h.done for h in tgt.ups[n0:n0 + 2]), 10,
               what="the target's halves")
    t0 = min(u.t0 for u in us)
    ups = tgt.ups[n0:n0 + 2]
    for h in ups:
        check_intact(h, SHARE, "user -> target")
    for u in us:
        check_intact(u.down, SHARE, "target -> user")
    # Which target connection is whose does not matter: both are checked.
    each_up = [SHARE / (h.t_last - t0) for h in ups]
    each_down = [SHARE / (u.down.t_last - u.t0) for u in us]
    sum_up = 2 * SHARE / (max(h.t_last for h in ups) - t0)
    sum_down = 2 * SHARE / (max(u.down.t_last for u in us) - t0)
    print("    %s, two sessions of %d bytes each way: user->target sum %.0f "
          "B/s (%+.1f %%), each %.0f and %.0f; target->user sum %.0f B/s "
          "(%+.1f %%), each %.0f and %.0f" % (
              kind, SHARE, sum_up, 100.0 * (sum_up / LIMIT - 1), each_up[0],
              each_up[1], sum_down, 100.0 * (sum_down / LIMIT - 1),
              each_down[0], each_down[1]))
    assert within(sum_up, LIMIT, 0.10), sum_up
    assert within(sum_down, LIMIT, 0.10), sum_down
    for r in each_up + each_down:
        assert within(r, LIMIT / 2, 0.25), (each_up, each_down)


def live_update(srv, tgt, port, kind):
    """A running transfer: 2 MB/s, then 4 MB/s by update, then none."""
    n = len(DATA)
    tgt.down = n
    n0 = len(tgt.ups)
    u = Session(port, n)
    wait_until(lambda: len(tgt.ups) > n0, 10, what="the target's connection")
    up = tgt.ups[n0]
    # At 2 MB/s for about 1.5 s, then doubled.
    wait_until(lambda: up.n >= 3000000 and u.down.n >= 3000000, 10,
               what="3 MB each way at the first rate")
    t1, b1_up, b1_down = time.monotonic(), up.n, u.down.n
    r1_up = b1_up / (t1 - u.t0)
    r1_down = b1_down / (t1 - u.t0)
    update(srv, port, 2 * LIMIT)
    t2, b2_up, b2_down = time.monotonic(), up.n, u.down.n
    # 8 MB more each way at 4 MB/s: about 2 s.
    wait_until(lambda: up.n >= b2_up + 8000000 and
               u.down.n >= b2_down + 8000000, 15,
               what="8 MB each way at the second rate")
    t3, b3_up, b3_down = time.monotonic(), up.n, u.down.n
    r2_up = (b3_up - b2_up) / (t3 - t2)
    r2_down = (b3_down - b2_down) / (t3 - t2)
    # No limit: the rest (about 3 MB each way) goes at once.
    update(srv, port, 0)
    t4 = time.monotonic()
    u.join()
    wait_until(lambda: up.done, 10, what="the target's half")
    check_intact(up, n, "user -> target")
    check_intact(u.down, n, "target -> user")
    r3_up = (n - b3_up) / max(up.t_last - t4, 1e-3)
    r3_down = (n - b3_down) / max(u.down.t_last - t4, 1e-3)
    print("    %s, live update of one transfer: at %d %.0f/%.0f B/s "
          "(up/down), at %d %.0f/%.0f B/s, at 0 %.0f/%.0f B/s" % (
              kind, LIMIT, r1_up, r1_down, 2 * LIMIT, r2_up, r2_down,
              r3_up, r3_down))
    assert within(r2_up, 2 * LIMIT, 0.15), r2_up
    assert within(r2_down, 2 * LIMIT, 0.15), r2_down
    assert r2_up > 1.6 * r1_up and r2_down > 1.6 * r1_down
    assert r3_up > 3 * r2_up and r3_down > 3 * r2_down, (r3_up, r3_down)
    update(srv, port, LIMIT)


def shown_and_counted(srv, port):
    m = srv.mappings()[port]
    assert m["bandwidth_limit"] == LIMIT, m
    mt = metrics(srv)
    assert mt['gt_mapping_bandwidth_limit_bytes{port="%d"}' % port] == LIMIT
    for d in ("in", "out"):
        k = 'gt_mapping_throttled_total{port="%d",direction="%s"}' % (port, d)
        assert mt[k] > 0, (k, mt.get(k))
        k = 'gt_mapping_throttled_seconds_total{port="%d",direction="%s"}' % (
            port, d)
        assert mt[k] > 0, (k, mt.get(k))


def limited_mapping(srv, tgt, tunnel):
    port = gtlib.free_port()
    st, _, j = srv.create(port=port, target_host="127.0.0.1",
                          target_port=tgt.port, use_tunnel=tunnel,
                          bandwidth_limit=LIMIT)
    assert st == 200 and j["data"]["bandwidth_limit"] == LIMIT, (st, j)
    return port


@_logged
def test_direct():
    srv = Server()
    srv.start()
    tgt = Target()
    port = limited_mapping(srv, tgt, False)
    one_session(tgt, port, "direct")
    two_sessions(tgt, port, "direct")
    live_update(srv, tgt, port, "direct")
    shown_and_counted(srv, port)
    wait_until(lambda: srv.mappings()[port]["active_connections"] == 0, 10)
    srv.stop()
    tgt.close()


@_logged
def test_direct_spliced():
    """The relay's splice path (forced from the first byte) is paced too."""
    os.environ["GT_SPLICE_ALWAYS"] = "1"
    try:
        srv = Server()
        srv.start()
    finally:
        del os.environ["GT_SPLICE_ALWAYS"]
    tgt = Target()
    port = limited_mapping(srv, tgt, False)
    one_session(tgt, port, "direct, spliced")
    srv.stop()
    tgt.close()


@_logged
def test_tunnel():
    srv = tunlib.tunnel_server()
    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    tgt = Target()
    port = limited_mapping(srv, tgt, True)
    one_session(tgt, port, "tunnel")
    two_sessions(tgt, port, "tunnel")
    live_update(srv, tgt, port, "tunnel")
    shown_and_counted(srv, port)
    wait_until(lambda: tunlib.clients(srv)[0]["streams"] == 0, 10,
               what="no stream left in the tunnel")
    cli.stop()
    srv.stop()
    tgt.close()


@_logged
def test_tunnel_holds_back():
    """A paced write to the user holds the target back through the tunnel's
    credit: bytes pile up neither in gt-server nor in gt-client."""
    srv = tunlib.tunnel_server()
    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    sent = [0]
    total = 40 * 1024 * 1024

    def flood(c):
        block = b"x" * CHUNK
        try:
            while sent[0] < total:
                c.sendall(block)
                sent[0] += CHUNK
        except OSError:
            pass

    tgt = gtlib.TCPServer(flood)
    port = gtlib.free_port()
    st, _, j = srv.create(port=port, target_host="127.0.0.1",
                          target_port=tgt.port, use_tunnel=True,
                          bandwidth_limit=LIMIT)
    assert st == 200, (st, j)
    rss = (tunlib.rss_kib(srv.proc.pid), tunlib.rss_kib(cli.proc.pid))
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    got, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < 2.5:
        b = s.recv(CHUNK)
        assert b, "closed early"
        got += len(b)
    held = sent[0] - got
    grew = (tunlib.rss_kib(srv.proc.pid) - rss[0],
            tunlib.rss_kib(cli.proc.pid) - rss[1])
    print("    tunnel, the target offers %d bytes: in 2.5 s the user got %d, "
          "the target could send %d (%d in kernel buffers and windows); "
          "RSS grew %d KiB (server), %d KiB (client)" % (
              total, got, sent[0], held, grew[0], grew[1]))
    assert within(got / 2.5, LIMIT, 0.15), got
    # Unpaced, the target would have sent all 40 MiB by now.
    assert held < 12 * 1024 * 1024, held
    # ASan's shadow and quarantine make RSS say little there.
    if not tunlib.is_asan_build():
        assert grew[0] < 8 * 1024 and grew[1] < 8 * 1024, grew
    s.close()
    wait_until(lambda: tunlib.clients(srv)[0]["streams"] == 0, 10,
               what="the stream to end")
    tgt.close()
    cli.stop()
    srv.stop()


@_logged
def test_values():
    """0 and absent are no limit; bad values are 400s naming the field and change nothing."""
    srv = Server()
    srv.start()
    echo = gtlib.echo_server()
    port = tunlib.direct_mapping(srv, echo.port)
    assert srv.mappings()[port]["bandwidth_limit"] == 0
    for v in (-1, 1, 1023, 10 * 1024 ** 3 + 1, 2 ** 63 - 1, 1.5, 2e6,
              "2000000", True, [1024]):
        st, _, j = srv.api("POST", "/api/mapping/update",
                           {"port": port, "bandwidth_limit": v})
        assert st == 400 and "bandwidth_limit" in j["message"], (v, st, j)
        st, _, j = srv.create(port=gtlib.free_port(), target_host="127.0.0.1",
                              target_port=echo.port, use_tunnel=False,
                              bandwidth_limit=v)
        assert st == 400 and "bandwidth_limit" in j["message"], (v, st, j)
    assert srv.mappings()[port]["bandwidth_limit"] == 0
    for v in (1024, 10 * 1024 ** 3, 0):
        update(srv, port, v)
    st, _, j = srv.api("POST", "/api/mapping/update",
                       {"port": port, "bandwidth_limit": None})
    assert st == 200 and j["data"]["bandwidth_limit"] == 0, (st, j)
    # Kept across a restart, and served at once.
    update(srv, port, 5000000)
    srv.stop()
    srv.start()
    assert srv.mappings()[port]["bandwidth_limit"] == 5000000
    mt = metrics(srv)
    assert mt['gt_mapping_bandwidth_limit_bytes{port="%d"}' % port] == 5000000
    msg = gtlib.pattern(100000, seed=3)
    assert gtlib.echo_roundtrip(port, msg) == msg
    srv.stop()
    echo.close()


if __name__ == "__main__":
    try:
        T.main()
    finally:
        tunlib.stop_clients()
