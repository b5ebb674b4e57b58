"""Hostile clients against a real gateway: each attack of the hostile-input issue, with real
sockets, checking what a user would see. The gateway stays up, answers the right status, keeps
its memory bounded (read from /proc, with a generous bound), serves legitimate calls while the
attack runs, and its backend (ollama-sim, whose /sim/requests shows what it received) never gets
an unredacted or unchecked field.
"""
import hashlib
import http.client
import json
import os
import socket
import subprocess
import threading
import time

import grpc

import harness

pb2, pb2_grpc = harness.grpc_modules()

# A code model: one test sends a `suffix`, which ollama-sim (like Ollama) refuses for models
# without the insert capability.
MODEL = "qwen2.5-coder"
KEY = "og-test-key-hostile"
EMAIL_RULE = ("redaction:\n  rules:\n    - name: email\n"
              "      pattern: '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}'\n"
              "      replacement: '[EMAIL]'\n")
# Memory a gateway may grow by during one attack: far below what the attacks send (48 MiB),
# far above what bounded buffers need. Not checked under sanitizers, whose builds keep freed
# memory in quarantine.
RSS_GROWTH_KIB = 24 << 10


def hash_key(identity, key):
    return subprocess.run([harness.binary("ollama-gateway"), "hash-key", "--identity", identity],
                          input=key + "\n", capture_output=True, text=True, check=True).stdout


class HostileTestCase(harness.ProcessTestCase):
    required = "false"  # auth.required
    http = ""           # more keys of the http section
    extra = ""          # more sections

    def setUp(self):
        super().setUp()
        self.backend = self.sim("gpu-a", models=(MODEL,), tokens=4)
        entry = hash_key("alice", KEY)
        self.access_log = os.path.join(self.tmp, "access.log")
        config = harness.gateway_config(
            [("gpu-a", self.backend.url, None)],
            extra=("http:\n  address: 127.0.0.1:0\n  insecure: true\n" + self.http
                   + f"auth:\n  required: {self.required}\n  api_keys:\n"
                   + "".join("    " + line + "\n" for line in entry.strip().splitlines())
                   + EMAIL_RULE + self.extra))
        config = config.replace(
            "logging:\n  level: debug\n",
            f"logging:\n  level: info\n  access_log:\n    path: {self.access_log}\n")
        self.gw = self.gateway(config)
        fields = dict(kv.split("=", 1) for kv in self.gw.first_line.split()[1:])
        self.host, port = fields["http"].rsplit(":", 1)
        self.port = int(port)
        harness.wait_for(lambda: self.request("GET", "/api/tags", headers=self.key())[0] == 200,
                         10, "the backend to be healthy")

    def key(self):
        return {"Authorization": f"Bearer {KEY}"}

    def request(self, method, path, body=None, headers=None, timeout=20):
        """(status, lower-case headers, body text) of one request on a new connection."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
        data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
        conn.request(method, path, body=data, headers=headers or {})
        r = conn.getresponse()
        text = r.read().decode(errors="replace")
        conn.close()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, text

    def generate(self, headers=None):
        """A legitimate call; the gateway must keep serving them whatever else happens."""
        status, _, text = self.request("POST", "/api/generate",
                                       {"model": MODEL, "prompt": "hi", "stream": False},
                                       headers=headers or self.key())
        self.assertEqual(status, 200, text)
        self.assertTrue(json.loads(text)["done"])

    def rss(self):
        return harness.rss_kib(self.gw.proc.pid)

    def assert_rss_bounded(self, before):
        if not harness.SANITIZED:
            self.assertLess(self.rss() - before, RSS_GROWTH_KIB)

    def metrics(self):
        return harness.http_get(f"http://{self.gw.admin}/metrics")[1]

    def received(self, path):
        """The bodies the backend received on `path`, oldest first."""
        recent = json.loads(harness.http_get(self.backend.url + "/sim/requests")[1])
        return [json.loads(r["body"]) for r in recent if r["path"] == path]

    def raw(self, timeout=10):
        sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self.addCleanup(sock.close)
        return sock

    def read_until_closed(self, sock, limit=1 << 20):
        data = b""
        try:
            while len(data) < limit:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except (ConnectionResetError, socket.timeout):
            pass
        return data


class DepthTest(HostileTestCase):
    def deep(self, levels=200_000):
        return "[" * levels + "]" * levels

    def test_deep_nesting_is_refused_on_every_door_and_the_gateway_stays_up(self):
        before = self.rss()
        schema = self.deep()
        openai = ('{"model":"%s","messages":[{"role":"user","content":"x"}],'
                  '"response_format":{"type":"json_schema","json_schema":{"schema":%s}}}'
                  % (MODEL, schema))
        self.assertGreater(len(openai), 400_000)
        # Unauthenticated: no key is needed on this gateway (auth.required is false).
        status, _, text = self.request("POST", "/v1/chat/completions", openai.encode(),
                                       {"Content-Type": "application/json"})
        self.assertEqual(status, 400, text)
        self.assertIn("nests deeper than limits.max_json_depth (64)",
                      json.loads(text)["error"]["message"])
        status, _, text = self.request(
            "POST", "/api/chat",
            ('{"model":"%s","messages":[{"role":"user","content":"x"}],"format":%s}'
             % (MODEL, schema)).encode())
        self.assertEqual(status, 400, text)
        self.assertEqual(json.loads(text)["error"],
                         "the request body nests deeper than limits.max_json_depth (64)")
        # gRPC's format field, with a valid key.
        channel = grpc.insecure_channel(self.gw.target)
        self.addCleanup(channel.close)
        stub = pb2_grpc.ModelInferenceStub(channel)
        with self.assertRaises(grpc.RpcError) as ctx:
            stub.Predict(pb2.InferenceRequest(model_name=MODEL, input_data=b"x", format=schema),
                         metadata=[("authorization", f"Bearer {KEY}")], timeout=20)
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.INVALID_ARGUMENT)
        self.assertIn("format nests deeper than limits.max_json_depth (64)",
                      ctx.exception.details())
        self.assertTrue(self.gw.alive())
        self.assertEqual(self.received("/api/chat"), [])
        self.generate()
        self.assert_rss_bounded(before)


class CaseInsensitiveKeysTest(HostileTestCase):
    def test_keys_in_any_case_are_redacted_and_the_backend_gets_one_spelling(self):
        status, _, text = self.request("POST", "/api/generate", {
            "model": MODEL, "Prompt": "write to bob@example.com", "SUFFIX": "cc eve@example.com",
            "template": "{{ .Prompt }} ann@example.com", "stream": False}, headers=self.key())
        self.assertEqual(status, 200, text)
        sent = self.received("/api/generate")[-1]
        self.assertEqual(sent["prompt"], "write to [EMAIL]")
        self.assertEqual(sent["suffix"], "cc [EMAIL]")
        self.assertEqual(sent["template"], "{{ .Prompt }} [EMAIL]")
        self.assertNotIn("Prompt", sent)
        self.assertNotIn("SUFFIX", sent)
        self.assertNotIn("@example.com", json.dumps(sent))
        # The access log's digest is of the input as forwarded.
        harness.wait_for(lambda: os.path.exists(self.access_log)
                         and "/api/generate" in open(self.access_log).read(), 10,
                         "the access log line")
        line = [json.loads(x) for x in open(self.access_log) if "/api/generate" in x][-1]
        self.assertEqual(line["input_sha256"],
                         hashlib.sha256(b"write to [EMAIL]").hexdigest())

    def test_chat_thinking_and_tool_arguments_are_redacted(self):
        status, _, text = self.request("POST", "/api/chat", {
            "model": MODEL, "stream": False, "messages": [
                {"role": "user", "Content": "mail bob@example.com"},
                {"role": "assistant", "content": "", "Thinking": "ask eve@example.com",
                 "tool_calls": [{"function": {"name": "send",
                                              "arguments": {"to": ["x@example.com"]}}}]},
                {"role": "user", "content": "go"}]}, headers=self.key())
        self.assertEqual(status, 200, text)
        sent = self.received("/api/chat")[-1]
        self.assertNotIn("@example.com", json.dumps(sent))
        self.assertEqual(sent["messages"][0]["content"], "mail [EMAIL]")
        self.assertEqual(sent["messages"][1]["thinking"], "ask [EMAIL]")
        self.assertEqual(sent["messages"][1]["tool_calls"][0]["function"]["arguments"]["to"],
                         ["[EMAIL]"])

    def test_two_spellings_of_one_field_are_refused(self):
        before = len(self.received("/api/generate"))
        status, _, text = self.request("POST", "/api/generate", b'{"model":"%s","prompt":"a",'
                                       b'"Prompt":"bob@example.com"}' % MODEL.encode(),
                                       headers=self.key())
        self.assertEqual(status, 400, text)
        self.assertIn("which Ollama reads as one field", json.loads(text)["error"])
        self.assertEqual(len(self.received("/api/generate")), before)

    def test_images_count_against_max_images(self):
        status, _, text = self.request("POST", "/api/chat", {
            "model": MODEL, "messages": [{"role": "user", "content": "what?",
                                          "images": ["aGk="] * 17}]}, headers=self.key())
        self.assertEqual(status, 400, text)
        self.assertIn("limits.max_images (16)", json.loads(text)["error"])


class BufferTest(HostileTestCase):
    http = "  header_timeout: 2s\n  body_timeout: 2s\n  max_connections: 40\n"

    def test_an_endless_chunk_size_line_is_refused_not_buffered(self):
        before = self.rss()
        sock = self.raw()
        sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: localhost\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n1;")
        sent = 0
        block = b"a" * 65536
        try:
            while sent < (48 << 20):
                sock.sendall(block)
                sent += len(block)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            pass
        # The gateway gave up long before 48 MiB (what loopback buffers hold aside).
        self.assertLess(sent, 16 << 20)
        self.assertTrue(self.gw.alive())
        self.assert_rss_bounded(before)
        self.generate()

    def test_a_transfer_encoding_other_than_chunked_is_refused(self):
        sock = self.raw()
        sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: localhost\r\n"
                     b"Transfer-Encoding: gzip\r\nContent-Type: application/json\r\n\r\n{}")
        self.assertTrue(self.read_until_closed(sock).startswith(b"HTTP/1.1 400 "))

    def test_a_slow_header_is_cut_at_header_timeout_while_others_are_served(self):
        sock = self.raw()
        started = time.monotonic()
        closed = False
        for byte in b"GET /api/tags HTTP/1.1\r\nX-Slow: " + b"a" * 200:
            try:
                sock.sendall(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            time.sleep(0.05)
            if time.monotonic() - started > 8:
                break
        if not closed:
            sock.settimeout(5)
            closed = self.read_until_closed(sock) == b""
        self.assertTrue(closed, "the trickling connection was not closed")
        self.assertLess(time.monotonic() - started, 8)
        self.generate()

    def test_connections_beyond_the_cap_are_refused_and_counted(self):
        held = []
        for _ in range(60):
            held.append(socket.create_connection((self.host, self.port), timeout=5))
        time.sleep(0.5)
        metrics = self.metrics()
        refused = [line for line in metrics.splitlines()
                   if line.startswith('gateway_http_connections_refused_total{listener="http"}')]
        self.assertTrue(refused, metrics[-2000:])
        self.assertGreaterEqual(float(refused[0].split()[-1]), 15)
        for s in held:
            s.close()
        harness.wait_for(lambda: self.request("GET", "/", timeout=5)[0] == 200, 10,
                         "a connection to be accepted again")
        self.generate()


class SlowReaderTest(HostileTestCase):
    http = "  write_timeout: 1s\n"

    def setUp(self):
        super().setUp()
        # A long answer, fast: the caller's buffers fill long before it ends.
        harness.http_post_json(self.backend.url + "/sim/config",
                               {"tokens": 400_000, "token_delay_ms": 0})

    def test_a_caller_that_stops_reading_is_cut_and_its_backend_request_ends(self):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(20)
        sock.connect((self.host, self.port))
        self.addCleanup(sock.close)
        body = json.dumps({"model": MODEL, "prompt": "talk", "stream": True}).encode()
        sock.sendall(b"POST /api/generate HTTP/1.1\r\nHost: localhost\r\n"
                     b"Authorization: Bearer " + KEY.encode() + b"\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body) + body)
        stats = lambda: json.loads(harness.http_get(self.backend.url + "/sim/stats")[1])
        harness.wait_for(lambda: stats()["generations_aborted"] >= 1, 15,
                         "the backend request of the stalled caller to be aborted")
        self.assertTrue(self.gw.alive())
        harness.http_post_json(self.backend.url + "/sim/config", {"tokens": 4})
        self.generate()


class AuthBeforeBodyTest(HostileTestCase):
    required = "true"

    def test_an_unauthenticated_body_is_not_read_and_gets_no_100_continue(self):
        sock = self.raw()
        sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: localhost\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000000\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        reply = self.read_until_closed(sock)
        self.assertTrue(reply.startswith(b"HTTP/1.1 401 "), reply[:200])
        self.assertNotIn(b"100 Continue", reply)
        self.assertIn(b"WWW-Authenticate: Bearer", reply)
        self.assertIn(b"this gateway requires authentication", reply)
        # With the key the same request is told to go on.
        sock = self.raw()
        sock.sendall(b"POST /api/chat HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer "
                     + KEY.encode() + b"\r\nContent-Length: 20\r\nExpect: 100-continue\r\n\r\n")
        self.assertEqual(sock.recv(64), b"HTTP/1.1 100 Continue\r\n\r\n")
        self.generate()


class OutlierTest(HostileTestCase):
    extra = ("outlier_detection:\n  consecutive_failures: 2\n"
            "upstream:\n  max_line_bytes: 1024\n  max_attempts: 1\n")

    def ejections(self):
        for line in self.metrics().splitlines():
            if line.startswith('gateway_backend_ejected{backend="gpu-a"}'):
                return float(line.split()[-1])
        return 0.0

    def test_callers_cannot_get_a_healthy_backend_ejected(self):
        # Answers over the gateway's own line limit: the caller's doing, not the backend's.
        for _ in range(4):
            status, _, text = self.request("POST", "/api/embed", {
                "model": MODEL, "input": ["some text to embed"] * 20}, headers=self.key())
            self.assertEqual(status, 429, text)
        # Ollama's "server busy": load, not sickness.
        harness.http_post_json(self.backend.url + "/sim/config", {"fail_status": 503})
        for _ in range(4):
            status, _, text = self.request("POST", "/api/generate",
                                           {"model": MODEL, "prompt": "x", "stream": False},
                                           headers=self.key())
            self.assertEqual(status, 503, text)
        harness.http_post_json(self.backend.url + "/sim/config", {"fail_status": 0})
        self.assertEqual(self.ejections(), 0.0)
        self.assertNotIn('gateway_ejections_total{backend="gpu-a"} 1', self.metrics())
        self.generate()


class BrowserTest(HostileTestCase):
    http = "  allowed_origins: [\"https://app.example.com\"]\n"

    def test_foreign_origins_are_refused_and_allowed_ones_get_cors(self):
        call = {"model": MODEL, "prompt": "hi", "stream": False}
        status, _, text = self.request("POST", "/api/generate", call,
                                       headers={"Origin": "https://evil.example", **self.key()})
        self.assertEqual(status, 403, text)
        self.assertIn("http.allowed_origins", json.loads(text)["error"])
        for origin in ("http://localhost:3000", "https://app.example.com"):
            status, headers, text = self.request("POST", "/api/generate", call,
                                                 headers={"Origin": origin, **self.key()})
            self.assertEqual(status, 200, text)
            self.assertEqual(headers.get("access-control-allow-origin"), origin)
        status, headers, _ = self.request("OPTIONS", "/api/chat", headers={
            "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type"})
        self.assertEqual(status, 204)
        self.assertIn("POST", headers.get("access-control-allow-methods", ""))
        self.assertIn("authorization", headers.get("access-control-allow-headers", "").lower())

    def test_a_rebound_host_name_is_refused_on_a_loopback_listener(self):
        status, _, text = self.request("GET", "/api/tags",
                                       headers={"Host": "attacker.example", **self.key()})
        self.assertEqual(status, 403, text)
        self.assertIn("http.allowed_hosts", json.loads(text)["error"])
        self.assertEqual(self.request("GET", "/api/tags", headers=self.key())[0], 200)


if __name__ == "__main__":
    import unittest
    unittest.main()
