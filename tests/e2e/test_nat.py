#!/usr/bin/env python3
"""A client behind NAT. Three network namespaces made for this test only:

    srv  10.231.0.1/24  --veth--  rtr 10.231.0.254 | 10.232.0.254  --veth--  cli 10.232.0.2/24

cli's default route goes through rtr, which masquerades (nft) what leaves
toward srv; srv has no route to 10.232.0.0/24 at all. So the client can
reach the server, and the server can never open a connection to the client.
gt-server runs in srv, gt-client and a service (on 127.0.0.1 and on
10.232.0.2) in cli. A tunnel mapping reaches the service; a direct mapping
to 10.232.0.2 cannot. Needs root, `ip netns` and nft; skips otherwise. The
host's own interfaces are never touched; the namespaces go in finally."""

import contextlib
import ctypes
import os
import shutil
import socket
import subprocess
import time

import gtlib
import tunlib
from gtlib import wait_until, binpath, make_tmpdir
from tunlib import roundtrip_n

T = gtlib.Runner()

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


@contextlib.contextmanager
def netns(name):
    """Run the block with this thread in network namespace name: sockets
    made and processes started inside it live there."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    there = os.open("/run/netns/%s" % name, os.O_RDONLY)
    try:
        if _libc.setns(there, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), "setns %s" % name)
        try:
            yield
        finally:
            if _libc.setns(home, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back home")
    finally:
        os.close(there)
        os.close(home)


def sh(*args, ns=None, input=None, check=True):
    cmd = list(args)
    if ns:
        cmd = ["ip", "netns", "exec", ns] + cmd
    r = subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=20)
    if check and r.returncode != 0:
        raise AssertionError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return r


class Topology:
    """srv <-> rtr (masquerade) <-> cli, as in the module docstring."""

    def __init__(self):
        tag = "%d" % os.getpid()
        self.srv, self.rtr, self.cli = ("gtsrv" + tag, "gtrtr" + tag, "gtcli" + tag)
        self.made = []

    def up(self):
        for n in (self.srv, self.rtr, self.cli):
            sh("ip", "netns", "add", n)
            self.made.append(n)
            sh("ip", "-n", n, "link", "set", "lo", "up")
        # veth pairs created inside rtr, one end moved straight into srv/cli
        sh("ip", "-n", self.rtr, "link", "add", "r-srv", "type", "veth",
           "peer", "name", "eth0", "netns", self.srv)
        sh("ip", "-n", self.rtr, "link", "add", "r-cli", "type", "veth",
           "peer", "name", "eth0", "netns", self.cli)
        for ns, dev, addr in ((self.srv, "eth0", "10.231.0.1/24"),
                              (self.rtr, "r-srv", "10.231.0.254/24"),
                              (self.rtr, "r-cli", "10.232.0.254/24"),
                              (self.cli, "eth0", "10.232.0.2/24")):
            sh("ip", "-n", ns, "addr", "add", addr, "dev", dev)
            sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", self.cli, "route", "add", "default", "via", "10.232.0.254")
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=self.rtr)
        sh("nft", "-f", "-", ns=self.rtr, input=(
            "table ip gtnat {\n"
            " chain post {\n"
            "  type nat hook postrouting priority 100; policy accept;\n"
            "  oifname \"r-srv\" masquerade\n"
            " }\n"
            "}\n"))

    def down(self):
        for n in reversed(self.made):
            sh("ip", "netns", "del", n, check=False)
        self.made = []


def skip_reason():
    if os.geteuid() != 0:
        return "not root"
    for tool in ("ip", "nft"):
        if shutil.which(tool) is None:
            return "%s is not installed" % tool
    probe = "gtprobe%d" % os.getpid()
    r = sh("ip", "netns", "add", probe, check=False)
    if r.returncode != 0:
        return "ip netns add failed: %s" % r.stderr.strip()
    sh("ip", "netns", "del", probe, check=False)
    return None


@T.test
def test_client_behind_nat():
    why = skip_reason()
    if why:
        print("    SKIP: %s (needs root, ip netns and nft)" % why)
        return
    topo = Topology()
    srv = cli = None
    try:
        topo.up()
        tmp = make_tmpdir()
        certs = os.path.join(tmp, "certs")
        gtlib.certgen_init(certs, ["-san", "DNS:localhost,IP:127.0.0.1,IP:10.231.0.1"])
        srv = gtlib.Server(tmp=tmp, certs=certs, **{
            "tunnel": {"enabled": True, "listen_addr": "10.231.0.1",
                       "heartbeat_interval": 1, "heartbeat_timeout": 3}})
        # The service lives in cli, on loopback and on the client's address.
        with netns(topo.cli):
            svc = gtlib.echo_server()
            svc_wide = gtlib.TCPServer(gtlib.echo_handler, host="10.232.0.2")
        with netns(topo.srv):
            srv.start()
            # The server cannot even open a connection toward the client side.
            with socket.socket() as s:
                s.settimeout(3)
                err = s.connect_ex(("10.232.0.2", svc_wide.port))
            assert err != 0, "srv reached cli directly: the topology is wrong"
        clog = open(os.path.join(tmp, "client.log"), "wb")
        with netns(topo.cli):
            cli = subprocess.Popen(
                [binpath("gt-client"), "-server",
                 "10.231.0.1:%d" % srv.cfg["tunnel"]["listen_port"],
                 "-cert", os.path.join(certs, "client.crt"),
                 "-key", os.path.join(certs, "client.key"),
                 "-ca", os.path.join(certs, "ca.crt")],
                stdout=clog, stderr=clog)
        with netns(topo.srv):
            tunlib.wait_clients(srv, 1, timeout=20)
            seen_from = tunlib.clients(srv)[0]["address"]
            # The server sees the router's address: the client is NATed.
            assert seen_from.startswith("10.231.0.254:"), seen_from
            tport = tunlib.tunnel_mapping(srv, svc.port)   # 127.0.0.1 in cli
            dport = gtlib.free_port()
            st, _, j = srv.create(port=dport, target_host="10.232.0.2",
                                  target_port=svc_wide.port, use_tunnel=False)
            assert st == 200, (st, j)
            # Through the tunnel: byte-exact, both small and bulk.
            assert roundtrip_n(tport, 20)
            data = gtlib.pattern(4 << 20, seed=11)
            assert gtlib.echo_roundtrip(tport, data, timeout=60) == data
            # Direct to the client's address: accepted on the public port,
            # then closed, because the server cannot reach the target.
            t0 = time.monotonic()
            s = socket.create_connection(("127.0.0.1", dport), timeout=15)
            s.sendall(b"are you there?")
            s.settimeout(15)
            try:
                got = s.recv(100)
            except ConnectionResetError:
                got = b""
            s.close()
            failed_after = time.monotonic() - t0
            assert got == b"", "a direct mapping reached the NATed client: %r" % got
            wait_until(lambda: "10.232.0.2" in srv.log() and
                       srv.mappings()[dport]["active_connections"] == 0, 10)
            m = srv.mappings()
        print("    client seen as %s; tunnel mapping to 127.0.0.1:%d in the "
              "client's namespace: 4 MiB echoed; direct mapping to 10.232.0.2: "
              "closed after %.2f s" % (seen_from, svc.port, failed_after))
        assert svc_wide.accepted == 0
        assert m[tport]["bytes_in"] >= len(data)
        with netns(topo.srv):
            srv.stop()
        srv = None
        cli.terminate()
        assert cli.wait(10) == 0
        cli = None
        svc.close()
        svc_wide.close()
    finally:
        if cli is not None:
            cli.kill()
            cli.wait()
        if srv is not None:
            srv.kill()
        topo.down()


if __name__ == "__main__":
    T.main()
