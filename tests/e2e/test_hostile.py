#!/usr/bin/env python3
"""Hostile input at the server's two ports. At the tunnel port: garbage,
a truncated ClientHello, a stalled handshake, many half-open connections.
At the API port: garbage HTTP, a huge header, a slowloris request. After
each: /health answers 200, an established tunnel carries a session
byte-exact, the server did not crash."""

import os
import socket
import threading
import time

import gtlib
import tunlib
from gtlib import wait_until
from tunlib import roundtrip_n

T = gtlib.Runner()

HANDSHAKE_TIMEOUT = 10      # src/tunnel/listener.c TUN_HANDSHAKE_TIMEOUT


class Rig:
    """A server with a tunnel, a client and an echo mapping through it."""

    def __init__(self):
        self.srv = tunlib.tunnel_server(hb=(2, 6))
        self.cli = tunlib.Client(self.srv)
        tunlib.wait_clients(self.srv, 1)
        self.echo = gtlib.echo_server()
        self.port = tunlib.tunnel_mapping(self.srv, self.echo.port)
        self.tport = tunlib.tunnel_port(self.srv)
        self.api = self.srv.api_port

    def still_serving(self, what):
        assert self.srv.proc.poll() is None, "gt-server died after %s:\n%s" % (
            what, self.srv.log()[-3000:])
        st, _, j = self.srv.api("GET", "/health", token=False)
        assert st == 200 and j["status"] == "ok", (what, st, j)
        assert j["tunnel_connected"] is True, (what, j)
        assert roundtrip_n(self.port, 10, size=4096), what

    def close(self):
        self.cli.stop()
        self.srv.stop()
        self.echo.close()


def closed_by_peer(s, timeout=5):
    """True when the peer closes s (EOF or reset) within timeout seconds;
    whatever it sends before that (a TLS alert, an HTTP error) is skipped."""
    s.settimeout(timeout)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def raw(port):
    return socket.create_connection(("127.0.0.1", port), timeout=10)


@T.test
def test_tunnel_port_hostile_bytes():
    rig = Rig()
    # One connection that says nothing at all, opened first: it must be
    # closed by the handshake timeout while everything else goes on.
    stalled = raw(rig.tport)
    t0 = time.monotonic()
    hello = tunlib.tls_client_hello()
    cases = {
        "garbage": os.urandom(4096),
        "http at the tunnel port": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "a frame instead of TLS": tunlib.keepalive() * 8,
        "truncated ClientHello": hello[:len(hello) // 2],
        "ClientHello cut in its header": hello[:3],
        "ClientHello with a huge record length": b"\x16\x03\x01\xff\xff" + hello[5:],
        "ClientHello then garbage": hello + os.urandom(2048),
    }
    for what, payload in cases.items():
        s = raw(rig.tport)
        try:
            s.sendall(payload)
        except (ConnectionResetError, BrokenPipeError):
            pass
        if what.startswith("truncated") or what.startswith("ClientHello cut"):
            s.close()         # a peer that gives up halfway
        else:
            assert closed_by_peer(s, HANDSHAKE_TIMEOUT + 5), what
            s.close()
        rig.still_serving(what)
    # The silent one: closed at the handshake timeout, not before, not never.
    assert closed_by_peer(stalled, HANDSHAKE_TIMEOUT + 5), "stalled handshake left open"
    took = time.monotonic() - t0
    stalled.close()
    print("    %d kinds of junk refused; silent connection closed after %.1f s"
          % (len(cases), took))
    assert took >= HANDSHAKE_TIMEOUT - 1, took
    rig.still_serving("a stalled handshake")
    assert rig.srv.log().count("refused 127.0.0.1") >= len(cases)
    rig.close()


@T.test
def test_tunnel_port_half_open_flood():
    rig = Rig()
    pid = rig.srv.proc.pid
    base_fds = tunlib.fd_count(pid)
    flood = []
    for i in range(400):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", rig.tport))
        except BlockingIOError:
            pass
        flood.append(s)
        if i % 3 == 0:
            try:
                s.send(b"\x16\x03\x01")     # a TLS record header and no more
            except OSError:
                pass
    t0 = time.monotonic()
    rig.still_serving("400 half-open connections")
    # A second client arriving during the flood: note when it gets in.
    tunlib.client_cert(rig.srv, "late")
    late = tunlib.Client(rig.srv, name="late")
    wait_until(lambda: len(tunlib.clients(rig.srv)) == 2, 3 * HANDSHAKE_TIMEOUT,
               what="a new client during the flood")
    late_in = time.monotonic() - t0
    rig.still_serving("a client joining during the flood")
    for s in flood:
        s.close()
    fds = tunlib.proc_fds_settled(pid, base_fds + 1, timeout=3 * HANDSHAKE_TIMEOUT)
    print("    400 half-open connections: new client admitted after %.1f s; "
          "server fds %d -> %d (one new tunnel)" % (late_in, base_fds, fds))
    late.stop()
    rig.close()


@T.test
def test_half_open_flood_does_not_lock_out_clients():
    """300 silent TCP connections from one address (no certificate) must
    not keep a real client out: handshakes in flight are capped per source
    and overall, and past a cap the oldest one goes (src/tunnel/listener.c)."""
    rig = Rig()
    flood = []
    for _ in range(300):
        s = socket.socket()
        s.setblocking(False)
        try:
            s.connect(("127.0.0.1", rig.tport))
        except BlockingIOError:
            pass
        flood.append(s)
    tunlib.client_cert(rig.srv, "late")
    late = tunlib.Client(rig.srv, name="late")
    try:
        wait_until(lambda: len(tunlib.clients(rig.srv)) == 2, 3,
                   what="a new client admitted during the flood")
    finally:
        for s in flood:
            s.close()
        late.stop()
        rig.close()


def http_raw(port, payload, timeout=10):
    """Send bytes to the API port; return what came back until close."""
    s = raw(port)
    out = b""
    try:
        s.sendall(payload)
        s.settimeout(timeout)
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (ConnectionResetError, BrokenPipeError):
        pass
    except socket.timeout:
        out += b"<timeout>"
    finally:
        s.close()
    return out


@T.test
def test_api_port_hostile_http():
    rig = Rig()
    tok = rig.srv.token()
    big = b"X-Junk: " + b"a" * (256 * 1024) + b"\r\n"
    cases = {
        "garbage": os.urandom(2048),
        "binary request line": b"\x00\x01\x02 / HTTP/1.1\r\n\r\n",
        "bad version": b"GET /health HTTP/9.9\r\n\r\n",
        "huge header": b"GET /health HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n",
        "many headers": b"GET /health HTTP/1.1\r\n" + b"".join(
            b"H%d: v\r\n" % i for i in range(5000)) + b"\r\n",
        "huge request line": b"GET /" + b"a" * (128 * 1024) + b" HTTP/1.1\r\n\r\n",
        "lying content-length": (b"POST /api/mapping/create HTTP/1.1\r\nHost: x\r\n"
                                 b"Authorization: Bearer " + tok.encode() +
                                 b"\r\nContent-Length: 100000000\r\n\r\n{}"),
        "bad chunked body": (b"POST /api/mapping/create HTTP/1.1\r\nHost: x\r\n"
                             b"Authorization: Bearer " + tok.encode() +
                             b"\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
        "unknown method": b"BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n",
    }
    answers = {}
    for what, payload in cases.items():
        got = http_raw(rig.api, payload, timeout=5 if "lying" in what else 10)
        answers[what] = got.split(b"\r\n", 1)[0][:40].decode(errors="replace")
        assert not got.startswith(b"HTTP/1.1 200") and \
            not got.startswith(b"HTTP/1.0 200"), (what, got[:200])
        rig.still_serving(what)
    print("    API answers: %s" % answers)
    assert len(rig.srv.mappings()) == 1
    rig.close()


@T.test
def test_api_slowloris():
    rig = Rig()
    # Requests trickling in a byte at a time while others are served (fewer than
    # api.max_connections_per_ip, which would refuse the checks from the same address).
    slow = []
    for i in range(24):
        s = raw(rig.api)
        s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        slow.append(s)
    stop = threading.Event()
    dripped = [0]

    def drip():
        while not stop.is_set():
            for s in slow:
                try:
                    s.sendall(b"X")
                    dripped[0] += 1
                except OSError:
                    pass
            stop.wait(0.2)

    t = threading.Thread(target=drip, daemon=True)
    t.start()
    t0 = time.monotonic()
    served = 0
    while time.monotonic() - t0 < 3:
        rig.still_serving("slowloris")
        served += 1
    stop.set()
    t.join(5)
    for s in slow:
        s.close()
    print("    %d slow requests dripping (%d bytes): %d full checks served meanwhile"
          % (len(slow), dripped[0], served))
    assert served >= 10, served
    rig.still_serving("slowloris over")
    rig.close()


if __name__ == "__main__":
    try:
        T.main()
    finally:
        tunlib.stop_clients()
