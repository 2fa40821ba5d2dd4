#!/usr/bin/env python3
"""opslib.py: the small network tools scripts/docker-check.sh and
scripts/systemd-check.sh need, on 127.0.0.1 only (python3 stdlib).

  opslib.py freeport [COUNT]        a free port (the first of COUNT in a row)
  opslib.py echo PORT               echo server on 127.0.0.1:PORT until killed
  opslib.py roundtrip PORT BYTES [TIMEOUT]
                                    send BYTES random bytes to 127.0.0.1:PORT,
                                    read them back, compare byte for byte;
                                    retried until TIMEOUT s (a tunnel that is
                                    not up yet closes the connection)
  opslib.py api METHOD URL TOKEN [JSON]
                                    one API call; prints the body, exits 0 on
                                    200, 1 otherwise (the status on stderr)
"""
import hashlib
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

# Ports are picked here, away from the ranges gt's e2e tests and the kernel's
# ephemeral range use.
PORT_LO, PORT_HI = 20000, 30000


def port_free(port):
    """Nonzero when 127.0.0.1:port and 0.0.0.0:port can both be bound."""
    for addr in ("127.0.0.1", "0.0.0.0"):
        s = socket.socket()
        try:
            s.bind((addr, port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def freeport(count):
    """First port of count free ports in a row."""
    rnd = random.Random(os.getpid() ^ int(time.time() * 1000))
    for _ in range(500):
        base = rnd.randrange(PORT_LO, PORT_HI - count)
        if all(port_free(p) for p in range(base, base + count)):
            return base
    sys.exit("opslib: no %d free ports in a row" % count)


def echo(port):
    """Echo every connection back until killed (one thread a connection)."""
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(64)

    def serve(c):
        with c:
            while True:
                b = c.recv(65536)
                if not b:
                    return
                c.sendall(b)

    while True:
        c, _ = ls.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def roundtrip_once(port, data):
    """Send data, half-close, read until EOF; the bytes read back."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    got = bytearray()

    def reader():
        while True:
            b = s.recv(65536)
            if not b:
                return
            got.extend(b)

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
    t.join(60)
    s.close()
    return bytes(got)


def roundtrip(port, n, timeout):
    """Retry until the bytes come back whole and equal, or time out."""
    data = os.urandom(n)
    deadline = time.monotonic() + timeout
    last = "nothing tried"
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        try:
            got = roundtrip_once(port, data)
        except OSError as e:
            got, last = b"", str(e)
        if got == data:
            print("%d bytes through 127.0.0.1:%d and back, equal (sha256 %s), %.2f s"
                  % (n, port, hashlib.sha256(got).hexdigest()[:16],
                     time.monotonic() - t0))
            return 0
        if got:
            last = "%d of %d bytes back, %s" % (len(got), n,
                                                "equal so far" if data.startswith(got)
                                                else "DIFFERENT")
        elif last == "nothing tried":
            last = "connection closed with no data"
        time.sleep(0.5)
    print("opslib: roundtrip via 127.0.0.1:%d failed: %s" % (port, last), file=sys.stderr)
    return 1


def api(method, url, token, body):
    """One API call with a bearer token."""
    req = urllib.request.Request(url, method=method,
                                 data=body.encode() if body is not None else None)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            print(r.read().decode())
            return 0
    except urllib.error.HTTPError as e:
        print("opslib: %s %s -> %d %s" % (method, url, e.code, e.read().decode()[:300]),
              file=sys.stderr)
    except OSError as e:
        print("opslib: %s %s: %s" % (method, url, e), file=sys.stderr)
    return 1


def main():
    a = sys.argv[1:]
    if a and a[0] == "freeport":
        print(freeport(int(a[1]) if len(a) > 1 else 1))
    elif len(a) == 2 and a[0] == "echo":
        echo(int(a[1]))
    elif len(a) in (3, 4) and a[0] == "roundtrip":
        sys.exit(roundtrip(int(a[1]), int(a[2]), float(a[3]) if len(a) > 3 else 30))
    elif len(a) in (4, 5) and a[0] == "api":
        if len(a) == 5:
            json.loads(a[4])
        sys.exit(api(a[1], a[2], a[3], a[4] if len(a) == 5 else None))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
