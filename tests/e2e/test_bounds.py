#!/usr/bin/env python3
"""Memory bounded at every level, from outside: 1,000 stalled streams in
one tunnel, a hostile server flooding a client with KeepAlives it never
reads the answers to, and a go-tunnel-style peer (no flow control) whose
user stops reading for longer than the heartbeat timeout. Real processes,
every byte checked, waits on conditions; figures are printed."""

import select
import socket
import struct
import threading
import time

import gtlib
import tunlib
from gtlib import wait_until
from tunlib import roundtrip_n, percentile

T = gtlib.Runner()

MiB = 1 << 20


_logged = tunlib.logged(T)


def rss_kib(pid):
    return tunlib.proc_status(pid)["VmRSS"]


# ---------------------------------------------------------------- 1,000 stalled streams

N_STALLED = 1000
PUSH_STEP = 1 * MiB         # bytes pushed into each stream per round
PUSH_MAX = 4 * MiB          # and at most this much in all
RSS_LIMIT_KIB = 80 * 1024   # ~1,000 x 32 KiB windows + base, with room
STREAM_PATTERN = gtlib.pattern(65536, seed=11)


def check_arrived(conns, most=65536):
    """Read up to most bytes from each target connection, as far as they
    have arrived, and check them: every stream is STREAM_PATTERN repeated.
    Returns the bytes checked."""
    want = STREAM_PATTERN * (most // len(STREAM_PATTERN) + 1)
    checked = 0
    for i, c in enumerate(conns):
        c.setblocking(False)
        got = b""
        while len(got) < most:
            try:
                b = c.recv(most - len(got))
            except BlockingIOError:
                break
            if not b:
                break
            got += b
        assert got, "target connection %d got no byte at all" % i
        assert got == want[:len(got)], "stream bytes corrupted at the target " \
            "(connection %d, first %d bytes)" % (i, len(got))
        checked += len(got)
    return checked


def push_until_blocked(socks, caps, sent, quiet=1.5, timeout=60):
    """Send from every (non-blocking) socket as much as it takes, until
    sent[fd] reaches caps[fd] or none has taken a byte for quiet seconds.
    Each stream carries STREAM_PATTERN over and over."""
    chunk = STREAM_PATTERN * 2
    by_fd = {s.fileno(): s for s in socks if sent[s.fileno()] < caps[s.fileno()]}
    poller = select.poll()
    for fd in by_fd:
        poller.register(fd, select.POLLOUT)
    t0 = last = time.monotonic()
    while by_fd:
        now = time.monotonic()
        if now - last >= quiet:
            break
        assert now - t0 < timeout, "the users were still sending after %d s" % timeout
        for fd, ev in poller.poll(200):
            s = by_fd.get(fd)
            if s is None:
                continue
            if ev & (select.POLLERR | select.POLLHUP):
                raise AssertionError("a stalled stream's user connection broke "
                                     "(events 0x%x after %d bytes)" % (ev, sent[fd]))
            off = sent[fd] % len(STREAM_PATTERN)
            want = min(len(STREAM_PATTERN), caps[fd] - sent[fd])
            try:
                n = s.send(chunk[off:off + want])
            except BlockingIOError:
                continue
            if n > 0:
                sent[fd] += n
                last = time.monotonic()
            if sent[fd] >= caps[fd]:
                poller.unregister(fd)
                del by_fd[fd]


def settle_sample(srv, stall_port, hole_port):
    """What moves while data flows: the bytes gt-server read from the users,
    the bytes gt-client has written toward the targets (in its sockets'
    send queues) and what the targets have received."""
    cli_txq = hole_rxq = 0
    for lport, rport, txq, rxq in tunlib.tcp_sockets():
        if rport == hole_port:
            cli_txq += txq
        elif lport == hole_port:
            hole_rxq += rxq
    return (srv.mappings()[stall_port]["bytes_in"], cli_txq, hole_rxq)


def unread_at_server(stall_port):
    """remote port -> bytes waiting unread in gt-server's socket, for the
    public connections of stall_port."""
    return {rport: rxq for lport, rport, txq, rxq in tunlib.tcp_sockets()
            if lport == stall_port}


@_logged
def test_thousand_stalled_streams():
    nofile = tunlib.raise_nofile(N_STALLED * 3 + 512)
    assert nofile >= N_STALLED * 2 + 256, "RLIMIT_NOFILE %d is too low" % nofile
    srv = tunlib.tunnel_server(hb=(2, 10))
    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    # Small segments toward the targets keep the kernel from growing
    # gt-client's send buffers to megabytes: the bytes must wait in gt.
    hole = tunlib.Holder(rcvbuf=16384, mss=1024)
    echo = gtlib.echo_server()
    stall_port = tunlib.tunnel_mapping(srv, hole.port)
    echo_port = tunlib.tunnel_mapping(srv, echo.port)
    spid, cpid = srv.proc.pid, cli.proc.pid
    assert roundtrip_n(echo_port, 20)
    base = {"server": rss_kib(spid), "client": rss_kib(cpid)}

    users = []
    t0 = time.monotonic()
    try:
        for _ in range(N_STALLED):
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 32768)
            s.settimeout(10)
            s.connect(("127.0.0.1", stall_port))
            s.setblocking(False)
            users.append(s)
        wait_until(lambda: len(hole.conns) == N_STALLED, 60,
                   what="%d target connections on the client side" % N_STALLED)
        wait_until(lambda: srv.mappings()[stall_port]["active_connections"]
                   == N_STALLED, 20, what="%d active sessions" % N_STALLED)
        opened = time.monotonic() - t0
        t1 = time.monotonic()
        # Push, let the data settle, and push again into every stream that
        # gt-server still reads, until gt-server reads none of them: each
        # stream is then full (gt stops reading a stream only when it holds
        # all it may for it).
        port_of = {s.fileno(): s.getsockname()[1] for s in users}
        caps = {s.fileno(): 0 for s in users}
        sent = dict(caps)
        rounds = 0
        settled = settle_sample(srv, stall_port, hole.port)
        while True:
            unread = unread_at_server(stall_port)
            open_ = [s for s in users if unread.get(port_of[s.fileno()], 0) == 0]
            if not open_ or rounds * PUSH_STEP >= PUSH_MAX:
                break
            rounds += 1
            for s in open_:
                caps[s.fileno()] = rounds * PUSH_STEP
            push_until_blocked(open_, caps, sent)
            settled = tunlib.wait_quiet(
                lambda: settle_sample(srv, stall_port, hole.port), quiet=1.0,
                slack=0, timeout=60, what="gt-server and gt-client to stop "
                "moving the stalled streams' bytes")
        filled = time.monotonic() - t1
        unread = unread_at_server(stall_port)
        full = sum(1 for s in users if unread.get(port_of[s.fileno()], 0) > 0)
        total = sum(sent.values())
        rss = {"server": rss_kib(spid), "client": rss_kib(cpid)}
        hwm = {"server": tunlib.proc_status(spid)["VmHWM"],
               "client": tunlib.proc_status(cpid)["VmHWM"]}
        streams = tunlib.clients(srv)[0]["streams"]

        # The neighbour: a second mapping in the same tunnel, byte-exact.
        lat = sorted(roundtrip_n(echo_port, 200, size=1024))
        p50, p99 = percentile(lat, 50), percentile(lat, 99)
        # What reached the targets is right, on every stream.
        checked = check_arrived(hole.conns)

        print("    %d streams opened in %.1f s, filled in %.1f s (%d rounds): "
              "users pushed %.1f MiB (%d..%d bytes a stream); gt-server read "
              "%.1f MiB, gt-client holds %.1f MiB in its sockets' send queues, "
              "targets got %.1f MiB, so %.1f MiB are inside gt-server and "
              "gt-client; %d streams full (unread bytes wait in gt-server's "
              "socket); tunnel streams %d"
              % (N_STALLED, opened, filled, rounds, total / MiB,
                 min(sent.values()), max(sent.values()), settled[0] / MiB,
                 settled[1] / MiB, settled[2] / MiB,
                 (settled[0] - settled[1] - settled[2]) / MiB, full, streams))
        print("    VmRSS server %d -> %d KiB (HWM %d), client %d -> %d KiB "
              "(HWM %d)" % (base["server"], rss["server"], hwm["server"],
                            base["client"], rss["client"], hwm["client"]))
        print("    neighbour: 200 x 1 KiB round trips, p50 %.2f ms, p99 %.2f ms, "
              "max %.2f ms; %.1f MiB checked at the %d targets"
              % (p50 * 1e3, p99 * 1e3, lat[-1] * 1e3, checked / MiB, len(hole.conns)))

        assert streams >= N_STALLED, streams
        assert full == N_STALLED, "%d of %d streams still read by gt-server " \
            "after %d MiB each" % (N_STALLED - full, N_STALLED, PUSH_MAX // MiB)
        if tunlib.is_asan_build():
            print("    (ASan build: RSS includes ASan's shadow and quarantine, "
                  "not checked)")
        else:
            for k in ("server", "client"):
                assert rss[k] < RSS_LIMIT_KIB, \
                    "gt-%s VmRSS %d KiB with %d stalled streams (limit %d KiB)" \
                    % (k, rss[k], N_STALLED, RSS_LIMIT_KIB)
        assert p99 < 0.5, "neighbour p99 %.0f ms" % (p99 * 1e3)
    finally:
        # RST, so that no orphaned socket keeps sending after the test.
        for s in users:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             struct.pack("ii", 1, 0))
                s.close()
            except OSError:
                pass
        hole.close()
    wait_until(lambda: srv.mappings()[stall_port]["active_connections"] == 0,
               30, what="the stalled sessions cleaned up")
    wait_until(lambda: tunlib.clients(srv)[0]["streams"] == 0, 30,
               what="no stream left in the tunnel")
    st, _, j = srv.api("GET", "/health", token=False)
    assert st == 200 and j["status"] == "ok" and j["tunnel_connected"], (st, j)
    assert roundtrip_n(echo_port, 20)
    print("    after cleanup: VmRSS server %d KiB, client %d KiB; /health ok"
          % (rss_kib(spid), rss_kib(cpid)))
    cli.stop()
    srv.stop()
    echo.close()

# ---------------------------------------------------------------- KeepAlive flood

FLOOD_BYTES = 300 * MiB
FLOOD_SECONDS = 20.0
FLOOD_RSS_LIMIT_KIB = 64 * 1024


class RssSampler:
    """Samples VmRSS of a process every interval seconds in a thread."""

    def __init__(self, pid, interval=0.2):
        self.pid = pid
        self.samples = []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._t.start()

    def _run(self, interval):
        while not self._stop.is_set():
            try:
                self.samples.append((time.monotonic(), rss_kib(self.pid)))
            except (OSError, ValueError, KeyError):
                return          # the process is gone
            self._stop.wait(interval)

    def stop(self):
        self._stop.set()
        self._t.join(5)
        return max(v for _, v in self.samples) if self.samples else 0


@_logged
def test_keepalive_flood_from_hostile_server():
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", gtlib.free_port()))
    lst.listen(8)
    port = lst.getsockname()[1]
    cli = tunlib.client_to(port)
    lst.settimeout(15)
    conn, _ = lst.accept()
    conn.settimeout(10)
    fr = tunlib.FrameReader(conn)
    ver, ftype, payload = fr.next(10)
    assert (ver, ftype) == (1, 6), "the client's first frame is not a Hello: " \
        "type %d" % ftype
    magic, caps, window = tunlib.parse_hello(payload)
    assert magic == tunlib.HELLO_MAGIC, hex(magic)
    conn.sendall(tunlib.hello(caps=7, window=256 * 1024, hb=(10, 30)))
    # The client takes us for a gt server: it answers a KeepAlive.
    conn.sendall(tunlib.keepalive())
    while True:
        ver, ftype, payload = fr.next(10)
        if ftype == 5:
            break
    pid = cli.proc.pid
    base = rss_kib(pid)

    # Now KeepAlives as fast as the socket takes them, never reading.
    burst = tunlib.keepalive() * (MiB // 6)
    sampler = RssSampler(pid)
    sent = 0
    ended = None
    conn.settimeout(0.5)
    t0 = time.monotonic()
    while sent < FLOOD_BYTES and time.monotonic() - t0 < FLOOD_SECONDS:
        try:
            n = conn.send(burst)
        except socket.timeout:
            continue            # the client stopped reading: go on trying
        except (BrokenPipeError, ConnectionResetError) as e:
            ended = repr(e)     # the client cut the tunnel
            break
        sent += n
    took = time.monotonic() - t0
    if ended is None:
        # A few more samples, in case the memory is still growing.
        n = len(sampler.samples)
        wait_until(lambda: len(sampler.samples) >= n + 3 or cli.proc.poll() is not None,
                   5, what="three more RSS samples")
    peak = sampler.stop()
    alive = cli.proc.poll() is None
    log = cli.log()
    cut = "not reading" in log
    print("    KeepAlive flood: %.1f MiB (%d frames) in %.1f s, %s; client "
          "VmRSS %d KiB before, peak %d KiB (%d samples); client %s the "
          "tunnel%s" % (sent / MiB, sent // 6, took,
                        "connection cut (%s)" % ended if ended else "never cut",
                        base, peak, len(sampler.samples),
                        "dropped" if cut else "did not drop",
                        "" if alive else "; CLIENT DIED (exit %r)" % cli.proc.returncode))
    try:
        assert alive, "gt-client died under the flood (exit %r):\n%s" % (
            cli.proc.returncode, log[-2000:])
        if not cut:
            if tunlib.is_asan_build():
                print("    (ASan build: RSS not checked)")
            else:
                assert peak <= FLOOD_RSS_LIMIT_KIB, \
                    "gt-client VmRSS reached %d KiB under a KeepAlive flood it " \
                    "could not answer (limit %d KiB) and it did not drop the " \
                    "tunnel" % (peak, FLOOD_RSS_LIMIT_KIB)
    finally:
        conn.close()
        lst.close()
    cli.stop()


# ---------------------------------------------------------------- go-tunnel peer, stopped user

BULK = 16 * MiB
CHUNK = 16374                       # GT_DATA_CHUNK, one TLS record's worth
STOP_READING_S = 8.0                # the user reads nothing for this long
HB = (1, 3)                         # the server's heartbeat interval, timeout


class GoTunnelPeer:
    """A go-tunnel v2-style client over plain TCP: no Hello, only the five
    base frames. A reader thread answers ConnectRequest with ConnectResponse
    OK and KeepAlive with KeepAlive; a pinger sends its own KeepAlive every
    second; the first stream gets `bulk` bytes of pattern data from a
    writer thread, later streams echo what they receive. One lock for the
    socket's sending side, as a Go client's write mutex: when gt does not
    read, every sender waits."""

    def __init__(self, tport, bulk):
        self.sock = socket.create_connection(("127.0.0.1", tport), timeout=10)
        self.sock.settimeout(None)
        self.bulk = bulk
        self.bulk_sent = 0
        self.bulk_id = None
        self.streams = []
        self.echoed = 0
        self.eof = None             # why the tunnel ended, if it did
        self.frames_in = {}
        self.hello_seen = False
        self._wlock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=f, daemon=True)
                         for f in (self._reader, self._pinger)]
        for t in self._threads:
            t.start()

    def send(self, b):
        with self._wlock:
            self.sock.sendall(b)

    def _reader(self):
        buf = b""
        try:
            while not self._stop.is_set():
                b = self.sock.recv(262144)
                if not b:
                    self.eof = "EOF from the server"
                    return
                buf += b
                while len(buf) >= 6:
                    ver, ftype, length = struct.unpack(">BBI", buf[:6])
                    if len(buf) < 6 + length:
                        break
                    payload, buf = buf[6:6 + length], buf[6 + length:]
                    self._on_frame(ver, ftype, payload)
        except OSError as e:
            if not self._stop.is_set():
                self.eof = repr(e)
        except Exception as e:          # a frame that makes no sense
            self.eof = "peer error: %r" % (e,)

    def _on_frame(self, ver, ftype, payload):
        assert ver == 1, ver
        self.frames_in[ftype] = self.frames_in.get(ftype, 0) + 1
        if ftype == 6:
            self.hello_seen = True
        elif ftype == 5:
            self.send(tunlib.keepalive())
        elif ftype == 1:
            (cid,) = struct.unpack(">I", payload[:4])
            self.streams.append(cid)
            self.send(tunlib.connect_resp(cid))
            if self.bulk_id is None:
                self.bulk_id = cid
                threading.Thread(target=self._writer, args=(cid,),
                                 daemon=True).start()
        elif ftype == 3:
            (cid,) = struct.unpack(">I", payload[:4])
            if cid != self.bulk_id:
                self.send(tunlib.data(cid, payload[4:]))
                self.echoed += len(payload) - 4

    def _writer(self, cid):
        block = gtlib.pattern(self.bulk, seed=16)
        try:
            for off in range(0, self.bulk, CHUNK):
                if self._stop.is_set():
                    return
                piece = block[off:off + CHUNK]
                self.send(tunlib.data(cid, piece))
                self.bulk_sent += len(piece)
        except OSError as e:
            if self.eof is None:
                self.eof = "bulk send failed: %r" % (e,)

    def _pinger(self):
        try:
            while not self._stop.wait(1.0):
                self.send(tunlib.keepalive())
        except OSError:
            pass

    def close(self):
        self._stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


def wait_stalled(get, quiet=0.6, timeout=20, what="the sender to stall"):
    """Wait until get() has not moved for quiet seconds; returns it."""
    return tunlib.wait_quiet(get, quiet=quiet, slack=0, timeout=timeout, what=what)


@_logged
def test_go_tunnel_peer_user_stops_reading():
    srv = tunlib.tunnel_server(tls=False, hb=HB)
    peer = GoTunnelPeer(tunlib.tunnel_port(srv), BULK)
    try:
        tunlib.wait_clients(srv, 1)
        name = tunlib.clients(srv)[0]["name"]
        port = tunlib.tunnel_mapping(srv, 9)     # the peer answers for any target
        user = socket.socket()
        user.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32768)
        user.settimeout(10)
        user.connect(("127.0.0.1", port))
        wait_until(lambda: peer.bulk_id is not None, 10,
                   what="the ConnectRequest at the peer")
        # gt takes what it takes (pushing back on the whole tunnel, or
        # buffering within its bounds), then the bulk sender waits.
        t0 = time.monotonic()
        stalled_at = wait_stalled(lambda: peer.bulk_sent, timeout=STOP_READING_S,
                                  what="the peer's bulk send to settle")
        srv_rss = rss_kib(srv.proc.pid)
        # The user keeps not reading, well past the heartbeat timeout; the
        # tunnel must live on (watched, not just slept through).
        deadline = t0 + STOP_READING_S
        while time.monotonic() < deadline:
            assert peer.eof is None, "the tunnel ended while the user was not " \
                "reading (%.1f s in): %s; server log: %s" % (
                    time.monotonic() - t0, peer.eof,
                    "heartbeat timeout" if "heartbeat timeout" in srv.log()
                    else "no heartbeat timeout")
            time.sleep(0.1)
        assert peer.eof is None, peer.eof
        listed = [c["name"] for c in tunlib.clients(srv)]
        assert name in listed, "the peer was dropped from /api/tunnel/clients"
        # The user reads everything now, every byte checked.
        want = gtlib.pattern(BULK, seed=16)
        got = bytearray()
        user.settimeout(30)
        while len(got) < BULK:
            b = user.recv(262144)
            if not b:
                break
            got += b
        read_in = time.monotonic() - t0 - STOP_READING_S
        assert len(got) == BULK, "the user got %d of %d bytes (tunnel ended: %s)" \
            % (len(got), BULK, peer.eof)
        assert bytes(got) == want, "the bulk data is corrupted"
        assert peer.eof is None, peer.eof
        assert "heartbeat timeout" not in srv.log(), srv.log()[-2000:]
        assert name in [c["name"] for c in tunlib.clients(srv)]
        # A second session through the same tunnel, echoed by the peer.
        lat = roundtrip_n(port, 20, size=4096)
        assert len(peer.streams) == 2, peer.streams
        assert peer.hello_seen is False, "a Hello was sent to a peer that never said hello"
        assert peer.eof is None, peer.eof
        print("    go-tunnel peer: bulk send settled at %.1f MiB (server VmRSS "
              "%d KiB); user read nothing for %.0f s (heartbeat timeout %d s): "
              "tunnel alive, %d KeepAlives from the server; then %d MiB read "
              "byte-exact in %.1f s; second session 20 round trips, max %.1f ms"
              % (stalled_at / MiB, srv_rss, STOP_READING_S, HB[1],
                 peer.frames_in.get(5, 0), BULK // MiB, read_in, max(lat) * 1e3))
        user.close()
    finally:
        peer.close()
    srv.stop()


if __name__ == "__main__":
    try:
        T.main()
    finally:
        tunlib.stop_clients()
