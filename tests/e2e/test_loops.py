#!/usr/bin/env python3
"""Mappings turned on the server itself, a looping tunnel mapping, a
database another process has locked, and request fields gt does not know
(docs/SECURITY.md: "Mapping loops and self-targets", "Database locked",
"Unknown request fields"). Every wait is a condition with a bound."""

import os
import resource
import socket
import sqlite3
import subprocess
import threading
import time

import gtlib
import tunlib
from gtlib import Server, binpath, wait_until

T = gtlib.Runner()
_logged = tunlib.logged(T)

LOOP_CAP = 100          # limits.max_sessions_per_mapping of the loop test
LOOP_NOFILE = 1024      # the looping server's RLIMIT_NOFILE


start_with_nofile = tunlib.start_with_nofile


def refused(port):
    """Nothing listens on 127.0.0.1:port."""
    with socket.socket() as c:
        c.settimeout(5)
        return c.connect_ex(("127.0.0.1", port)) != 0


def closed_without_answer(port, timeout=5):
    """A connection to port is accepted and then closed, no byte back."""
    c = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        c.sendall(b"GET /health HTTP/1.0\r\n\r\n")
    except OSError:
        c.close()
        return True
    try:
        got = c.recv(4096)
    except ConnectionResetError:
        got = b""
    finally:
        c.close()
    assert got == b"", "the self-target answered: %r" % got[:200]
    return True


def active(srv, port):
    return srv.mappings()[port]["active_connections"]


def metric(srv, name):
    st, _, text = srv.api("GET", "/metrics")
    assert st == 200, (st, text)
    for line in text.splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    raise AssertionError("no metric %s" % name)


def interface_addresses():
    """Non-loopback addresses of this host's interfaces (from `ip -o addr`)."""
    out = []
    try:
        r = gtlib.run(["ip", "-o", "addr", "show"], timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return out
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 4 and f[2] in ("inet", "inet6"):
            a = f[3].split("/")[0]
            if not a.startswith(("127.", "::1", "fe80:")):
                out.append(a)
    return out


# ---------------------------------------------------------------- 1. self targets at create

@_logged
def test_self_targets_refused_at_create():
    """Every spelling of this host, at the API port, the tunnel port, the
    mapping's own port or another mapping's port, is a 400 naming the rule;
    a mapping on a port a direct mapping already targets here, too. Nothing
    listens on a refused port."""
    srv = tunlib.tunnel_server()
    api, tun = srv.api_port, tunlib.tunnel_port(srv)
    p = gtlib.free_port()
    cases = [
        (dict(target_host="::ffff:127.0.0.1"), "this very mapping"),
        (dict(target_host="127.0.0.1", target_port=p), "this very mapping"),
        (dict(target_host="0:0:0:0:0:ffff:7f00:1"), "this very mapping"),
        (dict(target_host="127.0.0.1", target_port=api), "own API port"),
        (dict(target_host="::ffff:127.0.0.1", target_port=api), "own API port"),
        (dict(target_host="0.0.0.0", target_port=api), "own API port"),
        (dict(target_host="::", target_port=api), "own API port"),
        (dict(target_host="localhost", target_port=api), "own API port"),
        (dict(target_host="127.0.0.2", target_port=tun), "own tunnel port"),
        (dict(target_host="::1", target_port=tun), "own tunnel port"),
    ]
    for a in interface_addresses():
        cases.append((dict(target_host=a, target_port=api), "own API port"))
    for body, rule in cases:
        st, _, j = srv.create(port=p, use_tunnel=False, **body)
        assert st == 400, (body, st, j)
        assert rule in j["message"], (body, j["message"])
        assert refused(p), "port %d listens after a 400" % p
    # A -> this host at B (nobody's port yet): allowed; B itself is then refused.
    a, b, c = gtlib.free_port(), gtlib.free_port(), gtlib.free_port()
    st, _, j = srv.create(port=a, target_host="::ffff:127.0.0.1", target_port=b,
                          use_tunnel=False)
    assert st == 200, (st, j)
    for tunnel in (False, True):
        st, _, j = srv.create(port=b, target_host="192.0.2.9", target_port=80,
                              use_tunnel=tunnel)
        assert st == 400, (st, j)
        assert "direct mapping %d" % a in j["message"], j["message"]
        assert refused(b)
    # C -> this host at A (a mapping's public port): a chain, refused.
    st, _, j = srv.create(port=c, target_host="127.0.0.1", target_port=a,
                          use_tunnel=False)
    assert st == 400 and "own port %d" % a in j["message"], (st, j)
    assert refused(c)
    print("    %d spellings refused, e.g. %r" % (len(cases), cases[0][1]))


# ---------------------------------------------------------------- 1. the run-time guard

def store_rows(path, rows):
    """Write direct mappings straight into a gt database (as an older gt
    without the create-time guard might have), schema made by gt itself."""
    con = sqlite3.connect(path, isolation_level=None, timeout=5)
    try:
        for (port, host, tport) in rows:
            con.execute("INSERT INTO mappings (source_port, target_host,"
                        " target_port, use_tunnel, client, created_at)"
                        " VALUES (?, ?, ?, 0, '', 0)", (port, host, tport))
    finally:
        con.close()


@_logged
def test_runtime_guard_cycle_and_names():
    """Mappings the API would refuse, restored from the database (a cycle A
    <-> B written ::ffff:127.0.0.1, a self loop), and a host name that
    resolves to this host at the API port: each public connection is closed
    without reaching the target, the server's descriptors stay few, and the
    log holds one warning per mapping, not one line per session."""
    srv = Server()
    srv.start()
    srv.stop()
    a, b, s = gtlib.free_port(), gtlib.free_port(), gtlib.free_port()
    store_rows(srv.cfg["database"]["path"], [
        (a, "::ffff:127.0.0.1", b), (b, "127.0.0.1", a), (s, "0.0.0.0", s)])
    srv.start()
    name = socket.gethostname()
    try:
        resolves_here = socket.gethostbyname(name).startswith("127.")
    except OSError:
        resolves_here = False
    if not resolves_here:
        name = "localhost"      # the API refuses it; the restored rows still test
    n = None
    if name != "localhost":
        n = gtlib.free_port()
        st, _, j = srv.create(port=n, target_host=name, target_port=srv.api_port,
                              use_tunnel=False)
        assert st == 200, (st, j)   # a name: only the dialer can tell
    fds0 = tunlib.fd_count(srv.proc.pid)
    lines0 = len(srv.log().splitlines())
    ports = [a, b, s] + ([n] if n else [])
    rounds = 40
    for _ in range(rounds):
        for p in ports:
            closed_without_answer(p)
    wait_until(lambda: all(active(srv, p) == 0 for p in ports), 10,
               what="refused sessions to end")
    fds = tunlib.fd_count(srv.proc.pid)
    assert fds <= fds0 + 4, (fds0, fds)
    log = srv.log()
    new = log.splitlines()[lines0:]
    warn = [l for l in new if "this server's own port" in l]
    assert 1 <= len(warn) <= len(ports), warn
    assert len(new) < rounds * len(ports) // 4, "%d log lines for %d sessions:\n%s" % (
        len(new), rounds * len(ports), "\n".join(new[-20:]))
    print("    %d sessions into %d self-targets: %d log lines, %s"
          % (rounds * len(ports), len(ports), len(new), warn[0].split("fwd", 1)[-1]))


# ---------------------------------------------------------------- 2. a looping tunnel mapping

def loop_server(listen_addr="127.0.0.1"):
    """A server with the tunnel on (no TLS: the client may come by any
    address), a small per-mapping cap and few descriptors."""
    tunlib.raise_nofile(4096)
    srv = Server(**{
        "tunnel": {"enabled": True, "listen_addr": listen_addr,
                   "heartbeat_interval": 1, "heartbeat_timeout": 3},
        "security": {"tunnel": {"enable_tls": False}},
        "limits": {"max_sessions_per_mapping": LOOP_CAP},
    })
    return start_with_nofile(srv, LOOP_NOFILE)


class RawClient:
    """gt-client -no-tls dialling the server at addr (not only 127.0.0.1)."""

    def __init__(self, addr, port):
        self.log_path = os.path.join(gtlib.make_tmpdir(), "client.log")
        self._logf = open(self.log_path, "ab")
        host = "[%s]" % addr if ":" in addr else addr
        self.proc = subprocess.Popen(
            [binpath("gt-client"), "-server", "%s:%d" % (host, port), "-no-tls"],
            stdout=self._logf, stderr=self._logf)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._logf.close()


def user_into(port):
    """A public user of port who sends a little and waits."""
    u = socket.create_connection(("127.0.0.1", port), timeout=10)
    u.sendall(b"x" * 1000)
    return u


@_logged
def test_tunnel_loop_refused_local_client():
    """The client runs here and reached the server over loopback, the
    mapping's target is its own port (target_port left out): the loop is
    provable and refused at the first hop. The user is closed at once,
    nothing piles up, one warning per 10 s, another mapping unaffected."""
    srv = loop_server()
    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    echo = gtlib.echo_server()
    e = tunlib.direct_mapping(srv, echo.port)
    loop = gtlib.free_port()
    st, _, j = srv.create(port=loop, use_tunnel=True)   # -> 127.0.0.1:loop
    assert st == 200, (st, j)
    lines0 = len(srv.log().splitlines())
    n = 50
    for _ in range(n):
        u = user_into(loop)
        u.settimeout(5)
        try:
            assert u.recv(100) == b"", "the loop answered"
        except ConnectionResetError:
            pass
        u.close()
    assert active(srv, loop) == 0
    assert tunlib.roundtrip_n(e, 20)
    new = srv.log().splitlines()[lines0:]
    warn = [l for l in new if "this server's own port" in l]
    assert len(warn) == 1, warn
    assert len(new) < 10, "\n".join(new)
    assert srv.mappings()[loop]["active_connections"] == 0
    print("    %d users into the loop: %d log lines: %s" % (
        n, len(new), warn[0].split("fwd]", 1)[-1]))
    cli.stop()
    echo.close()


def outside_address():
    """An IPv4 address of this host that is not loopback, or None."""
    for a in interface_addresses():
        if ":" not in a:
            return a
    return None


@_logged
def test_tunnel_loop_bounded_by_cap():
    """The same loop through a client that reached the server by another
    address (it might be a container with its own loopback, so nothing is
    provable): limits.max_sessions_per_mapping bounds it, another mapping
    keeps carrying data, the log stays small (lines bounded by the cap, not
    growing with time), and removing the mapping ends it all."""
    addr = outside_address()
    if addr is None:
        print("    skipped: this host has no address but loopback")
        return
    srv = loop_server("0.0.0.0")
    cli = RawClient(addr, tunlib.tunnel_port(srv))
    try:
        tunlib.wait_clients(srv, 1)
        echo = gtlib.echo_server()
        e = tunlib.direct_mapping(srv, echo.port)
        loop = gtlib.free_port()
        st, _, j = srv.create(port=loop, use_tunnel=True)
        assert st == 200, (st, j)
        lines0 = len(srv.log().splitlines())
        fds0 = tunlib.fd_count(srv.proc.pid)
        peak = [0]

        def sample():
            v = active(srv, loop)
            peak[0] = max(peak[0], v)
            assert v <= LOOP_CAP, "active %d over the cap %d" % (v, LOOP_CAP)
            assert metric(srv, "gt_sessions_active") <= LOOP_CAP + 2
            return v
        u = user_into(loop)
        tunlib.wait_quiet(sample, quiet=1.0, timeout=30, what="the loop to stand")
        assert peak[0] == LOOP_CAP, "peak %d, cap %d" % (peak[0], LOOP_CAP)
        lat = tunlib.roundtrip_n(e, 50, size=4096)
        assert max(lat) < 2.0, max(lat)
        u.close()
        lines1 = len(srv.log().splitlines())
        tunlib.wait_quiet(sample, quiet=1.0, timeout=15, what="the loop to stay bounded")
        assert len(srv.log().splitlines()) - lines1 < 10, "the log grows with time"
        st, _, j = srv.api("POST", "/api/mapping/remove", {"port": loop})
        assert st == 200, (st, j)
        wait_until(lambda: metric(srv, "gt_sessions_active") == 0, 15,
                   what="the loop's sessions to end")
        tunlib.proc_fds_settled(srv.proc.pid, fds0, slack=4)
        assert tunlib.roundtrip_n(e, 5)
        new = srv.log().splitlines()[lines0:]
        assert len(new) < 4 * LOOP_CAP, "%d log lines for a loop capped at %d" % (
            len(new), LOOP_CAP)
        print("    peak %d sessions (cap %d), %d log lines, echo max %.0f ms"
              % (peak[0], LOOP_CAP, len(new), max(lat) * 1000))
        echo.close()
    finally:
        cli.stop()


# ---------------------------------------------------------------- 3. database locked by another process

class Echoer:
    """A thread doing 1 KiB round trips through port until stop(); records
    the slowest and counts them."""

    def __init__(self, port):
        self.port = port
        self.count = 0
        self.worst = 0.0
        self.error = None
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            msg = b"r" * 1024
            while not self._stop.is_set():
                t0 = time.monotonic()
                s.sendall(msg)
                got = b""
                while len(got) < len(msg):
                    b = s.recv(len(msg) - len(got))
                    assert b, "echo closed"
                    got += b
                assert got == msg
                self.worst = max(self.worst, time.monotonic() - t0)
                self.count += 1
            s.close()
        except Exception as ex:     # reported by stop()
            self.error = ex

    def stop(self):
        self._stop.set()
        self._t.join(15)
        assert self.error is None, self.error
        return self.count, self.worst


@_logged
def test_database_locked_503():
    """Another process holds the database's write lock: create and remove
    answer 503 with Retry-After within database.busy_timeout (bounded at 2 s
    here, default 20 ms), sessions through an existing mapping keep their
    round trips, the failed create leaves no listener and the failed remove
    leaves the mapping served; list still answers (WAL readers do not wait).
    After the lock goes, the same create succeeds."""
    srv = Server()
    srv.start()
    echo = gtlib.echo_server()
    e = tunlib.direct_mapping(srv, echo.port)
    p = gtlib.free_port()
    body = dict(port=p, target_host="127.0.0.1", target_port=echo.port,
                use_tunnel=False)
    before = Echoer(e)
    wait_until(lambda: before.count > 20, 10, what="round trips before the lock")
    before.stop()
    lock = sqlite3.connect(srv.cfg["database"]["path"], isolation_level=None,
                           timeout=0)
    # IMMEDIATE takes the write lock (in WAL, EXCLUSIVE is the same lock).
    lock.execute("BEGIN IMMEDIATE")
    try:
        ech = Echoer(e)
        wait_until(lambda: ech.count > 5, 10, what="round trips under the lock")
        worst_api = 0.0
        for _ in range(10):
            t0 = time.monotonic()
            st, h, j = srv.create(**body)
            dt = time.monotonic() - t0
            worst_api = max(worst_api, dt)
            assert st == 503, (st, j)
            assert dt < 2.0, dt
            assert h.get("retry-after") == "1", h
            assert j["success"] is False and "busy" in j["message"], j
            assert "locked by another process" in j["message"], j
            assert refused(p), "the 503 create left port %d listening" % p
        st, h, j = srv.api("POST", "/api/mapping/remove", {"port": e})
        assert st == 503 and h.get("retry-after") == "1", (st, h, j)
        st, _, j = srv.api("GET", "/api/mapping/list")
        assert st == 200, (st, j)
        assert tunlib.roundtrip_n(e, 3)     # still served
        n0 = ech.count
        wait_until(lambda: ech.count > n0 + 20, 10, what="round trips after the 503s")
        count, worst = ech.stop()
        assert worst < 1.0, "a round trip took %.3f s under the lock" % worst
    finally:
        lock.rollback()
        lock.close()
    st, _, j = srv.create(**body)
    assert st == 200, (st, j)
    assert tunlib.roundtrip_n(p, 3)
    assert p in srv.mappings() and e in srv.mappings()
    print("    under the lock: %d round trips, slowest %.0f ms; 503 in %.0f ms at worst"
          % (count, worst * 1000, worst_api * 1000))
    echo.close()


# ---------------------------------------------------------------- 4. unknown fields

@_logged
def test_unknown_and_bad_fields():
    """A field gt does not know is a 400 naming it; a bad value of an
    edge-control field is a 400 naming the field and nothing listens (fail
    closed: a whitelist asked for must not become an open port)."""
    srv = Server()
    srv.start()
    p = gtlib.free_port()
    base = dict(port=p, target_host="192.0.2.9", target_port=80, use_tunnel=False)
    st, _, j = srv.create(foo=1, **base)
    assert st == 400 and j["message"] == 'unknown field "foo"', (st, j)
    for field, val in (("access_rule", "allow"), ("access_ips", '["10.0.0.1", "x"]'),
                       ("access_ips", "10.0.0.0/8"), ("bandwidth_limit", -1),
                       ("max_connections", -10), ("proxy_protocol", "v3")):
        st, _, j = srv.create(**dict(base, **{field: val}))
        assert st == 400, (field, val, st, j)
        assert field in j["message"], j["message"]
        assert refused(p)
    st, _, j = srv.api("POST", "/api/mapping/remove", {"port": p, "force": True})
    assert st == 400 and "force" in j["message"], (st, j)
    # What go-tunnel's UI sends by default.
    st, _, j = srv.create(bandwidth_limit=0, access_rule="disabled", access_ips="[]",
                          max_connections=0, proxy_protocol="", **base)
    assert st == 200, (st, j)
    assert not refused(p)


if __name__ == "__main__":
    try:
        T.main()
    finally:
        tunlib.stop_clients()
