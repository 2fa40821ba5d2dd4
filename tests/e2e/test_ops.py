#!/usr/bin/env python3
"""End-to-end: operations. `-reg install|uninstall` of both programs into a
temporary GT_SYSTEMD_DIR (content, quoting, `systemd-analyze verify`), and
scripts/quickstart.sh run in a copy of the tree on kernel-chosen ports
(--check twice for idempotence, a busy port, Ctrl-C)."""

import os
import re
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import time

import gtlib
from gtlib import binpath, make_tmpdir, run, wait_until, free_port

T = gtlib.Runner()

HARDENING = [
    "Restart=always", "RestartSec=10", "StartLimitIntervalSec=60", "StartLimitBurst=5",
    "LimitNOFILE=65536", "NoNewPrivileges=yes", "ProtectSystem=strict",
    "PrivateTmp=yes", "PrivateDevices=yes", "PrivateMounts=yes",
    "ProtectProc=invisible", "ProcSubset=pid", "SystemCallFilter=~@privileged",
    "ProtectKernelTunables=yes",
    "ProtectKernelModules=yes", "ProtectControlGroups=yes",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
    "SystemCallArchitectures=native", "LockPersonality=yes",
    "MemoryDenyWriteExecute=yes", "RestrictRealtime=yes", "RestrictSUIDSGID=yes",
    "UMask=0077", "WantedBy=multi-user.target", "After=network-online.target",
    "Wants=network-online.target",
]


def exec_words(line):
    """Split an ExecStart= value as systemd does: quotes, \\ escapes, $$, %%."""
    words, i, n = [], 0, len(line)
    while i < n:
        while i < n and line[i] == " ":
            i += 1
        if i >= n:
            break
        assert line[i] == '"', "unquoted word at %r" % line[i:]
        i += 1
        w = []
        while True:
            assert i < n, "unterminated quote in %r" % line
            c = line[i]
            if c == "\\":
                w.append(line[i + 1])
                i += 2
            elif c in "$%":
                assert line[i + 1] == c, "lone %s in %r" % (c, line)
                w.append(c)
                i += 2
            elif c == '"':
                i += 1
                break
            else:
                w.append(c)
                i += 1
        words.append("".join(w))
    return words


def unit_lines(path):
    with open(path) as f:
        return f.read().splitlines()


def unit_value(lines, key):
    vals = [l[len(key) + 1:] for l in lines if l.startswith(key + "=")]
    assert len(vals) == 1, (key, vals)
    return vals[0]


def check_unit(path):
    """Mode 0644, every hardening line; systemd-analyze verify when present."""
    st = os.stat(path)
    assert stat.S_IMODE(st.st_mode) == 0o644, oct(st.st_mode)
    lines = unit_lines(path)
    for h in HARDENING:
        assert h in lines, "%s lacks %s" % (path, h)
    for sec in ("[Unit]", "[Service]", "[Install]"):
        assert sec in lines, sec
    sa = shutil.which("systemd-analyze")
    if sa:
        r = run([sa, "verify", path], timeout=60)
        base = os.path.basename(path)
        complaints = [l for l in (r.stdout + r.stderr).splitlines() if base + ":" in l]
        assert r.returncode == 0 and not complaints, \
            "systemd-analyze verify %s: rc %d\n%s%s" % (path, r.returncode, r.stdout, r.stderr)
    else:
        print("     (systemd-analyze not installed: verify skipped)")
    return lines


def reg_env(sddir):
    env = dict(os.environ)
    env["GT_SYSTEMD_DIR"] = sddir
    return env


@T.test
def test_reg_server_install_uninstall():
    tmp = make_tmpdir()
    sd = os.path.join(tmp, "units")
    os.mkdir(sd)
    srv = gtlib.Server(tmp=tmp, tunnel={"enabled": True})
    # A relative database path: it lives under the working directory.
    srv.cfg["database"]["path"] = "./state 1/db/mappings.db"
    srv.write_config()
    exe = os.path.realpath(binpath("gt-server"))
    r = run([exe, "-config", "config.yaml", "-reg", "install"], cwd=tmp, env=reg_env(sd))
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert "systemctl daemon-reload" in r.stdout, r.stdout      # what to run by hand
    path = os.path.join(sd, "gt-server.service")
    lines = check_unit(path)
    words = exec_words(unit_value(lines, "ExecStart"))
    assert words == [exe, "-config", os.path.join(tmp, "config.yaml")], words
    assert unit_value(lines, "WorkingDirectory") == tmp
    assert unit_value(lines, "ReadWritePaths") == '"%s/state 1/db"' % tmp
    assert os.path.isdir(os.path.join(tmp, "state 1", "db"))   # exists for ProtectSystem
    assert unit_value(lines, "CapabilityBoundingSet") == "CAP_NET_BIND_SERVICE"
    assert not any(l.startswith("AmbientCapabilities") for l in lines)   # no port < 1024
    home = unit_value(lines, "ProtectHome")
    assert home == ("read-only" if tmp.startswith(("/root/", "/home/")) else "yes"), home
    # Installing again replaces it in place; nothing else in the folder.
    r = run([exe, "-config", "config.yaml", "-reg", "install", "-debug"], cwd=tmp,
            env=reg_env(sd))
    assert r.returncode == 0, r.stderr
    assert os.listdir(sd) == ["gt-server.service"], os.listdir(sd)
    assert exec_words(unit_value(unit_lines(path), "ExecStart"))[-1] == "-debug"
    r = run([exe, "-reg", "uninstall"], cwd="/", env=reg_env(sd))
    assert r.returncode == 0, r.stderr
    assert not os.path.exists(path)
    r = run([exe, "-reg", "uninstall"], cwd="/", env=reg_env(sd))
    assert r.returncode == 0 and "nothing to remove" in r.stdout, (r.stdout, r.stderr)


@T.test
def test_reg_server_low_port_and_quoting():
    tmp = make_tmpdir(prefix="gt-e2e-$x%y ")
    sd = os.path.join(tmp, "units")
    os.mkdir(sd)
    srv = gtlib.Server(tmp=tmp, port_range={"from": 80, "end": 90})
    srv.cfg["database"]["path"] = os.path.join(tmp, "data", "m.db")
    srv.write_config()
    r = run([binpath("gt-server"), "-config", srv.config_path, "-reg", "install"],
            cwd=tmp, env=reg_env(sd))
    assert r.returncode == 0, (r.stdout, r.stderr)
    path = os.path.join(sd, "gt-server.service")
    lines = check_unit(path)
    assert unit_value(lines, "AmbientCapabilities") == "CAP_NET_BIND_SERVICE"
    words = exec_words(unit_value(lines, "ExecStart"))
    assert words[1:] == ["-config", srv.config_path], words
    assert unit_value(lines, "WorkingDirectory") == tmp.replace("%", "%%")
    assert run([binpath("gt-server"), "-reg", "uninstall"], env=reg_env(sd)).returncode == 0
    assert os.listdir(sd) == []


@T.test
def test_reg_client_flags():
    tmp = make_tmpdir()
    sd = os.path.join(tmp, "units")
    os.mkdir(sd)
    gtlib.certgen_init(os.path.join(tmp, "pki"))
    exe = os.path.realpath(binpath("gt-client"))
    allow = "127.0.0.1:22,127.0.0.1:8000-8100,10.0.0.5:*"
    args = [exe, "-server", "gt.example.net:9000", "-cert", "pki/client.crt",
            "-key", "./pki/client.key", "-ca", "pki/../pki/ca.crt",
            "-server-name", "gt.example.net", "-allow", allow, "-debug",
            "-reg", "install"]
    r = run(args, cwd=tmp, env=reg_env(sd))
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "warning" not in r.stderr, r.stderr
    path = os.path.join(sd, "gt-client.service")
    lines = check_unit(path)
    words = exec_words(unit_value(lines, "ExecStart"))
    pki = os.path.join(tmp, "pki")
    assert words == [exe, "-server", "gt.example.net:9000",
                     "-cert", pki + "/client.crt", "-key", pki + "/client.key",
                     "-ca", pki + "/ca.crt", "-server-name", "gt.example.net",
                     "-allow", allow, "-debug"], words
    assert "-reg" not in words
    assert unit_value(lines, "WorkingDirectory") == tmp
    assert unit_value(lines, "CapabilityBoundingSet") == ""    # the client binds nothing
    assert not any(l.startswith(("AmbientCapabilities", "ReadWritePaths")) for l in lines)
    r = run([exe, "-reg", "uninstall"], env=reg_env(sd))
    assert r.returncode == 0, r.stderr
    assert os.listdir(sd) == []


@T.test
def test_reg_client_defaults_and_no_tls():
    tmp = make_tmpdir()
    sd = os.path.join(tmp, "units")
    os.mkdir(sd)
    exe = os.path.realpath(binpath("gt-client"))
    # Default certificate paths go in absolute; missing files are a warning.
    r = run([exe, "-server", "127.0.0.1:9000", "-reg", "install"], cwd=tmp, env=reg_env(sd))
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "warning" in r.stderr and "certs/client.crt" in r.stderr, r.stderr
    words = exec_words(unit_value(unit_lines(os.path.join(sd, "gt-client.service")),
                                  "ExecStart"))
    assert words == [exe, "-server", "127.0.0.1:9000",
                     "-cert", tmp + "/certs/client.crt", "-key", tmp + "/certs/client.key",
                     "-ca", tmp + "/certs/ca.crt"], words
    r = run([exe, "-server", "[::1]:9000", "-no-tls", "-reg", "install"], cwd=tmp,
            env=reg_env(sd))
    assert r.returncode == 0, r.stderr
    words = exec_words(unit_value(check_unit(os.path.join(sd, "gt-client.service")),
                                  "ExecStart"))
    assert words == [exe, "-server", "[::1]:9000", "-no-tls"], words
    assert run([exe, "-reg", "uninstall"], env=reg_env(sd)).returncode == 0


@T.test
def test_reg_errors():
    tmp = make_tmpdir()
    sd = os.path.join(tmp, "units")
    os.mkdir(sd)
    env = reg_env(sd)
    srv = gtlib.Server(tmp=tmp)
    srv.write_config()
    s, c = binpath("gt-server"), binpath("gt-client")
    for args in ([s, "-reg", "start"], [c, "-reg", "enable", "-server", "127.0.0.1:1"],
                 [c, "-reg", "install"],                       # -server is required
                 [c, "-server", "nohostport", "-reg", "install"],
                 [c, "-server", "127.0.0.1:1", "-server-name", "a\nb", "-reg", "install"],
                 [s, "-config", srv.config_path, "-reg", "install", "-check-config"]):
        r = run(args, cwd=tmp, env=env)
        assert r.returncode == 2, (args, r.returncode, r.stderr)
        assert r.stderr.strip() and len(r.stderr.strip().splitlines()) == 1, r.stderr
    # A config that does not load: 1, nothing written.
    bad = os.path.join(tmp, "bad.yaml")
    with open(bad, "w") as f:
        f.write("tunnel: {listen_port: 70000}\n")
    r = run([s, "-config", bad, "-reg", "install"], cwd=tmp, env=env)
    assert r.returncode == 1 and "listen_port" in r.stderr, (r.returncode, r.stderr)
    # A folder that does not exist: an I/O failure, 1.
    env2 = reg_env(os.path.join(tmp, "missing"))
    r = run([s, "-config", srv.config_path, "-reg", "install"], cwd=tmp, env=env2)
    assert r.returncode == 1, (r.returncode, r.stderr)
    r = run([c, "-server", "127.0.0.1:1", "-reg", "install"], cwd=tmp, env=env2)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert os.listdir(sd) == []


# ---------------------------------------------------------------- quickstart.sh

def qs_tree():
    """A copy of the parts of the tree quickstart.sh uses, on free ports."""
    root = make_tmpdir(prefix="gt-qs-")
    os.mkdir(os.path.join(root, "scripts"))
    shutil.copy(os.path.join(gtlib.SRC, "scripts", "quickstart.sh"),
                os.path.join(root, "scripts"))
    ports = {"api": free_port(), "tunnel": free_port(), "target": free_port()}
    ports["demo"] = free_port()
    with open(os.path.join(gtlib.SRC, "config.yaml")) as f:
        cfg = f.read()
    # The shipped config, with only its ports moved.
    cfg, n1 = re.subn(r"(?m)^(  listen_port: )9000\b", r"\g<1>%d" % ports["tunnel"], cfg)
    cfg, n2 = re.subn(r"(?m)^(  listen_port: )8080\b", r"\g<1>%d" % ports["api"], cfg)
    cfg, n3 = re.subn(r"port_range: \{from: 10000, end: 10100\}",
                      "port_range: {from: %d, end: %d}" % (ports["demo"], ports["demo"]), cfg)
    assert (n1, n2, n3) == (1, 1, 1), "config.yaml no longer has the shipped ports"
    with open(os.path.join(root, "config.yaml"), "w") as f:
        f.write(cfg)
    env = dict(os.environ, GT_BIN=gtlib.BIN, GT_QS_API_PORT=str(ports["api"]),
               GT_QS_TUNNEL_PORT=str(ports["tunnel"]), GT_QS_DEMO_PORT=str(ports["demo"]),
               GT_QS_TARGET_PORT=str(ports["target"]))
    return root, ports, env


def qs_run(root, env, *args, timeout=120):
    return run(["bash", os.path.join(root, "scripts", "quickstart.sh")] + list(args),
               cwd="/", env=env, timeout=timeout)


def no_leftovers(root, ports):
    """No process still runs in the tree (quickstart.sh starts all in it); ports free."""
    mine = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            if os.readlink("/proc/%s/cwd" % pid) == root:
                mine.append(open("/proc/%s/cmdline" % pid).read().replace("\0", " "))
        except OSError:
            pass
    assert not mine, mine
    for name, port in ports.items():
        s = socket.socket()
        try:
            s.bind(("0.0.0.0" if name in ("tunnel", "demo") else "127.0.0.1", port))
        finally:
            s.close()


def check_logs_clean(root):
    for name in ("server.log", "client.log"):
        with open(os.path.join(root, "run", name), errors="replace") as f:
            log = f.read()
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            assert bad not in log, log[-4000:]
        assert "stopped" in log.splitlines()[-1], (name, log[-1500:])


@T.test
def test_quickstart_check_idempotent():
    root, ports, env = qs_tree()
    r = qs_run(root, env, "--check")
    assert r.returncode == 0, (r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    assert "creating demo certificates" in r.stdout
    assert "quick start check passed" in r.stdout
    certs = {f: open(os.path.join(root, "certs", f), "rb").read()
             for f in os.listdir(os.path.join(root, "certs"))}
    assert len(certs) == 7, sorted(certs)
    check_logs_clean(root)
    tok = open(os.path.join(root, "run", "token")).read().strip()
    assert tok.count(".") == 2
    assert stat.S_IMODE(os.stat(os.path.join(root, "run", "token")).st_mode) == 0o600
    # Second run: the same certificates, the mapping kept, not duplicated.
    r = qs_run(root, env, "--check")
    assert r.returncode == 0, (r.returncode, r.stdout[-3000:], r.stderr[-3000:])
    assert "reusing the certificates" in r.stdout, r.stdout
    assert "already exists" in r.stdout, r.stdout
    for f, b in certs.items():
        assert open(os.path.join(root, "certs", f), "rb").read() == b, f
    db = sqlite3.connect(os.path.join(root, "data", "mappings.db"))
    rows = db.execute("SELECT * FROM mappings").fetchall()
    db.close()
    assert len(rows) == 1 and ports["demo"] in rows[0], rows
    no_leftovers(root, ports)


@T.test
def test_quickstart_busy_port():
    root, ports, env = qs_tree()
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", ports["api"]))
    blocker.listen(1)
    try:
        r = qs_run(root, env, "--check")
    finally:
        blocker.close()
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    last = r.stderr.strip().splitlines()[-1]
    assert "port %d" % ports["api"] in last and "already in use" in last, r.stderr
    assert not os.path.exists(os.path.join(root, "run", "server.log"))
    r = qs_run(root, env, "--bogus")
    assert r.returncode == 2, (r.returncode, r.stderr)


@T.test
def test_quickstart_ctrl_c():
    root, ports, env = qs_tree()
    out = os.path.join(root, "qs.out")
    with open(out, "wb") as f:
        # Its own process group, as a terminal's foreground job is: Ctrl-C is
        # SIGINT to the whole group.
        p = subprocess.Popen(["bash", os.path.join(root, "scripts", "quickstart.sh")],
                             cwd="/", env=env, stdout=f, stderr=f, start_new_session=True)
    try:
        wait_until(lambda: p.poll() is not None or "Press Ctrl-C" in open(out).read(),
                   60, what="the quick start to be up")
        assert p.poll() is None, open(out).read()[-3000:]
        # While it runs, the demo mapping answers.
        data = gtlib.pattern(100000, seed=7)
        assert gtlib.echo_roundtrip(ports["demo"], data) == data
        os.killpg(p.pid, signal.SIGINT)
        rc = p.wait(20)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
    text = open(out).read()
    assert rc == 0, (rc, text[-3000:])
    assert "stopped" in text.splitlines()[-1], text[-1000:]
    check_logs_clean(root)
    no_leftovers(root, ports)


@T.test
def test_docker_files():
    """scripts/docker-check.sh --no-build: compose and Prometheus YAML, the
    Dockerfile's shape and packages, docker/config.yaml loading."""
    try:
        import yaml  # noqa: F401  (python3-yaml, from scripts/deps.sh)
    except ImportError:
        print("     (python3-yaml not installed: docker-check skipped)")
        return
    r = run(["bash", os.path.join(gtlib.SRC, "scripts", "docker-check.sh"), "--no-build"],
            env=dict(os.environ, GT_BIN=gtlib.BIN), timeout=120)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert "docker/config.yaml loads" in r.stdout, r.stdout


if __name__ == "__main__":
    T.main()
