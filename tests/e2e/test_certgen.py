#!/usr/bin/env python3
"""End-to-end test of gt-certgen, checked with the real openssl binary."""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest

BIN = os.path.abspath(os.path.join(os.environ.get("GT_BIN", "build/bin"),
                                   "gt-certgen"))
CWD = os.getcwd()
INIT_FILES = ["ca.crt", "ca.key", "server.crt", "server.key",
              "client.crt", "client.key", "jwt.key"]
KEYS = {"ca.key", "server.key", "client.key", "jwt.key"}


def certgen(*args):
    """Run gt-certgen; return (exit code, stdout, stderr)."""
    p = subprocess.run([BIN] + list(args), capture_output=True, text=True,
                       timeout=120)
    return p.returncode, p.stdout, p.stderr


def openssl(*args):
    p = subprocess.run(["openssl"] + list(args), capture_output=True,
                       text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def x509_text(path):
    rc, out = openssl("x509", "-in", path, "-text", "-noout")
    assert rc == 0, out
    return out


def snapshot(d):
    """Bytes, mtime and mode of every file under d (None if d is missing)."""
    if not os.path.isdir(d):
        return None
    snap = {}
    for root, dirs, files in os.walk(d):
        for name in dirs + files:
            p = os.path.join(root, name)
            st = os.lstat(p)
            data = None
            if stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    data = f.read()
            snap[os.path.relpath(p, d)] = (data, st.st_mtime_ns,
                                           stat.S_IMODE(st.st_mode))
    return snap


class CertgenTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gt-certgen-e2e.")
        self.out = os.path.join(self.tmp, "certs")

    def tearDown(self):
        os.chdir(CWD)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def init(self, *extra):
        rc, out, err = certgen("init", "-out", self.out, *extra)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "", "stdout stays clean")
        return err

    def assert_refused(self, args, want, folder=None):
        """Exit 2, one stderr line containing want, nothing written."""
        folder = folder or self.out
        before = snapshot(folder)
        rc, out, err = certgen(*args)
        self.assertEqual(rc, 2, "%s: %s" % (args, err))
        self.assertEqual(out, "")
        lines = err.splitlines()
        self.assertEqual(len(lines), 1, "%s: %r" % (args, err))
        self.assertIn(want, lines[0], args)
        self.assertEqual(snapshot(folder), before, args)

    def test_init_openssl(self):
        err = self.init()
        # One log line per file on stderr.
        for name in INIT_FILES:
            self.assertIn(os.path.join(self.out, name), err)
        self.assertEqual(sorted(os.listdir(self.out)), sorted(INIT_FILES))
        self.assertEqual(stat.S_IMODE(os.stat(self.out).st_mode), 0o700)
        os.chdir(self.out)
        rc, out = openssl("verify", "-CAfile", "ca.crt", "server.crt",
                          "client.crt")
        self.assertEqual(rc, 0, out)
        self.assertIn("server.crt: OK", out)
        self.assertIn("client.crt: OK", out)
        # Purpose checks: the server pair serves, the client pair is a client.
        rc, out = openssl("verify", "-CAfile", "ca.crt", "-purpose",
                          "sslserver", "server.crt")
        self.assertEqual(rc, 0, out)
        rc, out = openssl("verify", "-CAfile", "ca.crt", "-purpose",
                          "sslclient", "client.crt")
        self.assertEqual(rc, 0, out)
        rc, out = openssl("verify", "-CAfile", "ca.crt", "-purpose",
                          "sslclient", "server.crt")
        self.assertNotEqual(rc, 0, out)

        ca = x509_text("ca.crt")
        self.assertIn("CA:TRUE", ca)
        self.assertIn("Certificate Sign, CRL Sign", ca)
        self.assertIn("Subject Key Identifier", ca)
        self.assertRegex(ca, r"Subject: CN ?= ?gt CA")
        self.assertIn("ecdsa-with-SHA256", ca)
        self.assertIn("prime256v1", ca)
        srv = x509_text("server.crt")
        self.assertIn("TLS Web Server Authentication", srv)
        self.assertNotIn("TLS Web Client Authentication", srv)
        self.assertIn("DNS:localhost", srv)
        self.assertIn("IP Address:127.0.0.1", srv)
        self.assertIn("CA:FALSE", srv)
        self.assertIn("Authority Key Identifier", srv)
        self.assertRegex(srv, r"Subject: CN ?= ?localhost")
        cli = x509_text("client.crt")
        self.assertIn("TLS Web Client Authentication", cli)
        self.assertNotIn("TLS Web Server Authentication", cli)
        self.assertRegex(cli, r"Subject: CN ?= ?client")
        self.assertNotIn("Subject Alternative Name", cli)
        # Serials: 128 bits, random.
        serials = set()
        for name in ("ca.crt", "server.crt", "client.crt"):
            rc, out = openssl("x509", "-in", name, "-noout", "-serial")
            self.assertEqual(rc, 0)
            hexs = out.strip().split("=")[1]
            self.assertLessEqual(len(hexs), 32)
            self.assertGreaterEqual(len(hexs), 28)
            serials.add(hexs)
        self.assertEqual(len(serials), 3)
        # Validity: leaf 825 days, CA 3650, notBefore about an hour ago.
        for name, days in (("server.crt", 825), ("ca.crt", 3650)):
            rc, _ = openssl("x509", "-in", name, "-noout", "-checkend",
                            str((days - 1) * 86400))
            self.assertEqual(rc, 0, name)
            rc, _ = openssl("x509", "-in", name, "-noout", "-checkend",
                            str((days + 1) * 86400))
            self.assertNotEqual(rc, 0, name)
        # Keys match their certificates and are parseable.
        for base in ("ca", "server", "client"):
            rc, a = openssl("x509", "-in", base + ".crt", "-noout", "-pubkey")
            self.assertEqual(rc, 0)
            rc, b = openssl("pkey", "-in", base + ".key", "-pubout")
            self.assertEqual(rc, 0, b)
            self.assertEqual(a, b, base)

        for name in INIT_FILES:
            mode = stat.S_IMODE(os.stat(name).st_mode)
            self.assertEqual(mode, 0o600 if name in KEYS else 0o644, name)
        with open("jwt.key") as f:
            jwt = f.read()
        self.assertRegex(jwt, r"\A[0-9a-f]{64}\n\Z")

    def test_no_overwrite_then_force(self):
        self.init()
        before = snapshot(self.out)
        time.sleep(0.02)  # so that a rewrite would show in the mtimes
        self.assert_refused(["init", "-out", self.out], "exists")
        self.assertEqual(snapshot(self.out), before)
        # One existing file is enough to refuse everything.
        other = os.path.join(self.tmp, "other")
        os.mkdir(other)
        with open(os.path.join(other, "client.key"), "w") as f:
            f.write("mine\n")
        self.assert_refused(["init", "-out", other], "client.key", other)
        # -force replaces every file, keeping the modes.
        self.init("-force")
        after = snapshot(self.out)
        self.assertEqual(sorted(after), sorted(INIT_FILES))
        for name in INIT_FILES:
            self.assertNotEqual(after[name][0], before[name][0], name)
            self.assertEqual(after[name][2], before[name][2], name)
        # No temp files are left behind.
        self.assertEqual(sorted(os.listdir(self.out)), sorted(INIT_FILES))

    def test_client_and_server_commands(self):
        self.init()
        rc, out, err = certgen("client", "-out", self.out, "-ca", self.out,
                               "-cn", "alice")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, "")
        crt = os.path.join(self.out, "alice.crt")
        key = os.path.join(self.out, "alice.key")
        self.assertEqual(stat.S_IMODE(os.stat(crt).st_mode), 0o644)
        self.assertEqual(stat.S_IMODE(os.stat(key).st_mode), 0o600)
        rc, out = openssl("verify", "-CAfile",
                          os.path.join(self.out, "ca.crt"), crt)
        self.assertEqual(rc, 0, out)
        text = x509_text(crt)
        self.assertRegex(text, r"Subject: CN ?= ?alice")
        self.assertIn("TLS Web Client Authentication", text)
        self.assert_refused(["client", "-out", self.out, "-ca", self.out,
                             "-cn", "alice"], "alice.crt exists")

        # A separate CA, then a server with IPv4 and IPv6 SANs from it.
        ca2 = os.path.join(self.tmp, "ca2")
        rc, _, err = certgen("ca", "-out", ca2, "-cn", "Other CA", "-days", "30")
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(os.listdir(ca2)), ["ca.crt", "ca.key"])
        rc, _ = openssl("x509", "-in", os.path.join(ca2, "ca.crt"), "-noout",
                        "-checkend", str(31 * 86400))
        self.assertNotEqual(rc, 0)
        srvdir = os.path.join(self.tmp, "srv")
        rc, _, err = certgen("server", "-out", srvdir, "-ca", ca2, "-cn",
                             "tunnel.example", "-san",
                             "DNS:tunnel.example,IP:::1,IP:192.0.2.7")
        self.assertEqual(rc, 0, err)
        rc, out = openssl("verify", "-CAfile", os.path.join(ca2, "ca.crt"),
                          os.path.join(srvdir, "server.crt"))
        self.assertEqual(rc, 0, out)
        text = x509_text(os.path.join(srvdir, "server.crt"))
        self.assertIn("DNS:tunnel.example", text)
        self.assertIn("IP Address:0:0:0:0:0:0:0:1", text)
        self.assertIn("IP Address:192.0.2.7", text)
        self.assertRegex(text, r"Issuer: CN ?= ?Other CA")
        # Without -san the CN becomes the DNS SAN.
        rc, _, err = certgen("server", "-out", srvdir, "-ca", ca2, "-cn",
                             "plain.example", "-force")
        self.assertEqual(rc, 0, err)
        self.assertIn("DNS:plain.example",
                      x509_text(os.path.join(srvdir, "server.crt")))
        # The server pair is not trusted by the first CA.
        rc, out = openssl("verify", "-CAfile",
                          os.path.join(self.out, "ca.crt"),
                          os.path.join(srvdir, "server.crt"))
        self.assertNotEqual(rc, 0, out)

    def test_rsa2048(self):
        self.init("-key-type", "rsa2048", "-cn", "rsa.local",
                  "-san", "DNS:rsa.local,IP:10.0.0.1")
        os.chdir(self.out)
        rc, out = openssl("verify", "-CAfile", "ca.crt", "server.crt",
                          "client.crt")
        self.assertEqual(rc, 0, out)
        srv = x509_text("server.crt")
        self.assertIn("rsaEncryption", srv)
        self.assertIn("2048 bit", srv)
        self.assertIn("sha256WithRSAEncryption", srv)
        self.assertIn("Key Encipherment", srv)
        self.assertIn("DNS:rsa.local", srv)
        self.assertNotIn("DNS:localhost", srv)
        rc, out = openssl("rsa", "-in", "server.key", "-check", "-noout")
        self.assertEqual(rc, 0, out)

    def test_bad_inputs(self):
        out = self.out
        ca = os.path.join(self.tmp, "ca")
        rc, _, err = certgen("ca", "-out", ca)
        self.assertEqual(rc, 0, err)
        cases = [
            (["server", "-out", out, "-cn", "x"], "-ca"),
            (["server", "-out", out, "-ca", ca], "-cn"),
            (["client", "-out", out, "-ca", ca], "-cn"),
            (["init"], "-out"),
            (["ca", "-days", "5"], "-out"),
            (["server", "-out", out, "-ca", self.tmp, "-cn", "x"], "ca.crt"),
            (["init", "-out", out, "-san", "DNS:a,,IP:1.2.3.4"], "empty"),
            (["init", "-out", out, "-san", "DNS:a,"], "empty"),
            (["init", "-out", out, "-san", "URI:x"], "DNS: or IP:"),
            (["init", "-out", out, "-san", "IP:1.2.3"], "IP"),
            (["init", "-out", out, "-san", "IP:1.2.3.4.5"], "IP"),
            (["init", "-out", out, "-san", "DNS:bad name"], "DNS"),
            (["init", "-out", out, "-san", "DNS:" + "a." * 127 + "a"], "253"),
            (["init", "-out", out, "-cn", "a\tb"], "control"),
            (["init", "-out", out, "-cn", "x" * 65], "64"),
            (["init", "-out", out, "-cn", ""], "-cn"),
            (["init", "-out", out, "-days", "0"], "days"),
            (["init", "-out", out, "-days", "36501"], "days"),
            (["init", "-out", out, "-days", "ten"], "days"),
            (["init", "-out", out, "-key-type", "dsa"], "key-type"),
            (["client", "-out", out, "-ca", ca, "-cn", "../x"], "-cn"),
            (["client", "-out", out, "-ca", ca, "-cn", "a/b"], "-cn"),
            (["client", "-out", out, "-ca", ca, "-cn", ".x"], "-cn"),
            (["init", "-out", out, "-nope"], "-nope"),
            (["init", "-out", out, "extra"], "extra"),
            (["frobnicate"], "frobnicate"),
            ([], "command"),
        ]
        for args, want in cases:
            self.assert_refused(args, want, self.tmp)
        self.assertFalse(os.path.exists(out))

        # A CA whose key does not match, and a leaf posing as a CA.
        other = os.path.join(self.tmp, "other")
        rc, _, err = certgen("init", "-out", other)
        self.assertEqual(rc, 0, err)
        bad = os.path.join(self.tmp, "bad")
        os.mkdir(bad)
        shutil.copy(os.path.join(ca, "ca.crt"), bad)
        shutil.copy(os.path.join(other, "ca.key"), bad)
        self.assert_refused(["server", "-out", out, "-ca", bad, "-cn", "x"],
                            "does not match", self.tmp)
        shutil.copy(os.path.join(other, "server.crt"),
                    os.path.join(bad, "ca.crt"))
        shutil.copy(os.path.join(other, "server.key"),
                    os.path.join(bad, "ca.key"))
        self.assert_refused(["client", "-out", out, "-ca", bad, "-cn", "x"],
                            "not a CA", self.tmp)
        with open(os.path.join(bad, "ca.crt"), "w") as f:
            f.write("garbage\n")
        self.assert_refused(["client", "-out", out, "-ca", bad, "-cn", "x"],
                            "ca.crt", self.tmp)
        self.assertFalse(os.path.exists(out))

    def test_help_and_version(self):
        for args in (["-help"], ["-h"], ["--help"], ["init", "-help"],
                     ["server", "-h"]):
            rc, out, err = certgen(*args)
            self.assertEqual(rc, 0, args)
            self.assertIn("usage:", out)
            self.assertEqual(err, "")
        rc, out, _ = certgen("-help")
        for cmd in ("init", "ca", "server", "client"):
            self.assertIn("gt-certgen " + cmd, out)
        rc, out, _ = certgen("-version")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"\Agt-certgen \d+\.\d+\.\d+\n\Z")


if __name__ == "__main__":
    if not os.access(BIN, os.X_OK):
        print("gt-certgen not found at %s (set GT_BIN)" % BIN)
        sys.exit(1)
    suite = unittest.defaultTestLoader.loadTestsFromTestCase(CertgenTest)
    res = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(res.failures) + len(res.errors)
    print("%d passed, %d failed" % (res.testsRun - failed, failed))
    sys.exit(1 if failed else 0)
