#!/usr/bin/env python3
"""Live sessions (SPEC 9, issue 13): GET /api/connections lists each public
session of direct and tunnel mappings with its id, port, peer, client,
target, growing byte counts and start time; filters by port and client;
POST /api/connections/close ends one by id (its user sees the end, another
session of the same mapping keeps echoing); 404 on a second close, 403 for
a read token, 400 naming a bad parameter or field; go-tunnel's
GET /api/stats/connections answers the same sessions in its shape. Users
connect from a known source (127.0.0.2 or 127.0.0.1, a port the kernel
picks and the test reads back) so the peer can be checked exactly."""

import re
import socket

import gtlib
import tunlib
from gtlib import Server, wait_until

T = gtlib.Runner()
_logged = tunlib.logged(T)

SERVED_S = 10.0
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
_seed = [900]


def message(size=1500):
    _seed[0] += 1
    return gtlib.pattern(size, seed=_seed[0])


def recv_exact(s, n, timeout=SERVED_S):
    s.settimeout(timeout)
    got = b""
    while len(got) < n:
        b = s.recv(n - len(got))
        if not b:
            raise AssertionError("closed after %d of %d echoed bytes" % (len(got), n))
        got += b
    return got


def connect(port, src):
    """A TCP connection to the mapping from source address src."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(SERVED_S)
    s.connect(("127.0.0.1", port))
    return s


def peer_of(s):
    """The "ip:port" the server sees for our socket s."""
    ip, port = s.getsockname()[:2]
    return "%s:%d" % (ip, port)


def echoes(s, size=1500):
    msg = message(size)
    s.sendall(msg)
    assert recv_exact(s, len(msg)) == msg, "echo corrupted"


def closed_soon(s, timeout=SERVED_S):
    """The server ends s (EOF or reset) within timeout."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(65536):
                return
    except ConnectionResetError:
        return
    except socket.timeout:
        raise AssertionError("session not closed within %.0f s" % timeout)
    finally:
        s.close()


def conns(srv, query="", token=True):
    st, _, j = srv.api("GET", "/api/connections" + query, token=token)
    assert st == 200, (query, st, j)
    d = j["data"]
    assert d["count"] == len(d["connections"]) or d["truncated"], d
    return d


def by_peer(d, peer):
    found = [c for c in d["connections"] if c["peer"] == peer]
    assert len(found) == 1, (peer, d)
    return found[0]


def close(srv, cid, token=True):
    return srv.api("POST", "/api/connections/close", {"id": cid}, token=token)


def check_session(c, port, peer, client, target):
    assert c["port"] == port and c["peer"] == peer, c
    assert c["client"] == client and c["target"] == target, c
    assert isinstance(c["id"], int) and c["id"] > 0, c
    assert RFC3339.match(c["started_at"]), c
    assert c["age_seconds"] >= 0, c


def _live(srv, port, target, client, kind, streams=None):
    """Two users of one mapping: listed, counted, one closed by id.
    streams: the tunnel's stream count now, for a tunnel mapping."""
    a = connect(port, "127.0.0.2")
    echoes(a)
    b = connect(port, "127.0.0.1")
    echoes(b)
    pa, pb = peer_of(a), peer_of(b)

    # both listed with the right figures; 1500 bytes each way so far
    d = conns(srv, "?port=%d" % port)
    assert d["count"] == 2 and d["truncated"] is False, d
    ca, cb = by_peer(d, pa), by_peer(d, pb)
    check_session(ca, port, pa, client, target)
    check_session(cb, port, pb, client, target)
    assert cb["id"] > ca["id"], (ca, cb)
    assert ca["mode"] == kind, ca
    wait_until(lambda: [by_peer(conns(srv, "?port=%d" % port), pa)[k]
                        for k in ("bytes_in", "bytes_out")] == [1500, 1500],
               10, what="1500 bytes each way listed")

    # the counts grow as data moves
    echoes(a, 40000)
    echoes(a, 1000)
    wait_until(lambda: [by_peer(conns(srv, "?port=%d" % port), pa)[k]
                        for k in ("bytes_in", "bytes_out")] == [42500, 42500],
               10, what="42500 bytes each way listed")
    assert by_peer(conns(srv), pb)["bytes_in"] == 1500

    # a read token may list but not close
    d = conns(srv, "?port=%d" % port, token=srv.token(role="read"))
    assert d["count"] == 2, d
    st, _, j = close(srv, ca["id"], token=srv.token(role="read"))
    assert st == 403, (st, j)
    echoes(a)

    # close a by id: its user sees the end, b keeps echoing
    active = srv.mappings()[port]["active_connections"]
    assert active == 2, active
    st, _, j = close(srv, ca["id"])
    assert st == 200 and j["data"] == {"id": ca["id"]}, (st, j)
    closed_soon(a)
    echoes(b)
    echoes(b)
    if streams is not None:
        # the tunnel stream went with the session
        wait_until(lambda: streams() == 1, 10, what="one stream left")
    d = conns(srv, "?port=%d" % port)
    assert d["count"] == 1 and d["connections"][0]["id"] == cb["id"], d
    wait_until(lambda: srv.mappings()[port]["active_connections"] == 1, 10,
               what="the closed session counted down")
    # a second close of the same id: 404, JSON
    st, _, j = close(srv, ca["id"])
    assert st == 404 and j["success"] is False and str(ca["id"]) in j["message"], (st, j)

    # a new session gets a new id, never an old one
    c = connect(port, "127.0.0.2")
    echoes(c)
    cc = by_peer(conns(srv, "?port=%d" % port), peer_of(c))
    assert cc["id"] > cb["id"], (cc, cb)
    c.close()
    return b, cb


@_logged
def test_direct_and_tunnel():
    srv = tunlib.tunnel_server()
    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    name = tunlib.clients(srv)[0]["name"]
    echo = gtlib.echo_server()
    dport = tunlib.direct_mapping(srv, echo.port)
    tport = tunlib.tunnel_mapping(srv, echo.port)
    target = "127.0.0.1:%d" % echo.port
    assert conns(srv) == {"connections": [], "count": 0, "truncated": False,
                          "limit": 10000}

    db, dcb = _live(srv, dport, target, "", "direct")
    print("    direct: listed with port, peer 127.0.0.x:port, target, growing "
          "bytes; closed by id, the other session kept echoing")
    tb, tcb = _live(srv, tport, target, name, "tunnel",
                    streams=lambda: tunlib.clients(srv)[0]["streams"])
    print("    tunnel (client %s): the same" % name)

    # filters: by port, by client, both, none matching
    wait_until(lambda: conns(srv)["count"] == 2, 10, what="two sessions left")
    d = conns(srv)
    assert [c["id"] for c in d["connections"]] == [dcb["id"], tcb["id"]], d
    d = conns(srv, "?client=" + name)
    assert [c["id"] for c in d["connections"]] == [tcb["id"]], d
    d = conns(srv, "?port=%d&client=%s" % (dport, name))
    assert d["count"] == 0, d
    d = conns(srv, "?port=%d" % dport)
    assert [c["id"] for c in d["connections"]] == [dcb["id"]], d
    assert conns(srv, "?client=nobody")["count"] == 0
    assert conns(srv, "?port=%d" % gtlib.free_port())["count"] == 0

    # go-tunnel's shape of the same sessions
    st, _, j = srv.api("GET", "/api/stats/connections")
    assert st == 200 and j["success"] is True, (st, j)
    g = j["data"]
    assert isinstance(g["timestamp"], int), g
    maps = {m["source_port"]: m for m in g["mappings"]}
    assert sorted(maps) == sorted([dport, tport]), g
    md, mt = maps[dport], maps[tport]
    assert md["use_tunnel"] is False and mt["use_tunnel"] is True, g
    assert md["target_host"] == "127.0.0.1" and md["target_port"] == echo.port, md
    assert md["total_connections"] == 1 and mt["total_connections"] == 1, g
    gd = md["active_connections"][0]
    assert gd["client_addr"] == peer_of(db) and gd["target_addr"] == target, gd
    assert gd["bytes_sent"] >= 4500 and gd["bytes_received"] >= 4500, gd
    assert gd["id"] == dcb["id"] and isinstance(gd["connected_at"], int), gd
    gt_ = mt["active_connections"][0]
    assert gt_["client_addr"] == peer_of(tb) and gt_["client"] == name, gt_
    st, _, j = srv.api("GET", "/api/stats/connections?port=%d" % tport,
                       token=srv.token(role="read"))
    assert st == 200 and [m["source_port"] for m in j["data"]["mappings"]] == [tport], j
    print("    filters by port and client; /api/stats/connections in "
          "go-tunnel's shape")

    # the server's log says who closed what
    log = srv.log()
    assert log.count("closed by the API") >= 2, log[-3000:]
    db.close()
    tb.close()
    wait_until(lambda: conns(srv)["count"] == 0, 10, what="no session left")
    wait_until(lambda: tunlib.clients(srv)[0]["streams"] == 0, 10,
               what="no stream left in the tunnel")

    # the tunnel ends under a live session: its user sees the end, the
    # session leaves the list, a direct one stays
    t = connect(tport, "127.0.0.1")
    echoes(t)
    d = connect(dport, "127.0.0.1")
    echoes(d)
    assert conns(srv, "?port=%d" % tport)["count"] == 1
    cli.kill()
    closed_soon(t)
    wait_until(lambda: conns(srv, "?port=%d" % tport)["count"] == 0, 10,
               what="the tunnel's session gone from the list")
    echoes(d)
    assert [c["peer"] for c in conns(srv)["connections"]] == [peer_of(d)]
    d.close()
    print("    a tunnel that ends takes its sessions off the list")
    srv.stop()
    echo.close()


@_logged
def test_truncated():
    """api.max_sessions_listed bounds the answer; count stays the total."""
    srv = Server(api={"max_sessions_listed": 2})
    srv.start()
    echo = gtlib.echo_server()
    port = tunlib.direct_mapping(srv, echo.port)
    users = [connect(port, "127.0.0.1") for _ in range(3)]
    for u in users:
        echoes(u, 100)
    d = conns(srv)
    assert d["count"] == 3 and d["truncated"] is True and d["limit"] == 2, d
    assert [c["peer"] for c in d["connections"]] == [peer_of(u) for u in users[:2]], d
    st, _, j = srv.api("GET", "/api/stats/connections")
    g = j["data"]
    assert g["count"] == 3 and g["truncated"] is True, g
    assert g["mappings"][0]["total_connections"] == 3, g
    assert len(g["mappings"][0]["active_connections"]) == 2, g
    st, _, j = close(srv, d["connections"][0]["id"])
    assert st == 200, (st, j)
    closed_soon(users[0])
    d = conns(srv)
    assert d["count"] == 2 and d["truncated"] is False, d
    for u in users[1:]:
        u.close()
    srv.stop()
    echo.close()
    print("    3 sessions, api.max_sessions_listed 2: 2 listed, count 3, "
          "truncated")


@_logged
def test_remove_and_stop():
    """A removed mapping's live sessions leave the list; the server stops
    cleanly (no sanitizer report) with direct and tunnel sessions live."""
    srv = tunlib.tunnel_server()
    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    echo = gtlib.echo_server()
    dport = tunlib.direct_mapping(srv, echo.port)
    tport = tunlib.tunnel_mapping(srv, echo.port)
    users = [connect(p, "127.0.0.1") for p in (dport, tport, dport, tport)]
    for u in users:
        echoes(u)
    assert conns(srv)["count"] == 4
    for p in (dport, tport):
        st, _, j = srv.api("POST", "/api/mapping/remove", {"port": p})
        assert st == 200, (st, j)
    for u in users:
        closed_soon(u)
    assert conns(srv)["count"] == 0
    dport = tunlib.direct_mapping(srv, echo.port)
    tport = tunlib.tunnel_mapping(srv, echo.port)
    users = [connect(p, "127.0.0.1") for p in (dport, tport)]
    for u in users:
        echoes(u)
    assert conns(srv)["count"] == 2
    srv.stop()
    for u in users:
        closed_soon(u)
    cli.kill()
    echo.close()
    print("    remove ends and unlists live sessions; stop with live ones is clean")


@_logged
def test_bad_requests():
    srv = Server()
    srv.start()
    for q, name in (("?port=0", "port"), ("?port=abc", "port"),
                    ("?port=70000", "port"), ("?port=", "port"),
                    ("?port=1&port=2", "port"), ("?client=", "client"),
                    ("?client=a%20b", "client"), ("?foo=1", "\"foo\""),
                    ("?port=1&limit=3", "\"limit\"")):
        for path in ("/api/connections", "/api/stats/connections"):
            st, _, j = srv.api("GET", path + q)
            assert st == 400 and j["success"] is False and name in j["message"], (
                path, q, st, j)
    for body, name in (({"id": "1"}, "id"), ({"id": 0}, "id"),
                       ({"id": -3}, "id"), ({"id": 1.5}, "id"), ({}, "id"),
                       ({"id": 1, "port": 2}, "\"port\"")):
        st, _, j = srv.api("POST", "/api/connections/close", body)
        assert st == 400 and name in j["message"], (body, st, j)
    st, _, j = srv.api("POST", "/api/connections/close", "not json")
    assert st == 400, (st, j)
    st, _, j = close(srv, 12345)
    assert st == 404, (st, j)
    st, h, j = srv.api("GET", "/api/connections/close")
    assert st == 405 and h.get("allow") == "POST", (st, h, j)
    st, _, j = srv.api("GET", "/api/connections", token=False)
    assert st == 401, (st, j)
    srv.stop()


if __name__ == "__main__":
    try:
        T.main()
    finally:
        tunlib.stop_clients()
