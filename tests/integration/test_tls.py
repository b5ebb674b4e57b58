"""TLS on the gateway: TLS 1.3 only, mutual TLS, certificate rotation, HTTPS backends.

Every certificate is made at run time with the openssl command line in the test's temp dir.
HTTPS backends are ollama-sim behind stunnel4 (a Debian package) as the TLS terminator.
"""
import os
import re
import signal
import socket
import subprocess
import time
import unittest
import urllib.request

import grpc

import harness

MODEL = "llama3.2"


def run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, **kw)


class Pki:
    """A CA and certificates it signs, as PEM files in `directory`."""

    def __init__(self, directory, name):
        self.dir = directory
        self.name = name
        self.cert, self.key = self._path(name)
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "2",
             "-subj", f"/CN={name}"])

    def _path(self, name):
        return os.path.join(self.dir, f"{name}.crt"), os.path.join(self.dir, f"{name}.key")

    def issue(self, name, serial, sans="DNS:localhost,IP:127.0.0.1", client=False):
        """Returns (cert_path, key_path) of a leaf with CN=name and the given hex serial."""
        cert, key = self._path(name)
        csr = os.path.join(self.dir, f"{name}.csr")
        ext = os.path.join(self.dir, f"{name}.ext")
        usage = "clientAuth" if client else "serverAuth"
        with open(ext, "w") as f:
            f.write(f"subjectAltName={sans}\nbasicConstraints=CA:FALSE\n"
                    f"extendedKeyUsage={usage}\n")
        run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", csr, "-subj", f"/O=og-test/CN={name}"])
        run(["openssl", "x509", "-req", "-in", csr, "-CA", self.cert, "-CAkey", self.key,
             "-set_serial", f"0x{serial}", "-days", "1", "-extfile", ext, "-out", cert])
        return cert, key


def read(path):
    with open(path, "rb") as f:
        return f.read()


def replace_file(path, data):
    """Replaces a file the way careful tools do: write aside, then rename over."""
    tmp = path + ".new"
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, path)


def s_client(target, *args):
    """Runs `openssl s_client` against target; returns (exit code, stdout+stderr).

    Even a successful handshake may exit 1: gRPC closes a connection that sends no HTTP/2
    preface, which s_client reports as an unexpected EOF after the handshake.
    """
    proc = subprocess.run(["openssl", "s_client", "-connect", target, "-servername", "localhost",
                           *args], input=b"", capture_output=True, timeout=20)
    return proc.returncode, (proc.stdout + proc.stderr).decode(errors="replace")


def served_serial(target, ca):
    """The serial number (hex) of the certificate a new TLS 1.3 connection is served."""
    _, out = s_client(target, "-tls1_3", "-CAfile", ca)
    pem = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", out, re.S)
    if "Verify return code: 0 (ok)" not in out or pem is None:
        return None
    proc = subprocess.run(["openssl", "x509", "-noout", "-serial"], input=pem.group(0).encode(),
                          capture_output=True, check=True)
    return proc.stdout.decode().strip().split("=", 1)[1]




def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class TlsTestCase(harness.ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.pb2, self.pb2_grpc = harness.grpc_modules()
        self.ca = Pki(self.tmp, "ca")
        self.server_cert, self.server_key = self.ca.issue("gateway", "1001")

    def tls_gateway(self, backends, listen_extra="", backend_tls=None, level="debug"):
        """A gateway with TLS on; backends: list of (name, url)."""
        text = (f"listen:\n  address: 127.0.0.1:0\n  cert: {self.server_cert}\n"
                f"  key: {self.server_key}\n  reload_interval: 200ms\n{listen_extra}"
                f"admin:\n  address: 127.0.0.1:0\nlogging:\n  level: {level}\nbackends:\n")
        for name, url in backends:
            text += harness.backend_yaml(name, url)
            if backend_tls:
                text += "    tls:\n" + "".join(f"      {k}: {v}\n" for k, v in backend_tls.items())
        return self.gateway(text)

    def channel(self, gw, ca=None, cert=None, key=None):
        creds = grpc.ssl_channel_credentials(
            root_certificates=read(ca or self.ca.cert),
            private_key=read(key) if key else None,
            certificate_chain=read(cert) if cert else None)
        ch = grpc.secure_channel(gw.target, creds,
                                 options=[("grpc.ssl_target_name_override", "localhost")])
        self.addCleanup(ch.close)
        return ch

    def predict(self, channel, timeout=10):
        stub = self.pb2_grpc.ModelInferenceStub(channel)
        return stub.Predict(self.pb2.InferenceRequest(model_name=MODEL, input_data=b"hi"),
                            timeout=timeout)

    def assert_fails(self, channel, code=grpc.StatusCode.UNAVAILABLE):
        with self.assertRaises(grpc.RpcError) as caught:
            self.predict(channel, timeout=5)
        self.assertEqual(caught.exception.code(), code, caught.exception.details())
        return caught.exception

    def metrics(self, gw):
        with urllib.request.urlopen(f"http://{gw.admin}/metrics", timeout=5) as r:
            return r.read().decode()


class ListenerTest(TlsTestCase):
    def test_tls13_handshake_is_accepted_and_tls12_refused(self):
        sim = self.sim("a")
        gw = self.tls_gateway([("a", sim.url)])
        _, out = s_client(gw.target, "-tls1_3", "-CAfile", self.ca.cert)
        self.assertIn("New, TLSv1.3, Cipher is TLS_", out)
        self.assertIn("Verify return code: 0 (ok)", out)
        code, out = s_client(gw.target, "-tls1_2")
        self.assertNotEqual(code, 0, out)
        self.assertIn("New, (NONE), Cipher is (NONE)", out)
        self.assertIn("no peer certificate available", out)
        code, out = s_client(gw.target, "-tls1_1")
        self.assertNotEqual(code, 0, out)
        self.assertIn("no peer certificate available", out)

    def test_grpc_client_trusting_the_ca_succeeds_and_another_ca_fails(self):
        sim = self.sim("a")
        gw = self.tls_gateway([("a", sim.url)])
        self.assertTrue(self.predict(self.channel(gw)).done)
        other = Pki(self.tmp, "other-ca")
        self.assert_fails(self.channel(gw, ca=other.cert))

    def test_expiry_gauge_shows_the_serving_certificate(self):
        sim = self.sim("a")
        gw = self.tls_gateway([("a", sim.url)])
        end = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", self.server_cert],
                             capture_output=True, check=True).stdout.decode()
        not_after = time.mktime(time.strptime(end.strip().split("=", 1)[1],
                                              "%b %d %H:%M:%S %Y GMT")) - time.timezone
        m = re.search(r"^gateway_tls_certificate_expiry_seconds (\S+)$", self.metrics(gw), re.M)
        self.assertIsNotNone(m)
        self.assertAlmostEqual(float(m.group(1)), not_after, delta=1)

    def test_a_missing_key_file_stops_the_start_naming_it(self):
        os.unlink(self.server_key)
        with self.assertRaises(RuntimeError) as caught:
            self.tls_gateway([("a", "http://127.0.0.1:1")])
        self.assertIn(f"cannot read '{self.server_key}'", str(caught.exception))


class MutualTlsTest(TlsTestCase):
    def test_required_client_certificate(self):
        sim = self.sim("a")
        gw = self.tls_gateway([("a", sim.url)],
                              listen_extra=f"  client_ca: {self.ca.cert}\n  client_auth: require\n")
        self.assert_fails(self.channel(gw))
        stranger_ca = Pki(self.tmp, "stranger-ca")
        cert, key = stranger_ca.issue("mallory", "66", sans="DNS:mallory.example", client=True)
        self.assert_fails(self.channel(gw, cert=cert, key=key))
        cert, key = self.ca.issue("alice", "77", sans="DNS:alice.example,URI:spiffe://og/alice",
                                  client=True)
        self.assertTrue(self.predict(self.channel(gw, cert=cert, key=key)).done)
        wait_for(lambda: 'client="CN=alice,O=og-test" san=' in gw.log(), 5, "the client in the log")
        line = [l for l in gw.log().splitlines() if 'client="CN=alice' in l][0]
        self.assertIn("alice.example", line)
        self.assertIn("spiffe://og/alice", line)

    def test_optional_client_certificate(self):
        sim = self.sim("a")
        gw = self.tls_gateway([("a", sim.url)],
                              listen_extra=f"  client_ca: {self.ca.cert}\n  client_auth: optional\n")
        self.assertTrue(self.predict(self.channel(gw)).done)
        wait_for(lambda: "client=-" in gw.log(), 5, "an anonymous client in the log")
        cert, key = self.ca.issue("bob", "78", sans="DNS:bob.example", client=True)
        self.assertTrue(self.predict(self.channel(gw, cert=cert, key=key)).done)
        wait_for(lambda: 'client="CN=bob,O=og-test"' in gw.log(), 5, "bob in the log")


class GatewayctlTest(TlsTestCase):
    def ctl(self, gw, *flags):
        return subprocess.run([harness.binary("gatewayctl"), "predict", "--target", gw.target,
                               "--model", MODEL, *flags, "hi"],
                              capture_output=True, text=True, timeout=30)

    def test_gatewayctl_speaks_tls_with_a_client_certificate(self):
        sim = self.sim("a")
        gw = self.tls_gateway([("a", sim.url)], listen_extra=f"  client_ca: {self.ca.cert}\n")
        cert, key = self.ca.issue("ctl", "88", sans="DNS:ctl.example", client=True)
        out = self.ctl(gw, "--cacert", self.ca.cert, "--cert", cert, "--key", key)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("backend=a", out.stderr)
        out = self.ctl(gw, "--cacert", self.ca.cert)
        self.assertEqual(out.returncode, 1)
        self.assertIn("error: UNAVAILABLE", out.stderr)
        out = self.ctl(gw, "--insecure")
        self.assertEqual(out.returncode, 1)
        self.assertIn("error: UNAVAILABLE", out.stderr)


class RotationTest(TlsTestCase):
    def test_new_connections_get_the_new_certificate_while_a_live_call_completes(self):
        sim = self.sim("slow", tokens=20, token_delay_ms=100)  # a call lasts about 2 s
        gw = self.tls_gateway([("slow", sim.url)])
        self.assertEqual(served_serial(gw.target, self.ca.cert), "1001")
        stub = self.pb2_grpc.ModelInferenceStub(self.channel(gw))
        future = stub.Predict.future(
            self.pb2.InferenceRequest(model_name=MODEL, input_data=b"long"), timeout=30)
        time.sleep(0.5)  # the call is in flight on the old certificate's connection

        new_cert, new_key = self.ca.issue("gateway-next", "2002")
        replace_file(self.server_key, read(new_key))
        replace_file(self.server_cert, read(new_cert))
        wait_for(lambda: served_serial(gw.target, self.ca.cert) == "2002", 10,
                 "new connections to see serial 2002")
        self.assertFalse(future.done(), "the call should still be streaming")
        response = future.result(timeout=30)
        self.assertTrue(response.done)
        self.assertEqual(response.usage.completion_tokens, 20)
        self.assertIn('gateway_tls_reloads_total{result="ok"} 1', self.metrics(gw))
        self.assertIn("TLS files reloaded: new handshakes get CN=gateway-next", gw.log())

    def test_a_corrupt_replacement_is_refused_and_the_old_certificate_keeps_serving(self):
        sim = self.sim("a")
        gw = self.tls_gateway([("a", sim.url)])
        replace_file(self.server_cert, b"-----BEGIN CERTIFICATE-----\nnot base64!\n")
        wait_for(lambda: "TLS reload refused, still serving CN=gateway,O=og-test serial 1001"
                 in gw.log(), 5, "the refusal in the log")
        self.assertIn(f"'{self.server_cert}': not a PEM certificate", gw.log())
        gw.signal(signal.SIGHUP)  # an explicit reload refuses it again, loudly
        wait_for(lambda: gw.log().count("TLS reload refused") >= 2, 5, "the second refusal")
        time.sleep(1.5)  # longer than gRPC's refresh interval
        self.assertEqual(served_serial(gw.target, self.ca.cert), "1001")
        self.assertTrue(self.predict(self.channel(gw)).done)
        self.assertIn('gateway_tls_reloads_total{result="refused"} 2', self.metrics(gw))

    def test_a_key_that_does_not_match_is_refused(self):
        sim = self.sim("a")
        gw = self.tls_gateway([("a", sim.url)])
        _, other_key = self.ca.issue("unrelated", "3003")
        replace_file(self.server_key, read(other_key))
        wait_for(lambda: "private key does not match the certificate" in gw.log(), 5,
                 "the refusal in the log")
        time.sleep(1.5)
        self.assertEqual(served_serial(gw.target, self.ca.cert), "1001")


class HttpsBackendTest(TlsTestCase):
    """ollama-sim behind stunnel4, which speaks at most TLS 1.2 and requires a client cert."""

    def stunnel(self, sim, cert, key, client_ca):
        port = harness.free_port()
        conf = harness.write_file(self.tmp, f"stunnel-{port}.conf", (
            "foreground = yes\npid =\n[sim]\n"
            f"accept = 127.0.0.1:{port}\nconnect = 127.0.0.1:{sim.port}\n"
            f"cert = {cert}\nkey = {key}\nsslVersionMax = TLSv1.2\n"
            f"CAfile = {client_ca}\nverifyChain = yes\n"))
        log = open(os.path.join(self.tmp, f"stunnel-{port}.log"), "wb")
        proc = subprocess.Popen(["stunnel4", conf], stdout=log, stderr=log,
                                stdin=subprocess.DEVNULL)

        def stop():
            proc.terminate()
            proc.wait(timeout=10)
            log.close()
        self.addCleanup(stop)

        def listening():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return True
            except OSError:
                return False
        wait_for(listening, 10, "stunnel to listen")
        return f"https://localhost:{port}"

    def test_https_backend_with_the_right_ca_works_and_with_a_wrong_ca_is_refused(self):
        sim = self.sim("a")
        backend_ca = Pki(self.tmp, "backend-ca")
        cert, key = backend_ca.issue("ollama-a", "4004")
        client_cert, client_key = backend_ca.issue("gateway-client", "4005", sans="DNS:gw",
                                                   client=True)
        url = self.stunnel(sim, cert, key, backend_ca.cert)
        tls = {"ca": backend_ca.cert, "cert": client_cert, "key": client_key}
        gw = self.tls_gateway([("tls-a", url)], backend_tls=tls)
        self.assertTrue(self.predict(self.channel(gw)).done)  # over TLS 1.2 with a client cert

        wrong = Pki(self.tmp, "wrong-ca")
        gw.stop()
        gw2 = self.tls_gateway([("tls-a", url)], backend_tls={**tls, "ca": wrong.cert})
        error = self.assert_fails(self.channel(gw2))
        self.assertIn("backend 'tls-a'", error.details())
        self.assertIn("certificate", error.details().lower())

    def test_verify_false_skips_the_check_with_a_warning(self):
        sim = self.sim("a")
        backend_ca = Pki(self.tmp, "backend-ca")
        cert, key = backend_ca.issue("ollama-a", "4006")
        client_cert, client_key = backend_ca.issue("gateway-client", "4007", sans="DNS:gw",
                                                   client=True)
        url = self.stunnel(sim, cert, key, backend_ca.cert)
        gw = self.tls_gateway([("tls-a", url)], backend_tls={
            "verify": "false", "cert": client_cert, "key": client_key})
        self.assertTrue(self.predict(self.channel(gw)).done)
        self.assertIn("backend tls-a: tls.verify is false", gw.log())


if __name__ == "__main__":
    unittest.main()
