#!/usr/bin/env python3
"""Render run.py's results as docs/BENCHMARKS.md and the data of docs/bench.svg.

usage: report.py -in results.json -md docs/BENCHMARKS.md -dat bench.dat

The text of BENCHMARKS.md above the MARKER line is hand-written and kept as
it is; everything below it is regenerated.
"""

import argparse
import json
import os

MARKER = "<!-- Everything below this line is written by scripts/bench.sh; edit above it. -->"

INTRO = """# Benchmarks

`scripts/bench.sh` (as root, on Debian 12) installs what it needs, builds gt in
Release into `build-bench/`, starts everything on 127.0.0.1 and measures gt
next to its ceilings and next to `ssh -R`, the tool users reach for. It
rewrites this page below the marker, and the chart `bench.svg`, in about ten
minutes. Every figure is the median of 3 runs taken in the same run of the
script on the same machine, so the ratios compare like with like; absolute
figures move with the machine and with whatever else runs on it (the script
records how busy the CPUs were, and each system's throughput ceiling is
measured again right next to it).

On a 2-core machine both ends of a tunnel, the traffic generator and the
target share the two cores, so a tunnel's throughput is bounded by the cycles
it spends per byte: the plain tunnel is measured against loopback iperf3, the
mutual-TLS tunnel against a bare mbedTLS mutual-TLS connection between two
processes with the same cipher (`gt-tlspipe`), which is what mbedTLS 2.28 can
do on these cores at all. Throughput is taken twice: with iperf3 through the
mapping, and with `gt-bench upload`/`download`, which checks every byte and
so spends cycles of its own (its loopback row shows how much).

![throughput as a fraction of its ceiling, and 1 KiB round-trip time](bench.svg)
"""

MB = 1024.0  # KiB per MiB, for RSS


def fmt(v, nd=0):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if nd == 0:
        return "{:,.0f}".format(v)
    return "{:,.{}f}".format(v, nd)


def ratio(a, b):
    if a is None or not b:
        return None
    return a / b


def fr(v):
    return "–" if v is None else "%.2f" % v


def mib(kb):
    return None if kb is None else kb / MB


def hwm(d, who, key="hwm_kb"):
    try:
        return d[who][key]
    except (KeyError, TypeError):
        return None


def verdict(ok):
    if ok is None:
        return "not measured"
    return "**met**" if ok else "**not met**"


def table(head, rows):
    out = ["| " + " | ".join(head) + " |", "|" + "|".join(" --- " for _ in head) + "|"]
    for r in rows:
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return "\n".join(out) + "\n"


def pipe_key(suite):
    if suite and "AES-128-GCM" in suite:
        return "aes128"
    return "chacha"


def render(r):
    m = r["machine"]
    s = r["settings"]
    lo = r["loopback"]
    nogt = lo["nogt"]
    cr = r["crypto"]
    gt = r["gt"]
    ssh = r.get("ssh", {})
    iperf_lo = lo["iperf3"]["mbps"]
    out = []
    w = out.append

    w("## Machine and run\n\n")
    w(table(["", ""], [
        ["date", m["date"]],
        ["gt commit", "`%s`" % m["commit"]],
        ["cores (`nproc`)", m["nproc"]],
        ["CPU (`lscpu`)", m["cpu"]],
        ["kernel", m["kernel"]],
        ["OS", m["os"]],
        ["compiler", m["compiler"]],
        ["build", m["build"]],
        ["mbedTLS (libmbedtls-dev)", m["mbedtls"]],
        ["libevent (libevent-dev)", m["libevent"]],
        ["iperf3", m["iperf3"]],
        ["OpenSSH", m["openssh"]],
        ["CPU busy with other work just before / after the run",
         "%s%% / %s%% (of all cores, over 2 s)" % (m.get("busy_start", "?"), m.get("busy_end", "?"))],
        ["load average at start / end", "%s / %s" % (m.get("loadavg_start", "?"),
                                                   m.get("loadavg_end", "?"))],
        ["open-file limit", m["fd_limit"]],
        ["runs per figure (median taken)", s["runs"]],
        ["seconds per throughput run / per RTT or rate run", "%d / %d" % (
            s["throughput_s"], s["short_s"])],
        ["script's wall time", "%d s" % r.get("elapsed_s", 0)],
    ]))
    busy = max(m.get("busy_start", 0), m.get("busy_end", 0))
    if busy > 20:
        w("\n**Other work kept the machine busy during this run** (%d%% of the CPUs "
          "before or after it): the figures are skewed and spread more than on an idle "
          "machine; compare the runs at the bottom.\n" % busy)
    w("\nMB/s is 10^6 bytes per second; RSS is in MiB (2^20 bytes) from `VmRSS`/"
      "`VmHWM` in `/proc/PID/status`. Throughput is one TCP connection "
      "(`gt-bench upload`/`download` to a `gt-bench sink`, every byte verified; "
      "`iperf3 -c` to an `iperf3 -s` target), RTT is `gt-bench latency` with "
      "1 KiB pings to a `gt-bench echo`, sessions/s is `gt-bench rate` (4 workers, "
      "connect, 1 echo, close) to the same echo.\n\n")

    # ---------------------------------------------------------------- ceilings
    w("## Ceilings measured in this run\n\n")
    rows = [
        ["loopback iperf3, 1 stream", fmt(iperf_lo), "plain tunnel, direct mapping, ssh -R"],
        ["gt-bench upload / download on loopback, no gt",
         "%s / %s" % (fmt(nogt.get("up_mbps")), fmt(nogt.get("down_mbps"))),
         "(what the measuring tool itself reaches)"],
    ]
    for c, name in (("chacha", "ChaCha20-Poly1305"), ("aes128", "AES-128-GCM")):
        rows.append(["one core seals 16 KiB records, %s" % name,
                     fmt(cr["seal"][c]["mbps"]), "(upper bound of one TLS direction)"])
    for c, name in (("chacha", "ChaCha20-Poly1305"), ("aes128", "AES-128-GCM")):
        rows.append(["bare mbedTLS mutual-TLS 1.2 pipe, two processes, %s" % name,
                     fmt(cr["pipe"][c]["mbps"]), "mTLS tunnel with %s" % name])
    w(table(["reference", "MB/s", "ceiling of"], rows))
    w("\n")
    w(table(["reference (loopback, no gt)", "1 KiB RTT p50 µs", "p99 µs", "sessions/s"],
            [["`gt-bench` straight to the echo target", fmt(nogt.get("p50_us")),
              fmt(nogt.get("p99_us")), fmt(nogt.get("sessions_per_s"))]]))
    w("\n")

    # ---------------------------------------------------------------- systems
    systems = []   # (label, summary dict, ceiling MB/s, ceiling name, server/client RSS)
    systems.append(("loopback, no gt (gt-bench)", nogt, iperf_lo, "loopback iperf3"))
    labels = {"direct": "gt direct mapping", "plain": "gt plain tunnel",
              "mtls": "gt mTLS tunnel"}
    for k in ("direct", "plain", "mtls"):
        g = gt.get(k, {})
        if k == "mtls":
            pk = pipe_key(g.get("suite"))
            ceil = cr["pipe"][pk]["mbps"]
            cname = "bare mTLS pipe, %s" % ("ChaCha20-Poly1305" if pk == "chacha"
                                             else "AES-128-GCM")
            lab = labels[k] + (" (%s)" % ("ChaCha20-Poly1305" if pk == "chacha"
                                          else "AES-128-GCM"))
        else:
            ceil, cname, lab = iperf_lo, "loopback iperf3", labels[k]
        systems.append((lab, g, g.get("ceil_mbps") or ceil, cname))
    sshlab = {"ssh": "ssh -R (aes128-gcm)", "ssh-tty": "ssh -tt -R (aes128-gcm, tty)"}
    for k in ("ssh", "ssh-tty"):
        g = ssh.get(k, {})
        systems.append((sshlab[k], g, g.get("ceil_mbps") or iperf_lo, "loopback iperf3"))

    w("## Throughput, one connection\n\n")
    w("Each figure side by side with its ceiling, and as a fraction of it. A system's "
      "ceiling is measured again next to it: each of its iperf3 runs follows one run of "
      "the ceiling, so a change in other load on the machine weighs on both alike (the "
      "table above is the ceiling at the start of the script).\n\n")
    rows = []
    for lab, g, ceil, cname in systems:
        if "failed" in g:
            rows.append([lab, "failed: %s" % g["failed"][:80]] + [""] * 6)
            continue
        up, down, ip = g.get("up_mbps"), g.get("down_mbps"), g.get("iperf3_mbps")
        rows.append([lab, fmt(up), fmt(down), fmt(ip), "%s: %s" % (cname, fmt(ceil)),
                     fr(ratio(up, ceil)), fr(ratio(down, ceil)), fr(ratio(ip, ceil))])
    rows.append(["gt mTLS tunnel (AES-128-GCM)", "–", "–", "–",
                 "bare mTLS pipe, AES-128-GCM: %s" % fmt(cr["pipe"]["aes128"]["mbps"]),
                 "–", "–", "–"])
    w(table(["system", "up MB/s", "down MB/s", "iperf3 MB/s", "ceiling MB/s",
             "up / ceiling", "down / ceiling", "iperf3 / ceiling"], rows))
    mt = gt.get("mtls", {})
    w("\nThe mTLS tunnel negotiated `%s`. gt offers no way to force a cipher suite "
      "(its list prefers ChaCha20-Poly1305), so the AES-128-GCM tunnel row cannot be "
      "measured; against the AES-128-GCM pipe the ChaCha tunnel would be up %s, down %s. "
      "ssh -R uses OpenSSL's AES-128-GCM, not mbedTLS: its ceiling here is loopback.\n\n"
      % (mt.get("suite") or "?", fr(ratio(mt.get("up_mbps"), cr["pipe"]["aes128"]["mbps"])),
         fr(ratio(mt.get("down_mbps"), cr["pipe"]["aes128"]["mbps"]))))

    w("## Round-trip time, 1 KiB\n\n")
    d50, d99 = nogt.get("p50_us"), nogt.get("p99_us")
    rows = []
    for lab, g, _, _ in systems:
        if "failed" in g:
            continue
        p50, p99 = g.get("p50_us"), g.get("p99_us")
        rows.append([lab, fmt(p50), fmt(p99), fmt(g.get("max_us")),
                     "%+d" % (p50 - d50) if p50 is not None and d50 is not None else "–",
                     fr(ratio(p50, d50)), fr(ratio(p99, d99))])
    w(table(["system", "p50 µs", "p99 µs", "max µs", "p50 − direct µs",
             "p50 / direct", "p99 / direct"], rows))
    w("\n\"direct\" is `gt-bench latency` straight to the echo target (first row).\n\n")

    w("## New sessions per second\n\n")
    dr = nogt.get("sessions_per_s")
    rows = []
    for lab, g, _, _ in systems:
        if "failed" in g:
            continue
        rows.append([lab, fmt(g.get("sessions_per_s")), fr(ratio(g.get("sessions_per_s"), dr))])
    w(table(["system", "sessions/s", "/ direct"], rows))
    w("\n")

    w("## Memory (RSS, MiB)\n\n")
    rows = []
    for k in ("direct", "plain", "mtls"):
        g = gt.get(k, {})
        if "failed" in g:
            continue
        bulk = g.get("rss_bulk_iperf3") or g.get("rss_bulk")
        rows.append([labels[k],
                     fmt(mib(hwm(g.get("rss_idle"), "server", "rss_kb")), 1),
                     fmt(mib(hwm(g.get("rss_idle"), "client", "rss_kb")), 1),
                     fmt(mib(hwm(bulk, "server")), 1), fmt(mib(hwm(bulk, "client")), 1),
                     fmt(mib(hwm(g.get("rss_peak"), "server")), 1),
                     fmt(mib(hwm(g.get("rss_peak"), "client")), 1)])
    for k in ("ssh", "ssh-tty"):
        g = ssh.get(k, {})
        if "failed" in g or not g:
            continue
        rows.append([sshlab[k] + " (sshd session / ssh)", "–", "–", "–", "–",
                     fmt(mib(hwm(g.get("rss_peak"), "server")), 1),
                     fmt(mib(hwm(g.get("rss_peak"), "client")), 1)])
    w(table(["system", "server idle", "client idle", "server peak, bulk",
             "client peak, bulk", "server peak, all", "client peak, all"], rows))
    w("\nIdle: `VmRSS` with the tunnel up and three mappings made, before any traffic. "
      "Peak, bulk: `VmHWM` after the upload, download and iperf3 runs (one bulk stream at "
      "a time). Peak, all: `VmHWM` after the RTT and session-rate runs too. For ssh: the "
      "sum of `VmHWM` of the sshd processes below the listener, and the ssh client.\n\n")

    h = mt.get("hold")
    hold_server = None
    if h:
        j = h.get("result") or {}
        pids = {p["pid"]: p for p in j.get("pids", [])}
        vals = list(pids.values())
        srv_peak = max(filter(None, [vals[0]["rss_peak_kb"] if vals else None,
                                     hwm(h["after"], "server")]), default=None)
        cli_peak = max(filter(None, [vals[1]["rss_peak_kb"] if len(vals) > 1 else None,
                                     hwm(h["after"], "client")]), default=None)
        hold_server = srv_peak
        w("### %s sessions held open through the mTLS tunnel\n\n" % fmt(h["n"]))
        before = hwm(h["before"], "server", "rss_kb")
        held_srv = vals[0]["rss_peak_kb"] if vals else None
        held_cli = vals[1]["rss_peak_kb"] if len(vals) > 1 else None
        w(table(["held", "connect time s", "echoes", "failures", "server before",
                 "server while held", "client while held", "server peak incl. close",
                 "client peak incl. close"],
                [[fmt(j.get("held")), fmt(j.get("connect_seconds"), 2), fmt(j.get("pings")),
                  fmt(j.get("failures")), fmt(mib(before), 1), fmt(mib(held_srv), 1),
                  fmt(mib(held_cli), 1), fmt(mib(srv_peak), 1), fmt(mib(cli_peak), 1)]]))
        w("\nRSS in MiB. `gt-bench hold %d -duration %d -pids SERVER,CLIENT` (a 16-byte echo "
          "per session every 5 s); \"while held\" is the peak of gt-bench's samples during "
          "the hold, \"peak incl. close\" is `VmHWM` after gt-bench closed its sessions, "
          "which is higher when tearing 10,000 sessions down costs more memory than "
          "holding them. Open-file limit %s.\n\n" % (h["n"], s["hold_s"], h["fd_limit"]))

    # ---------------------------------------------------------------- targets
    w("## Targets (issue 8)\n\n")
    pl = gt.get("plain", {})
    rows = []
    pc = mt.get("ceil_mbps") or cr["pipe"][pipe_key(mt.get("suite"))]["mbps"]

    def tp(lab, g, ceil, lim, cname):
        rr = ratio(g.get("iperf3_mbps"), ceil)
        rows.append([lab + ", 1 stream, iperf3", ">= %.2f x %s" % (lim, cname), fr(rr),
                     verdict(None if rr is None else rr >= lim)])
        ru, rd = ratio(g.get("up_mbps"), ceil), ratio(g.get("down_mbps"), ceil)
        rows.append([lab + ", 1 stream, gt-bench up / down", ">= %.2f x %s" % (lim, cname),
                     "%s / %s" % (fr(ru), fr(rd)),
                     verdict(None if ru is None or rd is None else min(ru, rd) >= lim)])
    tp("mTLS tunnel (ChaCha20-Poly1305)", mt, pc, 0.80, "bare mbedTLS pipe, same cipher")
    rows.append(["mTLS tunnel (AES-128-GCM), 1 stream", ">= 0.80 x bare mbedTLS pipe, same cipher",
                 "gt cannot be made to use it", "not measured"])
    tp("plain tunnel", pl, pl.get("ceil_mbps") or iperf_lo, 0.45, "loopback iperf3")
    for lab, g in (("plain tunnel", pl), ("mTLS tunnel", mt)):
        p50, p99 = g.get("p50_us"), g.get("p99_us")
        dd = None if p50 is None or d50 is None else p50 - d50
        rows.append([lab + ", 1 KiB RTT p50", "<= direct + 50 µs",
                     "direct %+d µs" % dd if dd is not None else "–",
                     verdict(None if dd is None else dd <= 50)])
        rows.append([lab + ", 1 KiB RTT p99", "<= 1,000 µs", "%s µs" % fmt(p99),
                     verdict(None if p99 is None else p99 <= 1000)])
    for lab, g in (("plain tunnel", pl), ("mTLS tunnel", mt)):
        rr = ratio(g.get("sessions_per_s"), dr)
        rows.append([lab + ", new sessions/s", ">= 0.50 x direct", fr(rr),
                     verdict(None if rr is None else rr >= 0.5)])
    for lab, g in (("plain tunnel", pl), ("mTLS tunnel", mt)):
        for who in ("server", "client"):
            v = mib(hwm(g.get("rss_idle"), who, "rss_kb"))
            rows.append([lab + ", %s RSS idle" % who, "<= 8 MiB", "%s MiB" % fmt(v, 1),
                         verdict(None if v is None else v <= 8)])
        for who in ("server", "client"):
            v = mib(hwm(g.get("rss_peak"), who))
            rows.append([lab + ", %s RSS peak under bulk" % who, "<= 32 MiB",
                         "%s MiB" % fmt(v, 1), verdict(None if v is None else v <= 32)])
    if h:
        held = (h.get("result") or {}).get("held")
        v = mib(hold_server)
        ok = None if v is None else (v <= 100 and held is not None and held >= 10000)
        rows.append(["mTLS tunnel, server RSS with 10,000 open sessions", "<= 100 MiB",
                     "%s MiB with %s held" % (fmt(v, 1), fmt(held)), verdict(ok)])
    w(table(["figure", "target", "measured", ""], rows))
    w("\nThroughput targets are judged twice: with iperf3 through the tunnel (the same "
      "generator as the loopback ceiling, little CPU of its own) and with gt-bench, which "
      "verifies every byte and so takes cycles from the tunnel on the shared cores (see "
      "its own loopback row above). RSS limits are read as MiB.\n\n")

    # ---------------------------------------------------------------- errors, runs
    errs = []
    for lab, g, _, _ in systems:
        for e in g.get("errors", []) if isinstance(g, dict) else []:
            errs.append("%s: %s" % (lab, e))
        if isinstance(g, dict) and "failed" in g:
            errs.append("%s: %s" % (lab, g["failed"]))
    if errs:
        w("## Errors during the run\n\n")
        for e in errs:
            w("- %s\n" % e.replace("\n", " "))
        w("\n")

    w("## Every run\n\n<details><summary>raw figures of each run</summary>\n\n")
    rows = [["loopback iperf3", "MB/s", " ".join(fmt(x and x["mbps"]) for x in lo["iperf3"]["runs"])]]
    for grp in ("seal", "pipe"):
        for c in ("chacha", "aes128"):
            rows.append(["%s %s" % ("seal" if grp == "seal" else "bare mTLS pipe", c), "MB/s",
                         " ".join(fmt(x and x["mbps"]) for x in cr[grp][c]["runs"])])
    keys = (("up", "mbps", "MB/s"), ("down", "mbps", "MB/s"), ("ceil", "mbps", "MB/s"),
            ("iperf3", "mbps", "MB/s"),
            ("lat", "p50_us", "p50 µs"), ("lat", "p99_us", "p99 µs"),
            ("rate", "sessions_per_s", "sessions/s"))
    for lab, g, _, _ in systems:
        runs = g.get("runs", {}) if isinstance(g, dict) else {}
        for k, f, unit in keys:
            if k in runs:
                rows.append([lab + " " + {"ceil": "its ceiling", "lat": "RTT"}.get(k, k),
                             unit, " ".join(
                    fmt(x.get(f)) if x and "_failed" not in x else "failed" for x in runs[k])])
    w(table(["figure", "unit", "runs"], rows))
    w("\n</details>\n\n")

    w("## Commands\n\nThe exact commands of the first run of each kind (ports were chosen "
      "by the kernel; `BIN` is `build-bench/bin`, `TMP` the script's temporary folder, "
      "deleted at the end).\n\n```sh\n")
    bin_dir, tmp_dir = r.get("bin", ""), r.get("tmp", "")
    for what, cmd in r["commands"]:
        if bin_dir:
            cmd = cmd.replace(bin_dir + "/", "$BIN/")
        if tmp_dir:
            cmd = cmd.replace(tmp_dir, "$TMP")
        if "\n" in cmd:
            w("# %s:\n%s\n" % (what, "\n".join("#   " + x for x in cmd.split("\n"))))
        else:
            w("# %s\n%s\n" % (what, cmd))
    w("```\n")
    return "".join(out)


def chart_data(r):
    """Rows for gnuplot: label, up/ceiling, down/ceiling, iperf3/ceiling, p50, p99."""
    lo = r["loopback"]
    il = lo["iperf3"]["mbps"]
    cr = r["crypto"]
    rows = []

    def add(lab, g, ceil):
        if not g or "failed" in g:
            return
        v = [ratio(g.get("up_mbps"), ceil), ratio(g.get("down_mbps"), ceil),
             ratio(g.get("iperf3_mbps"), ceil), g.get("p50_us"), g.get("p99_us")]
        rows.append('"%s" %s' % (lab, " ".join("NaN" if x is None else "%.4g" % x for x in v)))
    def ce(g, default):
        return (g or {}).get("ceil_mbps") or default
    add("no gt", lo["nogt"], il)
    add("gt direct", r["gt"].get("direct"), ce(r["gt"].get("direct"), il))
    add("gt plain", r["gt"].get("plain"), ce(r["gt"].get("plain"), il))
    mt = r["gt"].get("mtls") or {}
    add("gt mTLS", mt, ce(mt, cr["pipe"][pipe_key(mt.get("suite"))]["mbps"]))
    for k, lab in (("ssh", "ssh -R"), ("ssh-tty", "ssh -tt -R")):
        g = r.get("ssh", {}).get(k)
        add(lab, g, ce(g, il))
    return "# system up down iperf3 (fractions of ceiling) p50_us p99_us\n" + "\n".join(rows) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-in", dest="inp", required=True)
    ap.add_argument("-md", required=True)
    ap.add_argument("-dat", required=True)
    a = ap.parse_args()
    with open(a.inp) as f:
        r = json.load(f)
    intro = INTRO
    if os.path.exists(a.md):
        with open(a.md) as f:
            old = f.read()
        if MARKER in old:
            intro = old.split(MARKER, 1)[0].rstrip("\n") + "\n"
    with open(a.md + ".new", "w") as f:
        f.write(intro + "\n" + MARKER + "\n\n" + render(r))
    os.replace(a.md + ".new", a.md)
    with open(a.dat, "w") as f:
        f.write(chart_data(r))


if __name__ == "__main__":
    main()
