#!/usr/bin/env python3
"""Moving from go-tunnel: gt-server -import-gotunnel FILE and -check-config
on go-tunnel's config.yaml (docs/MIGRATING.md).

The go-tunnel databases are built with python's sqlite3 from go-tunnel's
own CREATE TABLE statements (src/server/db/database.go of its releases:
test data describing the foreign format). The import reports each row;
the imported mappings then serve under a real gt-server (a direct one
echoes through, its whitelist admits 127.0.0.1 and refuses 127.0.0.2; a
tunnel one echoes through a gt-client), with their bandwidth limits and
rules in the list. go-tunnel's file is never modified. No fixed sleeps but
the bounded negative check of a refused connection."""

import hashlib
import os
import socket
import sqlite3

import gtlib
import tunlib
from gtlib import Server, binpath, run, wait_until

T = gtlib.Runner()
_logged = tunlib.logged(T)

SERVED_S = 10.0

# go-tunnel's latest schema, verbatim (its initTables).
GOTUNNEL_SCHEMA = """
	CREATE TABLE IF NOT EXISTS mappings (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		source_port INTEGER NOT NULL UNIQUE,
		target_host TEXT NOT NULL,
		target_port INTEGER NOT NULL,
		use_tunnel BOOLEAN NOT NULL DEFAULT 0,
		bandwidth_limit INTEGER,
		access_rule TEXT,
		access_ips TEXT,
		created_at DATETIME DEFAULT CURRENT_TIMESTAMP
	);
	CREATE INDEX IF NOT EXISTS idx_source_port ON mappings(source_port);

	CREATE TABLE IF NOT EXISTS traffic_records (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		port INTEGER NOT NULL,
		is_tunnel BOOLEAN NOT NULL DEFAULT 0,
		bytes_sent INTEGER NOT NULL DEFAULT 0,
		bytes_received INTEGER NOT NULL DEFAULT 0,
		recorded_at DATETIME DEFAULT CURRENT_TIMESTAMP
	);
	CREATE INDEX IF NOT EXISTS idx_port ON traffic_records(port);
	CREATE INDEX IF NOT EXISTS idx_is_tunnel ON traffic_records(is_tunnel);
	CREATE INDEX IF NOT EXISTS idx_recorded_at ON traffic_records(recorded_at);
"""

# Its earliest: target_ip, no use_tunnel (its migration adds that column).
GOTUNNEL_SCHEMA_V1 = """
	CREATE TABLE IF NOT EXISTS mappings (
		id INTEGER PRIMARY KEY AUTOINCREMENT,
		source_port INTEGER NOT NULL UNIQUE,
		target_ip TEXT NOT NULL,
		target_port INTEGER NOT NULL,
		created_at DATETIME DEFAULT CURRENT_TIMESTAMP
	);
	CREATE INDEX IF NOT EXISTS idx_source_port ON mappings(source_port);
"""

# go-tunnel's config.yaml of its latest release (src/config.yaml).
GOTUNNEL_CONFIG = """# 端口转发服务配置文件

# 端口范围配置
port_range:
  from: %(from)d
  end: %(end)d

# 内网穿透配置
tunnel:
  enabled: true
  listen_port: %(tunnel)d

# HTTP API 配置
api:
  listen_port: %(api)d
  api_key: "your-secret-api-key-here"

# 数据库配置
database:
  path: "%(db)s"

# 统计信息记录配置
stats:
  enabled: true          # 是否启用统计记录
  record_interval: 60    # 记录间隔（秒），默认60秒记录一次
  retention_days: 7      # 数据保留天数，默认保留7天
"""

_seed = [900]


def make_db(path, schema, rows, cols):
    """A go-tunnel database at path: schema, then rows (tuples of cols)."""
    db = sqlite3.connect(path)
    db.executescript(schema)
    db.executemany("INSERT INTO mappings (%s) VALUES (%s)" % (
        ", ".join(cols), ", ".join("?" * len(cols))), rows)
    db.commit()
    db.close()


def folder_state(path):
    """The bytes of path and the names beside it: what must not change."""
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    return digest, os.stat(path).st_mode, sorted(os.listdir(os.path.dirname(path)))


def import_db(srv, path):
    """gt-server -import-gotunnel path on srv's config; (rc, report lines, stderr)."""
    srv.write_config()
    r = run([binpath("gt-server"), "-config", srv.config_path,
             "-import-gotunnel", path], cwd=srv.tmp)
    for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
        assert bad not in r.stderr, r.stderr
    return r.returncode, r.stdout.splitlines(), r.stderr


def line_for(lines, port):
    """The report line of the row with that source port."""
    want = " port %d: " % port
    hits = [l for l in lines if want in l]
    assert len(hits) == 1, "no single report line for port %d in:\n%s" % (
        port, "\n".join(lines))
    return hits[0]


def connect(port, src="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(SERVED_S)
    s.connect(("127.0.0.1", port))
    return s


def echoes(port, src="127.0.0.1"):
    """A session from src echoes a pattern byte for byte."""
    _seed[0] += 1
    msg = gtlib.pattern(3000, seed=_seed[0])
    s = connect(port, src)
    try:
        s.sendall(msg)
        got = b""
        while len(got) < len(msg):
            b = s.recv(len(msg) - len(got))
            if not b:
                raise AssertionError("closed after %d of %d bytes" % (len(got), len(msg)))
            got += b
        assert got == msg, "echo corrupted"
    finally:
        s.close()


def refused(port, src):
    """A session from src is closed by the server with nothing echoed."""
    s = connect(port, src)
    try:
        s.sendall(b"x" * 100)
    except OSError:
        pass
    s.settimeout(SERVED_S)
    try:
        while True:
            b = s.recv(65536)
            if not b:
                return
            raise AssertionError("%d bytes came back from a refused source" % len(b))
    except ConnectionResetError:
        return
    except socket.timeout:
        raise AssertionError("connection from %s not closed within %.0f s" % (src, SERVED_S))
    finally:
        s.close()


@_logged
def test_import_rows_and_serve():
    """Every field of go-tunnel's row, the bad rows skipped with the reason,
    then the imported mappings serve."""
    echo = gtlib.echo_server()
    black = gtlib.free_port()
    srv = Server(**gtlib.merge({
        "port_range": {"from": 20000, "end": 32700},
        "tunnel": {"enabled": True, "heartbeat_interval": 1, "heartbeat_timeout": 3},
        "security": {"port_range": {"blacklist": [22, black]}},
    }, {}))
    p = {k: gtlib.free_port() for k in (
        "white", "plain", "tunnel", "blackl", "zero", "taken",
        "badip", "badjson", "badrule", "slow", "badhost")}
    # A mapping gt has already, on a port go-tunnel's file maps elsewhere.
    srv.start()
    st, _, j = srv.create(port=p["taken"], target_host="127.0.0.1",
                          target_port=echo.port, use_tunnel=False)
    assert st == 200, (st, j)
    srv.stop()

    gtdb = os.path.join(srv.tmp, "gotunnel", "mappings.db")
    os.makedirs(os.path.dirname(gtdb))
    cols = ("source_port", "target_host", "target_port", "use_tunnel",
            "bandwidth_limit", "access_rule", "access_ips", "created_at")
    e = echo.port
    make_db(gtdb, GOTUNNEL_SCHEMA, [
        (p["white"], "127.0.0.1", e, 0, 1048576, "whitelist", '["127.0.0.1"]',
         "2024-05-01 12:00:00"),
        (p["plain"], "127.0.0.1", e, 0, None, None, None, "2024-05-02 08:30:00"),
        (p["tunnel"], "127.0.0.1", e, 1, 262144, "", "", "2024-05-03 00:00:00"),
        (p["blackl"], "localhost", e, 0, None, "blacklist",
         '["127.0.0.2/32", "10.0.0.0/8", "fd00::/8"]', "2024-05-04 00:00:00"),
        (p["zero"], "127.0.0.1", e, 0, 0, "disabled", '["10.0.0.1"]',
         "2024-05-05 00:00:00"),
        (p["taken"], "127.0.0.1", 9, 0, None, None, None, "2024-05-06 00:00:00"),
        (40000, "127.0.0.1", e, 0, None, None, None, "2024-05-07 00:00:00"),
        (black, "127.0.0.1", e, 0, None, None, None, "2024-05-07 00:00:00"),
        (p["badip"], "127.0.0.1", e, 0, None, "whitelist",
         '["127.0.0.1", "not-an-ip"]', "2024-05-08 00:00:00"),
        (p["badjson"], "127.0.0.1", e, 0, None, "blacklist", "127.0.0.2",
         "2024-05-08 00:00:00"),
        (p["badrule"], "127.0.0.1", e, 0, None, "greylist", '["127.0.0.1"]',
         "2024-05-08 00:00:00"),
        (p["slow"], "127.0.0.1", e, 0, 100, None, None, "2024-05-08 00:00:00"),
        (p["badhost"], "bad host!", e, 0, None, None, None, "2024-05-08 00:00:00"),
    ], cols)
    before = folder_state(gtdb)

    rc, lines, err = import_db(srv, gtdb)
    report = "\n".join(lines)
    print("    report:\n      " + "\n      ".join(lines))
    assert rc == 1, "exit %d with skipped rows (want 1):\n%s\n%s" % (rc, report, err)
    assert "access_ips" in lines[0] and gtdb in lines[0], lines[0]
    for k in ("white", "plain", "tunnel", "blackl", "zero"):
        assert ": imported: " in line_for(lines, p[k]), line_for(lines, p[k])
    assert "whitelist of 1" in line_for(lines, p["white"])
    assert "bandwidth_limit 1048576" in line_for(lines, p["white"])
    assert "tunnel to 127.0.0.1:%d" % e in line_for(lines, p["tunnel"])
    assert "gt reads 0 as no limit" in line_for(lines, p["zero"])
    want = {
        p["taken"]: "already mapped in the store",
        40000: "outside port_range",
        black: "blacklisted",
        p["badip"]: '"not-an-ip" is not an IP address',
        p["badjson"]: "access_ips: a string must hold a JSON array",
        p["badrule"]: "access_rule: must be",
        p["slow"]: "bandwidth_limit: must be",
        p["badhost"]: "target_host: not an IP address or a DNS name",
    }
    for port, why in want.items():
        l = line_for(lines, port)
        assert ": skipped: " in l and why in l, (port, why, l)
    assert "go-tunnel ignored" in line_for(lines, p["badip"])
    assert lines[-1] == "summary: 13 rows read: 5 imported, 0 unchanged, 8 skipped", lines[-1]
    assert folder_state(gtdb) == before, "go-tunnel's file or its folder changed"

    # Again: what is there already is "unchanged", nothing written twice.
    rc, lines, err = import_db(srv, gtdb)
    assert rc == 1, (rc, lines, err)
    assert lines[-1] == "summary: 13 rows read: 0 imported, 5 unchanged, 8 skipped", lines
    assert ": unchanged: " in line_for(lines, p["white"])
    assert folder_state(gtdb) == before

    # The imported mappings serve, with their fields.
    srv.start()
    ms = srv.mappings()
    m = ms[p["white"]]
    assert m["bandwidth_limit"] == 1048576 and m["access_rule"] == "whitelist", m
    assert m["access_ips"] == ["127.0.0.1/32"], m
    assert m["created_at"] == "2024-05-01T12:00:00Z", m
    assert m["use_tunnel"] is False and m["target_port"] == e, m
    t = ms[p["tunnel"]]
    assert t["use_tunnel"] is True and t["bandwidth_limit"] == 262144, t
    assert t["access_rule"] == "disabled", t
    b = ms[p["blackl"]]
    assert b["access_rule"] == "blacklist" and b["target_host"] == "localhost", b
    assert b["access_ips"] == ["127.0.0.2/32", "10.0.0.0/8", "fd00::/8"], b
    assert ms[p["zero"]]["bandwidth_limit"] == 0, ms[p["zero"]]
    assert ms[p["taken"]]["target_port"] == e, "the mapping gt had was overwritten"
    assert set(ms) == {p[k] for k in ("white", "plain", "tunnel", "blackl", "zero", "taken")}, ms

    echoes(p["white"], "127.0.0.1")
    refused(p["white"], "127.0.0.2")
    echoes(p["plain"], "127.0.0.2")
    echoes(p["blackl"], "127.0.0.1")
    refused(p["blackl"], "127.0.0.2")
    assert srv.mappings()[p["white"]]["refused_connections"] == 1

    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    echoes(p["tunnel"], "127.0.0.1")
    print("    served: whitelist 127.0.0.1 in / 127.0.0.2 out, blacklist the "
          "reverse, a tunnel mapping through gt-client; limits in the list")
    cli.stop()
    srv.stop()
    echo.close()
    assert folder_state(gtdb) == before


@_logged
def test_import_oldest_schema_exit0():
    """go-tunnel's first schema (target_ip, no use_tunnel): a direct row,
    exit 0; imported while gt-server runs on the store, served on reload."""
    echo = gtlib.echo_server()
    srv = Server(port_range={"from": 20000, "end": 32700})
    srv.start()
    port = gtlib.free_port()
    gtdb = os.path.join(srv.tmp, "gotunnel", "old.db")
    os.makedirs(os.path.dirname(gtdb))
    make_db(gtdb, GOTUNNEL_SCHEMA_V1, [(port, "127.0.0.1", echo.port)],
            ("source_port", "target_ip", "target_port"))
    before = folder_state(gtdb)
    rc, lines, err = import_db(srv, gtdb)
    assert rc == 0, (rc, lines, err)
    assert "target_ip" in lines[0] and "use_tunnel" not in lines[0], lines[0]
    assert "imported: direct to 127.0.0.1:%d" % echo.port in line_for(lines, port)
    assert lines[-1] == "summary: 1 rows read: 1 imported, 0 unchanged, 0 skipped", lines
    assert folder_state(gtdb) == before
    # The running server has the row in its store, not yet on its port.
    assert "error" in srv.mappings()[port], srv.mappings()[port]
    st, _, j = srv.api("POST", "/api/mapping/reload", {"port": port})
    assert st == 200, (st, j)
    echoes(port)
    srv.stop()
    echo.close()


@_logged
def test_import_refuses():
    """Not go-tunnel's file, gt's own store, a missing file, a tunnel row with
    tunnels off: one clear line, exit 2 (1 for the skipped row)."""
    srv = Server(port_range={"from": 20000, "end": 32700})
    srv.start()
    srv.stop()
    store = srv.cfg["database"]["path"]
    cases = [
        (srv.config_path, "not a go-tunnel database (not an SQLite file)"),
        (store, "is database.path itself"),
        (os.path.join(srv.tmp, "nope.db"), "No such file or directory"),
    ]
    other = os.path.join(srv.tmp, "other.db")
    db = sqlite3.connect(other)
    db.executescript("CREATE TABLE t (x INTEGER);")
    db.close()
    cases.append((other, "not a go-tunnel database (no mappings table)"))
    for path, why in cases:
        rc, lines, err = import_db(srv, path)
        errl = [l for l in err.splitlines() if "-import-gotunnel" in l]
        assert rc == 2 and lines == [] and len(errl) == 1 and why in errl[0], (
            path, rc, lines, err)
    # A copy of gt's store elsewhere is refused as gt's, not read as go-tunnel's.
    copy = os.path.join(srv.tmp, "copy.db")
    with open(store, "rb") as f, open(copy, "wb") as g:
        g.write(f.read())
    rc, lines, err = import_db(srv, copy)
    assert rc == 2 and "this is a gt store" in err, (rc, err)

    gtdb = os.path.join(srv.tmp, "gotunnel", "tun.db")
    os.makedirs(os.path.dirname(gtdb))
    port = gtlib.free_port()
    make_db(gtdb, GOTUNNEL_SCHEMA, [(port, "127.0.0.1", 22, 1)],
            ("source_port", "target_host", "target_port", "use_tunnel"))
    rc, lines, err = import_db(srv, gtdb)
    assert rc == 1, (rc, lines, err)
    assert "skipped: use_tunnel: tunnels are disabled" in line_for(lines, port)

    # gt refuses go-tunnel's file as its own store, without touching it.
    srv.cfg["database"]["path"] = gtdb
    before = folder_state(gtdb)
    srv.write_config()
    r = run([binpath("gt-server"), "-config", srv.config_path], cwd=srv.tmp)
    assert r.returncode == 1 and "-import-gotunnel" in r.stderr, (r.returncode, r.stderr)
    assert folder_state(gtdb) == before


@_logged
def test_check_config_gotunnel():
    """-check-config on go-tunnel's config.yaml names each key, with advice."""
    tmp = gtlib.make_tmpdir()
    path = os.path.join(tmp, "config.yaml")
    with open(path, "w") as f:
        f.write(GOTUNNEL_CONFIG % {"from": 30000, "end": 40000, "tunnel": 9000,
                                   "api": 8080, "db": "./data/mappings.db"})
    r = run([binpath("gt-server"), "-config", path, "-check-config"], cwd=tmp)
    print("    " + "\n    ".join(r.stderr.splitlines()))
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "unknown key" not in r.stderr, r.stderr
    keyline = {}
    for l in r.stderr.splitlines():
        parts = l.split(": ", 2)
        if len(parts) == 3 and parts[0].startswith(path + ":"):
            keyline[parts[1]] = parts[2]
    a = keyline.get("api.api_key", "")
    assert a.startswith("go-tunnel key that gt does not take"), keyline
    assert "-issue-token" in a and "gt-certgen init" in a, a
    assert "database.path" in keyline and "-import-gotunnel" in keyline["database.path"], keyline
    assert "tunnel.listen_port" in keyline and "api.listen_port" in keyline, keyline
    for k in ("stats.enabled", "stats.record_interval", "stats.retention_days"):
        # keys gt may have learnt (SPEC 9's stats) are then no longer advice
        assert k in keyline or "stats" in r.stderr, (k, keyline)
    assert "go-tunnel keys that gt does not take" in r.stderr.splitlines()[-1], r.stderr

    # A plain start stops at the first, with the same advice on one line.
    r = run([binpath("gt-server"), "-config", path], cwd=tmp)
    assert r.returncode == 1, (r.returncode, r.stderr)
    assert "api.api_key: go-tunnel key that gt does not take" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


if __name__ == "__main__":
    T.main()
