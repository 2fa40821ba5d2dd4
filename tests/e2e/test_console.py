#!/usr/bin/env python3
"""The web console (SPEC 9, GET /ui/) in a real headless Chromium driven
through chromium-driver: sign-in errors from the API's 401, an admin
creating a mapping with a whitelist and a rate limit, traffic through it
moving the figures and the chart, closing a live session, update, remove,
client disconnect, sign out; a read token seeing no write control, and
the chart drawing a history answer's records; every
request the page made staying on its origin and no CSP violation. Also the
console's HTTP answers without a browser (headers, 404, 405, allowlist).

Chromium missing is a failure, not a skip: scripts/deps.sh installs it.
GT_CONSOLE_SHOTS=DIR writes the desktop and phone screenshots there (the
ones in docs/ come from it); otherwise they go to a temporary folder."""

import base64
import json
import os
import shutil
import socket
import sys
import threading
import time

import gtlib
import tunlib
from gtlib import wait_until

T = gtlib.Runner()
_logged = tunlib.logged(T)

CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
DRIVER = ("/usr/bin/chromedriver",)
UI_WAIT = 15.0


def _first(paths, env):
    if os.environ.get(env):
        return os.environ[env]
    for p in paths:
        if os.path.exists(p):
            return p
    for p in paths:
        w = shutil.which(os.path.basename(p))
        if w:
            return w
    return None


def _webdriver():
    """Selenium, from Debian's python3-selenium even when python3 is another
    build of the same version (a pyenv shim on the PATH)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        sys.path.append("/usr/lib/python3/dist-packages")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
        from selenium.webdriver.common.by import By
    except ImportError as e:
        raise AssertionError("python3-selenium is missing (scripts/deps.sh "
                             "installs it): %s" % e)
    return webdriver, Service, By


class Browser:
    """A headless Chromium on one page, with its performance log on."""

    def __init__(self, width=1280, height=800):
        chromium, driver = _first(CHROMIUM, "GT_CHROMIUM"), _first(DRIVER, "GT_CHROMEDRIVER")
        if chromium is None or driver is None:
            raise AssertionError("chromium and chromium-driver are required "
                                 "(apt-get install chromium chromium-driver, "
                                 "scripts/deps.sh): chromium=%r driver=%r" % (chromium, driver))
        webdriver, Service, By = _webdriver()
        self.By = By
        opts = webdriver.ChromeOptions()
        opts.binary_location = chromium
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu",
                  "--disable-dev-shm-usage", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-default-apps", "--disable-extensions",
                  "--hide-scrollbars", "--window-size=%d,%d" % (width, height),
                  "--user-data-dir=" + gtlib.make_tmpdir("gt-chromium-")):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        self.d = webdriver.Chrome(service=Service(driver), options=opts)
        self.d.set_window_size(width, height)
        self.urls = []
        self.console = []

    def q(self, css):
        return self.d.find_element(self.By.CSS_SELECTOR, css)

    def qs(self, css):
        return self.d.find_elements(self.By.CSS_SELECTOR, css)

    def js(self, script, *args):
        return self.d.execute_script(script, *args)

    def shown(self, css):
        e = self.qs(css)
        return bool(e) and e[0].is_displayed()

    def wait(self, pred, what, timeout=UI_WAIT):
        return wait_until(pred, timeout, interval=0.1, what=what)

    def click(self, e):
        """Click e scrolled to the middle (the sticky header hides the top)."""
        if isinstance(e, str):
            e = self.q(e)
        self.js("arguments[0].scrollIntoView({block: 'center'})", e)
        e.click()

    def type(self, css, text):
        e = self.q(css)
        e.clear()
        e.send_keys(text)

    def select(self, css, value):
        self.js("var s = document.querySelector(arguments[0]); s.value = arguments[1];"
                "s.dispatchEvent(new Event('change'));", css, value)

    def drain_logs(self):
        """Every URL the page requested, and the console's messages, so far."""
        for e in self.d.get_log("performance"):
            m = json.loads(e["message"])["message"]
            if m.get("method") == "Network.requestWillBeSent":
                p = m["params"]
                self.urls.append((p["request"]["url"], p.get("documentURL", "")))
            elif m.get("method") == "Network.webSocketCreated":
                self.urls.append((m["params"]["url"], ""))
        self.console += self.d.get_log("browser")

    def check_origin(self, origin, token_texts=()):
        """No request left origin; no token in a URL; no CSP violation."""
        self.drain_logs()
        assert self.urls, "the performance log recorded no request"
        n = 0
        for u, doc in self.urls:
            # the browser's own start page (before the console was opened)
            if u.startswith("chrome") and not doc.startswith(origin + "/"):
                continue
            n += 1
            ok = u.startswith(origin + "/") or u.startswith("data:")
            assert ok, "a request outside %s: %s (from %s)" % (origin, u, doc)
            for t in token_texts:
                assert t not in u, "the token appeared in a URL: %s" % u
        for m in self.console:
            assert "Content Security Policy" not in m.get("message", ""), \
                "CSP violation: %s" % m
        return n

    def close(self):
        try:
            self.d.quit()
        except Exception:
            pass


def sign_in(b, origin, token):
    b.d.get(origin + "/ui/")
    b.wait(lambda: b.shown("#signin"), "the sign-in form")
    b.type("#token", token)
    b.click("#signin-btn")


def mapping_cell(b, port, cls):
    e = b.qs('#mappings tr[data-port="%d"] td.%s' % (port, cls))
    return e[0] if e else None


def cell_value(b, port, cls):
    e = mapping_cell(b, port, cls)
    return int(e.get_attribute("data-value")) if e is not None else -1


def shots_dir():
    d = os.environ.get("GT_CONSOLE_SHOTS")
    if d:
        os.makedirs(d, exist_ok=True)
        return d
    return gtlib.make_tmpdir("gt-console-shots-")


class Pump:
    """A session through the mapping pushing pattern bytes and checking the
    echo, until stopped; the socket stays open afterwards."""

    def __init__(self, port, total):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.total = total
        self.sent = 0
        self.echoed = b""
        self.data = gtlib.pattern(total, seed=14)
        self.err = None
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        try:
            r = threading.Thread(target=self._read, daemon=True)
            r.start()
            for i in range(0, self.total, 16384):
                self.s.sendall(self.data[i:i + 16384])
                self.sent = i + 16384
            r.join(60)
        except OSError as e:
            self.err = e

    def _read(self):
        while len(self.echoed) < self.total:
            b = self.s.recv(65536)
            if not b:
                return
            self.echoed += b

    def done(self):
        return len(self.echoed) >= self.total


@_logged
def test_console_http():
    """The console's files need no token; headers, 404, 405; allowlist."""
    srv = gtlib.Server().start()
    for path, ctype in (("/ui/", "text/html"), ("/ui/index.html", "text/html"),
                        ("/ui/app.js", "text/javascript"), ("/ui/style.css", "text/css")):
        st, h, body = srv.api("GET", path, token=False)
        assert st == 200, (path, st, body)
        assert h["content-type"].startswith(ctype), (path, h)
        csp = [d.strip() for d in h["content-security-policy"].split(";")]
        for want in ("default-src 'self'", "script-src 'self'", "style-src 'self'",
                     "connect-src 'self'", "img-src 'self' data:",
                     "frame-ancestors 'none'"):
            assert want in csp, (path, want, csp)
        assert not any("unsafe" in d for d in csp), csp
        assert h["x-content-type-options"] == "nosniff", h
        assert h["referrer-policy"] == "no-referrer", h
        assert h["cache-control"] == "no-cache", h
    st, _, body = srv.api("GET", "/ui/", token=False)
    html = body if isinstance(body, str) else body.decode()
    assert "<script>" not in html and " style=" not in html and "://" not in html, \
        "inline or foreign code in index.html"
    for path in ("/ui/nope.js", "/ui/../api/mapping/list", "/ui/%2e%2e/app.js",
                 "/ui/app.js/", "/ui//app.js"):
        st, _, j = srv.api("GET", path, token=False)
        assert st == 404, (path, st, j)
    st, _, j = srv.api("GET", "/uix", token=False)
    assert st == 401, ("/uix is not the console", st, j)
    st, h, j = srv.api("POST", "/ui/", body={}, token=False)
    assert st == 405 and h["allow"] == "GET, HEAD", (st, h, j)
    st, h, _ = srv.api("GET", "/ui", token=False)
    assert st == 301 and h["location"] == "/ui/", (st, h)
    # the API itself is unchanged: JSON, token required
    st, h, j = srv.api("GET", "/api/mapping/list", token=False)
    assert st == 401 and h["content-type"] == "application/json", (st, h, j)
    srv.stop()
    # the allowlist applies to the console too
    srv = gtlib.Server(security={"api": {"allowed_ips": ["192.0.2.1/32"]}}).start(wait=False)
    wait_until(lambda: _answers(srv), 10, what="the API answering")
    st, _, j = srv.api("GET", "/ui/", token=False)
    assert st == 403 and "allowed_ips" in j["message"], (st, j)
    srv.stop()
    print("    files with CSP/nosniff/no-referrer/no-cache, no token needed; "
          "404, 405, 301; outside the allowlist 403")


def _answers(srv):
    try:
        srv.api("GET", "/ui/", token=False)
        return True
    except OSError:
        return False


@_logged
def test_console_admin():
    """Sign-in errors, create with whitelist + rate limit, traffic moving the
    figures and the chart, close a session, update, remove, sign out."""
    srv = tunlib.tunnel_server()
    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    echo = gtlib.echo_server()
    origin = "http://127.0.0.1:%d" % srv.api_port
    admin = srv.token()
    b = Browser()
    try:
        # a garbage token, then one signed with another key: the API's 401 shows
        sign_in(b, origin, "not-a-token")
        b.wait(lambda: b.shown("#signin-error"), "the sign-in error")
        err = b.q("#signin-error").text
        assert "401" in err and "invalid token" in err, err
        forged = gtlib.make_jwt({"alg": "HS256", "typ": "JWT"},
                                {"sub": "x", "role": "admin", "exp": int(time.time()) + 600},
                                b"another key of thirty-two bytes!!")
        b.type("#token", forged)
        b.click("#signin-btn")
        b.wait(lambda: "signature" in b.q("#signin-error").text, "the signature error")
        assert not b.shown("#console")
        assert b.js("return sessionStorage.getItem('gt.token')") is None
        print("    wrong tokens: %r" % b.q("#signin-error").text)

        b.type("#token", admin)
        b.click("#signin-btn")
        b.wait(lambda: b.shown("#console"), "the console after sign-in")
        assert b.q("#role").text == "admin", b.q("#role").text
        assert b.js("return sessionStorage.getItem('gt.token')") == admin
        assert b.js("return document.cookie") == ""

        # create: whitelist 127.0.0.1, 256 KiB/s, at most 5 sessions
        port = gtlib.free_port()
        b.click("#new-mapping")
        b.wait(lambda: b.shown("#mapping-form"), "the mapping form")
        b.type("#f-port", str(port))
        b.type("#f-target-host", "127.0.0.1")
        b.type("#f-target-port", str(echo.port))
        b.select("#f-access-rule", "whitelist")
        b.type("#f-access-ips", "127.0.0.1/32, 10.0.0.0/8")
        b.type("#f-bandwidth", "256")
        b.select("#f-bandwidth-unit", "1024")
        b.type("#f-max-conns", "5")
        b.click("#mapping-submit")
        b.wait(lambda: mapping_cell(b, port, "access") is not None, "the new mapping listed")
        assert not b.shown("#edit-sec")
        m = srv.mappings()[port]
        assert m["access_rule"] == "whitelist" and m["access_ips"] == [
            "127.0.0.1/32", "10.0.0.0/8"], m
        assert m["bandwidth_limit"] == 262144 and m["max_connections"] == 5, m
        assert "whitelist" in mapping_cell(b, port, "access").text
        assert "256 KiB/s" in mapping_cell(b, port, "limits").text, \
            mapping_cell(b, port, "limits").text

        # the whitelist refuses 127.0.0.2: the refused figure moves
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        s.settimeout(10)
        s.connect(("127.0.0.1", port))
        assert s.recv(1) == b"", "a non-whitelisted peer was served"
        s.close()
        b.wait(lambda: cell_value(b, port, "refused") >= 1, "the refused figure")

        # traffic at the rate limit: figures and chart move while it flows
        cv = b.q("#chart")
        before = b.js("return arguments[0].toDataURL()", cv)
        total = 1280 * 1024     # about 5 s at the limit: two refreshes or more
        t0 = time.monotonic()
        pump = Pump(port, total)
        b.wait(lambda: int(cv.get_attribute("data-last-in") or 0) > 0,
               "the chart's live in-rate above 0", timeout=30)
        b.wait(lambda: cell_value(b, port, "active") == 1, "1 active session")
        b.wait(lambda: 0 < cell_value(b, port, "bytes-in") < total,
               "bytes in moving mid-transfer", timeout=30)
        mid_in = cell_value(b, port, "bytes-in")
        b.wait(lambda: b.qs('#sessions tr td.port') and any(
            e.text == str(port) for e in b.qs("#sessions tr td.port")), "the live session listed")
        wait_until(pump.done, 60, what="the echo of %d bytes" % total)
        took = time.monotonic() - t0
        assert pump.echoed == pump.data, "echo corrupted"
        b.wait(lambda: cell_value(b, port, "bytes-in") >= total and
               cell_value(b, port, "bytes-out") >= total, "the figures at the total")
        peak = int(cv.get_attribute("data-peak"))
        after = b.js("return arguments[0].toDataURL()", cv)
        assert after != before, "the chart did not change"
        assert peak > 0 and int(cv.get_attribute("data-points")) >= 2, peak
        print("    %d bytes each way in %.1f s at a 262144 B/s limit; bytes in seen "
              "mid-transfer %d; chart peak %d B/s (%s)" % (
                  total, took, mid_in, peak, cv.get_attribute("data-source")))

        shots = shots_dir()
        b.d.save_screenshot(os.path.join(shots, "console-desktop.png"))
        b.d.set_window_size(390, 844)
        b.wait(lambda: b.js("return document.documentElement.scrollWidth") <= 390,
               "no horizontal overflow at 390 px")
        b.d.save_screenshot(os.path.join(shots, "console-phone.png"))
        b.d.set_window_size(1280, 800)

        # close the live session: the peer sees the end
        row = [r for r in b.qs("#sessions tbody tr")
               if r.find_element(b.By.CSS_SELECTOR, "td.port").text == str(port)][0]
        sid = row.get_attribute("data-id")
        b.click(row.find_element(b.By.CSS_SELECTOR, "button.close"))
        b.wait(lambda: not b.qs('#sessions tr[data-id="%s"]' % sid), "the session gone")
        pump.s.settimeout(10)
        assert pump.s.recv(1) == b"", "the closed session still open"
        pump.s.close()
        b.wait(lambda: cell_value(b, port, "active") == 0, "0 active")
        assert "closed" in b.q("#notice").text, b.q("#notice").text

        # update: lift the rate limit, widen the max
        b.click(mapping_cell(b, port, "actions").find_element(b.By.CSS_SELECTOR, "button.edit"))
        b.wait(lambda: b.shown("#mapping-form"), "the edit form")
        assert b.q("#f-port").get_attribute("readonly") is not None
        assert b.q("#f-bandwidth").get_attribute("value") == "256"
        b.type("#f-bandwidth", "0")
        b.type("#f-max-conns", "9")
        b.click("#mapping-submit")
        b.wait(lambda: mapping_cell(b, port, "limits") is not None and
               mapping_cell(b, port, "limits").text == "max 9", "the updated limits")
        m = srv.mappings()[port]
        assert m["bandwidth_limit"] == 0 and m["max_connections"] == 9, m
        assert m["access_rule"] == "whitelist", m

        # a refused write shows the API's message (port 22 is blacklisted)
        b.click("#new-mapping")
        b.type("#f-port", "22")
        b.type("#f-target-port", str(echo.port))
        b.click("#mapping-submit")
        b.wait(lambda: b.shown("#form-error"), "the create error")
        assert "400" in b.q("#form-error").text, b.q("#form-error").text
        b.click("#mapping-cancel")

        # disconnect the tunnel client (it reconnects by itself)
        row = b.q('#clients tr[data-name="client"]')
        b.click(row.find_element(b.By.CSS_SELECTOR, "button.disconnect"))
        b.click('#clients tr[data-name="client"] button.disconnect')
        b.wait(lambda: "disconnected" in b.q("#notice").text, "the disconnect notice")
        wait_until(lambda: "tunnel client client disconnected" in srv.log(), 10,
                   what="the server's disconnect log line")

        # remove: two clicks
        b.click(mapping_cell(b, port, "actions").find_element(b.By.CSS_SELECTOR, "button.remove"))
        b.click(mapping_cell(b, port, "actions").find_element(b.By.CSS_SELECTOR, "button.remove"))
        b.wait(lambda: mapping_cell(b, port, "port") is None, "the mapping gone")
        assert port not in srv.mappings()

        # sign out: nothing kept, a reload asks again
        b.click("#signout")
        b.wait(lambda: b.shown("#signin"), "the sign-in form after sign-out")
        assert b.js("return sessionStorage.length") == 0
        assert b.q("#token").get_attribute("value") == ""
        b.d.refresh()
        b.wait(lambda: b.shown("#signin"), "the sign-in form after a reload")
        n = b.check_origin(origin, token_texts=(admin, admin.split(".")[2]))
        print("    %d requests, all to %s; no CSP violation" % (n, origin))
    finally:
        b.close()
        echo.close()
    cli.stop()
    srv.stop()


@_logged
def test_console_read():
    """A read token sees mappings, sessions and clients, and no write control."""
    srv = tunlib.tunnel_server()
    cli = tunlib.Client(srv)
    tunlib.wait_clients(srv, 1)
    echo = gtlib.echo_server()
    port = tunlib.direct_mapping(srv, echo.port)
    held = socket.create_connection(("127.0.0.1", port), timeout=10)
    held.sendall(b"hello")
    assert held.recv(5) == b"hello"
    origin = "http://127.0.0.1:%d" % srv.api_port
    tok = srv.token(subject="viewer", role="read")
    b = Browser()
    try:
        b.d.get(origin + "/ui/")
        b.wait(lambda: b.shown("#signin"), "the sign-in form")
        # the history endpoint is another part's: stand in for its answer
        # (SPEC 9's shape) to draw the chart from records
        now = int(time.time())
        recs = [{"port": port, "recorded_at": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(now - 60 * k)), "bytes_in": 60000 * k,
            "bytes_out": 30000 * k, "sessions": 1} for k in (5, 4, 3)]
        b.js("var recs = arguments[0], real = window.fetch;"
             "window.fetch = function (u, o) {"
             "  if (String(u).indexOf('/api/stats/history') === 0)"
             "    return Promise.resolve(new Response(JSON.stringify({success: true,"
             "      message: 'ok', data: {records: recs, count: recs.length}}),"
             "      {status: 200, headers: {'Content-Type': 'application/json'}}));"
             "  return real(u, o); };", recs)
        b.type("#token", tok)
        b.click("#signin-btn")
        b.wait(lambda: b.shown("#console"), "the console")
        cv = b.q("#chart")
        b.wait(lambda: cv.get_attribute("data-source") == "history" and
               int(cv.get_attribute("data-points")) >= 3, "the chart from the history")
        # 5 * 60000 B over 60 s records: 5000 B/s at the peak
        assert int(cv.get_attribute("data-peak")) == 5000, cv.get_attribute("data-peak")
        assert "history (60 s records)" in b.q("#chart-source").text, b.q("#chart-source").text
        b.wait(lambda: cell_value(b, port, "bytes-in") >= 5 and b.qs("#sessions tbody tr")
               and b.qs('#clients tr[data-name="client"]'), "mapping, session, client")
        assert "read" in b.q("#role").text, b.q("#role").text
        assert b.q("#who").text == "viewer"
        for css in ("#new-mapping", "#edit-sec", "th.write-col"):
            assert not b.shown(css), css + " shown to a read token"
        writes = b.qs("button.edit, button.remove, button.close, button.disconnect")
        assert not writes, "%d write buttons for a read token" % len(writes)
        visible = [e.text for e in b.qs("button") if e.is_displayed()]
        assert visible == ["Sign out"], visible
        # the API refuses anyway, even to a page that tried
        st = b.js("return fetch('/api/mapping/remove', {method: 'POST',"
                  "headers: {'Authorization': 'Bearer ' + sessionStorage.getItem('gt.token'),"
                  "'Content-Type': 'application/json'}, body: JSON.stringify({port: %d})})"
                  ".then(function (r) { return r.status; })" % port)
        # execute_script awaits a returned promise
        assert st == 403, st
        assert port in srv.mappings()
        n = b.check_origin(origin, token_texts=(tok,))
        print("    read token: figures, %d session(s), client listed; buttons %r; "
              "a forced remove 403; %d requests on the origin" % (
                  len(b.qs("#sessions tbody tr")), visible, n))
    finally:
        b.close()
        held.close()
        echo.close()
    cli.stop()
    srv.stop()


if __name__ == "__main__":
    try:
        T.main()
    finally:
        tunlib.stop_clients()
