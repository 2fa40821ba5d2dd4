"""gtlib: shared helpers of gt's end-to-end tests (python3 stdlib only).

Programs come from $GT_BIN (default: build/bin of the source tree). Every
test uses ports chosen by the kernel and its own temporary folder, waits on
conditions (wait_until) rather than fixed sleeps, and talks only to
127.0.0.0/8.
"""

import base64
import hashlib
import hmac
import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

SRC = os.environ.get("GT_SRC") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("GT_BIN") or os.path.join(SRC, "build", "bin")


def binpath(name):
    """Path of program name in GT_BIN; fails clearly when it is not built."""
    p = os.path.join(BIN, name)
    if not os.access(p, os.X_OK):
        raise RuntimeError("%s is not built (GT_BIN=%s)" % (name, BIN))
    return p


# ---------------------------------------------------------------- waiting

def wait_until(pred, timeout=10.0, interval=0.02, what=None):
    """Poll pred() until it returns a true value (returned); raise on timeout."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # a predicate may fail until the condition holds
            last_exc = e
        if time.monotonic() >= deadline:
            msg = "timed out after %.1f s waiting for %s" % (
                timeout, what or getattr(pred, "__name__", "condition"))
            if last_exc is not None:
                msg += " (last error: %r)" % (last_exc,)
            raise AssertionError(msg)
        time.sleep(interval)


# ---------------------------------------------------------------- ports, folders

_FREE_LO, _FREE_HI = 20000, 32700   # below Linux's ephemeral range (32768-60999)
_handed_out = set()


def free_port(host="127.0.0.1"):
    """A TCP port free now on host and on the wildcard address.

    Not bind(0): that hands out ports of the ephemeral range, which the
    kernel may give to an outgoing connection before the program under test
    binds the port, a rare but real 409. Ports below that range are only
    taken by those who ask for them by number."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    wild = "::" if fam == socket.AF_INET6 else "0.0.0.0"
    rnd = random.Random(os.getpid() ^ int(time.monotonic() * 1e6))
    for _ in range(500):
        port = rnd.randrange(_FREE_LO, _FREE_HI)
        if port in _handed_out:
            continue
        try:
            for addr in (host, wild):
                with socket.socket(fam, socket.SOCK_STREAM) as s:
                    s.bind((addr, port))
        except OSError:
            continue
        _handed_out.add(port)
        return port
    raise AssertionError("no free port found in %d..%d" % (_FREE_LO, _FREE_HI))


_tmpdirs = []


def make_tmpdir(prefix="gt-e2e-"):
    """A new temporary folder, removed at exit unless GT_KEEP_TMP is set."""
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


def cleanup_tmpdirs():
    if os.environ.get("GT_KEEP_TMP"):
        return
    while _tmpdirs:
        shutil.rmtree(_tmpdirs.pop(), ignore_errors=True)


def run(args, timeout=30, **kw):
    """Run a program to completion; returns CompletedProcess with text output."""
    return subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout, **kw)


# ---------------------------------------------------------------- certificates

def certgen_init(outdir, extra=()):
    """gt-certgen init -out outdir: CA, server and client pairs, jwt.key."""
    r = run([binpath("gt-certgen"), "init", "-out", outdir] + list(extra))
    if r.returncode != 0:
        raise AssertionError("gt-certgen init failed (%d): %s" % (r.returncode, r.stderr))
    for f in ("ca.crt", "server.crt", "server.key", "client.crt", "client.key", "jwt.key"):
        if not os.path.exists(os.path.join(outdir, f)):
            raise AssertionError("gt-certgen init did not write %s" % f)
    return outdir


# ---------------------------------------------------------------- config.yaml

def _yaml_scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a YAML double-quoted scalar
    raise TypeError("cannot write %r to YAML" % (v,))


def yaml_dump(d, indent=0):
    """YAML text of nested dicts, lists of scalars and scalars (the config's shapes)."""
    out = []
    pad = "  " * indent
    for k, v in d.items():
        if isinstance(v, dict):
            out.append("%s%s:\n%s" % (pad, k, yaml_dump(v, indent + 1)))
        elif isinstance(v, (list, tuple)):
            out.append("%s%s: [%s]\n" % (pad, k, ", ".join(_yaml_scalar(x) for x in v)))
        else:
            out.append("%s%s: %s\n" % (pad, k, _yaml_scalar(v)))
    return "".join(out)


def merge(base, over):
    """Deep-merge dict over into a copy of base."""
    r = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(r.get(k), dict):
            r[k] = merge(r[k], v)
        else:
            r[k] = v
    return r


def server_config(tmp, certs, **over):
    """A complete config dict for a test server in tmp (tunnel off unless asked)."""
    cfg = {
        "port_range": {"from": 1024, "end": 65535},
        "tunnel": {
            "enabled": False,
            "listen_addr": "127.0.0.1",
            "listen_port": free_port(),
            "heartbeat_interval": 10,
            "heartbeat_timeout": 30,
        },
        "api": {"listen_addr": "127.0.0.1", "listen_port": free_port()},
        "database": {"path": os.path.join(tmp, "data", "mappings.db")},
        "security": {
            "api": {
                "enable_auth": True,
                "jwt_secret_file": os.path.join(certs, "jwt.key"),
                "allowed_ips": ["127.0.0.1/32", "::1/128"],
            },
            "tunnel": {
                "enable_tls": True,
                "cert_file": os.path.join(certs, "server.crt"),
                "key_file": os.path.join(certs, "server.key"),
                "client_ca": os.path.join(certs, "ca.crt"),
            },
            "port_range": {"blacklist": [22, 3389, 5432]},
        },
        "log": {"level": "info"},
    }
    return merge(cfg, over)


def write_config(path, cfg):
    with open(path, "w") as f:
        f.write(yaml_dump(cfg))
    return path


# ---------------------------------------------------------------- JWT (forgeries for tests)

def _b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def make_jwt(header, claims, key):
    """An HS256-signed JWT of header and claims with key (bytes); key None: no signature."""
    h = _b64url(json.dumps(header, separators=(",", ":")).encode())
    p = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    if key is None:
        return "%s.%s." % (h, p)
    sig = hmac.new(key, ("%s.%s" % (h, p)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (h, p, _b64url(sig))


# ---------------------------------------------------------------- HTTP

def http_request(port, method, path, body=None, token=None, headers=None,
                 host="127.0.0.1", source=None, timeout=10):
    """One HTTP request; returns (status, headers dict lower-cased, parsed JSON or text).

    body: a dict/list (sent as JSON), bytes/str (sent as is), or None.
    source: local address to bind the client socket to (e.g. "127.0.0.2").
    """
    conn = http.client.HTTPConnection(host, port, timeout=timeout,
                                      source_address=(source, 0) if source else None)
    hdrs = dict(headers or {})
    if token is not None:
        hdrs["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body
        hdrs.setdefault("Content-Type", "application/json")
    try:
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        h = {k.lower(): v for k, v in resp.getheaders()}
        ctype = h.get("content-type", "")
        if ctype.startswith("application/json"):
            payload = json.loads(raw.decode())
        else:
            payload = raw.decode(errors="replace")
        return resp.status, h, payload
    finally:
        conn.close()


# ---------------------------------------------------------------- gt-server

_servers = []


def kill_servers(since=0):
    """Kill the servers started after index since and left running, except shared ones."""
    keep = _servers[:since]
    for s in _servers[since:]:
        if getattr(s, "shared", False):
            keep.append(s)
        else:
            s.kill()
    _servers[:] = keep


class Server:
    """A gt-server subprocess with its own folder, config and log file."""

    def __init__(self, tmp=None, certs=None, **cfg_over):
        self.tmp = tmp or make_tmpdir()
        if certs is None:
            certs = os.path.join(self.tmp, "certs")
            if not os.path.exists(os.path.join(certs, "jwt.key")):
                certgen_init(certs)
        self.certs = certs
        self.cfg = server_config(self.tmp, certs, **cfg_over)
        self.config_path = os.path.join(self.tmp, "config.yaml")
        self.log_path = os.path.join(self.tmp, "server.log")
        self.proc = None
        self._token = None
        self._logf = None
        _servers.append(self)

    @property
    def api_port(self):
        return self.cfg["api"]["listen_port"]

    def write_config(self):
        write_config(self.config_path, self.cfg)

    def start(self, args=(), wait=True, timeout=10):
        """Start gt-server (config written first); wait for /health unless wait is False."""
        self.write_config()
        self._logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [binpath("gt-server"), "-config", self.config_path] + list(args),
            stdout=self._logf, stderr=self._logf, cwd=self.tmp)
        if wait:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout=10):
        def healthy():
            if self.proc.poll() is not None:
                raise AssertionError("gt-server exited with %d:\n%s" % (
                    self.proc.returncode, self.log()))
            try:
                st, _, _ = http_request(self.api_port, "GET", "/health", timeout=2)
                return st == 200
            except OSError:
                return False
        try:
            wait_until(healthy, timeout, what="gt-server /health")
        except AssertionError:
            raise

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def token(self, subject="e2e", ttl=None, role=None):
        """A token from gt-server -issue-token (the default one is cached)."""
        default = ttl is None and role is None and subject == "e2e"
        if default and self._token:
            return self._token
        args = [binpath("gt-server"), "-config", self.config_path, "-issue-token", subject]
        if ttl is not None:
            args += ["-token-ttl", str(ttl)]
        if role is not None:
            args += ["-token-role", role]
        r = run(args, cwd=self.tmp)
        if r.returncode != 0:
            raise AssertionError("-issue-token failed (%d): %s" % (r.returncode, r.stderr))
        tok = r.stdout.strip()
        if default:
            self._token = tok
        return tok

    def api(self, method, path, body=None, token=True, **kw):
        """HTTP to the API; token True uses the default admin token."""
        if token is True:
            token = self.token()
        elif token is False:
            token = None
        return http_request(self.api_port, method, path, body=body, token=token, **kw)

    def create(self, **fields):
        return self.api("POST", "/api/mapping/create", fields)

    def mappings(self):
        st, _, j = self.api("GET", "/api/mapping/list")
        assert st == 200, (st, j)
        return {m["source_port"]: m for m in j["data"]["mappings"]}

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=5.0, expect_rc=0):
        """SIGTERM; assert the exit status and that it came within timeout seconds."""
        if self.proc is None:
            return None
        t0 = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("gt-server did not exit within %.1f s of SIGTERM:\n%s"
                                 % (timeout, self.log()[-4000:]))
        dt = time.monotonic() - t0
        self.proc = None
        if self._logf:
            self._logf.close()
            self._logf = None
        if expect_rc is not None and rc != expect_rc:
            raise AssertionError("gt-server exited %d (expected %d) after %.2f s:\n%s"
                                 % (rc, expect_rc, dt, self.log()[-4000:]))
        log = self.log()
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            if bad in log:
                raise AssertionError("sanitizer report in the server log:\n%s" % log[-6000:])
        return dt

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None
        if self._logf:
            self._logf.close()
            self._logf = None


# ---------------------------------------------------------------- TCP targets

class TCPServer:
    """A threaded TCP server on 127.0.0.1:0 running handler(conn) per connection."""

    def __init__(self, handler, host="127.0.0.1"):
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.errors = []
        self._stop = False
        self._lock = threading.Lock()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self._lock:
                self.accepted += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            self.handler(c)
        except Exception as e:
            self.errors.append(repr(e))
        finally:
            try:
                c.close()
            except OSError:
                pass

    def close(self):
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def echo_handler(c):
    """Echo every byte; on EOF from the peer, finish sending and half-close."""
    while True:
        b = c.recv(65536)
        if not b:
            break
        c.sendall(b)
    c.shutdown(socket.SHUT_WR)


def digest_handler(c):
    """Read until EOF, then answer "<bytes> <sha256 hex>\\n" (a half-close probe)."""
    h = hashlib.sha256()
    n = 0
    while True:
        b = c.recv(65536)
        if not b:
            break
        h.update(b)
        n += len(b)
    c.sendall(("%d %s\n" % (n, h.hexdigest())).encode())
    c.shutdown(socket.SHUT_WR)


def echo_server():
    return TCPServer(echo_handler)


def digest_server():
    return TCPServer(digest_handler)


def pattern(n, seed=0):
    """n deterministic pseudo-random bytes."""
    out = bytearray()
    block = hashlib.sha256(b"gt-e2e-%d" % seed).digest()
    while len(out) < n:
        block = hashlib.sha256(block).digest()
        out += block * 64
    return bytes(out[:n])


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def echo_roundtrip(port, data, host="127.0.0.1", timeout=30, chunk=65536):
    """Send data to port while reading back; return what came back (until EOF)."""
    s = socket.create_connection((host, port), timeout=timeout)
    got = []
    err = []

    def reader():
        try:
            while True:
                b = s.recv(262144)
                if not b:
                    return
                got.append(b)
        except Exception as e:
            err.append(e)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        mv = memoryview(data)
        for i in range(0, len(data), chunk):
            s.sendall(mv[i:i + chunk])
        s.shutdown(socket.SHUT_WR)
        t.join(timeout)
        if t.is_alive():
            raise AssertionError("echo reply did not end within %d s" % timeout)
        if err:
            raise err[0]
        return b"".join(got)
    finally:
        s.close()


def recv_all(s):
    out = []
    while True:
        b = s.recv(65536)
        if not b:
            return b"".join(out)
        out.append(b)


# ---------------------------------------------------------------- test runner

class Runner:
    """Runs test functions in order, prints one line each and "N passed, M failed"."""

    def __init__(self):
        self.tests = []

    def test(self, fn):
        self.tests.append(fn)
        return fn

    def main(self):
        only = sys.argv[1:]
        passed = failed = 0
        for fn in self.tests:
            if only and fn.__name__ not in only:
                continue
            t0 = time.monotonic()
            nserv = len(_servers)
            try:
                fn()
            except Exception:
                failed += 1
                print("FAIL %s (%.2f s)" % (fn.__name__, time.monotonic() - t0))
                traceback.print_exc(file=sys.stdout)
            else:
                passed += 1
                print("ok   %s (%.2f s)" % (fn.__name__, time.monotonic() - t0))
            kill_servers(nserv)
            sys.stdout.flush()
        for srv in _servers:
            srv.shared = False
        kill_servers()
        cleanup_tmpdirs()
        print("%d passed, %d failed" % (passed, failed))
        sys.exit(1 if failed else 0)
