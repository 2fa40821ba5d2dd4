#!/usr/bin/env python3
"""Identities, database file modes and rate-limited warnings (SECURITY.md).

Certificates signed by gt's own CA (from the real gt-certgen) but made with
the openssl CLI to be wrong in one way each: a client certificate with only
anyExtendedKeyUsage, one that is a CA, one whose CN is not a valid client
name, and a server certificate with only anyExtendedKeyUsage. None of them
brings a tunnel up; the server's log names the peer address and the reason;
a good client still carries bytes. Then the database files' modes, and a
flood of Hello frames that must cost a few lines of log, not megabytes, and
refused handshakes and refused targets that are rate limited too."""

import os
import re
import shutil
import socket
import stat

import gtlib
import tunlib
from gtlib import binpath, wait_until

T = gtlib.Runner()

FLOOD = 20000               # hello frames in the flood
RATE_LIMIT = 10             # log.rate_limit's default


def openssl(*args):
    r = gtlib.run(["openssl"] + list(args))
    assert r.returncode == 0, ("openssl %s failed:\n%s" % (" ".join(args), r.stderr))
    return r


def make_cert(certs, name, cn, ext):
    """name.crt/name.key in certs, signed by gt-certgen's CA (ca.key there).

    An EC P-256 key as gt-certgen makes; ext: the lines of the v3 extension
    section (keyUsage digitalSignature is what ECDHE-ECDSA needs)."""
    key = os.path.join(certs, name + ".key")
    csr = os.path.join(certs, name + ".csr")
    crt = os.path.join(certs, name + ".crt")
    extf = os.path.join(certs, name + ".ext")
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
    os.chmod(key, 0o600)
    openssl("req", "-new", "-key", key, "-subj", "/CN=" + cn, "-out", csr)
    with open(extf, "w") as f:
        f.write("\n".join(ext) + "\n")
    openssl("x509", "-req", "-in", csr, "-CA", os.path.join(certs, "ca.crt"),
            "-CAkey", os.path.join(certs, "ca.key"), "-CAcreateserial",
            "-days", "30", "-sha256", "-extfile", extf, "-out", crt)
    return crt, key


def health(srv):
    st, _, j = srv.api("GET", "/health", token=False)
    assert st == 200, (st, j)
    return j


def refused_client(name, cn, ext, reason):
    """A client with a bad certificate: refused, logged with its address and
    reason, never registered; then a good client on the same server works."""
    srv = tunlib.tunnel_server()
    make_cert(srv.certs, name, cn, ext)
    bad = tunlib.Client(srv, name=name)
    pat = re.compile(r"refused 127\.0\.0\.1:\d+: handshake failed: .*%s" % reason)
    line = wait_until(lambda: pat.search(srv.log()), 15,
                      what="the server's refusal (%s)" % reason)
    print("    server: %s" % line.group(0))
    # The client saw its tunnel fail (before or after its handshake ended).
    wait_until(lambda: re.search(r"(connection to|tunnel to) \S+ (failed|lost)",
                                 bad.log()), 15, what="the client's failure line")
    assert tunlib.clients(srv) == [], tunlib.clients(srv)
    assert health(srv)["tunnel_connected"] is False
    assert "connected from" not in srv.log(), srv.log()[-2000:]
    bad.stop()
    good_client_works(srv)
    return srv


def good_client_works(srv, name="client"):
    """A gt-certgen client connects and an echo mapping carries bytes exactly."""
    cli = tunlib.Client(srv, name=name)
    tunlib.wait_clients(srv, 1)
    assert health(srv)["tunnel_connected"] is True
    echo = gtlib.echo_server()
    port = tunlib.tunnel_mapping(srv, echo.port, client=name)
    data = gtlib.pattern(256 * 1024, seed=7)
    got = gtlib.echo_roundtrip(port, data)
    assert gtlib.sha256(got) == gtlib.sha256(data), (len(got), len(data))
    echo.close()
    return cli


@T.test
def test_client_any_eku_refused():
    refused_client("anyeku", "anyeku", [
        "basicConstraints = CA:FALSE",
        "keyUsage = critical, digitalSignature",
        "extendedKeyUsage = anyExtendedKeyUsage",
    ], r"lacks extended key usage clientAuth")


@T.test
def test_client_ca_leaf_refused():
    refused_client("caleaf", "caleaf", [
        "basicConstraints = critical, CA:TRUE",
        "keyUsage = critical, digitalSignature, keyCertSign",
        "extendedKeyUsage = clientAuth",
    ], r"is a CA \(basicConstraints CA:TRUE\)")


@T.test
def test_client_bad_name_refused():
    srv = refused_client("badname", "bad name", [
        "basicConstraints = CA:FALSE",
        "keyUsage = critical, digitalSignature",
        "extendedKeyUsage = clientAuth",
    ], r"client name refused")
    # The API holds a mapping's client to the same rule.
    for name in ("bad name", "a@b", "-lead", "x" * 65, "tab\there"):
        st, _, j = srv.create(port=gtlib.free_port(), target_host="127.0.0.1",
                              target_port=9, use_tunnel=True, client=name)
        assert st == 400, (name, st, j)
    st, _, j = srv.create(port=gtlib.free_port(), target_host="127.0.0.1",
                          target_port=9, use_tunnel=True, client="Web-01.a_b")
    assert st == 200, (st, j)


@T.test
def test_server_any_eku_refused():
    tmp = gtlib.make_tmpdir()
    certs = os.path.join(tmp, "certs")
    gtlib.certgen_init(certs)
    make_cert(certs, "anyserver", "localhost", [
        "basicConstraints = CA:FALSE",
        "keyUsage = critical, digitalSignature",
        "extendedKeyUsage = anyExtendedKeyUsage",
        "subjectAltName = DNS:localhost, IP:127.0.0.1",
    ])
    srv = gtlib.Server(tmp=tmp, certs=certs, **{
        "tunnel": {"enabled": True, "heartbeat_interval": 1,
                   "heartbeat_timeout": 3},
        "security": {"tunnel": {
            "cert_file": os.path.join(certs, "anyserver.crt"),
            "key_file": os.path.join(certs, "anyserver.key")}},
    })
    srv.start()
    cli = tunlib.Client(srv)
    pat = re.compile(r"connection to 127\.0\.0\.1:%d failed: .*lacks extended "
                     r"key usage serverAuth" % tunlib.tunnel_port(srv))
    line = wait_until(lambda: pat.search(cli.log()), 15,
                      what="the client's refusal of the server")
    print("    client: %s" % line.group(0))
    assert tunlib.clients(srv) == []
    assert health(srv)["tunnel_connected"] is False
    cli.stop()


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@T.test
def test_db_files_owner_only():
    srv = tunlib.tunnel_server()
    good_client_works(srv)       # a mapping was created and committed
    db = srv.cfg["database"]["path"]
    assert mode(os.path.dirname(db)) == 0o700, oct(mode(os.path.dirname(db)))
    seen = []
    for f in (db, db + "-wal", db + "-shm"):
        if os.path.exists(f):
            seen.append(os.path.basename(f))
            assert mode(f) == 0o600, (f, oct(mode(f)))
    assert "mappings.db" in seen
    print("    0600: %s" % ", ".join(seen))


@T.test
def test_db_loose_mode_fixed():
    tmp = gtlib.make_tmpdir()
    data = os.path.join(tmp, "data")
    os.mkdir(data, 0o700)
    db = os.path.join(data, "mappings.db")
    for f in (db, db + "-wal"):
        open(f, "wb").close()        # empty: a new database, an empty WAL
        os.chmod(f, 0o644)
    srv = gtlib.Server(tmp=tmp)
    srv.start()
    for f in (db, db + "-wal", db + "-shm"):
        if os.path.exists(f):
            assert mode(f) == 0o600, (f, oct(mode(f)))
    assert re.search(r"WARN .*mappings\.db had mode 0644.*now 0600", srv.log()), \
        srv.log()[-2000:]
    st, _, j = srv.create(port=gtlib.free_port(), target_host="127.0.0.1",
                          target_port=9, use_tunnel=False)
    assert st == 200, (st, j)
    assert mode(db) == 0o600


@T.test
def test_hello_flood_rate_limited():
    srv = tunlib.tunnel_server(hb=(10, 30))
    good_client_works(srv)
    cert, key = tunlib.client_cert(srv, "flooder")
    before = os.path.getsize(srv.log_path)
    s = tunlib.tls_connect(srv, cert=cert, key=key)
    s.sendall(tunlib.hello() * FLOOD)
    # Half-close, then read until the server closes: it saw every frame,
    # and nothing unread on our side turns the close into a reset.
    s.shutdown(socket.SHUT_WR)
    s.settimeout(15)
    try:
        while s.recv(65536):
            pass
    except (ConnectionResetError, OSError):
        pass
    s.close()

    ign = re.compile(r"second hello ignored")
    sup = re.compile(r"\[mux\] .*\((\d+) similar messages from 127\.0\.0\.1 suppressed\)")

    def accounted():
        tail = srv.log()[before:]
        lines = len(ign.findall(tail))
        dropped = sum(int(n) for n in sup.findall(tail))
        return (lines, dropped) if lines + dropped == FLOOD - 1 else None
    lines, dropped = wait_until(accounted, 15,
                                what="every ignored hello logged or counted")
    grown = os.path.getsize(srv.log_path) - before
    print("    %d hellos: %d lines, %d suppressed, log grew %d bytes"
          % (FLOOD - 1, lines, dropped, grown))
    assert 1 <= lines <= 3 * RATE_LIMIT, lines
    assert grown < 8192, grown
    # The server still serves its real client.
    assert srv.proc.poll() is None
    assert [c["name"] for c in tunlib.clients(srv)] == ["client"], tunlib.clients(srv)
    echo = gtlib.echo_server()
    port = tunlib.tunnel_mapping(srv, echo.port, client="client")
    assert tunlib.roundtrip_n(port, 20, size=4096)
    echo.close()


def closed_by_peer(s, timeout=10):
    """Read until the peer closes s (EOF or reset); False on timeout."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
    except (ConnectionResetError, BrokenPipeError):
        pass
    except socket.timeout:
        return False
    return True


@T.test
def test_refusals_rate_limited():
    # log.rate_limit from the config reaches the limiter: 3 lines a window.
    srv = tunlib.tunnel_server(log={"level": "info", "rate_limit": 3})
    n = 30
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", tunlib.tunnel_port(srv)),
                                     timeout=10)
        s.sendall(b"\x16\x03\x01\x00\x05garbage" * 4)
        assert closed_by_peer(s), "the server kept a garbage handshake open"
        s.close()
    wait_until(lambda: "refused 127.0.0.1" in srv.log(), 10,
               what="a refusal line")
    refused = len(re.findall(r"\[tunnel\] refused 127\.0\.0\.1:", srv.log()))
    print("    %d refused handshakes: %d lines" % (n, refused))
    assert 1 <= refused <= 2 * 3, refused
    # The client's refusals of targets outside -allow: the default 10.
    good = good_client_works(srv)
    good.stop()
    tunlib.wait_clients(srv, 0)
    cli = tunlib.Client(srv, allow="127.0.0.1:1")
    tunlib.wait_clients(srv, 1)
    port = tunlib.tunnel_mapping(srv, 9)
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        assert closed_by_peer(s), "a refused session stayed open"
        s.close()
    lines = len(re.findall(r"refused stream \d+ to 127\.0\.0\.1:9", cli.log()))
    print("    %d refused targets: %d client lines" % (n, lines))
    assert 1 <= lines <= 2 * RATE_LIMIT, lines


if __name__ == "__main__":
    if shutil.which("openssl") is None:
        print("SKIP: no openssl CLI")
        raise SystemExit(0)
    try:
        T.main()
    finally:
        tunlib.stop_clients()
