#!/usr/bin/env python3
"""Measure gt side by side with its ceilings and with ssh -R (python3 stdlib).

Called by scripts/bench.sh, which installs the tools, builds gt into
build-bench/ and raises the fd limit. Everything listens on 127.0.0.1 on
ports chosen by the kernel; every process started here is in its own
process group, its pid written to $BENCH_TMP/pids (bench.sh's trap kills
what is left), and stopped before the run ends. Each figure is the median
of BENCH_RUNS runs. Results go to a JSON file that report.py renders.

usage: run.py -bin DIR -tmp DIR -out results.json
"""

import argparse
import datetime
import getpass
import http.client
import json
import os
import re
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

RUNS = int(os.environ.get("BENCH_RUNS", "3"))
TPUT_S = int(os.environ.get("BENCH_SECONDS", "5"))     # throughput runs
SHORT_S = int(os.environ.get("BENCH_SHORT_SECONDS", "3"))  # latency, rate
HOLD_N = int(os.environ.get("BENCH_HOLD", "10000"))
HOLD_S = int(os.environ.get("BENCH_HOLD_SECONDS", "10"))
PIPE_BYTES = int(os.environ.get("BENCH_PIPE_BYTES", str(512 << 20)))

BIN = None
TMP = None
COMMANDS = []          # (what, exact command line), first run of each
_seen = set()
_procs = []
CEIL = {}              # ports of the ceilings' servers, kept up for the run


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def note_cmd(what, args):
    """Remember the exact command of a measurement, once per kind."""
    if what in _seen:
        return
    _seen.add(what)
    COMMANDS.append((what, " ".join(shlex.quote(a) for a in args)))


# ------------------------------------------------------------------ processes

class Proc:
    """A background process in its own group, its output in a log file."""

    def __init__(self, name, args, stdin=None):
        self.name = name
        self.args = args
        self.log_path = os.path.join(TMP, "%s.log" % name)
        self.logf = open(self.log_path, "ab")
        self.p = subprocess.Popen(args, stdout=self.logf, stderr=self.logf,
                                  stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                  start_new_session=True)
        self.pid = self.p.pid
        with open(os.path.join(TMP, "pids"), "a") as f:
            f.write("%d\n" % self.pid)
        _procs.append(self)

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def alive(self):
        return self.p.poll() is None

    def stop(self):
        if self.p.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.p.wait()
        else:
            # The leader is gone; its group may not be.
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if self.p.stdin:
            self.p.stdin.close()
        self.logf.close()
        if self in _procs:
            _procs.remove(self)


def stop_all():
    for p in list(reversed(_procs)):
        p.stop()


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            raise RuntimeError("timed out after %d s waiting for %s" % (timeout, what))
        time.sleep(0.05)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def listening(port):
    """True when some socket listens on 127.0.0.1:port or *:port (from /proc)."""
    want = {"0100007F:%04X" % port, "00000000:%04X" % port}
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            parts = line.split()
            if parts[3] == "0A" and parts[1] in want:
                return True
    return False


def listening_or_dead(port, p):
    """listening(port), raising when process p died before it listened."""
    if listening(port):
        return True
    if not p.alive():
        raise RuntimeError("%s exited:\n%s" % (p.name, p.log()[-2000:]))
    return False


def start_bench_server(kind):
    """gt-bench echo|sink on a kernel-chosen port; returns (Proc, port)."""
    p = Proc("target-%s" % kind, [os.path.join(BIN, "gt-bench"), kind,
                                  "-listen", "127.0.0.1:0"])

    def port():
        if not p.alive():
            raise RuntimeError("gt-bench %s exited:\n%s" % (kind, p.log()))
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", p.log())
        return int(m.group(1)) if m else None
    return p, wait_until(port, 10, "gt-bench %s" % kind)


def start_iperf_server():
    port = free_port()
    p = Proc("iperf3-server-%d" % port, ["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)])
    wait_until(lambda: listening(port), 10, "iperf3 -s")
    return p, port


def proc_kb(pid, key):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


# ------------------------------------------------------------------ measurements

def run_json(what, args, timeout):
    """Run a measuring command that prints one JSON object; None on failure."""
    note_cmd(what, args)
    try:
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        log("%s: timed out after %d s" % (what, timeout))
        return None
    try:
        j = json.loads(r.stdout)
    except ValueError:
        log("%s: no JSON (exit %d): %s" % (what, r.returncode, r.stderr.strip()[-300:]))
        return None
    if r.returncode != 0:
        log("%s: exit %d: %s" % (what, r.returncode, r.stderr.strip()[-300:]))
        j["_failed"] = r.stderr.strip()[-300:] or "exit %d" % r.returncode
    return j


def gtbench(what, mode, target, seconds, extra=()):
    args = [os.path.join(BIN, "gt-bench"), mode, "-target", "127.0.0.1:%d" % target,
            "-duration", str(seconds), "-json"] + list(extra)
    return run_json(what, args, seconds + 30)


def median_of(samples, key):
    vals = [s[key] for s in samples if s is not None and "_failed" not in s
            and s.get(key) is not None]
    return statistics.median(vals) if vals else None


def repeat(fn, n=None):
    return [fn() for _ in range(n or RUNS)]


def iperf3_client(what, port, seconds=TPUT_S):
    args = ["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"]
    j = run_json(what, args, seconds + 30)
    if j is None or "_failed" in j or "error" in j:
        if j is not None:
            log("%s: %s" % (what, j.get("error") or j.get("_failed")))
        return None
    return {"mbps": j["end"]["sum_received"]["bits_per_second"] / 8e6}


def measure_gt_figures(prefix, sink, echo, iperf, ceiling="iperf3"):
    """Up, down, iperf3, RTT, sessions/s through one path (ports given)."""
    f = {}
    log("%s: upload" % prefix)
    f["up"] = repeat(lambda: gtbench(prefix + " upload", "upload", sink, TPUT_S))
    log("%s: download" % prefix)
    f["down"] = repeat(lambda: gtbench(prefix + " download", "download", sink, TPUT_S))
    if iperf:
        log("%s: iperf3, each run after one of %s" % (prefix, ceiling))
        f["iperf3"], f["ceil"] = iperf3_paired(prefix, iperf, ceiling)
    log("%s: latency" % prefix)
    f["lat"] = repeat(lambda: gtbench(prefix + " latency", "latency", echo, SHORT_S,
                                      ["-size", "1024"]))
    log("%s: rate" % prefix)
    f["rate"] = repeat(lambda: gtbench(prefix + " rate", "rate", echo, SHORT_S))
    return f


def summarize(f):
    s = {}
    if "up" in f:
        s["up_mbps"] = median_of(f["up"], "mbps")
        s["down_mbps"] = median_of(f["down"], "mbps")
    if "iperf3" in f:
        s["iperf3_mbps"] = median_of(f["iperf3"], "mbps")
    if "ceil" in f:
        s["ceil_mbps"] = median_of(f["ceil"], "mbps")
    if "lat" in f:
        s["p50_us"] = median_of(f["lat"], "p50_us")
        s["p99_us"] = median_of(f["lat"], "p99_us")
        s["max_us"] = median_of(f["lat"], "max_us")
    if "rate" in f:
        s["sessions_per_s"] = median_of(f["rate"], "sessions_per_s")
    errs = []
    for k, v in f.items():
        if isinstance(v, list):
            for x in v:
                if x is None:
                    errs.append("%s: no result" % k)
                elif "_failed" in x:
                    errs.append("%s: %s" % (k, x["_failed"]))
    s["errors"] = errs
    s["runs"] = {k: v for k, v in f.items() if isinstance(v, list)}
    return s


# ------------------------------------------------------------------ ceilings

def measure_loopback(targets):
    res = {}
    ip, iport = targets["iperf"]
    CEIL["iperf_port"] = iport
    log("loopback iperf3 (%d x %d s)" % (RUNS, TPUT_S))
    runs = repeat(lambda: iperf3_client("loopback iperf3", iport))
    res["iperf3"] = {"mbps": median_of(runs, "mbps"), "runs": runs}
    log("loopback gt-bench (no gt)")
    res["nogt"] = summarize(measure_gt_figures("loopback (no gt)", targets["sink"][1],
                                               targets["echo"][1], None))
    return res


def measure_crypto(certs):
    res = {"seal": {}, "pipe": {}}
    tp = os.path.join(BIN, "gt-tlspipe")
    for c in ("chacha", "aes128"):
        log("seal %s" % c)
        runs = []
        for _ in range(RUNS):
            args = [tp, "seal", "-cipher", c, "-seconds", "1"]
            note_cmd("seal " + c, args)
            r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, timeout=30)
            m = re.search(r"MB/s ([0-9.]+) cipher (\S+)", r.stdout)
            runs.append({"mbps": float(m.group(1)), "cipher": m.group(2)} if m else None)
        res["seal"][c] = {"mbps": median_of(runs, "mbps"), "runs": runs,
                          "cipher": next((x["cipher"] for x in runs if x), None)}
    port = free_port()
    srv_args = [tp, "server", "-listen", "127.0.0.1:%d" % port,
                "-cert", os.path.join(certs, "server.crt"),
                "-key", os.path.join(certs, "server.key"),
                "-ca", os.path.join(certs, "ca.crt")]
    note_cmd("bare mTLS pipe server", srv_args)
    Proc("tlspipe-server", srv_args)  # stopped with the rest at the end
    wait_until(lambda: listening(port), 10, "gt-tlspipe server")
    CEIL["pipe_port"], CEIL["certs"] = port, certs
    for c in ("chacha", "aes128"):
        log("bare mTLS pipe %s" % c)
        runs = [pipe_run(c) for _ in range(RUNS)]
        res["pipe"][c] = {"mbps": median_of(runs, "mbps"), "runs": runs,
                          "cipher": next((x["cipher"] for x in runs if x), None)}
    return res


def pipe_run(c):
    """One run of the bare mutual-TLS pipe with cipher c (its server keeps running)."""
    certs = CEIL["certs"]
    args = [os.path.join(BIN, "gt-tlspipe"), "client",
            "-connect", "127.0.0.1:%d" % CEIL["pipe_port"],
            "-cert", os.path.join(certs, "client.crt"),
            "-key", os.path.join(certs, "client.key"),
            "-ca", os.path.join(certs, "ca.crt"),
            "-bytes", str(PIPE_BYTES), "-cipher", c]
    note_cmd("bare mTLS pipe client " + c, args)
    try:
        r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, timeout=120)
        m = re.search(r"MB/s ([0-9.]+) cipher (\S+)", r.stdout)
    except subprocess.TimeoutExpired:
        m = None
    return {"mbps": float(m.group(1)), "cipher": m.group(2)} if m else None


def ceiling_run(kind):
    """One run of a throughput ceiling: "iperf3" (loopback) or a pipe cipher."""
    if kind == "iperf3":
        return iperf3_client("loopback iperf3", CEIL["iperf_port"])
    return pipe_run(kind)


def iperf3_paired(prefix, port, ceiling):
    """iperf3 through a path, each run right after one run of its ceiling, so
    that other load on the machine weighs on both alike."""
    runs, ceil = [], []
    for _ in range(RUNS):
        ceil.append(ceiling_run(ceiling))
        runs.append(iperf3_client(prefix + " iperf3", port))
    return runs, ceil


# ------------------------------------------------------------------ gt

def api(port, method, path, body=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        data = json.dumps(body).encode() if body is not None else None
        c.request(method, path, body=data,
                  headers={"Content-Type": "application/json"} if data else {})
        r = c.getresponse()
        return r.status, json.loads(r.read().decode() or "null")
    finally:
        c.close()


def start_gt(name, certs, tls):
    """gt-server with the tunnel on (TLS or plain), API auth off; returns (Proc, cfg)."""
    d = os.path.join(TMP, name)
    os.makedirs(d, exist_ok=True)
    cfg = {"tunnel_port": free_port(), "api_port": free_port()}
    yaml = """port_range: {from: 1024, end: 65535}
tunnel:
  enabled: true
  listen_addr: 127.0.0.1
  listen_port: %(tunnel_port)d
  heartbeat_interval: 10
  heartbeat_timeout: 30
api:
  listen_addr: 127.0.0.1
  listen_port: %(api_port)d
database:
  path: %(db)s
security:
  api:
    enable_auth: false
    allowed_ips: [127.0.0.1/32]
  tunnel:
    enable_tls: %(tls)s
    cert_file: %(certs)s/server.crt
    key_file: %(certs)s/server.key
    client_ca: %(certs)s/ca.crt
log:
  level: warn
""" % dict(cfg, db=os.path.join(d, "mappings.db"), tls="true" if tls else "false",
           certs=certs)
    path = os.path.join(d, "config.yaml")
    with open(path, "w") as f:
        f.write(yaml)
    args = [os.path.join(BIN, "gt-server"), "-config", path]
    note_cmd("gt-server (%s)" % name, args)
    if "config.yaml" not in _seen:
        _seen.add("config.yaml")
        COMMANDS.append(("config.yaml of gt-server (the plain tunnel's has "
                         "enable_tls: false)", yaml.rstrip()))
    p = Proc(name + "-server", args)

    def healthy():
        if not p.alive():
            raise RuntimeError("gt-server exited:\n" + p.log()[-2000:])
        try:
            return api(cfg["api_port"], "GET", "/health")[0] == 200
        except OSError:
            return False
    wait_until(healthy, 15, "gt-server /health")
    return p, cfg


def start_gt_client(name, cfg, certs, tls):
    args = [os.path.join(BIN, "gt-client"), "-server", "127.0.0.1:%d" % cfg["tunnel_port"]]
    if tls:
        args += ["-cert", os.path.join(certs, "client.crt"),
                 "-key", os.path.join(certs, "client.key"),
                 "-ca", os.path.join(certs, "ca.crt")]
    else:
        args.append("-no-tls")
    note_cmd("gt-client (%s)" % ("mTLS" if tls else "plain"), args)
    p = Proc(name + "-client", args)

    def connected():
        if not p.alive():
            raise RuntimeError("gt-client exited:\n" + p.log()[-2000:])
        st, j = api(cfg["api_port"], "GET", "/api/tunnel/clients")
        return st == 200 and j["data"]["count"] >= 1
    wait_until(connected, 20, "the tunnel client")
    return p


def mapping(cfg, target, tunnel):
    port = free_port()
    body = {"port": port, "target_host": "127.0.0.1", "target_port": target,
            "use_tunnel": tunnel}
    note_cmd("mapping (%s)" % ("tunnel" if tunnel else "direct"),
             ["curl", "-s", "-X", "POST", "-H", "Content-Type: application/json",
              "-d", json.dumps(body),
              "http://127.0.0.1:%d/api/mapping/create" % cfg["api_port"]])
    st, j = api(cfg["api_port"], "POST", "/api/mapping/create", body)
    if st != 200:
        raise RuntimeError("mapping create: %d %s" % (st, j))
    wait_until(lambda: listening(port), 10, "mapping port %d" % port)
    return port


def pipe_key(suite):
    """The bare pipe's cipher matching a negotiated suite name."""
    return "aes128" if suite and "AES-128-GCM" in suite else "chacha"


def rss(pids):
    return {k: {"rss_kb": proc_kb(v, "VmRSS"), "hwm_kb": proc_kb(v, "VmHWM")}
            for k, v in pids.items()}


def measure_gt(kind, certs, targets):
    """kind: direct | plain | mtls. Fresh processes; figures and RSS."""
    tls = kind != "plain"
    srv, cfg = start_gt("gt-" + kind, certs, tls)
    pids = {"server": srv.pid}
    cli = None
    out = {}
    try:
        if kind != "direct":
            cli = start_gt_client("gt-" + kind, cfg, certs, tls)
            pids["client"] = cli.pid
            m = re.search(r"connected to \S+ \(([^)]*)\)", cli.log())
            out["suite"] = m.group(1) if m else None
        tun = kind != "direct"
        ports = {k: mapping(cfg, targets[k][1], tun) for k in ("sink", "echo", "iperf")}
        time.sleep(1)
        out["rss_idle"] = rss(pids)
        f = {}
        log("gt %s: upload" % kind)
        f["up"] = repeat(lambda: gtbench("gt %s upload" % kind, "upload", ports["sink"], TPUT_S))
        log("gt %s: download" % kind)
        f["down"] = repeat(lambda: gtbench("gt %s download" % kind, "download",
                                           ports["sink"], TPUT_S))
        out["rss_bulk"] = rss(pids)
        ceiling = pipe_key(out.get("suite")) if kind == "mtls" else "iperf3"
        log("gt %s: iperf3, each run after one of %s" % (kind, ceiling))
        f["iperf3"], f["ceil"] = iperf3_paired("gt " + kind, ports["iperf"], ceiling)
        out["ceiling"] = ceiling
        out["rss_bulk_iperf3"] = rss(pids)
        log("gt %s: latency" % kind)
        f["lat"] = repeat(lambda: gtbench("gt %s latency" % kind, "latency", ports["echo"],
                                          SHORT_S, ["-size", "1024"]))
        log("gt %s: rate" % kind)
        f["rate"] = repeat(lambda: gtbench("gt %s rate" % kind, "rate", ports["echo"], SHORT_S))
        out["rss_peak"] = rss(pids)
        out.update(summarize(f))
        if kind == "mtls" and HOLD_N > 0:
            out["hold"] = measure_hold(ports["echo"], pids)
        out["alive"] = {"server": srv.alive(), "client": cli.alive() if cli else None}
    finally:
        if cli:
            cli.stop()
        srv.stop()
    return out


def measure_hold(echo_port, pids):
    soft, _ = __import__("resource").getrlimit(__import__("resource").RLIMIT_NOFILE)
    n = min(HOLD_N, max(100, soft - 200))
    log("gt mtls: hold %d for %d s" % (n, HOLD_S))
    before = rss(pids)
    args = [os.path.join(BIN, "gt-bench"), "hold", str(n), "-target",
            "127.0.0.1:%d" % echo_port, "-duration", str(HOLD_S),
            "-pids", ",".join(str(pids[k]) for k in ("server", "client")), "-json"]
    j = run_json("gt mtls hold", args, HOLD_S + 120)
    after = rss(pids)
    return {"n": n, "fd_limit": soft, "result": j, "before": before, "after": after}


# ------------------------------------------------------------------ ssh -R

def start_sshd(d):
    os.makedirs(d, exist_ok=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    os.path.join(d, "host_key")], check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f",
                    os.path.join(d, "user_key")], check=True)
    shutil.copy(os.path.join(d, "user_key.pub"), os.path.join(d, "authorized_keys"))
    port = free_port()
    conf = """Port %d
ListenAddress 127.0.0.1
HostKey %s/host_key
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding yes
Ciphers aes128-gcm@openssh.com
LogLevel ERROR
""" % (port, d, d, d)
    path = os.path.join(d, "sshd_config")
    with open(path, "w") as f:
        f.write(conf)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    args = ["/usr/sbin/sshd", "-D", "-e", "-f", path]
    note_cmd("sshd", args)
    COMMANDS.append(("sshd_config", conf.rstrip()))
    p = Proc("sshd", args)
    wait_until(lambda: listening_or_dead(port, p), 10, "sshd")
    return p, port


def ssh_forward(name, d, sshd_port, targets, tty):
    fwd = {k: free_port() for k in ("sink", "echo", "iperf")}
    args = ["ssh", "-F", "/dev/null", "-i", os.path.join(d, "user_key"),
            "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", "-o", "ExitOnForwardFailure=yes",
            "-o", "Ciphers=aes128-gcm@openssh.com", "-p", str(sshd_port)]
    for k, p in fwd.items():
        args += ["-R", "%d:127.0.0.1:%d" % (p, targets[k][1])]
    # -N opens no session, so -tt would allocate no tty: a forced tty needs a
    # remote command; its stdin is a pipe kept open while the tunnel is used.
    if tty:
        args += ["-tt", "%s@127.0.0.1" % getpass.getuser(), "sleep 100000"]
    else:
        args += ["-N", "%s@127.0.0.1" % getpass.getuser()]
    note_cmd(name, args)
    p = Proc(name, args, stdin=subprocess.PIPE if tty else None)
    for k, port in fwd.items():
        wait_until(lambda: listening_or_dead(port, p), 15, "ssh -R port")
    return p, fwd


def descendants(pid):
    out = []
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            kids = [int(x) for x in f.read().split()]
    except OSError:
        return out
    for k in kids:
        out.append(k)
        out += descendants(k)
    return out


def measure_ssh(targets):
    d = os.path.join(TMP, "ssh")
    sshd, sport = start_sshd(d)
    res = {}
    try:
        for name, tty in (("ssh", False), ("ssh-tty", True)):
            p, fwd = ssh_forward(name, d, sport, targets, tty)
            try:
                f = measure_gt_figures(name + " -R", fwd["sink"], fwd["echo"], fwd["iperf"])
                s = summarize(f)
                kids = descendants(sshd.pid)
                s["rss_peak"] = {"client": {"hwm_kb": proc_kb(p.pid, "VmHWM")},
                                 "server": {"hwm_kb": sum(proc_kb(k, "VmHWM") or 0
                                                          for k in kids) or None}}
                res[name] = s
            finally:
                p.stop()
    finally:
        sshd.stop()
    return res


# ------------------------------------------------------------------ machine

def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=20).stdout.strip()
    except Exception as e:  # a missing tool is reported, not fatal
        return "? (%s)" % e


def loadavg():
    """The 1-minute load average: other work on the machine skews every figure."""
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def cpu_busy(seconds=2.0):
    """Percent of all CPUs busy over the next seconds (nothing of ours runs then)."""
    def snap():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + v[4]
    t0, i0 = snap()
    time.sleep(seconds)
    t1, i1 = snap()
    return round(100.0 * (1 - (i1 - i0) / max(1, t1 - t0)))


def machine(src, build):
    cc = ""
    try:
        with open(os.path.join(build, "CMakeCache.txt")) as f:
            for line in f:
                if line.startswith("CMAKE_C_COMPILER:"):
                    cc = line.split("=", 1)[1].strip()
    except OSError:
        pass
    return {
        "nproc": sh("nproc"),
        "cpu": sh("lscpu | sed -n 's/^Model name: *//p'"),
        "kernel": sh("uname -srm"),
        "os": sh(". /etc/os-release && echo \"$PRETTY_NAME\""),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": sh("git -C %s rev-parse --short=12 HEAD" % shlex.quote(src)) +
        (" (with uncommitted changes)" if sh("git -C %s status --porcelain -- src include tools "
                                              "CMakeLists.txt" % shlex.quote(src)) else ""),
        "compiler": sh("%s --version | head -n1" % shlex.quote(cc or "cc")),
        "build": "CMAKE_BUILD_TYPE=Release (build-bench/)",
        "mbedtls": sh("dpkg-query -W -f='${Version}' libmbedtls-dev"),
        "libevent": sh("dpkg-query -W -f='${Version}' libevent-dev"),
        "iperf3": sh("iperf3 --version | head -n1"),
        "openssh": sh("ssh -V 2>&1"),
        "gnuplot": sh("gnuplot --version"),
        "fd_limit": sh("ulimit -n"),
        "loadavg_start": loadavg(),
        "busy_start": cpu_busy(),
    }


# ------------------------------------------------------------------ main

def main():
    global BIN, TMP
    ap = argparse.ArgumentParser()
    ap.add_argument("-bin", required=True)
    ap.add_argument("-tmp", required=True)
    ap.add_argument("-out", required=True)
    ap.add_argument("-src", default=os.path.abspath(os.path.join(os.path.dirname(__file__),
                                                                  "..", "..")))
    a = ap.parse_args()
    BIN, TMP = os.path.abspath(a.bin), os.path.abspath(a.tmp)

    def on_signal(sig, _frame):
        stop_all()
        sys.exit(128 + sig)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    t0 = time.monotonic()
    res = {"machine": machine(a.src, os.path.dirname(BIN)),
           "settings": {"runs": RUNS, "throughput_s": TPUT_S, "short_s": SHORT_S,
                        "hold_n": HOLD_N, "hold_s": HOLD_S, "pipe_bytes": PIPE_BYTES}}
    try:
        certs = os.path.join(TMP, "certs")
        args = [os.path.join(BIN, "gt-certgen"), "init", "-out", certs]
        note_cmd("certificates", args)
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        targets = {"echo": start_bench_server("echo"), "sink": start_bench_server("sink"),
                   "iperf": start_iperf_server()}
        note_cmd("echo target", targets["echo"][0].args)
        note_cmd("sink target", targets["sink"][0].args)
        note_cmd("iperf3 target", targets["iperf"][0].args)
        res["loopback"] = measure_loopback(targets)
        res["crypto"] = measure_crypto(certs)
        res["gt"] = {}
        for kind in ("direct", "plain", "mtls"):
            log("== gt %s" % kind)
            try:
                res["gt"][kind] = measure_gt(kind, certs, targets)
            except Exception as e:  # one broken system must not lose the others
                log("gt %s failed: %s" % (kind, e))
                res["gt"][kind] = {"failed": str(e)}
        log("== ssh -R")
        try:
            res["ssh"] = measure_ssh(targets)
        except Exception as e:
            log("ssh -R failed: %s" % e)
            res["ssh"] = {"failed": str(e)}
    finally:
        stop_all()
    res["machine"]["loadavg_end"] = loadavg()
    res["machine"]["busy_end"] = cpu_busy()
    res["commands"] = COMMANDS
    res["bin"], res["tmp"] = BIN, TMP
    res["elapsed_s"] = round(time.monotonic() - t0)
    with open(a.out, "w") as f:
        json.dump(res, f, indent=1)
    log("done in %d s" % res["elapsed_s"])


if __name__ == "__main__":
    main()
