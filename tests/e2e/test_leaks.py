#!/usr/bin/env python3
"""gt-server and gt-client under valgrind through a whole life: start, a
tunnel mapping and a direct mapping carrying traffic, API calls, a refused
session, SIGTERM. Both must exit 0 with no definite or indirect leak and
no memory error. Skipped without valgrind, and for ASan builds (the two do
not mix; ASan's LeakSanitizer covers those)."""

import os
import re
import shutil
import signal
import socket
import subprocess

import gtlib
import tunlib
from gtlib import wait_until, binpath, make_tmpdir
from tunlib import roundtrip_n

T = gtlib.Runner()

VG_TIMEOUT = 60     # seconds a valgrind'd program may take to start or stop


def valgrind_cmd(log_path):
    return ["valgrind", "--leak-check=full", "--error-exitcode=99",
            "--errors-for-leak-kinds=definite,indirect",
            "--show-leak-kinds=definite,indirect", "--track-fds=no",
            "--log-file=" + log_path]


class VgServer(gtlib.Server):
    """gt-server started under valgrind."""

    def start(self, args=(), wait=True, timeout=VG_TIMEOUT):
        self.write_config()
        self.vg_log = os.path.join(self.tmp, "valgrind-server.log")
        self._logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            valgrind_cmd(self.vg_log) + [binpath("gt-server"), "-config",
                                          self.config_path] + list(args),
            stdout=self._logf, stderr=self._logf, cwd=self.tmp)
        if wait:
            self.wait_healthy(timeout)
        return self


class VgClient(tunlib.Client):
    """gt-client started under valgrind."""

    def start(self):
        self.vg_log = self.log_path + ".valgrind"
        self._logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(valgrind_cmd(self.vg_log) + self.args,
                                     stdout=self._logf, stderr=self._logf)
        tunlib._clients.append(self)
        return self


def vg_summary(path):
    """(definite, indirect, errors) from a valgrind log."""
    with open(path) as f:
        text = f.read()

    def num(pat):
        m = re.search(pat + r":\s+([\d,]+) bytes", text)
        return int(m.group(1).replace(",", "")) if m else 0
    m = re.search(r"ERROR SUMMARY: (\d+) errors", text)
    return num("definitely lost"), num("indirectly lost"), \
        int(m.group(1)) if m else -1, text


def skip_reason():
    if shutil.which("valgrind") is None:
        return "valgrind is not installed"
    if tunlib.is_asan_build():
        return "an ASan build (valgrind and ASan do not mix)"
    return None


@T.test
def test_server_and_client_leak_free():
    why = skip_reason()
    if why:
        print("    SKIP: %s" % why)
        return
    tmp = make_tmpdir()
    srv = VgServer(tmp=tmp, **gtlib.merge({
        "tunnel": {"enabled": True, "heartbeat_interval": 2,
                   "heartbeat_timeout": 20}}, {}))
    srv.start()
    echo = gtlib.echo_server()
    cli = VgClient(srv, allow="127.0.0.1:%d" % echo.port)
    tunlib.wait_clients(srv, 1, timeout=VG_TIMEOUT)
    tport = tunlib.tunnel_mapping(srv, echo.port)
    dport = gtlib.free_port()
    st, _, j = srv.create(port=dport, target_host="127.0.0.1",
                          target_port=echo.port, use_tunnel=False)
    assert st == 200, (st, j)
    data = gtlib.pattern(256 << 10, seed=3)
    for port in (tport, dport):
        assert gtlib.echo_roundtrip(port, data, timeout=60) == data
        assert roundtrip_n(port, 5, timeout=30)
    # A refused tunnel session (outside -allow) and a removed mapping.
    other = gtlib.echo_server()
    bad = tunlib.tunnel_mapping(srv, other.port)
    s = socket.create_connection(("127.0.0.1", bad), timeout=30)
    s.settimeout(30)
    try:
        assert s.recv(10) == b""
    except ConnectionResetError:
        pass
    s.close()
    st, _, j = srv.api("POST", "/api/mapping/remove", {"port": bad})
    assert st == 200, (st, j)
    st, _, j = srv.api("GET", "/api/tunnel/clients")
    assert st == 200 and j["data"]["count"] == 1, j
    # A session left open across the shutdown must be freed too.
    held = socket.create_connection(("127.0.0.1", tport), timeout=30)
    held.sendall(b"held")
    held.settimeout(30)
    assert held.recv(4) == b"held"
    wait_until(lambda: srv.mappings()[tport]["active_connections"] == 1, 10)

    crc = cli.stop(timeout=VG_TIMEOUT)
    sproc = srv.proc
    srv_dt = srv.stop(timeout=VG_TIMEOUT, expect_rc=None)
    srv_rc = sproc.returncode
    held.close()
    results = {}
    for name, path in (("server", srv.vg_log), ("client", cli.vg_log)):
        results[name] = vg_summary(path)
    print("    valgrind: server %s, client %s (definite, indirect bytes, errors);"
          " server stop took %.1f s" % (
              results["server"][:3], results["client"][:3], srv_dt))
    for name, (definite, indirect, errors, text) in results.items():
        assert "HEAP SUMMARY" in text, "%s: valgrind did not report" % name
        assert definite == 0 and indirect == 0 and errors == 0, \
            "%s under valgrind:\n%s" % (name, text[-6000:])
    assert crc == 0, "gt-client exited %r:\n%s" % (crc, cli.log()[-3000:])
    assert srv_rc == 0, "gt-server exited %r:\n%s" % (srv_rc, srv.log()[-3000:])
    echo.close()
    other.close()


if __name__ == "__main__":
    try:
        T.main()
    finally:
        tunlib.stop_clients()
