#!/usr/bin/env python3
"""The API under hostile peers (docs/SECURITY.md, "The API's connections"):
each attack that once broke gt-server, run against it with the control that
stops it. Every test checks that the server's CPU stays low, its log small,
and that allowed callers and public users keep being served meanwhile.

- a descriptor flood from outside allowed_ips, and from one allowed address;
- descriptors exhausted through a public port, then API connections;
- pipelined requests never read;
- a request head or body trickled in;
- conflicting Content-Length, Content-Length with Transfer-Encoding;
- the HTTPS API (api.tls, api.client_ca), with curl and Python.
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time

import gtlib
import tunlib
from gtlib import wait_until

T = gtlib.Runner()
_logged = tunlib.logged(T)

ATTACKER = "127.0.0.2"      # outside allowed_ips in these tests
NOFILE = 512                 # the attacked server's RLIMIT_NOFILE


def api_server(nofile=None, **over):
    """A started server (direct mappings only) with allowed_ips 127.0.0.1/32."""
    srv = gtlib.Server(**gtlib.merge({
        "tunnel": {"enabled": False},
        "security": {"api": {"allowed_ips": ["127.0.0.1/32"]}},
    }, over))
    if nofile:
        tunlib.start_with_nofile(srv, nofile)
    else:
        srv.start()
    return srv


class Probe:
    """Allowed callers and a public user, checked during an attack."""

    def __init__(self, srv):
        self.srv = srv
        self.echo = gtlib.echo_server()
        self.port = tunlib.direct_mapping(srv, self.echo.port)

    def serving(self, what):
        assert self.srv.proc.poll() is None, "gt-server died during %s:\n%s" % (
            what, self.srv.log()[-3000:])
        st, _, j = self.srv.api("GET", "/health", token=False, timeout=5)
        assert st == 200 and j["status"] == "ok", (what, st, j)
        st, _, j = self.srv.api("GET", "/api/mapping/list", timeout=5)
        assert st == 200 and j["success"], (what, st, j)
        assert tunlib.roundtrip_n(self.port, 5, size=2048), what

    def close(self):
        self.echo.close()


class Budget:
    """CPU seconds and log bytes the server spends from now on."""

    def __init__(self, srv):
        self.srv = srv
        self.t0 = time.monotonic()
        self.cpu0 = tunlib.cpu_seconds(srv.proc.pid)
        self.log0 = os.path.getsize(srv.log_path)

    def check(self, what, max_cpu_share=0.5, max_log=64 * 1024):
        wall = time.monotonic() - self.t0
        cpu = tunlib.cpu_seconds(self.srv.proc.pid) - self.cpu0
        grown = os.path.getsize(self.srv.log_path) - self.log0
        print("    %s: %.2f s CPU in %.2f s, log +%d bytes" % (what, cpu, wall, grown))
        # Slack for the work itself (ASan is slow); a spinning accept() burns
        # a whole core for as long as the attack lasts, and floods the log.
        assert cpu <= max_cpu_share * wall + 1.0, (what, cpu, wall)
        assert grown <= max_log, (what, grown, self.srv.log()[-3000:])


def metric(srv, name):
    """The value of one /metrics sample line starting with name."""
    st, _, text = srv.api("GET", "/metrics")
    assert st == 200
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError("no %s in /metrics" % name)


def connect_from(source, port, timeout=5):
    s = socket.socket()
    s.settimeout(timeout)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    return s


def read_all(s, timeout=5):
    """Everything s receives until the peer closes (or resets) it."""
    s.settimeout(timeout)
    out = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    except (ConnectionResetError, BrokenPipeError):
        pass
    return out


def closed_within(s, timeout):
    """True when the peer closes s within timeout s (whatever it sent first)."""
    s.settimeout(timeout)
    try:
        while s.recv(65536):
            pass
        return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


# ---------------------------------------------------------------- 1. descriptor floods

@_logged
def test_flood_from_outside_allowlist():
    """1,100 idle connections from outside allowed_ips, with RLIMIT_NOFILE 512:
    each is answered 403 at accept and closed, unread; descriptors stay
    free, allowed callers and public users are served throughout."""
    srv = api_server(nofile=NOFILE)
    probe = Probe(srv)
    budget = Budget(srv)
    held = []
    answered = 0
    try:
        for i in range(1100):
            try:
                held.append(connect_from(ATTACKER, srv.api_port))
            except OSError:
                continue        # the backlog may be full for a moment
            if i % 100 == 99:
                probe.serving("flood, %d connections" % (i + 1))
        for s in held[:50]:
            data = read_all(s)
            if data.startswith(b"HTTP/1.1 403"):
                answered += 1
                body = json.loads(data.split(b"\r\n\r\n", 1)[1])
                assert body["success"] is False and "allowed_ips" in body["message"], body
        assert answered >= 45, answered
        probe.serving("after the flood")
        assert tunlib.fd_count(srv.proc.pid) < 100, tunlib.fd_count(srv.proc.pid)
        refused = metric(srv, 'gt_api_connections_refused_total{reason="allowlist"}')
        assert refused >= 1000, refused
        budget.check("flood from outside")
    finally:
        for s in held:
            s.close()
        probe.close()
        srv.stop()


@_logged
def test_flood_from_one_allowed_address():
    """An allowed address opening 300 idle connections gets only
    api.max_connections_per_ip of them; the others close at accept."""
    srv = api_server(nofile=NOFILE, api={"max_connections_per_ip": 20},
                     security={"api": {"allowed_ips": ["127.0.0.0/8"]}})
    probe = Probe(srv)
    budget = Budget(srv)
    held = []
    try:
        for i in range(300):
            held.append(connect_from("127.0.0.3", srv.api_port))
        wait_until(lambda: metric(
            srv, 'gt_api_connections_refused_total{reason="max_connections_per_ip"}') >= 280,
            10, what="per-address refusals")
        kept = [s for s in held if not closed_within(s, 0.01)]
        assert len(kept) == 20, len(kept)
        probe.serving("20 idle connections from 127.0.0.3")
        budget.check("flood from one allowed address")
    finally:
        for s in held:
            s.close()
        probe.close()
        srv.stop()


@_logged
def test_descriptors_exhausted_through_a_public_port():
    """Anonymous users fill every descriptor through a public port; API
    connections then meet EMFILE. The API listener pauses (one log line per
    pause) instead of spinning on accept(); once the users leave, /health
    answers again."""
    nofile = 256
    srv = api_server(nofile=nofile)
    hold = tunlib.Holder()
    port = tunlib.direct_mapping(srv, hold.port)
    users = []
    try:
        budget = Budget(srv)
        for _ in range(nofile):
            try:
                users.append(socket.create_connection(("127.0.0.1", port), timeout=2))
            except OSError:
                break
        wait_until(lambda: tunlib.fd_count(srv.proc.pid) >= nofile - 8, 10,
                   what="the server's descriptors used up")
        # Health checks now wait in a backlog whose accept() fails: a
        # level-triggered listener would spin on them. Wait for the API
        # listener to have paused twice (a second apart) with them queued.
        waiting = []
        for _ in range(10):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", srv.api_port))
            waiting.append(s)
        wait_until(lambda: srv.log().count("[api] accept: ") >= 2, 10,
                   what="two API accept pauses")
        for s in waiting:
            s.close()
        budget.check("descriptors exhausted", max_log=32 * 1024)
        assert srv.proc.poll() is None
    finally:
        for u in users:
            u.close()
        hold.close()
    wait_until(lambda: health_ok(srv), 15, what="/health after the users left")
    assert metric(srv, "gt_api_accept_pauses_total") >= 2
    srv.stop()


def health_ok(srv):
    try:
        st, _, _ = gtlib.http_request(srv.api_port, "GET", "/health", timeout=1)
        return st == 200
    except OSError:
        return False


# ---------------------------------------------------------------- 2. pipelining

@_logged
def test_pipelined_requests_never_read():
    """Five connections send pipelined GET /health and never read the
    answers: the server stops reading them, so neither its memory nor the
    bytes it takes in grow. The same from outside allowed_ips is refused at
    accept."""
    srv = api_server(security={"api": {"allowed_ips": ["127.0.0.1/32", "127.0.0.4/32"]}})
    probe = Probe(srv)
    budget = Budget(srv)
    rss0 = tunlib.rss_kib(srv.proc.pid)
    req = b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 512
    conns, sent = [], []
    try:
        for _ in range(5):
            s = connect_from("127.0.0.4", srv.api_port)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.setblocking(False)
            conns.append(s)
            sent.append(0)
        deadline = time.monotonic() + 4
        while time.monotonic() < deadline:
            progress = False
            for i, s in enumerate(conns):
                try:
                    sent[i] += s.send(req)
                    progress = True
                except BlockingIOError:
                    pass
            if not progress:
                time.sleep(0.05)
        print("    sent per connection (MB): %s" % ", ".join("%.1f" % (n / 1e6) for n in sent))
        # The kernel buffers a few MB per connection; gt takes a bounded amount.
        assert max(sent) < 32 * 1024 * 1024, sent
        probe.serving("pipelined flood")
        rss = tunlib.rss_kib(srv.proc.pid)
        print("    server RSS %d -> %d KiB" % (rss0, rss))
        if not tunlib.is_asan_build():
            assert rss - rss0 < 24 * 1024, (rss0, rss)
        budget.check("pipelined flood")
        # From outside the allowlist: one 403, then closed.
        s = connect_from(ATTACKER, srv.api_port)
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n" * 64)
        except OSError:
            pass
        data = read_all(s)
        assert data.count(b"HTTP/1.1 ") <= 1 and b"403" in data[:20], data[:200]
        s.close()
    finally:
        for s in conns:
            s.close()
        probe.close()
        srv.stop()


# ---------------------------------------------------------------- 3. trickles

@_logged
def test_header_and_body_trickle():
    """A head sent one line every 0.5 s is cut at api.header_timeout; a
    body trickled in is cut at api.body_timeout; the idle timeout alone
    (which a trickle resets) would never fire."""
    srv = api_server(api={"header_timeout": 2, "body_timeout": 2, "idle_timeout": 30})
    probe = Probe(srv)
    stop = threading.Event()
    head = connect_from("127.0.0.1", srv.api_port)
    body = connect_from("127.0.0.1", srv.api_port)
    token = srv.token()
    body.sendall(("POST /api/mapping/create HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                  "Content-Type: application/json\r\nContent-Length: 400\r\n\r\n{" % token).encode())
    head.sendall(b"GET /health HTTP/1.1\r\n")

    def drip():
        i = 0
        while not stop.is_set():
            for s, b in ((head, b"X-Drip-%d: y\r\n" % i), (body, b" ")):
                try:
                    s.sendall(b)
                except OSError:
                    pass
            i += 1
            stop.wait(0.5)
    t = threading.Thread(target=drip, daemon=True)
    t0 = time.monotonic()
    t.start()
    try:
        assert closed_within(head, 8), "trickled head not cut"
        t_head = time.monotonic() - t0
        assert closed_within(body, 8), "trickled body not cut"
        t_body = time.monotonic() - t0
        print("    head cut after %.1f s, body after %.1f s" % (t_head, t_body))
        assert t_head >= 1.5 and t_body >= 1.5, (t_head, t_body)
        probe.serving("after the trickles")
        assert "request head not received within 2 s" in srv.log(), srv.log()[-2000:]
        assert "request body not received within 2 s" in srv.log(), srv.log()[-2000:]
        assert metric(srv, 'gt_api_connections_refused_total{reason="deadline"}') >= 2
    finally:
        stop.set()
        t.join(5)
        head.close()
        body.close()
        probe.close()
        srv.stop()


# ---------------------------------------------------------------- 4. framing

def raw_exchange(srv, request):
    s = connect_from("127.0.0.1", srv.api_port)
    s.sendall(request)
    data = read_all(s, timeout=5)
    s.close()
    return data


@_logged
def test_ambiguous_framing_refused():
    """Two Content-Length headers (conflicting or not), and Content-Length
    with Transfer-Encoding: 400, and the connection closes after it, so the
    smuggled request behind is never answered (nor acted on)."""
    srv = api_server()
    token = srv.token()
    free = gtlib.free_port()
    port = srv.cfg["port_range"]["from"] + 7
    body = json.dumps({"port": port, "target_host": "127.0.0.1", "target_port": free}).encode()
    smuggled = ("POST /api/mapping/remove HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                "Content-Length: 2\r\n\r\n{}" % token).encode()
    auth = ("Authorization: Bearer %s\r\n" % token).encode()
    cases = {
        "conflicting Content-Length":
            b"POST /api/mapping/create HTTP/1.1\r\nHost: x\r\n" + auth +
            b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(body), len(body) + len(smuggled)) +
            body + smuggled,
        "repeated Content-Length":
            b"POST /api/mapping/create HTTP/1.1\r\nHost: x\r\n" + auth +
            b"Content-Length: %d\r\nContent-Length: %d\r\n\r\n" % (len(body), len(body)) +
            body + smuggled,
        "Content-Length with Transfer-Encoding":
            b"POST /api/mapping/create HTTP/1.1\r\nHost: x\r\n" + auth +
            b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n" % len(body) +
            b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n" + smuggled,
        "Transfer-Encoding other than chunked":
            b"POST /api/mapping/create HTTP/1.1\r\nHost: x\r\n" + auth +
            b"Transfer-Encoding: gzip, chunked\r\n\r\n" +
            b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n" + smuggled,
    }
    try:
        for what, req in cases.items():
            data = raw_exchange(srv, req)
            assert data.startswith(b"HTTP/1.1 400"), (what, data[:300])
            assert data.count(b"HTTP/1.1 ") == 1, (what, data)
            rhead, rbody = data.split(b"\r\n\r\n", 1)
            # evhttp refuses Content-Length with chunked itself (its HTML page).
            if b"application/json" in rhead:
                assert json.loads(rbody)["success"] is False, (what, rbody)
            st, _, lst = srv.api("GET", "/api/mapping/list")
            assert lst["data"]["count"] == 0, (what, lst)
        # A plain chunked body stays accepted.
        ok = raw_exchange(srv, b"POST /api/mapping/create HTTP/1.1\r\nHost: x\r\n" + auth +
                          b"Connection: close\r\nTransfer-Encoding: chunked\r\n\r\n" +
                          b"%x\r\n" % len(body) + body + b"\r\n0\r\n\r\n")
        assert ok.startswith(b"HTTP/1.1 200"), ok[:300]
    finally:
        srv.stop()


# ---------------------------------------------------------------- HTTPS

def https_ctx(certs, client=False):
    ctx = ssl.create_default_context(cafile=os.path.join(certs, "ca.crt"))
    if client:
        ctx.load_cert_chain(os.path.join(certs, "client.crt"), os.path.join(certs, "client.key"))
    return ctx


def https_get(srv, path, ctx, token=None):
    import http.client
    conn = http.client.HTTPSConnection("127.0.0.1", srv.api_port, context=ctx, timeout=5)
    try:
        hdrs = {"Authorization": "Bearer " + token} if token else {}
        conn.request("GET", path, headers=hdrs)
        r = conn.getresponse()
        return r.status, json.loads(r.read().decode())
    finally:
        conn.close()


def start_https(client_ca=False):
    srv = gtlib.Server(tunnel={"enabled": False})
    srv.cfg["api"].update({"tls": True,
                           "cert_file": os.path.join(srv.certs, "server.crt"),
                           "key_file": os.path.join(srv.certs, "server.key")})
    if client_ca:
        srv.cfg["api"]["client_ca"] = os.path.join(srv.certs, "ca.crt")
    srv.start(wait=False)
    ctx = https_ctx(srv.certs, client=client_ca)

    def up():
        assert srv.proc.poll() is None, srv.log()
        try:
            return https_get(srv, "/health", ctx)[0] == 200
        except (OSError, ssl.SSLError):
            return False
    wait_until(up, 10, what="HTTPS /health")
    return srv, ctx


@_logged
def test_https_api():
    """api.tls: HTTPS answers (curl and Python, verifying the server
    against the CA), plain HTTP on the port gets no answer, and a peer that
    speaks garbage is logged and closed."""
    srv, ctx = start_https()
    try:
        st, j = https_get(srv, "/api/mapping/list", ctx, token=srv.token())
        assert st == 200 and j["success"], (st, j)
        if shutil.which("curl"):
            out = subprocess.run(
                ["curl", "-sS", "--max-time", "5", "--cacert", os.path.join(srv.certs, "ca.crt"),
                 "-H", "Authorization: Bearer " + srv.token(),
                 "https://127.0.0.1:%d/api/mapping/list" % srv.api_port],
                capture_output=True, text=True, timeout=10)
            assert out.returncode == 0 and json.loads(out.stdout)["success"], out
            plain = subprocess.run(
                ["curl", "-sS", "--max-time", "5", "http://127.0.0.1:%d/health" % srv.api_port],
                capture_output=True, text=True, timeout=10)
            assert plain.returncode != 0 and '"status"' not in plain.stdout, plain
        # Plain HTTP by hand: no HTTP answer, the connection closes.
        data = raw_exchange(srv, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"HTTP/1.1 200" not in data and b'"status"' not in data, data[:200]
        wait_until(lambda: "HTTPS:" in srv.log(), 5, what="the HTTPS failure logged")
        assert metric_https(srv, ctx, 'gt_api_connections_refused_total{reason="tls"}') >= 1
    finally:
        srv.stop()


def metric_https(srv, ctx, name):
    import http.client
    conn = http.client.HTTPSConnection("127.0.0.1", srv.api_port, context=ctx, timeout=5)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": "Bearer " + srv.token()})
        text = conn.getresponse().read().decode()
    finally:
        conn.close()
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError("no %s" % name)


@_logged
def test_https_api_client_certificate():
    """api.client_ca: without a certificate from the CA the handshake is
    refused; with gt-certgen's client pair the API answers."""
    srv, ctx = start_https(client_ca=True)
    try:
        st, j = https_get(srv, "/api/mapping/list", ctx, token=srv.token())
        assert st == 200 and j["success"], (st, j)
        try:
            https_get(srv, "/health", https_ctx(srv.certs))
            raise AssertionError("no client certificate, yet answered")
        except (OSError, ssl.SSLError):
            pass
        wait_until(lambda: "HTTPS:" in srv.log(), 5, what="the refusal logged")
        if shutil.which("curl"):
            out = subprocess.run(
                ["curl", "-sS", "--max-time", "5", "--cacert", os.path.join(srv.certs, "ca.crt"),
                 "--cert", os.path.join(srv.certs, "client.crt"),
                 "--key", os.path.join(srv.certs, "client.key"),
                 "https://127.0.0.1:%d/health" % srv.api_port],
                capture_output=True, text=True, timeout=10)
            assert out.returncode == 0 and json.loads(out.stdout)["status"] == "ok", out
    finally:
        srv.stop()


@_logged
def test_https_api_sighup_reload():
    """SIGHUP swaps the API's certificate: new connections get the new one,
    the old material stays when the new files are broken."""
    import signal
    srv, ctx = start_https()
    try:
        def served_cert():
            import socket as so
            with so.create_connection(("127.0.0.1", srv.api_port), timeout=5) as raw_s:
                with ctx.wrap_socket(raw_s, server_hostname="127.0.0.1") as t:
                    return t.getpeercert(binary_form=True)
        before = served_cert()
        new = os.path.join(srv.tmp, "new")
        r = gtlib.run([gtlib.binpath("gt-certgen"), "server", "-out", new, "-ca", srv.certs,
                       "-cn", "api2", "-san", "IP:127.0.0.1,DNS:localhost"])
        assert r.returncode == 0, r.stderr
        shutil.copy(os.path.join(new, "server.crt"), srv.cfg["api"]["cert_file"])
        shutil.copy(os.path.join(new, "server.key"), srv.cfg["api"]["key_file"])
        srv.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP: API TLS material reloaded" in srv.log(), 5,
                   what="the reload logged")
        after = served_cert()
        assert after != before
        # A broken certificate file: the reload is refused, HTTPS goes on.
        with open(srv.cfg["api"]["cert_file"], "w") as f:
            f.write("not a certificate\n")
        srv.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "keeping the old" in srv.log(), 5, what="the refusal logged")
        assert served_cert() == after
        assert https_get(srv, "/health", ctx)[0] == 200
    finally:
        srv.stop()


@T.test
def test_plain_api_off_loopback_needs_consent():
    """A non-loopback api.listen_addr without api.tls stops the server at
    start unless api.allow_plain_http says so."""
    tmp = gtlib.make_tmpdir()
    certs = gtlib.certgen_init(os.path.join(tmp, "certs"))
    for over, rc in (({"listen_addr": "0.0.0.0"}, 1),
                     ({"listen_addr": "0.0.0.0", "allow_plain_http": True}, 0),
                     ({"listen_addr": "0.0.0.0", "tls": True}, 0),
                     ({"listen_addr": "::ffff:127.0.0.1"}, 0)):
        cfg = gtlib.server_config(tmp, certs, api=over)
        if over.get("tls"):
            cfg["api"]["cert_file"] = os.path.join(certs, "server.crt")
            cfg["api"]["key_file"] = os.path.join(certs, "server.key")
        path = os.path.join(tmp, "c.yaml")
        gtlib.write_config(path, cfg)
        r = gtlib.run([gtlib.binpath("gt-server"), "-check-config", "-config", path])
        assert r.returncode == rc, (over, r.returncode, r.stderr)
        if rc:
            assert "api.listen_addr" in r.stderr and "allow_plain_http" in r.stderr, r.stderr


if __name__ == "__main__":
    T.main()
