#!/usr/bin/env python3
"""Session limits (config section `limits`): max_sessions_per_mapping and
max_sessions. At a limit gt pauses accepting: the listening socket stays
open, a new connection waits (in the kernel's backlog) unserved, and it is
served normally as soon as a session ends. Every byte is checked; the only
fixed waits are the short bounded negative checks ("not served within
NOT_SERVED_S"). Bad values of the keys are refused like every other key."""

import os
import select
import socket

import gtlib
import tunlib
from gtlib import Server, binpath, run, wait_until

T = gtlib.Runner()

NOT_SERVED_S = 1.0      # how long a connection over a limit must stay unserved
SERVED_S = 10.0         # how long a served connection may take to echo


_logged = tunlib.logged(T)


# ---------------------------------------------------------------- sessions

_seed = [100]


def message(size=1500):
    """A fresh pattern, different for every call (so echoes cannot mix)."""
    _seed[0] += 1
    return gtlib.pattern(size, seed=_seed[0])


def recv_exact(s, n, timeout=SERVED_S):
    s.settimeout(timeout)
    got = b""
    while len(got) < n:
        try:
            b = s.recv(n - len(got))
        except socket.timeout:
            raise AssertionError("only %d of %d echoed bytes within %.0f s"
                                 % (len(got), n, timeout))
        if not b:
            raise AssertionError("connection closed after %d of %d echoed bytes"
                                 % (len(got), n))
        got += b
    return got


def session(port):
    """A connection to port that echoes one message correctly; returns it."""
    s = socket.create_connection(("127.0.0.1", port), timeout=SERVED_S)
    msg = message()
    s.sendall(msg)
    assert recv_exact(s, len(msg)) == msg, "echo corrupted on port %d" % port
    return s


class Pending:
    """A connection made while a limit is reached, with a message sent."""

    def __init__(self, port):
        self.port = port
        # The kernel completes the handshake into the listener's backlog.
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=SERVED_S)
        self.msg = message()
        self.sock.sendall(self.msg)

    def assert_waiting(self):
        """Nothing has come back (not served) and it was not closed."""
        self.sock.setblocking(False)
        try:
            b = self.sock.recv(65536)
        except BlockingIOError:
            return
        except ConnectionResetError:
            raise AssertionError("connection to %d over the limit was reset "
                                 "instead of waiting" % self.port)
        finally:
            self.sock.setblocking(True)
        if not b:
            raise AssertionError("connection to %d over the limit was closed "
                                 "instead of waiting" % self.port)
        raise AssertionError("connection to %d was served while the limit was "
                             "reached (%d bytes echoed)" % (self.port, len(b)))

    def readable(self):
        r, _, _ = select.select([self.sock], [], [], 0)
        return bool(r)

    def assert_served(self):
        got = recv_exact(self.sock, len(self.msg))
        assert got == self.msg, "the late connection's echo is corrupted"
        # And it is a full session: a second message goes through too.
        more = message(4096)
        self.sock.sendall(more)
        assert recv_exact(self.sock, len(more)) == more

    def close(self):
        self.sock.close()


def not_served_for(pendings, secs=NOT_SERVED_S):
    """Bounded negative check: for secs, none of pendings gets a byte."""
    socks = [p.sock for p in pendings]
    r, _, _ = select.select(socks, [], [], secs)
    for p in pendings:
        p.assert_waiting()      # raises with the reason if p.sock was readable
    assert not r


def active(srv, port):
    return srv.mappings()[port]["active_connections"]


def wait_active(srv, port, n, timeout=10):
    wait_until(lambda: active(srv, port) == n, timeout,
               what="active_connections of %d == %d" % (port, n))


def close_all(socks):
    for s in socks:
        s.close()


# ---------------------------------------------------------------- per mapping

def _per_mapping_limit(srv, port, other_port, kind):
    """srv has max_sessions_per_mapping 3; port and other_port echo."""
    held = [session(port) for _ in range(3)]
    wait_active(srv, port, 3)
    late = Pending(port)
    not_served_for([late])
    n_active = active(srv, port)
    assert n_active == 3, "active_connections %d with the limit 3" % n_active
    # The limit is per mapping: another mapping serves meanwhile.
    other = session(other_port)
    late.assert_waiting()
    other.close()
    # One session ends: the waiting connection is served, byte-exact.
    held.pop(0).close()
    late.assert_served()
    wait_active(srv, port, 3)
    # The limit holds again with the late one counted.
    late2 = Pending(port)
    not_served_for([late2])
    late.close()
    late2.assert_served()
    close_all(held)
    late2.close()
    wait_active(srv, port, 0)
    # Nothing leaked in the count: three fresh sessions at once again.
    again = [session(port) for _ in range(3)]
    wait_active(srv, port, 3)
    close_all(again)
    wait_active(srv, port, 0)
    assert srv.proc.poll() is None
    print("    %s mapping, limit 3: 4th connection unserved for %.1f s with 3 "
          "held (active stayed 3), served byte-exact when one ended; count "
          "back to 0" % (kind, NOT_SERVED_S))


@_logged
def test_per_mapping_limit_direct():
    srv = Server(limits={"max_sessions_per_mapping": 3})
    srv.start()
    echo = gtlib.echo_server()
    port = tunlib.direct_mapping(srv, echo.port)
    other = tunlib.direct_mapping(srv, echo.port)
    _per_mapping_limit(srv, port, other, "direct")
    srv.stop()
    echo.close()


@_logged
def test_per_mapping_limit_tunnel():
    srv = tunlib.tunnel_server(limits={"max_sessions_per_mapping": 3})
    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    echo = gtlib.echo_server()
    port = tunlib.tunnel_mapping(srv, echo.port)
    other = tunlib.tunnel_mapping(srv, echo.port)
    _per_mapping_limit(srv, port, other, "tunnel")
    wait_until(lambda: tunlib.clients(srv)[0]["streams"] == 0, 10,
               what="no stream left in the tunnel")
    cli.stop()
    srv.stop()
    echo.close()


# ---------------------------------------------------------------- per process

@_logged
def test_process_limit():
    srv = Server(limits={"max_sessions": 4})
    srv.start()
    echo = gtlib.echo_server()
    a = tunlib.direct_mapping(srv, echo.port)
    b = tunlib.direct_mapping(srv, echo.port)
    held = {a: [session(a), session(a)], b: [session(b), session(b)]}
    wait_active(srv, a, 2)
    wait_active(srv, b, 2)
    pa, pb = Pending(a), Pending(b)
    not_served_for([pa, pb])
    counts = (active(srv, a), active(srv, b))
    assert counts == (2, 2), "active_connections %r with the limit 4" % (counts,)
    # One session ends: exactly one of the two waiting connections gets in.
    held[a].pop(0).close()
    wait_until(lambda: pa.readable() or pb.readable(), SERVED_S,
               what="one waiting connection served after a session ended")
    first, second = (pa, pb) if pa.readable() else (pb, pa)
    first.assert_served()
    not_served_for([second])
    total = active(srv, a) + active(srv, b)
    assert total == 4, "%d sessions with the limit 4" % total
    # Another ends: the other one gets in.
    held[b].pop(0).close()
    second.assert_served()
    for p in (pa, pb):
        p.close()
    for socks in held.values():
        close_all(socks)
    wait_active(srv, a, 0)
    wait_active(srv, b, 0)
    fresh = [session(a), session(a), session(b), session(b)]
    close_all(fresh)
    wait_active(srv, a, 0)
    wait_active(srv, b, 0)
    print("    process limit 4: 2+2 held, 5th and 6th unserved for %.1f s; "
          "each served byte-exact as a session ended (port %s first)"
          % (NOT_SERVED_S, "A" if first is pa else "B"))
    srv.stop()
    echo.close()


@_logged
def test_process_limit_counts_tunnel_sessions():
    srv = tunlib.tunnel_server(limits={"max_sessions": 2})
    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    echo = gtlib.echo_server()
    t = tunlib.tunnel_mapping(srv, echo.port)
    d = tunlib.direct_mapping(srv, echo.port)
    ht, hd = session(t), session(d)
    wait_active(srv, t, 1)
    wait_active(srv, d, 1)
    pt, pd = Pending(t), Pending(d)
    not_served_for([pt, pd])
    ht.close()          # a tunnel session ends: one of the two gets in
    wait_until(lambda: pt.readable() or pd.readable(), SERVED_S,
               what="one waiting connection served after a session ended")
    first, second = (pt, pd) if pt.readable() else (pd, pt)
    first.assert_served()
    not_served_for([second])
    hd.close()
    second.assert_served()
    pt.close()
    pd.close()
    wait_active(srv, t, 0)
    wait_active(srv, d, 0)
    print("    process limit 2 over a tunnel and a direct mapping: both count; "
          "%s waiter served first" % ("tunnel" if first is pt else "direct"))
    cli.stop()
    srv.stop()
    echo.close()


# ---------------------------------------------------------------- config

def one_line(text):
    lines = [x for x in text.splitlines() if x.strip()]
    assert len(lines) == 1, "expected one line, got %r" % text
    return lines[0]


GOOD_LIMITS = {
    "max_sessions": 20000,
    "max_sessions_per_mapping": 10000,
    "stream_window": 32768,
    "stream_window_max": 4194304,
    "tunnel_buffer": 8388608,
    "process_buffer": 268435456,
    "tunnel_output_max": 4194304,
}


@_logged
def test_limits_config_accepted():
    s = Server(limits=dict(GOOD_LIMITS))
    s.write_config()
    r = run([binpath("gt-server"), "-config", s.config_path, "-check-config"])
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stdout.strip() == "config OK: %s" % s.config_path, r.stdout


@_logged
def test_limits_config_bad_values():
    s = Server()
    s.write_config()
    # The convention of every other config key (SPEC "-check-config: exit
    # 0/1", tests/e2e/test_server.py): a bad value exits 1 with one line on
    # stderr naming the key, for -check-config and at start alike.
    bad = [("max_sessions", 0), ("max_sessions", -1), ("max_sessions", "x"),
           ("max_sessions_per_mapping", 0), ("max_sessions_per_mapping", -1),
           ("max_sessions_per_mapping", "x")]
    bad += [(k, "x") for k in ("stream_window", "stream_window_max",
                               "tunnel_buffer", "process_buffer",
                               "tunnel_output_max")]
    bad += [("stream_window", 0), ("stream_window", -1)]
    lines = []
    for i, (key, val) in enumerate(bad):
        p = os.path.join(s.tmp, "bad%d.yaml" % i)
        gtlib.write_config(p, gtlib.merge(s.cfg, {"limits": {key: val}}))
        r = run([binpath("gt-server"), "-config", p, "-check-config"])
        assert r.returncode == 1, (key, val, r.returncode, r.stdout, r.stderr)
        line = one_line(r.stderr)
        assert "limits." + key in line, (key, val, line)
        lines.append(line)
    # At start: the same refusal, nothing listens.
    st = Server(limits={"max_sessions": 0})
    st.start(wait=False)
    rc = st.proc.wait(timeout=10)
    st.proc = None
    assert rc == 1, (rc, st.log())
    assert "limits.max_sessions" in one_line(st.log()), st.log()
    with socket.socket() as c:
        assert c.connect_ex(("127.0.0.1", st.api_port)) != 0
    print("    %d bad values refused, e.g. %r" % (len(bad), lines[0]))


if __name__ == "__main__":
    try:
        T.main()
    finally:
        tunlib.stop_clients()
