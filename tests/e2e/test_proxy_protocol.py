#!/usr/bin/env python3
"""proxy_protocol (SPEC 9, issue 13): a mapping with "v1" or "v2" sends
HAProxy's PROXY header to its target before any data, naming the public
user's address and port and the public listener's; "" sends nothing. Direct
mappings (gt-server writes it) and tunnel mappings (the addresses cross the
tunnel in ConnectRequest's PROXY extension, gt-client writes it). The
target here is a Python server that reads the header byte-exactly, records
it, then echoes the rest; the expected bytes are built by this test from
what it knows itself: the user connects from 127.0.0.2 with a bound source
port to 127.0.0.1 at the public port. Also: the wire form of the extension
and its absence for peers without the capability (a go-tunnel peer, a gt
peer without the bit), an update applying to new sessions only, 400s naming
the field, the field surviving a restart, and HAProxy itself (when
installed) accepting gt's header with `accept-proxy`."""

import os
import shutil
import socket
import struct
import subprocess
import threading

import gtlib
import tunlib
from gtlib import Server, wait_until

T = gtlib.Runner()
_logged = tunlib.logged(T)

TIMEOUT = 10.0
V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
_seed = [900]


def message(size=3000):
    _seed[0] += 1
    return gtlib.pattern(size, seed=_seed[0])


def expected_header(version, src, sport, dst, dport):
    """The PROXY header for an IPv4 TCP connection, per the spec, built here
    independently of gt's encoder."""
    if version == "v1":
        return ("PROXY TCP4 %s %s %d %d\r\n" % (src, dst, sport, dport)).encode()
    if version == "v2":
        return (V2_SIG + bytes([0x21, 0x11]) + struct.pack(">H", 12) +
                socket.inet_aton(src) + socket.inet_aton(dst) +
                struct.pack(">HH", sport, dport))
    return b""


class HeaderTarget:
    """A target that reads a PROXY header of the kind it is told (mode),
    records it per connection, then echoes every further byte. Mode ""
    reads no header: anything extra would come back in the echo."""

    def __init__(self, mode):
        self.mode = mode
        self.headers = []
        self.errors = []
        self.lock = threading.Lock()
        self.srv = gtlib.TCPServer(self._handle)
        self.port = self.srv.port

    def _read_exact(self, c, n):
        got = b""
        while len(got) < n:
            b = c.recv(n - len(got))
            if not b:
                raise EOFError("closed within the PROXY header")
            got += b
        return got

    def _read_header(self, c):
        if self.mode == "v1":
            # Byte by byte up to the CRLF, at most 107 (the spec's bound):
            # nothing of the data after it is consumed.
            got = b""
            while not got.endswith(b"\r\n"):
                if len(got) >= 107:
                    raise ValueError("no CRLF in 107 bytes: %r" % got)
                got += self._read_exact(c, 1)
            return got
        if self.mode == "v2":
            head = self._read_exact(c, 16)
            (n,) = struct.unpack(">H", head[14:16])
            return head + self._read_exact(c, n)
        return b""

    def _handle(self, c):
        c.settimeout(TIMEOUT)
        try:
            h = self._read_header(c)
        except Exception as e:
            self.errors.append(repr(e))
            raise
        with self.lock:
            self.headers.append(h)
        gtlib.echo_handler(c)

    def close(self):
        self.srv.close()


def user(port, src="127.0.0.2"):
    """A user connection from src with a source port bound beforehand (the
    test knows it before connecting); returns (socket, source port)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    sport = s.getsockname()[1]
    s.settimeout(TIMEOUT)
    s.connect(("127.0.0.1", port))
    return s, sport


def recv_exact(s, n):
    got = b""
    while len(got) < n:
        b = s.recv(n - len(got))
        if not b:
            raise AssertionError("closed after %d of %d echoed bytes" % (len(got), n))
        got += b
    return got


def session(port, target, version, src="127.0.0.2"):
    """One user session: the target must have seen exactly the expected
    header, and the data comes back intact (with nothing extra). Returns
    the open socket."""
    before = len(target.headers)
    s, sport = user(port, src)
    msg = message()
    s.sendall(msg)
    assert recv_exact(s, len(msg)) == msg, "echo corrupted"
    wait_until(lambda: len(target.headers) > before, TIMEOUT,
               what="the target to record the session")
    want = expected_header(version, src, sport, "127.0.0.1", port)
    got = target.headers[before]
    assert got == want, "header %r, want %r" % (got, want)
    assert not target.errors, target.errors
    return s


def no_extra_bytes(s):
    """Nothing more comes back: the echo was exactly what we sent."""
    s.shutdown(socket.SHUT_WR)
    s.settimeout(TIMEOUT)
    rest = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        rest += b
    assert rest == b"", "%d bytes beyond the echo: %r" % (len(rest), rest[:120])
    s.close()


def create(srv, port, target_port, tunnel, version):
    st, _, j = srv.create(port=port, target_host="127.0.0.1",
                          target_port=target_port, use_tunnel=tunnel,
                          proxy_protocol=version)
    assert st == 200, (st, j)
    assert j["data"]["proxy_protocol"] == version, j
    assert srv.mappings()[port]["proxy_protocol"] == version
    return port


def _all_versions(srv, tunnel, kind):
    for version in ("v1", "v2", ""):
        target = HeaderTarget(version)
        port = create(srv, gtlib.free_port(), target.port, tunnel, version)
        for _ in range(2):
            no_extra_bytes(session(port, target, version))
        # A second source address, to be sure it is the user's, not gt's.
        no_extra_bytes(session(port, target, version, src="127.0.0.3"))
        st, _, j = srv.api("POST", "/api/mapping/remove", {"port": port})
        assert st == 200, (st, j)
        target.close()
        print("    %s %s: header byte-exact for 3 sessions from 127.0.0.2/3, "
              "echo intact" % (kind, version or '""'))


@_logged
def test_direct():
    srv = Server()
    srv.start()
    _all_versions(srv, False, "direct")
    srv.stop()


@_logged
def test_tunnel():
    srv = tunlib.tunnel_server()
    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    _all_versions(srv, True, "tunnel")
    cli.stop()
    srv.stop()


def expected_header6(version, src, sport, dst, dport):
    """The PROXY header for an IPv6 TCP connection, built from the spec."""
    if version == "v1":
        return ("PROXY TCP6 %s %s %d %d\r\n" % (src, dst, sport, dport)).encode()
    return (V2_SIG + bytes([0x21, 0x21]) + struct.pack(">H", 36) +
            socket.inet_pton(socket.AF_INET6, src) +
            socket.inet_pton(socket.AF_INET6, dst) +
            struct.pack(">HH", sport, dport))


def _ipv6(srv, tunnel, kind):
    """public_addr "::": an IPv6 user gets TCP6, an IPv4 one (::ffff:) TCP4."""
    for version in ("v1", "v2"):
        target = HeaderTarget(version)
        port = create(srv, gtlib.free_port(), target.port, tunnel, version)
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        sport = s.getsockname()[1]
        s.settimeout(TIMEOUT)
        s.connect(("::1", port))
        msg = message()
        s.sendall(msg)
        assert recv_exact(s, len(msg)) == msg, "echo corrupted"
        wait_until(lambda: len(target.headers) == 1, TIMEOUT,
                   what="the target to record the session")
        want = expected_header6(version, "::1", sport, "::1", port)
        assert target.headers[0] == want, (target.headers[0], want)
        no_extra_bytes(s)
        # IPv4 through the dual-stack listener: still TCP4, both addresses
        no_extra_bytes(session(port, target, version))
        assert not target.errors, target.errors
        st, _, j = srv.api("POST", "/api/mapping/remove", {"port": port})
        assert st == 200, (st, j)
        target.close()
        print("    %s %s on public_addr \"::\": TCP6 header byte-exact for "
              "a ::1 user, TCP4 for an IPv4 one" % (kind, version))


@_logged
def test_ipv6_direct():
    srv = Server(public_addr="::")
    srv.start()
    _ipv6(srv, False, "direct")
    srv.stop()


@_logged
def test_ipv6_tunnel():
    srv = tunlib.tunnel_server(public_addr="::")
    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    _ipv6(srv, True, "tunnel")
    cli.stop()
    srv.stop()


def _update_applies_to_new_sessions(srv, tunnel, kind):
    t1, t2, t0 = HeaderTarget("v1"), HeaderTarget("v2"), HeaderTarget("")
    port = create(srv, gtlib.free_port(), t1.port, tunnel, "v1")
    old = session(port, t1, "v1")
    # The running session already sent its header; it goes on untouched.
    st, _, j = srv.api("POST", "/api/mapping/update",
                       {"port": port, "proxy_protocol": "v2",
                        "target_port": t2.port})
    assert st == 200, (st, j)
    assert j["data"]["proxy_protocol"] == "v2", j
    msg = message(5000)
    old.sendall(msg)
    assert recv_exact(old, len(msg)) == msg, "the running session was disturbed"
    no_extra_bytes(session(port, t2, "v2"))
    st, _, j = srv.api("POST", "/api/mapping/update",
                       {"port": port, "proxy_protocol": "",
                        "target_port": t0.port})
    assert st == 200, (st, j)
    no_extra_bytes(session(port, t0, ""))
    no_extra_bytes(old)
    assert len(t1.headers) == 1, t1.headers
    for t in (t1, t2, t0):
        t.close()
    print("    %s: update v1 -> v2 -> \"\" applies to new sessions; the "
          "running one keeps its v1 header and data" % kind)


@_logged
def test_update_direct():
    srv = Server()
    srv.start()
    _update_applies_to_new_sessions(srv, False, "direct")
    srv.stop()


@_logged
def test_update_tunnel():
    srv = tunlib.tunnel_server()
    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    _update_applies_to_new_sessions(srv, True, "tunnel")
    cli.stop()
    srv.stop()


@_logged
def test_errors_and_restart():
    srv = Server()
    srv.start()
    target = HeaderTarget("v2")
    for bad in ("v3", "V1", "v1 ", "PROXY", 1, 2, True, ["v1"], {"v": 1}):
        st, _, j = srv.create(port=gtlib.free_port(), target_host="127.0.0.1",
                              target_port=target.port, use_tunnel=False,
                              proxy_protocol=bad)
        assert st == 400, (bad, st, j)
        assert "proxy_protocol" in j["message"], j
    port = create(srv, gtlib.free_port(), target.port, False, "v2")
    st, _, j = srv.api("POST", "/api/mapping/update",
                       {"port": port, "proxy_protocol": "v9"})
    assert st == 400 and "proxy_protocol" in j["message"], (st, j)
    assert srv.mappings()[port]["proxy_protocol"] == "v2"
    srv.stop()
    srv.start()
    assert srv.mappings()[port]["proxy_protocol"] == "v2"
    no_extra_bytes(session(port, target, "v2"))
    srv.stop()
    target.close()


def _raw_peer_request(srv, caps):
    """A raw tunnel peer over plain TCP: hello with caps (None: no hello, a
    go-tunnel client). Returns the payload of the ConnectRequest for a
    v2 mapping's session from 127.0.0.2, with the user's source port."""
    s = socket.create_connection(("127.0.0.1", tunlib.tunnel_port(srv)),
                                 timeout=TIMEOUT)
    if caps is not None:
        s.sendall(tunlib.frame(6, struct.pack(">IIIHH", 0x47545831, caps,
                                              65536, 0, 0)))
    tunlib.wait_clients(srv, 1)
    fr = tunlib.FrameReader(s)
    if caps is not None:
        while True:
            _, ftype, payload = fr.next()
            if ftype == 6:
                break
    port = create(srv, gtlib.free_port(), 7, True, "v2")
    u, sport = user(port)
    while True:
        _, ftype, payload = fr.next()
        assert caps is not None or ftype != 6
        if ftype == 1:
            break
    u.close()
    s.close()
    wait_until(lambda: len(tunlib.clients(srv)) == 0, TIMEOUT,
               what="the raw peer gone")
    return payload, port, sport


@_logged
def test_wire_extension():
    """ConnectRequest carries the extension only to peers with the bit."""
    srv = tunlib.tunnel_server(tls=False)
    # A gt peer with GT_CAP_PROXY (0x8): the exact extension after the host.
    payload, port, sport = _raw_peer_request(srv, 0xF)
    cid, tport, hlen = struct.unpack(">IHB", payload[:7])
    assert payload[7:7 + hlen] == b"127.0.0.1" and tport == 7, payload
    ext = payload[7 + hlen:]
    want = (bytes([2, 4]) + socket.inet_aton("127.0.0.2") +
            struct.pack(">H", sport) + socket.inet_aton("127.0.0.1") +
            struct.pack(">H", port))
    assert ext == want, "extension %s, want %s" % (ext.hex(), want.hex())
    # A gt peer without the bit, and a go-tunnel peer: the base long form.
    for caps in (0x7, None):
        payload, _, _ = _raw_peer_request(srv, caps)
        hlen = payload[6]
        assert len(payload) == 7 + hlen, (caps, payload.hex())
    assert "gets no PROXY header" in srv.log()
    print("    extension %s for a PROXY-capable peer; base frame for caps 0x7 "
          "and for a peer without hello" % ext.hex())
    srv.stop()


def _haproxy(tunnel):
    """HAProxy as the target with accept-proxy: its acl on src sees the
    user's address (127.0.0.2) from gt's header, though the TCP peer it
    accepts is gt (127.0.0.1); a user from 127.0.0.3 is rejected by it."""
    hap = shutil.which("haproxy")
    tmp = gtlib.make_tmpdir()
    echo = gtlib.echo_server()
    results = []
    for version in ("v1", "v2"):
        hport = gtlib.free_port()
        cfg = os.path.join(tmp, "haproxy-%s.cfg" % version)
        with open(cfg, "w") as f:
            f.write("global\n    maxconn 100\n"
                    "defaults\n    mode tcp\n    timeout connect 5s\n"
                    "    timeout client 30s\n    timeout server 30s\n"
                    "frontend fe\n    bind 127.0.0.1:%d accept-proxy\n"
                    "    tcp-request session reject if !{ src 127.0.0.2 }\n"
                    "    default_backend be\n"
                    "backend be\n    server echo 127.0.0.1:%d\n"
                    % (hport, echo.port))
        chk = subprocess.run([hap, "-c", "-f", cfg], capture_output=True)
        assert chk.returncode == 0, chk.stdout + chk.stderr
        log = open(os.path.join(tmp, "haproxy-%s.log" % version), "wb")
        p = subprocess.Popen([hap, "-db", "-f", cfg], stdout=log, stderr=log)
        try:
            def up():
                try:
                    socket.create_connection(("127.0.0.1", hport), 1).close()
                    return True
                except OSError:
                    return False
            wait_until(up, TIMEOUT, what="haproxy listening")
            srv = tunlib.tunnel_server() if tunnel else Server()
            if not tunnel:
                srv.start()
            cli = None
            if tunnel:
                cli = tunlib.Client(srv)
                tunlib.wait_clients(srv, 1)
            port = create(srv, gtlib.free_port(), hport, tunnel, version)
            s, _ = user(port, "127.0.0.2")
            msg = message(200000)
            s.sendall(msg)
            assert recv_exact(s, len(msg)) == msg, "echo through haproxy corrupted"
            s.close()
            # The acl refuses another user address: haproxy read it from gt.
            r, _ = user(port, "127.0.0.3")
            r.settimeout(TIMEOUT)
            try:
                r.sendall(b"x")
                got = r.recv(10)
            except (ConnectionResetError, BrokenPipeError):
                got = b""
            assert got == b"", "haproxy did not reject 127.0.0.3: %r" % got
            r.close()
            if cli:
                cli.stop()
            srv.stop()
            results.append(version)
        finally:
            p.terminate()
            p.wait(10)
            log.close()
    echo.close()
    print("    haproxy accept-proxy, %s: %s passed 200 kB for 127.0.0.2 and "
          "rejected 127.0.0.3 by the header's address" %
          ("tunnel" if tunnel else "direct", "+".join(results)))


@_logged
def test_haproxy_direct():
    if shutil.which("haproxy") is None:
        print("    SKIP: haproxy not installed (scripts/deps.sh installs it)")
        return
    _haproxy(False)


@_logged
def test_haproxy_tunnel():
    if shutil.which("haproxy") is None:
        print("    SKIP: haproxy not installed (scripts/deps.sh installs it)")
        return
    _haproxy(True)


if __name__ == "__main__":
    try:
        T.main()
    finally:
        tunlib.stop_clients()
