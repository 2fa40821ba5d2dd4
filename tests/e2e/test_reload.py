#!/usr/bin/env python3
"""End-to-end: SIGHUP live reload of gt-server. A certificate and CA
rotation applies to new tunnels only (live sessions keep running, an old
client is refused on reconnect, a new one accepted); a bad new file keeps
the old material; the API allowlist follows the config."""

import os
import shutil
import signal
import socket

import gtlib
import tunlib
from gtlib import wait_until, make_tmpdir, certgen_init, pattern

T = gtlib.Runner()
TUN_REFUSED = "[tunnel] refused "


def replace_atomically(src, dst):
    """Copy src over dst the way an operator should: a temporary file, then rename."""
    tmp = dst + ".new"
    shutil.copy2(src, tmp)          # keeps mode 0600 of keys
    os.replace(tmp, dst)


def write_atomically(dst, data, mode=0o600):
    tmp = dst + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, mode)
    os.replace(tmp, dst)


def log_count(srv, text):
    return srv.log().count(text)


def hup_and_wait(srv, text):
    """SIGHUP, then wait for one more log line containing text."""
    n = log_count(srv, text)
    srv.signal(signal.SIGHUP)
    wait_until(lambda: log_count(srv, text) > n, 10, what="%r in the server log" % text)


def echo_on(sock, data):
    """Send data on an open echo session and read exactly as much back."""
    sock.sendall(data)
    got = bytearray()
    while len(got) < len(data):
        b = sock.recv(65536)
        if not b:
            raise AssertionError("the session closed after %d bytes" % len(got))
        got += b
    return bytes(got)


def pair_dir(cert, key, cas):
    """A folder laid out as tunlib.Client expects: client.crt, client.key, ca.crt (a bundle)."""
    d = make_tmpdir()
    shutil.copy2(cert, os.path.join(d, "client.crt"))
    shutil.copy2(key, os.path.join(d, "client.key"))
    with open(os.path.join(d, "ca.crt"), "wb") as f:
        for ca in cas:
            f.write(ca)
    return d


def read(path):
    with open(path, "rb") as f:
        return f.read()


@T.test
def test_rotate_ca_and_certificates():
    srv = tunlib.tunnel_server()
    certs = srv.certs
    old_ca = read(os.path.join(certs, "ca.crt"))
    # The old client's own copy of its pair and of the CAs it trusts: the
    # old one and, as docs/OPERATIONS.md says to do first, the new one.
    new = certgen_init(os.path.join(make_tmpdir(), "new"))
    new_ca = read(os.path.join(new, "ca.crt"))
    old_pair = pair_dir(os.path.join(certs, "client.crt"), os.path.join(certs, "client.key"),
                        [old_ca, new_ca])
    cli = tunlib.Client(srv, certs=old_pair)
    tunlib.wait_clients(srv, 1)
    echo = gtlib.echo_server()
    port = tunlib.tunnel_mapping(srv, echo.port)

    # A live session before the rotation.
    live = socket.create_connection(("127.0.0.1", port), timeout=10)
    d1 = pattern(300000, seed=1)
    assert echo_on(live, d1) == d1

    # The new CA, server pair and client CA replace the files in place.
    for f in ("server.crt", "server.key", "ca.crt"):
        replace_atomically(os.path.join(new, f), os.path.join(certs, f))
    hup_and_wait(srv, "SIGHUP: tunnel TLS material reloaded")
    assert "keeping the old" not in srv.log(), srv.log()[-2000:]

    # The live session and the live tunnel are untouched.
    d2 = pattern(300000, seed=2)
    assert echo_on(live, d2) == d2
    d3 = pattern(100000, seed=3)
    assert gtlib.echo_roundtrip(port, d3) == d3      # a new session on the old tunnel
    assert [c["name"] for c in tunlib.clients(srv)] == ["client"]
    live.close()

    # The old client reconnects: it trusts the new server certificate, but
    # its own certificate comes from the old CA, so the server refuses it.
    n = srv.log().count(TUN_REFUSED)
    cli.kill()
    tunlib.wait_clients(srv, 0)
    cli = tunlib.Client(srv, certs=old_pair)
    wait_until(lambda: srv.log().count(TUN_REFUSED) > n, 15, what="the old client refused")
    line = [l for l in srv.log().splitlines() if TUN_REFUSED in l][-1]
    assert "127.0.0.1:" in line and "verif" in line, line
    assert tunlib.clients(srv) == []
    wait_until(lambda: "connection to" in cli.log() or "lost" in cli.log(), 10,
               what="the old client to see the refusal")

    # A client with the new pair is accepted and carries sessions.
    tunlib.Client(srv, certs=new)
    tunlib.wait_clients(srv, 1)
    d4 = pattern(200000, seed=4)
    wait_until(lambda: gtlib.echo_roundtrip(port, d4) == d4, 10,
               what="a session through the new client")
    assert tunlib.clients(srv)[0]["name"] == "client"
    cli.stop()
    srv.stop()
    tunlib.stop_clients()
    echo.close()


@T.test
def test_ca_bundle_during_rotation():
    """OPERATIONS.md §9: client_ca may be a bundle of the old and new CAs, so
    clients of either CA are accepted while they move; then the new CA alone."""
    srv = tunlib.tunnel_server()
    certs = srv.certs
    old_ca = read(os.path.join(certs, "ca.crt"))
    new = certgen_init(os.path.join(make_tmpdir(), "new"))
    new_ca = read(os.path.join(new, "ca.crt"))
    # Clients trust both server certificates from the start (step 2).
    old_pair = pair_dir(os.path.join(certs, "client.crt"), os.path.join(certs, "client.key"),
                        [old_ca, new_ca])
    new_pair = pair_dir(os.path.join(new, "client.crt"), os.path.join(new, "client.key"),
                        [old_ca, new_ca])
    # Step 3: the server takes the new pair and a bundle of both client CAs.
    write_atomically(os.path.join(certs, "ca.crt"), old_ca + new_ca, 0o644)
    for f in ("server.crt", "server.key"):
        replace_atomically(os.path.join(new, f), os.path.join(certs, f))
    hup_and_wait(srv, "SIGHUP: tunnel TLS material reloaded")
    a = tunlib.Client(srv, certs=old_pair)
    tunlib.wait_clients(srv, 1)
    a.kill()
    tunlib.wait_clients(srv, 0)
    b = tunlib.Client(srv, certs=new_pair)
    tunlib.wait_clients(srv, 1)
    # Step 5: the new CA alone; the old client is refused at its next connection.
    write_atomically(os.path.join(certs, "ca.crt"), new_ca, 0o644)
    hup_and_wait(srv, "SIGHUP: tunnel TLS material reloaded")
    n = srv.log().count(TUN_REFUSED)
    a = tunlib.Client(srv, certs=old_pair)
    wait_until(lambda: srv.log().count(TUN_REFUSED) > n, 15, what="the old client refused")
    assert [c["name"] for c in tunlib.clients(srv)] == ["client"]
    a.kill()
    assert b.stop() == 0
    srv.stop()


@T.test
def test_bad_new_file_keeps_old_material():
    srv = tunlib.tunnel_server()
    certs = srv.certs
    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    echo = gtlib.echo_server()
    port = tunlib.tunnel_mapping(srv, echo.port)
    good = read(os.path.join(certs, "server.crt"))

    # Garbage PEM in place of the certificate: reload refused, logged, old kept.
    write_atomically(os.path.join(certs, "server.crt"),
                     b"-----BEGIN CERTIFICATE-----\nnot base64 at all!\n"
                     b"-----END CERTIFICATE-----\n", 0o644)
    hup_and_wait(srv, "keeping the old")
    line = [l for l in srv.log().splitlines() if "keeping the old" in l][-1]
    assert "SIGHUP" in line and ("cert" in line or "server.crt" in line), line
    assert "reloaded" not in srv.log().split(line)[-1]

    # A key that does not match the certificate: refused as well.
    write_atomically(os.path.join(certs, "server.crt"), good, 0o644)
    other = certgen_init(os.path.join(make_tmpdir(), "other"))
    saved_key = read(os.path.join(certs, "server.key"))
    replace_atomically(os.path.join(other, "server.key"), os.path.join(certs, "server.key"))
    n = srv.log().count("keeping the old")
    srv.signal(signal.SIGHUP)
    wait_until(lambda: srv.log().count("keeping the old") > n, 10,
               what="a mismatched key refused")
    # A missing CA file: refused as well.
    os.rename(os.path.join(certs, "ca.crt"), os.path.join(certs, "ca.crt.away"))
    write_atomically(os.path.join(certs, "server.key"), saved_key)
    n = srv.log().count("keeping the old")
    srv.signal(signal.SIGHUP)
    wait_until(lambda: srv.log().count("keeping the old") > n, 10,
               what="a missing CA refused")
    os.rename(os.path.join(certs, "ca.crt.away"), os.path.join(certs, "ca.crt"))

    # The old material still serves: the tunnel lives, and a reconnect works.
    d = pattern(100000, seed=5)
    assert gtlib.echo_roundtrip(port, d) == d
    cli.kill()
    tunlib.wait_clients(srv, 0)
    tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    wait_until(lambda: gtlib.echo_roundtrip(port, d) == d, 10, what="a session after reconnect")

    # Good files again: the reload succeeds.
    hup_and_wait(srv, "SIGHUP: tunnel TLS material reloaded")
    assert srv.proc.poll() is None
    srv.stop()
    tunlib.stop_clients()
    echo.close()


@T.test
def test_allowlist_reload():
    srv = gtlib.Server()
    srv.start()
    st, _, j = srv.api("GET", "/api/mapping/list")
    assert st == 200, (st, j)
    # Exclude 127.0.0.1: every path, /health included, answers 403.
    srv.cfg["security"]["api"]["allowed_ips"] = ["10.0.0.0/8", "::1/128"]
    srv.write_config()
    hup_and_wait(srv, "SIGHUP: API allowlist reloaded")
    st, _, j = srv.api("GET", "/health", token=False)
    assert st == 403, (st, j)
    st, _, j = srv.api("GET", "/api/mapping/list")
    assert st == 403 and j["success"] is False, (st, j)
    # A broken config changes nothing (still 403) and says why.
    with open(srv.config_path, "a") as f:
        f.write("bogus_key: 1\n")
    hup_and_wait(srv, "keeping the old settings")
    assert "bogus_key" in [l for l in srv.log().splitlines() if "keeping the old" in l][-1]
    assert srv.api("GET", "/health", token=False)[0] == 403
    # Back to 127.0.0.1: allowed again, without a restart.
    srv.cfg["security"]["api"]["allowed_ips"] = ["127.0.0.1/32"]
    srv.write_config()
    hup_and_wait(srv, "SIGHUP: API allowlist reloaded")
    assert srv.api("GET", "/health", token=False)[0] == 200
    assert srv.api("GET", "/api/mapping/list")[0] == 200
    srv.stop()


if __name__ == "__main__":
    T.main()
