#!/usr/bin/env python3
"""gt-server as a program: flags, -check-config, -issue-token, refusing bad configs."""

import base64
import json
import os
import signal
import socket

import gtlib
from gtlib import Server, binpath, run

R = gtlib.Runner()
SRV = None


def server():
    """A configured (not started) server, shared by the flag tests."""
    global SRV
    if SRV is None:
        SRV = Server()
        SRV.write_config()
    return SRV


def one_line(text):
    lines = [x for x in text.splitlines() if x.strip()]
    assert len(lines) == 1, "expected one line, got %r" % text
    return lines[0]


@R.test
def test_help():
    for flag in ("-h", "-help", "--help"):
        r = run([binpath("gt-server"), flag])
        assert r.returncode == 0, (flag, r.returncode, r.stderr)
        for f in ("-config", "-check-config", "-issue-token", "-token-ttl",
                  "-token-role", "-reg", "-debug", "-version"):
            assert f in r.stdout, (f, r.stdout)


@R.test
def test_bad_flags():
    cases = [
        ["-nosuchflag"],
        ["-token-ttl", "0", "-issue-token", "x"],
        ["-token-ttl", "31536001", "-issue-token", "x"],
        ["-token-ttl", "abc", "-issue-token", "x"],
        ["-token-role", "root", "-issue-token", "x"],
        ["-reg", "sideways"],
        ["-config"],
        ["-debug=maybe"],
        ["-debug", "stray-argument"],
    ]
    for args in cases:
        r = run([binpath("gt-server"), "-config", server().config_path] + args
                if args != ["-config"] else [binpath("gt-server")] + args)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        line = one_line(r.stderr)
        assert line.startswith("gt-server:"), line
        assert r.stdout == "", r.stdout


@R.test
def test_version():
    r = run([binpath("gt-server"), "-version"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("gt-server "), r.stdout
    assert any(c.isdigit() for c in r.stdout)


@R.test
def test_check_config_good():
    s = server()
    r = run([binpath("gt-server"), "-config", s.config_path, "-check-config"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "config OK: %s" % s.config_path, r.stdout


@R.test
def test_check_config_broken():
    s = server()
    good = s.cfg
    bad = [
        ({"tunnel": {"listen_port": 70000}}, "tunnel.listen_port"),
        ({"api": {"listen_port": 0}}, "api.listen_port"),
        ({"port_range": {"from": 2000, "end": 1000}}, "port_range"),
        ({"nosuchkey": 1}, "nosuchkey"),
        ({"tunnel": {"enabled": "maybe"}}, "tunnel.enabled"),
        ({"tunnel": {"heartbeat_interval": 30, "heartbeat_timeout": 10}},
         "heartbeat_timeout"),
        ({"security": {"api": {"jwt_secret_file": "/nonexistent/jwt.key"}}},
         "jwt_secret_file"),
        ({"tunnel": {"enabled": True},
          "security": {"tunnel": {"enable_tls": True, "cert_file": "/nonexistent.crt"}}},
         "cert_file"),
    ]
    for i, (over, key) in enumerate(bad):
        p = os.path.join(s.tmp, "bad%d.yaml" % i)
        gtlib.write_config(p, gtlib.merge(good, over))
        r = run([binpath("gt-server"), "-config", p, "-check-config"])
        assert r.returncode == 1, (over, r.returncode, r.stdout, r.stderr)
        line = one_line(r.stderr)
        assert key in line, (key, line)
    r = run([binpath("gt-server"), "-config", os.path.join(s.tmp, "missing.yaml"),
             "-check-config"])
    assert r.returncode == 1
    assert "missing.yaml" in one_line(r.stderr)


def jwt_claims(tok):
    parts = tok.split(".")
    assert len(parts) == 3, tok
    pad = "=" * (-len(parts[1]) % 4)
    hdr = json.loads(base64.urlsafe_b64decode(parts[0] + "=" * (-len(parts[0]) % 4)))
    return hdr, json.loads(base64.urlsafe_b64decode(parts[1] + pad))


@R.test
def test_issue_token():
    s = server()
    r = run([binpath("gt-server"), "-config", s.config_path, "-issue-token", "alice"])
    assert r.returncode == 0, r.stderr
    tok = r.stdout.strip()
    assert r.stdout.endswith("\n") and "\n" not in tok
    hdr, c = jwt_claims(tok)
    assert hdr["alg"] == "HS256", hdr
    assert c["sub"] == "alice" and c["role"] == "admin", c
    assert 3590 <= c["exp"] - c["iat"] <= 3610, c
    r = run([binpath("gt-server"), "-config", s.config_path, "-issue-token", "bob",
             "-token-ttl", "60", "-token-role", "read"])
    assert r.returncode == 0, r.stderr
    _, c = jwt_claims(r.stdout.strip())
    assert c["role"] == "read" and c["sub"] == "bob" and c["exp"] - c["iat"] == 60, c


@R.test
def test_short_jwt_key_refused():
    s = Server()
    with open(os.path.join(s.tmp, "short.key"), "w") as f:
        f.write("0123456789abcdef\n")
    s.cfg["security"]["api"]["jwt_secret_file"] = os.path.join(s.tmp, "short.key")
    s.start(wait=False)
    rc = s.proc.wait(timeout=10)
    s.proc = None
    assert rc == 1, (rc, s.log())
    line = one_line(s.log())
    assert "jwt_secret_file" in line, line


@R.test
def test_api_port_taken_refused():
    s = Server()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen(1)
        s.cfg["api"]["listen_port"] = blocker.getsockname()[1]
        s.start(wait=False)
        rc = s.proc.wait(timeout=10)
        s.proc = None
    assert rc == 1, (rc, s.log())
    assert "api.listen_port" in s.log(), s.log()


@R.test
def test_start_stop_clean():
    s = Server()
    s.start()
    assert "database" in s.log() and "API on 127.0.0.1:%d" % s.api_port in s.log(), s.log()
    dt = s.stop()
    assert dt < 5.0
    assert os.path.exists(s.cfg["database"]["path"]), "database folder/file not created"


@R.test
def test_sigint_and_sighup():
    s = Server()
    s.start()
    s.signal(signal.SIGHUP)
    gtlib.wait_until(lambda: "SIGHUP" in s.log(), 5, what="SIGHUP log line")
    st, _, _ = gtlib.http_request(s.api_port, "GET", "/health")
    assert st == 200
    s.proc.send_signal(signal.SIGINT)
    assert s.proc.wait(timeout=5) == 0, s.log()
    s.proc = None


if __name__ == "__main__":
    R.main()
