#!/usr/bin/env python3
"""End-to-end: client revocation (issue 13). gt-certgen revoke writes the
CA's crl.pem; security.tunnel.crl_file makes gt-server refuse a revoked
client at its handshake and, on SIGHUP, end its live tunnel while another
client's mapping keeps echoing. A CRL of another CA is refused (at SIGHUP
the old one stays; at start it is a config error). POST
/api/tunnel/clients/disconnect ends one client's tunnel now."""

import os
import signal

import gtlib
import tunlib
from gtlib import binpath, wait_until, make_tmpdir, certgen_init, pattern

T = gtlib.Runner()
REVOKED = "is revoked (listed by the CRL)"


def revoke(ca_dir, cert=None, serial=None):
    """gt-certgen revoke; returns the CRL's path."""
    args = [binpath("gt-certgen"), "revoke", "-ca", ca_dir]
    args += ["-cert", cert] if cert else ["-serial", serial]
    r = gtlib.run(args)
    assert r.returncode == 0, r.stderr
    return os.path.join(ca_dir, "crl.pem")


def hup_and_wait(srv, text):
    """SIGHUP, then wait for one more log line containing text."""
    n = srv.log().count(text)
    srv.signal(signal.SIGHUP)
    wait_until(lambda: srv.log().count(text) > n, 10,
               what="%r in the server log" % text)


def names(srv):
    return sorted(c["name"] for c in tunlib.clients(srv))


def two_clients():
    """A tunnel server, clients alice and bob, each with an echo mapping
    carrying a live checked stream; returns (srv, {name: (client, port, stream)})."""
    srv = tunlib.tunnel_server()
    out = {}
    for i, name in enumerate(("alice", "bob")):
        tunlib.client_cert(srv, name)
        cli = tunlib.Client(srv, name=name)
        wait_until(lambda: name in names(srv), 15, what="client %s" % name)
        echo = gtlib.echo_server()
        port = tunlib.tunnel_mapping(srv, echo.port, client=name)
        stream = tunlib.EchoStream(port, seed=i + 1, pause=0.01)
        stream.wait_bytes(256 * 1024)
        out[name] = (cli, port, stream)
    return srv, out


def keeps_echoing(stream, more=512 * 1024, timeout=15):
    """The stream carries `more` checked bytes beyond where it is now."""
    target = stream.verified + more
    stream.wait_bytes(target, timeout)
    assert stream.error is None, stream.error


@tunlib.logged(T)
def test_revoke_on_sighup():
    srv, cl = two_clients()
    alice, alice_port, alice_stream = cl["alice"]
    _, bob_port, bob_stream = cl["bob"]
    crl = revoke(srv.certs, cert=os.path.join(srv.certs, "alice.crt"))

    # The CRL applies on SIGHUP: alice's live tunnel ends at once.
    srv.cfg["security"]["tunnel"]["crl_file"] = crl
    srv.write_config()
    hup_and_wait(srv, "client alice: certificate revoked, tunnel closed")
    assert "SIGHUP: tunnel TLS material reloaded" in srv.log()
    assert "CRL (1 revoked)" in srv.log(), srv.log()[-2000:]
    wait_until(lambda: alice_stream.error is not None, 10,
               what="alice's live session to end")
    assert not alice_stream.corrupt
    keeps_echoing(bob_stream)

    # Its reconnects (gt-client's backoff) are refused, naming it.
    wait_until(lambda: srv.log().count("client certificate alice (serial ") >= 2,
               20, what="two refused reconnects of alice")
    line = [l for l in srv.log().splitlines() if REVOKED in l][-1]
    assert "[tunnel] refused 127.0.0.1:" in line and "alice" in line, line
    assert names(srv) == ["bob"], names(srv)
    assert alice.proc.poll() is None, "gt-client keeps retrying"
    # A new session to alice's mapping finds no tunnel; bob's still echoes.
    try:
        tunlib.roundtrip_n(alice_port, 1, timeout=5)
        raise AssertionError("a revoked client's mapping still carried data")
    except (AssertionError, OSError) as e:
        assert "still carried" not in str(e), e
    tunlib.roundtrip_n(bob_port, 20, size=4096)
    keeps_echoing(bob_stream)

    # A CRL signed by another CA is refused: the old one stays in force.
    other = certgen_init(make_tmpdir())
    other_crl = revoke(other, serial="01")
    srv.cfg["security"]["tunnel"]["crl_file"] = other_crl
    srv.write_config()
    hup_and_wait(srv, "keeping the old material")
    line = [l for l in srv.log().splitlines() if "keeping the old material" in l][-1]
    assert "not signed by the client CA" in line and other_crl in line, line
    n = srv.log().count(REVOKED)
    wait_until(lambda: srv.log().count(REVOKED) > n, 20,
               what="alice still refused under the old CRL")
    keeps_echoing(bob_stream)
    assert names(srv) == ["bob"], names(srv)

    # So is a file that is no CRL at all.
    junk = os.path.join(make_tmpdir(), "junk.pem")
    with open(junk, "w") as f:
        f.write("-----BEGIN X509 CRL-----\nnot base64 at all\n-----END X509 CRL-----\n")
    srv.cfg["security"]["tunnel"]["crl_file"] = junk
    srv.write_config()
    hup_and_wait(srv, "keeping the old material")
    keeps_echoing(bob_stream)

    assert bob_stream.stop() is None
    alice_stream.stop()
    tunlib.stop_clients()
    srv.stop()


@tunlib.logged(T)
def test_crl_at_start():
    # A good CRL at start: the revoked client never gets a tunnel.
    srv = gtlib.Server(tunnel={"enabled": True})
    for name in ("alice", "bob"):
        tunlib.client_cert(srv, name)
    crl = revoke(srv.certs, cert=os.path.join(srv.certs, "alice.crt"))
    srv.cfg["security"]["tunnel"]["crl_file"] = crl
    srv.start()
    tunlib.Client(srv, name="alice")
    tunlib.Client(srv, name="bob")
    wait_until(lambda: srv.log().count(REVOKED) >= 1, 15, what="alice refused")
    wait_until(lambda: names(srv) == ["bob"], 15, what="bob alone connected")
    echo = gtlib.echo_server()
    port = tunlib.tunnel_mapping(srv, echo.port, client="bob")
    data = pattern(1 << 20, seed=7)
    assert gtlib.echo_roundtrip(port, data) == data
    tunlib.stop_clients()
    srv.stop()

    # A CRL of another CA at start is a config error: exit 1, one clear line.
    other = certgen_init(make_tmpdir())
    srv.cfg["security"]["tunnel"]["crl_file"] = revoke(other, serial="0A")
    srv.start(wait=False)
    rc = srv.proc.wait(10)
    assert rc == 1, (rc, srv.log()[-2000:])
    last = srv.log().strip().splitlines()[-1]
    assert last.startswith("gt-server: CRL ") and "not signed by the client CA" in last, last

    # A CRL file that does not exist: the config check says which key.
    srv.cfg["security"]["tunnel"]["crl_file"] = os.path.join(srv.tmp, "nope.pem")
    srv.start(wait=False)
    rc = srv.proc.wait(10)
    assert rc == 1, (rc, srv.log()[-2000:])
    assert "security.tunnel.crl_file" in srv.log().strip().splitlines()[-1]
    srv.proc = None


@tunlib.logged(T)
def test_disconnect():
    srv, cl = two_clients()
    _, alice_port, alice_stream = cl["alice"]
    _, bob_port, bob_stream = cl["bob"]
    connected = "client alice connected from"
    assert srv.log().count(connected) == 1

    st, _, j = srv.api("POST", "/api/tunnel/clients/disconnect", {"name": "alice"})
    assert st == 200 and j["success"] is True, (st, j)
    assert j["data"] == {"name": "alice"}, j
    wait_until(lambda: alice_stream.error is not None, 10,
               what="alice's live session to end")
    assert "disconnected through the API by e2e" in srv.log()
    keeps_echoing(bob_stream)
    # Not revoked: gt-client comes back by its backoff and carries data again.
    wait_until(lambda: srv.log().count(connected) == 2, 20, what="alice back")
    wait_until(lambda: names(srv) == ["alice", "bob"], 10, what="alice listed again")
    data = pattern(256 * 1024, seed=3)
    assert gtlib.echo_roundtrip(alice_port, data) == data
    keeps_echoing(bob_stream)

    # 404: no such client connected.
    st, _, j = srv.api("POST", "/api/tunnel/clients/disconnect", {"name": "carol"})
    assert st == 404 and j["success"] is False and "carol" in j["message"], (st, j)
    # 400: missing, mistyped, malformed or unknown fields, each named.
    for body, word in (({}, "missing field: name"), ({"name": 5}, "name"),
                       ({"name": ""}, "name"), ({"name": "a b"}, "name"),
                       ({"name": "-x"}, "name"), ({"name": "x" * 65}, "name"),
                       ({"name": "alice", "force": True}, "force"),
                       ("[]", "JSON object"), ("{", "malformed JSON")):
        st, _, j = srv.api("POST", "/api/tunnel/clients/disconnect", body)
        assert st == 400 and j["success"] is False and word in j["message"], \
            (body, st, j)
    # Write role: a read token is refused, and nothing ended.
    st, _, j = srv.api("POST", "/api/tunnel/clients/disconnect", {"name": "bob"},
                       token=srv.token(role="read"))
    assert st == 403, (st, j)
    st, _, j = srv.api("GET", "/api/tunnel/clients/disconnect")
    assert st == 405, (st, j)
    keeps_echoing(bob_stream)
    assert names(srv) == ["alice", "bob"]

    assert bob_stream.stop() is None
    alice_stream.stop()
    tunlib.stop_clients()
    srv.stop()


if __name__ == "__main__":
    T.main()
