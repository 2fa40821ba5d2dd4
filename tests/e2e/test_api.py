#!/usr/bin/env python3
"""The REST API of gt-server: every row of SPEC §4's status table, auth, hostile bodies."""

import os
import signal
import socket
import time

import gtlib
from gtlib import Server, http_request, make_jwt, wait_until

R = gtlib.Runner()
_S = None
_ECHO = None


def srv():
    """One shared server: auth on, only 127.0.0.1/32 allowed, tunnels off."""
    global _S, _ECHO
    if _S is None or _S.proc is None:
        _S = Server(security={"api": {"allowed_ips": ["127.0.0.1/32"]}})
        _S.shared = True
        _S.start()
        _ECHO = gtlib.echo_server()
    return _S


def assert_error(st, h, j, code, words=()):
    """An error answer: the code, JSON envelope with success false and a message."""
    assert st == code, (st, code, j)
    assert h.get("content-type", "").startswith("application/json"), h
    assert isinstance(j, dict), j
    assert j["success"] is False, j
    assert isinstance(j["message"], str) and j["message"], j
    assert j["data"] == {}, j
    for w in words:
        assert w in j["message"], (w, j["message"])


def assert_ok(st, h, j):
    assert st == 200, (st, j)
    assert h.get("content-type", "").startswith("application/json"), h
    assert j["success"] is True, j
    assert isinstance(j["message"], str)
    assert isinstance(j["data"], dict), j
    return j["data"]


# ---------------------------------------------------------------- 200s

@R.test
def test_health():
    s = srv()
    st, h, j = s.api("GET", "/health", token=False)
    assert st == 200, (st, j)
    assert h["content-type"].startswith("application/json")
    assert j == {"status": "ok", "tunnel_enabled": False, "tunnel_connected": False}, j


@R.test
def test_create_list_remove():
    s = srv()
    port = gtlib.free_port()
    data = assert_ok(*s.create(port=port, target_host="127.0.0.1",
                               target_port=_ECHO.port))
    for k in ("id", "source_port", "target_host", "target_ip", "target_port", "use_tunnel",
              "client", "created_at", "active_connections", "bytes_in", "bytes_out"):
        assert k in data, (k, data)
    assert data["source_port"] == port and data["target_port"] == _ECHO.port
    assert data["target_host"] == data["target_ip"] == "127.0.0.1"
    assert data["use_tunnel"] is False and data["client"] == ""
    assert data["created_at"].endswith("Z") and "T" in data["created_at"]
    assert "error" not in data, data

    st, h, j = s.api("GET", "/api/mapping/list")
    d = assert_ok(st, h, j)
    assert d["use_tunnel"] is False
    assert d["count"] == len(d["mappings"])
    assert any(m["source_port"] == port for m in d["mappings"]), d
    # It carries bytes.
    assert gtlib.echo_roundtrip(port, b"hello api") == b"hello api"

    d = assert_ok(*s.api("POST", "/api/mapping/remove", {"port": port}))
    assert d == {"port": port}, d
    assert port not in s.mappings()
    # The port no longer listens.
    wait_until(lambda: _refused(port), 5, what="port closed after remove")


def _refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except ConnectionRefusedError:
        return True


@R.test
def test_aliases_and_query():
    s = srv()
    port = gtlib.free_port()
    # A field gt does not know is refused, not ignored (test_loops.py has more).
    st, _, j = s.create(source_port=port, target_ip="127.0.0.1", target_port=_ECHO.port,
                        use_tunnel=False, ignored_field=[1, 2])
    assert st == 400 and "ignored_field" in j["message"], (st, j)
    d = assert_ok(*s.create(source_port=port, target_ip="127.0.0.1", target_port=_ECHO.port,
                            use_tunnel=False))
    assert d["source_port"] == port and d["target_host"] == "127.0.0.1"
    d = assert_ok(*s.api("GET", "/api/mapping/list?verbose=1"))
    assert any(m["source_port"] == port for m in d["mappings"])
    assert_ok(*s.api("POST", "/api/mapping/remove", {"source_port": port}))


@R.test
def test_clients_empty():
    d = assert_ok(*srv().api("GET", "/api/tunnel/clients"))
    assert d == {"clients": [], "count": 0}, d


@R.test
def test_metrics():
    s = srv()
    port = gtlib.free_port()
    assert_ok(*s.create(port=port, target_host="127.0.0.1", target_port=_ECHO.port))
    assert gtlib.echo_roundtrip(port, b"x" * 1000) == b"x" * 1000
    s.api("GET", "/nope")
    s.api("GET", "/api/mapping/list", token=False)
    st, h, text = s.api("GET", "/metrics")
    assert st == 200, (st, text)
    assert h["content-type"].startswith("text/plain; version=0.0.4"), h
    vals = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            vals[k] = float(v)
    n = len(s.mappings())
    assert vals["gt_mappings"] == n, (vals, n)
    for k in ("gt_sessions_active", "gt_sessions_total", "gt_bytes_in_total",
              "gt_bytes_out_total", "gt_tunnel_clients"):
        assert k in vals, (k, text)
    assert vals["gt_bytes_in_total"] >= 1000 and vals["gt_bytes_out_total"] >= 1000, vals
    assert vals["gt_sessions_total"] >= 1
    assert vals['gt_api_requests_total{code="200"}'] >= 1
    assert vals['gt_api_requests_total{code="404"}'] >= 1
    assert vals['gt_api_requests_total{code="401"}'] >= 1
    assert any(k.startswith("gt_build_info{version=") for k in vals), text
    # /metrics needs a token like every path but /health.
    st, h, j = s.api("GET", "/metrics", token=False)
    assert_error(st, h, j, 401)
    assert_ok(*s.api("POST", "/api/mapping/remove", {"port": port}))


# ---------------------------------------------------------------- 400s

@R.test
def test_bad_requests():
    s = srv()
    p = gtlib.free_port()
    cases = [
        ("{\"port\": 1", "malformed JSON"),
        ("", "empty"),
        ("[1, 2]", "object"),
        ("\"port\"", "object"),
        ({}, "port"),
        ({"port": p}, "target_host"),
        ({"target_host": "127.0.0.1"}, "port"),
        ({"port": str(p), "target_host": "127.0.0.1"}, "port"),
        ({"port": p + 0.5, "target_host": "127.0.0.1"}, "port"),
        ({"port": float(p), "target_host": "127.0.0.1"}, "port"),
        ({"port": -p, "target_host": "127.0.0.1"}, "port"),
        ({"port": True, "target_host": "127.0.0.1"}, "port"),
        ({"port": 0, "target_host": "127.0.0.1"}, "port"),
        ({"port": 70000, "target_host": "127.0.0.1"}, "port"),
        ({"port": 80, "target_host": "127.0.0.1"}, "port_range"),
        ({"port": 5432, "target_host": "127.0.0.1"}, "blacklist"),
        ({"port": p, "target_host": "127.0.0.1", "target_port": 0}, "target_port"),
        ({"port": p, "target_host": "127.0.0.1", "target_port": 65536}, "target_port"),
        ({"port": p, "target_host": "127.0.0.1", "target_port": "80"}, "target_port"),
        ({"port": p, "target_host": 17}, "target_host"),
        ({"port": p, "target_host": "not a host"}, "target_host"),
        ({"port": p, "target_host": "127.0.0.1", "use_tunnel": "yes"}, "use_tunnel"),
        ({"port": p, "target_host": "127.0.0.1", "use_tunnel": True}, "tunnel"),
        ({"port": p, "source_port": p + 1, "target_host": "127.0.0.1"}, "source_port"),
        ({"port": p, "target_host": "127.0.0.1", "target_ip": "10.0.0.1"}, "target_ip"),
    ]
    for body, word in cases:
        st, h, j = s.api("POST", "/api/mapping/create", body)
        assert_error(st, h, j, 400, [word])
    for body in ({}, {"port": "1"}, {"port": 0}, {"port": 1.5}, "[]", "{"):
        st, h, j = s.api("POST", "/api/mapping/remove", body)
        assert_error(st, h, j, 400)
    assert p not in s.mappings()


# ---------------------------------------------------------------- 401s

@R.test
def test_unauthorized():
    s = srv()
    with open(os.path.join(s.certs, "jwt.key"), "rb") as f:
        key = f.read().strip()
    now = int(time.time())
    good_claims = {"sub": "x", "role": "admin", "iat": now, "exp": now + 600}
    cases = [
        (None, None, "missing"),
        ({"Authorization": "Basic dXNlcjpwYXNz"}, None, "malformed"),
        ({"Authorization": "Bearer"}, None, "malformed"),
        (None, "garbage", "invalid token"),
        (None, "a.b.c", "invalid token"),
        (None, make_jwt({"alg": "HS256", "typ": "JWT"}, good_claims, b"x" * 64), "signature"),
        (None, make_jwt({"alg": "none", "typ": "JWT"}, good_claims, None), "invalid token"),
        (None, make_jwt({"alg": "HS256", "typ": "JWT"},
                        {"sub": "x", "role": "admin", "iat": now}, key), "invalid token"),
        (None, make_jwt({"alg": "HS256", "typ": "JWT"},
                        dict(good_claims, exp=now - 10), key), "expired"),
        (None, make_jwt({"alg": "HS256", "typ": "JWT"},
                        dict(good_claims, role="root"), key), "invalid token"),
    ]
    for headers, tok, word in cases:
        for method, path, body in (("GET", "/api/mapping/list", None),
                                   ("POST", "/api/mapping/create", {"port": 5000}),
                                   ("GET", "/metrics", None)):
            st, h, j = http_request(s.api_port, method, path, body=body, token=tok,
                                    headers=headers)
            assert_error(st, h, j, 401, [word])
            assert h.get("www-authenticate", "").startswith("Bearer"), h
    # Our own forged-but-correct token is accepted: the check above is real.
    assert_ok(*s.api("GET", "/api/mapping/list",
                     token=make_jwt({"alg": "HS256", "typ": "JWT"}, good_claims, key)))
    # /health needs no token.
    st, _, _ = s.api("GET", "/health", token="garbage")
    assert st == 200


@R.test
def test_expired_token():
    s = srv()
    tok = s.token("shortlived", ttl=1)

    def expired():
        st, h, j = s.api("GET", "/api/mapping/list", token=tok)
        assert st in (200, 401), st
        return st == 401 and "expired" in j["message"]
    wait_until(expired, 10, interval=0.2, what="token expiry")


# ---------------------------------------------------------------- 403s

@R.test
def test_read_token():
    s = srv()
    rtok = s.token("reader", role="read")
    assert_ok(*s.api("GET", "/api/mapping/list", token=rtok))
    assert_ok(*s.api("GET", "/api/tunnel/clients", token=rtok))
    st, _, _ = s.api("GET", "/metrics", token=rtok)
    assert st == 200
    p = gtlib.free_port()
    st, h, j = s.api("POST", "/api/mapping/create", {"port": p, "target_host": "127.0.0.1",
                                                      "target_port": _ECHO.port}, token=rtok)
    assert_error(st, h, j, 403, ["read"])
    st, h, j = s.api("POST", "/api/mapping/remove", {"port": p}, token=rtok)
    assert_error(st, h, j, 403)
    assert p not in s.mappings()


@R.test
def test_allowlist():
    s = srv()
    for path in ("/health", "/metrics", "/api/mapping/list", "/nope"):
        st, h, j = s.api("GET", path, source="127.0.0.2")
        assert_error(st, h, j, 403, ["allowed_ips"])
    st, h, j = s.api("POST", "/api/mapping/create", {"port": 1}, source="127.0.0.2",
                     token=False)
    assert_error(st, h, j, 403)
    assert_ok(*s.api("GET", "/api/mapping/list", source="127.0.0.1"))


# ---------------------------------------------------------------- 404, 405, 409, 413

@R.test
def test_not_found():
    s = srv()
    for path in ("/", "/api", "/api/mapping", "/api/mapping/list/", "/API/mapping/list",
                 "/api/mapping/delete"):
        st, h, j = s.api("GET", path)
        assert_error(st, h, j, 404, ["no such path"])
    p = gtlib.free_port()
    st, h, j = s.api("POST", "/api/mapping/remove", {"port": p})
    assert_error(st, h, j, 404, [str(p)])


@R.test
def test_method_not_allowed():
    s = srv()
    cases = [("GET", "/api/mapping/create", "POST"), ("GET", "/api/mapping/remove", "POST"),
             ("POST", "/api/mapping/list", "GET"), ("DELETE", "/api/mapping/list", "GET"),
             ("PUT", "/api/tunnel/clients", "GET"), ("POST", "/health", "GET"),
             ("PATCH", "/metrics", "GET")]
    for method, path, allow in cases:
        st, h, j = s.api(method, path, {} if method != "GET" else None)
        assert_error(st, h, j, 405)
        assert h.get("allow") == allow, (method, path, h)


@R.test
def test_conflicts():
    s = srv()
    p = gtlib.free_port()
    body = {"port": p, "target_host": "127.0.0.1", "target_port": _ECHO.port}
    assert_ok(*s.create(**body))
    st, h, j = s.create(**body)
    assert_error(st, h, j, 409, ["already mapped"])
    st, h, j = s.create(**dict(body, target_port=_ECHO.port + 1 if _ECHO.port < 65535 else 1))
    assert_error(st, h, j, 409)
    assert_ok(*s.api("POST", "/api/mapping/remove", {"port": p}))
    # A port another program listens on.
    with socket.socket() as other:
        other.bind(("0.0.0.0", 0))
        other.listen(1)
        q = other.getsockname()[1]
        st, h, j = s.create(port=q, target_host="127.0.0.1", target_port=_ECHO.port)
        assert_error(st, h, j, 409, ["in use"])
    assert q not in s.mappings()
    # Once it is free, the same port maps fine.
    assert_ok(*s.create(port=q, target_host="127.0.0.1", target_port=_ECHO.port))
    assert_ok(*s.api("POST", "/api/mapping/remove", {"port": q}))


@R.test
def test_too_large():
    s = srv()
    pad = "x" * (100 * 1024)
    st, h, j = s.api("POST", "/api/mapping/create",
                     '{"port": 20000, "target_host": "127.0.0.1", "pad": "%s"}' % pad)
    assert_error(st, h, j, 413, ["limit"])
    # Far over libevent's own cap: still a 413 (libevent writes that body itself).
    try:
        st, h, j = s.api("POST", "/api/mapping/create", b"{" + b" " * (3 << 20) + b"}")
        assert st == 413, st
    except (ConnectionResetError, BrokenPipeError):
        pass  # the server may close before the client finished sending
    st, _, _ = s.api("GET", "/health")
    assert st == 200


@R.test
def test_hostile_bodies():
    s = srv()
    bodies = [
        b'{"port": 10001, "target_host": "127.0.0.1"',
        b'{"port":' + b"[" * 100000 + b"]" * 100000 + b"}",
        b"[" * 60000,
        b'{"port": 1e400, "target_host": "h"}',
        b'{"port": 99999999999999999999, "target_host": "h"}',
        b'{"port": -99999999999999999999}',
        b'{"port": 1, "port": 2}',
        b'{"port": "\xff\xfe"}',
        b'{"port": "\\ud800"}',
        b"\x00\x01\x02\x03",
        b'{"target_host": "' + b"a" * 5000 + b'", "port": 10001}',
        b'{"client": "' + b"\\u0000" * 100 + b'", "port": 10001}',
        b"null",
        b"{}" * 1000,
    ]
    for b in bodies:
        for path in ("/api/mapping/create", "/api/mapping/remove"):
            st, h, j = s.api("POST", path, b)
            assert 400 <= st < 500, (b[:60], st, j)
            assert_error(st, h, j, st)
    st, _, j = s.api("GET", "/health")
    assert st == 200 and j["status"] == "ok"
    assert_ok(*s.api("GET", "/api/mapping/list"))
    # A connection that sends garbage instead of HTTP does not hurt either.
    with socket.create_connection(("127.0.0.1", s.api_port), timeout=5) as c:
        c.sendall(b"\x16\x03\x01\x02\x00" + os.urandom(512) + b"\r\n\r\n")
        try:
            c.recv(4096)
        except OSError:
            pass
    st, _, _ = s.api("GET", "/health")
    assert st == 200


# ---------------------------------------------------------------- other servers

@R.test
def test_tunnel_mode_defaults():
    s = Server(tunnel={"enabled": True}, security={"tunnel": {"enable_tls": True}})
    s.start()
    st, _, j = s.api("GET", "/health", token=False)
    assert st == 200 and j == {"status": "ok", "tunnel_enabled": True,
                               "tunnel_connected": False}, j
    p = gtlib.free_port()
    d = assert_ok(*s.create(port=p))
    assert d["use_tunnel"] is True and d["target_host"] == "127.0.0.1", d
    assert d["target_port"] == p and d["client"] == ""
    q = gtlib.free_port()
    d = assert_ok(*s.create(port=q, target_port=22, client="office-1", use_tunnel=True))
    assert d["client"] == "office-1" and d["target_port"] == 22
    d = assert_ok(*s.api("GET", "/api/mapping/list"))
    assert d["use_tunnel"] is True and d["count"] == 2, d
    # No client connected: the port listens, and a connection is closed at once.
    with socket.create_connection(("127.0.0.1", p), timeout=5) as c:
        c.settimeout(5)
        try:
            assert c.recv(1) == b""
        except ConnectionResetError:
            pass
    assert_ok(*s.api("GET", "/api/tunnel/clients"))
    s.stop()


@R.test
def test_auth_off_allowlist_on():
    s = Server(security={"api": {"enable_auth": False, "allowed_ips": ["127.0.0.1/32"]}})
    s.start()
    assert_ok(*s.api("GET", "/api/mapping/list", token=False))
    st, _, _ = s.api("GET", "/metrics", token=False)
    assert st == 200
    st, h, j = s.api("GET", "/api/mapping/list", token=False, source="127.0.0.2")
    assert_error(st, h, j, 403)
    s.stop()


@R.test
def test_sighup_reloads_allowlist():
    s = Server(security={"api": {"allowed_ips": ["127.0.0.1/32"]}})
    s.start()
    echo = gtlib.echo_server()
    p = gtlib.free_port()
    assert_ok(*s.create(port=p, target_host="127.0.0.1", target_port=echo.port))
    live = socket.create_connection(("127.0.0.1", p), timeout=10)
    live.sendall(b"before")
    assert live.recv(6) == b"before"
    st, _, _ = s.api("GET", "/health", source="127.0.0.2")
    assert st == 403
    s.cfg["security"]["api"]["allowed_ips"] = ["127.0.0.0/8"]
    s.write_config()
    s.signal(signal.SIGHUP)
    wait_until(lambda: s.api("GET", "/health", source="127.0.0.2")[0] == 200, 5,
               what="allowlist reloaded")
    assert_ok(*s.api("GET", "/api/mapping/list", source="127.0.0.2"))
    # A broken file keeps the old settings, and says why.
    with open(s.config_path, "a") as f:
        f.write("nosuchkey: 1\n")
    s.signal(signal.SIGHUP)
    wait_until(lambda: "keeping the old settings" in s.log(), 5, what="SIGHUP refusal")
    assert "nosuchkey" in s.log()
    st, _, _ = s.api("GET", "/health", source="127.0.0.2")
    assert st == 200
    # The session opened before both reloads still flows.
    live.sendall(b"after")
    assert live.recv(5) == b"after"
    live.close()
    s.stop()
    echo.close()


@R.test
def test_zz_shared_server_stops_clean():
    if _S is not None and _S.proc is not None:
        _S.stop()
    if _ECHO is not None:
        _ECHO.close()


if __name__ == "__main__":
    R.main()
