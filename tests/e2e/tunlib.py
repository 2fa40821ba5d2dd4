"""tunlib: helpers for tunnel end-to-end tests: a gt-client process, a
server with its tunnel on, raw frame codecs for hostile or go-tunnel-style
peers, and process figures from /proc."""

import os
import signal
import socket
import ssl
import struct
import subprocess
import time

import gtlib
from gtlib import binpath, wait_until, make_tmpdir


def tunnel_server(tls=True, hb=(1, 3), **over):
    """A started gt-server with the tunnel on (mutual TLS unless tls=False)."""
    tmp = make_tmpdir()
    srv = gtlib.Server(tmp=tmp, **gtlib.merge({
        "tunnel": {"enabled": True, "heartbeat_interval": hb[0],
                   "heartbeat_timeout": hb[1]},
        "security": {"tunnel": {"enable_tls": tls}},
    }, over))
    srv.start()
    return srv


def tunnel_port(srv):
    return srv.cfg["tunnel"]["listen_port"]


class Client:
    """A gt-client subprocess with its own log file."""

    def __init__(self, srv, certs=None, name="client", allow=None, extra=(),
                 no_tls=None):
        self.srv = srv
        certs = certs or srv.certs
        self.log_path = os.path.join(make_tmpdir(), "client.log")
        args = [binpath("gt-client"), "-server", "127.0.0.1:%d" % tunnel_port(srv)]
        if no_tls is None:
            no_tls = not srv.cfg["security"]["tunnel"]["enable_tls"]
        if no_tls:
            args.append("-no-tls")
        else:
            args += ["-cert", os.path.join(certs, name + ".crt"),
                     "-key", os.path.join(certs, name + ".key"),
                     "-ca", os.path.join(certs, "ca.crt")]
        if allow:
            args += ["-allow", allow]
        args += list(extra)
        self.args = args
        self.proc = None
        self.start()

    def start(self):
        self._logf = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self._logf,
                                     stderr=self._logf)
        _clients.append(self)
        return self

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def stop(self, timeout=5):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("gt-client did not stop on SIGTERM:\n" +
                                 self.log()[-3000:])
        self.proc = None
        self._logf.close()
        log = self.log()
        for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            assert bad not in log, "sanitizer report in the client log:\n" + log[-6000:]
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None


_clients = []


def stop_clients():
    while _clients:
        c = _clients.pop()
        try:
            c.kill()
        except Exception:
            pass


def clients(srv):
    """The server's /api/tunnel/clients list."""
    st, _, j = srv.api("GET", "/api/tunnel/clients")
    assert st == 200, (st, j)
    return j["data"]["clients"]


def wait_clients(srv, n, timeout=15):
    wait_until(lambda: len(clients(srv)) == n, timeout,
               what="%d tunnel client(s) on the server" % n)


def tunnel_mapping(srv, target_port, client="", target_host="127.0.0.1"):
    """Create a tunnel mapping on a free public port; returns that port."""
    port = gtlib.free_port()
    body = {"port": port, "target_host": target_host,
            "target_port": target_port, "use_tunnel": True}
    if client:
        body["client"] = client
    st, _, j = srv.create(**body)
    assert st == 200, (st, j)
    return port


def proc_status(pid):
    """VmRSS and VmHWM of a process, in KiB."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                k, v = line.split(":", 1)
                out[k] = int(v.split()[0])
    return out


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# ---------------------------------------------------------------- raw frames

def frame(ftype, payload=b"", version=1):
    return struct.pack(">BBI", version, ftype, len(payload)) + payload


def connect_resp(cid, status=0):
    return frame(2, struct.pack(">IB", cid, status))


def data(cid, b):
    return frame(3, struct.pack(">I", cid) + b)


def close(cid):
    return frame(4, struct.pack(">I", cid))


def keepalive():
    return frame(5)


class FrameReader:
    """Incremental reader of frames from a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def next(self, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            if len(self.buf) >= 6:
                ver, ftype, length = struct.unpack(">BBI", self.buf[:6])
                if len(self.buf) >= 6 + length:
                    payload = self.buf[6:6 + length]
                    self.buf = self.buf[6 + length:]
                    return ver, ftype, payload
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no frame within %d s" % timeout)
            self.sock.settimeout(left)
            b = self.sock.recv(65536)
            if not b:
                raise EOFError("tunnel closed")
            self.buf += b


def tls_connect(srv, cert=None, key=None, ca=None, server_name="localhost"):
    """A raw TLS 1.2 connection to the tunnel port, optionally with a client pair."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(ca or os.path.join(srv.certs, "ca.crt"))
    if cert:
        ctx.load_cert_chain(cert, key)
    raw = socket.create_connection(("127.0.0.1", tunnel_port(srv)), timeout=10)
    return ctx.wrap_socket(raw, server_hostname=server_name)


# ---------------------------------------------------------------- reliability helpers
# (added for the fault, soak, NAT, hostile-input and leak suites)

def raise_nofile(want=None):
    """Raise this process's soft RLIMIT_NOFILE (children inherit it); returns it."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if want is None else min(want, hard)
    if target == resource.RLIM_INFINITY:
        target = 1 << 20
    if soft == resource.RLIM_INFINITY or soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def client_cert(srv, name):
    """A client certificate NAME.crt/NAME.key in the server's certs folder."""
    if not os.path.exists(os.path.join(srv.certs, name + ".crt")):
        r = gtlib.run([binpath("gt-certgen"), "client", "-out", srv.certs,
                       "-ca", srv.certs, "-cn", name])
        assert r.returncode == 0, r.stderr
    return (os.path.join(srv.certs, name + ".crt"),
            os.path.join(srv.certs, name + ".key"))


def roundtrip_n(port, n, size=1024, host="127.0.0.1", timeout=10):
    """n request/response round trips of size bytes on one connection,
    every byte checked; returns the latencies in seconds."""
    s = socket.create_connection((host, port), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    lat = []
    try:
        for i in range(n):
            msg = bytes([(i * 7 + 1) % 251]) * size
            t0 = time.monotonic()
            s.sendall(msg)
            got = b""
            while len(got) < size:
                b = s.recv(size - len(got))
                if not b:
                    raise AssertionError("echo closed after %d round trips" % i)
                got += b
            lat.append(time.monotonic() - t0)
            assert got == msg, "round trip %d corrupted" % i
    finally:
        s.close()
    return lat


class EchoStream:
    """A thread streaming a pattern through an echo path in 64 KiB steps,
    checking every byte that comes back, until stop() or an error."""

    def __init__(self, port, seed=0, step=65536, host="127.0.0.1", pause=0.0):
        import threading
        self.port = port
        self.pause = pause
        self.seed = seed
        self.step = step
        self.sent = 0
        self.verified = 0
        self.error = None
        self.corrupt = False
        self.ended_at = None
        self._stop = threading.Event()
        self.sock = socket.create_connection((host, port), timeout=10)
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self):
        block = gtlib.pattern(1 << 20, seed=self.seed)
        off = 0
        try:
            while not self._stop.is_set():
                chunk = block[off:off + self.step]
                self.sock.sendall(chunk)
                self.sent += len(chunk)
                got = b""
                while len(got) < len(chunk):
                    b = self.sock.recv(len(chunk) - len(got))
                    if not b:
                        raise EOFError("echo stream closed by the far end")
                    got += b
                if got != chunk:
                    self.corrupt = True
                    raise AssertionError("echo stream corrupted at %d" % self.verified)
                self.verified += len(chunk)
                off = (off + self.step) % len(block)
                if self.pause:
                    self._stop.wait(self.pause)
        except Exception as e:
            self.error = e
            self.ended_at = time.monotonic()

    def wait_bytes(self, n, timeout=10):
        wait_until(lambda: self.verified >= n or self.error is not None, timeout,
                   what="echo stream to carry %d bytes" % n)
        if self.error is not None and self.verified < n:
            raise AssertionError("echo stream failed early: %r" % (self.error,))

    def stop(self):
        """End the stream; returns the error it met (None if it ran clean)."""
        self._stop.set()
        self._t.join(15)
        try:
            self.sock.close()
        except OSError:
            pass
        return self.error

    def alive(self):
        return self._t.is_alive()


def proc_fds_settled(pid, target, slack=0, timeout=15):
    """Wait until the fd count of pid is <= target + slack; returns the count."""
    wait_until(lambda: fd_count(pid) <= target + slack, timeout,
               what="fd count of %d back to %d (+%d)" % (pid, target, slack))
    return fd_count(pid)


def start_with_nofile(srv, nofile, wait=True):
    """Start srv as Server.start does, its RLIMIT_NOFILE (soft and hard)
    lowered to nofile, so that descriptors run out after a few hundred."""
    import resource
    import subprocess

    def lower():
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    srv.write_config()
    srv._logf = open(srv.log_path, "ab")
    srv.proc = subprocess.Popen(
        [gtlib.binpath("gt-server"), "-config", srv.config_path],
        stdout=srv._logf, stderr=srv._logf, cwd=srv.tmp, preexec_fn=lower)
    if wait:
        srv.wait_healthy()
    return srv


def cpu_seconds(pid):
    """User + system CPU seconds pid has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    """Resident set size of pid, KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def tls_client_hello(server_name="localhost"):
    """The bytes of a real TLS ClientHello, as a python client would send them."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=server_name)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def is_asan_build():
    """True when the programs in GT_BIN were built with AddressSanitizer
    (memory figures then include ASan's quarantine and shadow)."""
    with open(binpath("gt-server"), "rb") as f:
        blob = f.read()
    # gcc links libasan.so (only __asan_init and the library name show in
    # the program); clang links the runtime in (its messages show).
    return any(k in blob for k in (b"__asan_init", b"libasan.so", b"AddressSanitizer"))


def dead_listener():
    """A 127.0.0.1 listener whose accept queue is full, so that further SYNs
    go unanswered (a target that never accepts). Returns it and the sockets
    that fill its queue; the caller closes them all."""
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    dead.listen(0)
    port = dead.getsockname()[1]
    fillers = []
    for _ in range(4):
        f = socket.socket()
        f.setblocking(False)
        try:
            f.connect(("127.0.0.1", port))
        except BlockingIOError:
            pass
        fillers.append(f)
    return dead, fillers


# ---------------------------------------------------------------- limits and bounds helpers
# (added for test_limits.py and test_bounds.py)

HELLO_MAGIC = 0x47545831        # "GTX1"


def hello(caps=7, window=256 * 1024, hb=(10, 30)):
    """A gt Hello frame (PROTOCOL.md section 4): magic, caps, window, heartbeat."""
    return frame(6, struct.pack(">IIIHH", HELLO_MAGIC, caps, window, hb[0], hb[1]))


def parse_hello(payload):
    """(magic, caps, window) of a Hello payload."""
    return struct.unpack(">III", payload[:12])


def direct_mapping(srv, target_port, target_host="127.0.0.1"):
    """Create a direct mapping on a free public port; returns that port."""
    port = gtlib.free_port()
    st, _, j = srv.create(port=port, target_host=target_host,
                          target_port=target_port, use_tunnel=False)
    assert st == 200, (st, j)
    return port


def wait_quiet(sample, quiet=1.0, slack=0, timeout=60, what="counters to settle"):
    """Wait until sample() (a number, or a tuple of numbers) has moved by
    at most slack (each) over quiet seconds; returns the last sample."""
    first = sample()
    state = {"base": first, "since": time.monotonic(), "last": first}

    def settled():
        v = sample()
        state["last"] = v
        vs = v if isinstance(v, tuple) else (v,)
        bs = state["base"] if isinstance(state["base"], tuple) else (state["base"],)
        if any(abs(a - b) > slack for a, b in zip(vs, bs)):
            state["base"], state["since"] = v, time.monotonic()
            return False
        return time.monotonic() - state["since"] >= quiet
    wait_until(settled, timeout, interval=0.1, what=what)
    return state["last"]


class Holder:
    """A target that accepts and never reads: one thread, a deep backlog, a
    small receive buffer (so that the bytes wait in gt, not in the kernel).
    mss: the segment size announced to the connecting side (TCP_MAXSEG on
    the listener); a small one keeps the kernel from growing the sender's
    send buffer to megabytes (loopback's MSS is 64 KiB). The accepted
    sockets stay open until close()."""

    def __init__(self, rcvbuf=32768, backlog=2048, mss=None):
        import threading
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if mss:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, mss)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        for c in self.conns:
            try:
                c.close()
            except OSError:
                pass
        self.conns = []


class _Address:
    """What Client needs of a server when it only dials an address."""

    def __init__(self, port, certs=""):
        self.certs = certs
        self.cfg = {"tunnel": {"listen_port": port},
                    "security": {"tunnel": {"enable_tls": False}}}


def client_to(port, extra=()):
    """A gt-client with -no-tls dialling 127.0.0.1:port (a fake server)."""
    return Client(_Address(port), no_tls=True, extra=extra)


def percentile(sorted_values, p):
    """The p-th percentile (0..100) of an ascending list (nearest rank)."""
    if not sorted_values:
        raise ValueError("no values")
    import math
    k = max(0, min(len(sorted_values) - 1,
                   int(math.ceil(p / 100.0 * len(sorted_values))) - 1))
    return sorted_values[k]


def tcp_sockets():
    """Every established IPv4 TCP socket of this network namespace, from
    /proc/net/tcp: a list of (local_port, remote_port, tx_queue, rx_queue).
    rx_queue: bytes received and not yet read by the owner; tx_queue:
    bytes written by the owner and not yet acknowledged by the peer."""
    out = []
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            if len(parts) < 5 or parts[3] != "01":
                continue
            tx, rx = parts[4].split(":")
            out.append((int(parts[1].rsplit(":", 1)[1], 16),
                        int(parts[2].rsplit(":", 1)[1], 16),
                        int(tx, 16), int(rx, 16)))
    return out


def logged(runner, tail=2500):
    """A test decorator for runner: on failure, print the tails of the logs
    of the servers and clients the test started."""
    import functools

    def deco(fn):
        @functools.wraps(fn)
        def run():
            nsrv, ncli = len(gtlib._servers), len(_clients)
            try:
                fn()
            except Exception:
                for s in gtlib._servers[nsrv:]:
                    print("---- server log tail (exit %r):\n%s" % (
                        s.proc.poll() if s.proc else None, s.log()[-tail:]))
                for c in _clients[ncli:]:
                    try:
                        print("---- client log tail:\n%s" % c.log()[-tail:])
                    except OSError:
                        pass
                raise
        return runner.test(run)
    return deco
