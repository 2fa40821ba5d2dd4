#!/usr/bin/env python3
"""A real Prometheus (Debian's package) scraping gt-server's /metrics with a
read token, configured from the shipped docker/prometheus.yml (target and
token file moved to this test's server, a 1 s interval), plus promtool's
lint of the /metrics text. Prometheus listens on 127.0.0.1 with its own
storage folder and is stopped at the end."""

import json
import os
import shutil
import subprocess
import urllib.parse
import urllib.request

import yaml  # python3-yaml, from scripts/deps.sh

import gtlib
import tunlib
from gtlib import Server, wait_until

T = gtlib.Runner()

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def need_tools():
    for p in (PROMETHEUS, PROMTOOL):
        assert os.access(p, os.X_OK), \
            "%s missing: apt-get install prometheus (bash scripts/deps.sh)" % p


def prom_get(port, path, **query):
    """GET Prometheus's HTTP API; the decoded "data"."""
    url = "http://127.0.0.1:%d%s" % (port, path)
    if query:
        url += "?" + urllib.parse.urlencode(query)
    with urllib.request.urlopen(url, timeout=5) as r:
        j = json.load(r)
    assert j["status"] == "success", j
    return j["data"]


def metrics_text(srv, token):
    st, _, body = srv.api("GET", "/metrics", token=token)
    assert st == 200, (st, body)
    return body.decode() if isinstance(body, bytes) else str(body)


def metric_value(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError("no %s in /metrics:\n%s" % (name, text))


@T.test
def test_promtool_check_metrics():
    """promtool check metrics accepts /metrics after real traffic."""
    need_tools()
    srv = Server().start()
    echo = gtlib.echo_server()
    port = tunlib.direct_mapping(srv, echo.port)
    data = gtlib.pattern(50000, seed=3)
    assert gtlib.echo_roundtrip(port, data) == data
    text = metrics_text(srv, srv.token("promtool", role="read"))
    r = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=30)
    out = (r.stdout + r.stderr).decode()
    assert r.returncode == 0, "promtool check metrics: %d\n%s\n%s" % (r.returncode, out, text)
    print("     promtool check metrics: ok, %d lines, %d samples"
          % (len(text.splitlines()),
             sum(1 for l in text.splitlines() if l and not l.startswith("#"))))
    srv.stop()
    echo.close()


@T.test
def test_prometheus_scrapes():
    """Prometheus with docker/prometheus.yml's job: the target is up with the
    read token, a job without one is down with 401, and the values it stored
    are the ones /metrics shows."""
    need_tools()
    srv = Server().start()
    echo = gtlib.echo_server()
    port = tunlib.direct_mapping(srv, echo.port)
    data = gtlib.pattern(70000, seed=4)
    assert gtlib.echo_roundtrip(port, data) == data
    wait_until(lambda: srv.mappings()[port]["active_connections"] == 0, 10,
               what="the session to end")

    tmp = gtlib.make_tmpdir("gt-prom-")
    tokfile = os.path.join(tmp, "gt-metrics.token")
    with open(tokfile, "w") as f:
        f.write(srv.token("prometheus", role="read", ttl=3600) + "\n")
    os.chmod(tokfile, 0o600)

    # The shipped config, pointed at this server.
    cfg = yaml.safe_load(open(os.path.join(gtlib.SRC, "docker", "prometheus.yml")))
    cfg["global"]["scrape_interval"] = "1s"
    job = [j for j in cfg["scrape_configs"] if j["job_name"] == "gt-server"][0]
    job["bearer_token_file"] = tokfile
    job["static_configs"] = [{"targets": ["127.0.0.1:%d" % srv.api_port]}]
    bare = {k: v for k, v in job.items() if k != "bearer_token_file"}
    bare["job_name"] = "gt-server-no-token"
    cfg["scrape_configs"].append(bare)
    cfgpath = os.path.join(tmp, "prometheus.yml")
    with open(cfgpath, "w") as f:
        yaml.safe_dump(cfg, f)
    r = subprocess.run([PROMTOOL, "check", "config", cfgpath], capture_output=True,
                       timeout=30)
    assert r.returncode == 0, (r.stdout + r.stderr).decode()

    pport = gtlib.free_port()
    logf = open(os.path.join(tmp, "prometheus.log"), "wb")
    prom = subprocess.Popen(
        [PROMETHEUS, "--config.file=" + cfgpath,
         "--storage.tsdb.path=" + os.path.join(tmp, "data"),
         "--web.listen-address=127.0.0.1:%d" % pport],
        stdout=logf, stderr=logf)
    try:
        def targets():
            try:
                act = prom_get(pport, "/api/v1/targets")["activeTargets"]
            except OSError:
                return None
            by = {t["labels"]["job"]: t for t in act}
            if prom.poll() is not None:
                raise AssertionError("prometheus exited %d" % prom.returncode)
            if by.get("gt-server", {}).get("health") == "up" and \
                    by.get("gt-server-no-token", {}).get("health") == "down":
                return by
            return None
        by = wait_until(targets, 60, interval=0.25, what="prometheus targets scraped")
        err = by["gt-server-no-token"]["lastError"]
        assert "401" in err, err

        text = metrics_text(srv, srv.token("check", role="read"))
        want = metric_value(text, "gt_bytes_in_total")
        assert want >= len(data), (want, text)

        def stored():
            res = prom_get(pport, "/api/v1/query", query="gt_bytes_in_total")["result"]
            for s in res:
                if s["metric"].get("job") == "gt-server" and float(s["value"][1]) == want:
                    return s
            return None
        s = wait_until(stored, 30, interval=0.25, what="gt_bytes_in_total in prometheus")
        up = prom_get(pport, "/api/v1/query", query="up")["result"]
        ups = {x["metric"]["job"]: x["value"][1] for x in up}
        assert ups == {"gt-server": "1", "gt-server-no-token": "0"}, ups
        print("     prometheus %s: gt-server up (read token), gt_bytes_in_total=%s; "
              "without a token: down (%s)"
              % (prom_get(pport, "/api/v1/status/buildinfo")["version"], s["value"][1], err))
    finally:
        prom.terminate()
        try:
            prom.wait(20)
        except subprocess.TimeoutExpired:
            prom.kill()
            prom.wait()
        logf.close()
    st, _, _ = srv.api("GET", "/metrics", token=srv.token("check2", role="read"))
    assert st == 200
    srv.stop()
    echo.close()


if __name__ == "__main__":
    T.main()
