#!/usr/bin/env python3
"""Direct mode end to end: bytes both ways, concurrency, half-close, counters, restart."""

import socket
import threading
import time

import gtlib
from gtlib import Server, sha256, wait_until

R = gtlib.Runner()
_S = None
_ECHO = None
_DIGEST = None
MiB = 1 << 20


def setup():
    global _S, _ECHO, _DIGEST
    if _S is None:
        _S = Server()
        _S.shared = True
        _S.start()
        _ECHO = gtlib.echo_server()
        _DIGEST = gtlib.digest_server()
    return _S


def mapping(s, target_port):
    port = gtlib.free_port()
    st, _, j = s.create(port=port, target_host="127.0.0.1", target_port=target_port)
    assert st == 200, (st, j)
    return port


@R.test
def test_16mib_both_ways():
    s = setup()
    port = mapping(s, _ECHO.port)
    data = gtlib.pattern(16 * MiB, seed=1)
    t0 = time.monotonic()
    back = gtlib.echo_roundtrip(port, data)
    dt = time.monotonic() - t0
    assert len(back) == len(data), (len(back), len(data))
    assert sha256(back) == sha256(data)
    # The same transfer straight to the target, for comparison (same run).
    t0 = time.monotonic()
    direct = gtlib.echo_roundtrip(_ECHO.port, data)
    dt0 = time.monotonic() - t0
    assert sha256(direct) == sha256(data)
    print("     16 MiB echo: via gt-server %.1f MB/s, direct loopback %.1f MB/s"
          % (16 * MiB / dt / 1e6, 16 * MiB / dt0 / 1e6))
    # One way, toward a target that reports what it got.
    s2 = socket.create_connection(("127.0.0.1", mapping(s, _DIGEST.port)), timeout=60)
    s2.sendall(data)
    s2.shutdown(socket.SHUT_WR)
    n, digest = gtlib.recv_all(s2).decode().split()
    s2.close()
    assert int(n) == len(data) and digest == sha256(data)


@R.test
def test_50_concurrent_sessions():
    s = setup()
    port = mapping(s, _ECHO.port)
    results = {}

    def one(i):
        data = gtlib.pattern(256 * 1024 + i * 997, seed=100 + i)
        try:
            back = gtlib.echo_roundtrip(port, data, timeout=60)
            results[i] = sha256(back) == sha256(data)
        except Exception as e:
            results[i] = repr(e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    bad = {i: r for i, r in results.items() if r is not True}
    assert len(results) == 50 and not bad, (len(results), bad)
    m = s.mappings()[port]
    assert m["bytes_in"] >= sum(256 * 1024 + i * 997 for i in range(50)), m


@R.test
def test_half_close():
    s = setup()
    port = mapping(s, _DIGEST.port)
    data = gtlib.pattern(3 * MiB + 17, seed=7)
    c = socket.create_connection(("127.0.0.1", port), timeout=30)
    c.sendall(data)
    c.shutdown(socket.SHUT_WR)      # the target sees EOF, then answers
    reply = gtlib.recv_all(c)
    c.close()
    n, digest = reply.decode().split()
    assert int(n) == len(data) and digest == sha256(data), reply
    # An empty upload: EOF alone crosses too.
    c = socket.create_connection(("127.0.0.1", port), timeout=30)
    c.shutdown(socket.SHUT_WR)
    n, digest = gtlib.recv_all(c).decode().split()
    c.close()
    assert int(n) == 0 and digest == sha256(b"")


@R.test
def test_counters_move():
    s = setup()
    port = mapping(s, _ECHO.port)
    m = s.mappings()[port]
    assert m["active_connections"] == 0 and m["bytes_in"] == 0 and m["bytes_out"] == 0, m
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.sendall(b"a" * 5000)
    got = 0
    while got < 5000:
        got += len(c.recv(65536))
    wait_until(lambda: s.mappings()[port]["active_connections"] == 1, 5,
               what="active_connections == 1")
    m = s.mappings()[port]
    assert m["bytes_in"] == 5000 and m["bytes_out"] == 5000, m
    c.close()
    wait_until(lambda: s.mappings()[port]["active_connections"] == 0, 5,
               what="active_connections back to 0")


@R.test
def test_unreachable_target():
    s = setup()
    dead = gtlib.free_port()          # nothing listens there
    port = mapping(s, dead)
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.settimeout(10)
    try:
        assert c.recv(1) == b""
    except ConnectionResetError:
        pass
    c.close()
    st, _, _ = s.api("GET", "/health")
    assert st == 200


@R.test
def test_restart_restores():
    s = setup()
    port = mapping(s, _ECHO.port)
    taken = mapping(s, _ECHO.port)
    # A session open during SIGTERM is closed, and the exit is still prompt.
    c = socket.create_connection(("127.0.0.1", port), timeout=10)
    c.sendall(b"ping")
    assert c.recv(4) == b"ping"
    dt = s.stop()
    assert dt < 5.0
    c.settimeout(5)
    try:
        assert c.recv(1) == b""
    except ConnectionResetError:
        pass
    c.close()
    # Another program takes one port while the server is down.
    blocker = socket.socket()
    blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    blocker.bind(("0.0.0.0", taken))
    blocker.listen(1)
    try:
        s.start()
        ms = s.mappings()
        assert port in ms and taken in ms, ms
        assert "error" not in ms[port], ms[port]
        assert ms[port]["target_port"] == _ECHO.port
        assert ms[taken].get("error"), ms[taken]
        data = gtlib.pattern(2 * MiB, seed=9)
        assert sha256(gtlib.echo_roundtrip(port, data)) == sha256(data)
        # The counters continue from the traffic history (issue 14): the
        # 4 bytes of "ping" before the stop, then the 2 MiB.
        wait_until(lambda: s.mappings()[port]["bytes_in"] == 4 + len(data), 5,
                   what="bytes_in after restart")
        # The failed mapping can be removed like any other.
        st, _, j = s.api("POST", "/api/mapping/remove", {"port": taken})
        assert st == 200, (st, j)
    finally:
        blocker.close()


@R.test
def test_zz_stop():
    if _S is not None:
        _S.stop()
    for t in (_ECHO, _DIGEST):
        if t is not None:
            t.close()


if __name__ == "__main__":
    R.main()
