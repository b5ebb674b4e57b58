"""Security end to end: API keys and client certificates, authorization, rate limits, input
limits and prompt redaction, with the real gateway, ollama-sim backends and Python's grpcio."""
import base64
import http.client
import json
import os
import signal
import subprocess
import time

import grpc

import harness
import test_tls
from harness import ProcessTestCase

pb2, pb2_grpc = harness.grpc_modules()
MODEL = "llama3.2"


def hash_key(identity, generate=True, key=None):
    """Runs `ollama-gateway hash-key`; returns (key, yaml entry lines)."""
    argv = [harness.binary("ollama-gateway"), "hash-key", "--identity", identity]
    if generate:
        argv.append("--generate")
    out = subprocess.run(argv, input=key, capture_output=True, text=True, timeout=30, check=True)
    lines = [line for line in out.stdout.splitlines() if not line.startswith("#")]
    if generate:
        return lines[0], lines[1:]
    return key, lines


class SecurityTestCase(ProcessTestCase):
    def start(self, security_yaml, tokens=8, token_delay_ms=0, listen=None):
        self.backend = self.sim("gpu-a", models=(MODEL, "qwen2.5:7b"), tokens=tokens,
                                token_delay_ms=token_delay_ms)
        listen = listen or "listen:\n  address: 127.0.0.1:0\n  insecure: true\n"
        text = (listen + "admin:\n  address: 127.0.0.1:0\nlogging:\n  level: debug\n"
                f"  access_log:\n    path: {os.path.join(self.tmp, 'access.log')}\n"
                + security_yaml + "backends:\n" + harness.backend_yaml("gpu-a", self.backend.url))
        self.gw = self.gateway(text)
        return self.gw

    def stub(self, channel=None):
        if channel is None:
            channel = grpc.insecure_channel(self.gw.target)
            self.addCleanup(channel.close)
        return pb2_grpc.ModelInferenceStub(channel)

    def call(self, key=None, model=MODEL, prompt="hello there", stream=False, stub=None,
             timeout=20, **fields):
        stub = stub or self.stub()
        metadata = [("authorization", f"Bearer {key}")] if key else []
        request = pb2.InferenceRequest(model_name=model, input_data=prompt.encode(), **fields)
        if stream:
            return list(stub.PredictStream(request, metadata=metadata, timeout=timeout))
        return stub.Predict(request, metadata=metadata, timeout=timeout)

    def assert_status(self, code, fn, *contains):
        return harness.assert_rpc_error(self, code, fn, *contains)

    def refused_config(self, sections):
        """What `--check-config` says of a config with `sections` after its listen section."""
        path = harness.write_file(self.tmp, "bad.yaml", (
            "listen:\n  address: 127.0.0.1:0\n  insecure: true\n" + sections +
            "backends:\n  - name: a\n    url: http://127.0.0.1:1\n"))
        out = subprocess.run([harness.binary("ollama-gateway"), "--check-config", path],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 1, out.stdout)
        return out.stderr

    def generations(self):
        return json.loads(harness.http_get(self.backend.url + "/sim/stats")[1])[
            "generations_started"]

    def metrics(self):
        return harness.http_get(f"http://{self.gw.admin}/metrics")[1]

    def access_log(self, at_least=1):
        """The access log's records, once it holds `at_least` (a call's line is written as it
        ends, which may be just after its answer reached the test)."""
        path = os.path.join(self.tmp, "access.log")

        def records():
            if not os.path.exists(path):
                return None
            with open(path) as f:
                lines = [json.loads(line) for line in f if line.endswith("\n")]
            return lines if len(lines) >= at_least else None

        return harness.wait_for(records, 5, f"{at_least} lines in the access log")


class AuthenticationTest(SecurityTestCase):
    def setUp(self):
        super().setUp()
        self.key, entry = hash_key("alice")
        self.start("auth:\n  required: true\n  api_keys:\n" +
                   "".join(f"    {line}\n" for line in entry))

    def test_a_call_without_credentials_is_refused_before_any_backend(self):
        self.assert_status(grpc.StatusCode.UNAUTHENTICATED, lambda: self.call(),
                           "requires authentication", "Bearer")
        self.assertEqual(self.generations(), 0)

    def test_a_wrong_key_is_refused_without_echoing_it(self):
        err = self.assert_status(grpc.StatusCode.UNAUTHENTICATED,
                                 lambda: self.call(key="og_not-the-right-key"), "not valid")
        self.assertNotIn("og_not-the-right-key", err.details())
        self.assert_status(grpc.StatusCode.UNAUTHENTICATED, lambda: self.call(key=self.key[:-1]))
        self.assertEqual(self.generations(), 0)

    def test_a_malformed_authorization_header_says_what_is_expected(self):
        stub = self.stub()
        request = pb2.InferenceRequest(model_name=MODEL, input_data=b"hi")
        self.assert_status(
            grpc.StatusCode.UNAUTHENTICATED,
            lambda: stub.Predict(request, metadata=[("authorization", f"Basic {self.key}")],
                                 timeout=10),
            "Bearer <API key>")

    def test_the_right_key_runs_the_call_as_its_identity(self):
        response = self.call(key=self.key)
        self.assertTrue(response.done)
        self.assertEqual(len(self.call(key=self.key, stream=True)) > 0, True)
        lines = self.access_log(at_least=2)
        self.assertEqual(lines[-1]["identity"], "alice")
        self.assertEqual(lines[-1]["auth"], "api_key")
        self.assertEqual(lines[-1]["authz"], "allow")
        metrics = self.metrics()
        self.assertIn('gateway_auth_total{frontend="grpc",method="api_key",result="ok"} 2', metrics)

    def test_admin_config_shows_who_has_keys_but_never_the_hashes(self):
        config = harness.http_get(f"http://{self.gw.admin}/admin/config")[1]
        self.assertIn('"alice": 1', config)
        self.assertNotIn("sha256:", config)


class KeyFileAndReloadTest(SecurityTestCase):
    def write_keys(self, *entries):
        text = "api_keys:\n" + "".join(f"  {line}\n" for entry in entries for line in entry)
        # Replaced at once, as a Kubernetes Secret update or `mv` does.
        harness.write_file(self.tmp, "keys.new", text)
        os.replace(os.path.join(self.tmp, "keys.new"), os.path.join(self.tmp, "keys.yaml"))

    def test_a_changed_key_file_alone_is_reloaded(self):
        key_a, entry_a = hash_key("svc-a")
        key_b, entry_b = hash_key("svc-b")
        self.write_keys(entry_a)
        self.start("auth:\n  required: true\n  api_keys_file: keys.yaml\n")
        self.assertTrue(self.call(key=key_a).done)
        self.assert_status(grpc.StatusCode.UNAUTHENTICATED, lambda: self.call(key=key_b))
        # Rotation: the new key is added (no signal: the file watcher sees the change)...
        self.write_keys(entry_a, entry_b)
        harness.wait_for(
            lambda: 'gateway_config_reloads_total{result="ok"} 1' in self.metrics(), 10,
            "the reload after the key file changed")
        self.assertTrue(self.call(key=key_b).done)
        self.assertTrue(self.call(key=key_a).done)
        # ... then the old one removed (SIGHUP, or the watcher, whichever comes first).
        self.write_keys(entry_b)
        self.gw.signal(signal.SIGHUP)
        harness.wait_for(lambda: self.refused(key_a), 10, "the old key to be refused")
        self.assertTrue(self.call(key=key_b).done)

    def refused(self, key):
        try:
            self.call(key=key)
            return False
        except grpc.RpcError as e:
            self.assertEqual(e.code(), grpc.StatusCode.UNAUTHENTICATED, e.details())
            return True

    def test_a_bad_hash_in_the_key_file_is_refused_with_its_file_and_line(self):
        keys = harness.write_file(self.tmp, "keys.yaml",
                                  "api_keys:\n  - identity: x\n    hash: sha256:zz:00\n")
        errors = self.refused_config("auth:\n  api_keys_file: keys.yaml\n")
        self.assertIn(f"{keys}:3: api_keys[0].hash: ", errors)
        self.assertIn("hash-key", errors)


class CertificateIdentityTest(SecurityTestCase):
    def test_a_client_certificate_is_an_identity_for_authorization(self):
        ca = test_tls.Pki(self.tmp, "ca")
        server_cert, server_key = ca.issue("gateway", "1001")
        alice_cert, alice_key = ca.issue("alice", "2001", client=True)
        bob_cert, bob_key = ca.issue("bob", "2002", client=True)
        listen = (f"listen:\n  address: 127.0.0.1:0\n  cert: {server_cert}\n  key: {server_key}\n"
                  f"  client_ca: {ca.cert}\n  client_auth: optional\n")
        self.start("auth:\n  required: true\n"
                   "authorization:\n  rules:\n    - identities: [alice]\n      models: ['*']\n",
                   listen=listen)

        def channel(cert=None, key=None):
            creds = grpc.ssl_channel_credentials(
                root_certificates=test_tls.read(ca.cert),
                private_key=test_tls.read(key) if key else None,
                certificate_chain=test_tls.read(cert) if cert else None)
            ch = grpc.secure_channel(self.gw.target, creds,
                                     options=[("grpc.ssl_target_name_override", "localhost")])
            self.addCleanup(ch.close)
            return ch

        self.assertTrue(self.call(stub=self.stub(channel(alice_cert, alice_key))).done)
        self.assert_status(grpc.StatusCode.PERMISSION_DENIED,
                           lambda: self.call(stub=self.stub(channel(bob_cert, bob_key))),
                           "identity 'bob'", f"model '{MODEL}'")
        self.assert_status(grpc.StatusCode.UNAUTHENTICATED,
                           lambda: self.call(stub=self.stub(channel())))
        self.assertIn('gateway_auth_total{frontend="grpc",method="mtls",result="ok"} 2', self.metrics())


class AuthorizationTest(SecurityTestCase):
    def setUp(self):
        super().setUp()
        self.alice, alice = hash_key("alice")
        self.bob, bob = hash_key("bob")
        self.start("auth:\n  required: true\n  groups:\n    research: [bob]\n  api_keys:\n" +
                   "".join(f"    {line}\n" for line in alice + bob) +
                   "authorization:\n  rules:\n"
                   "    - identities: [alice]\n      models: [llama3.2]\n      actions: [predict]\n"
                   "    - groups: [research]\n      models: ['qwen2.5:*', 'llama3*']\n")

    def test_a_rule_allows_its_model_and_action_only(self):
        self.assertTrue(self.call(key=self.alice).done)
        self.assert_status(grpc.StatusCode.PERMISSION_DENIED,
                           lambda: self.call(key=self.alice, stream=True),
                           "identity 'alice' may not use model 'llama3.2' for stream")
        self.assert_status(grpc.StatusCode.PERMISSION_DENIED,
                           lambda: self.call(key=self.alice, model="qwen2.5:7b"),
                           "model 'qwen2.5:7b'")
        self.assertEqual(self.generations(), 1)
        metrics = self.metrics()
        self.assertIn('gateway_authorization_total{action="stream",decision="deny",frontend="grpc"} 1', metrics)
        self.assertIn('gateway_authorization_total{action="predict",decision="deny",frontend="grpc"} 1', metrics)
        self.assertEqual(self.access_log()[-1]["authz"], "deny")

    def test_a_group_rule_with_patterns_allows_its_members(self):
        self.assertTrue(self.call(key=self.bob, model="qwen2.5:7b").done)
        self.assertTrue(len(self.call(key=self.bob, model="llama3.2", stream=True)) > 0)


class RateLimitTest(SecurityTestCase):
    def test_past_the_burst_the_caller_gets_resource_exhausted_with_a_retry_hint(self):
        self.start("rate_limits:\n  default:\n    requests_per_second: 0.5\n    burst: 2\n")
        stub = self.stub()
        self.call(stub=stub)
        self.call(stub=stub)
        request = pb2.InferenceRequest(model_name=MODEL, input_data=b"hi")
        with self.assertRaises(grpc.RpcError) as ctx:
            stub.Predict(request, timeout=10)
        err = ctx.exception
        self.assertEqual(err.code(), grpc.StatusCode.RESOURCE_EXHAUSTED, err.details())
        self.assertIn("rate limit exceeded for identity 'anonymous'", err.details())
        retry_ms = int(dict(err.trailing_metadata())["retry-after-ms"])
        self.assertTrue(0 < retry_ms <= 2000, retry_ms)
        self.assertEqual(self.generations(), 2)
        time.sleep(retry_ms / 1000 + 0.05)
        self.assertTrue(self.call(stub=stub).done)
        self.assertIn('gateway_rate_limited_total{frontend="grpc",reason="rate"} 1', self.metrics())

    def test_an_identity_over_its_stream_cap_waits_for_one_to_end(self):
        key, entry = hash_key("batch")
        self.start("auth:\n  api_keys:\n" + "".join(f"    {l}\n" for l in entry) +
                   "rate_limits:\n  identities:\n    batch:\n      max_concurrent_streams: 1\n",
                   tokens=40, token_delay_ms=50)
        stub = self.stub()
        metadata = [("authorization", f"Bearer {key}")]
        request = pb2.InferenceRequest(model_name=MODEL, input_data=b"long one")
        first = stub.PredictStream(request, metadata=metadata, timeout=30)
        next(first)  # the stream is under way
        err = self.assert_status(grpc.StatusCode.RESOURCE_EXHAUSTED,
                                 lambda: self.call(key=key, stream=True),
                                 "identity 'batch' already has 1 streams in progress")
        self.assertIn("retry-after-ms", dict(err.trailing_metadata()))
        # Unary calls are not streams; an anonymous caller has its own (default: no) limits.
        self.assertTrue(self.call(key=key).done)
        self.assertTrue(len(self.call(stream=True)) > 0)
        list(first)
        harness.wait_for(lambda: self._stream_allowed(key), 10, "the stream place to come back")

    def _stream_allowed(self, key):
        try:
            return len(self.call(key=key, stream=True)) > 0
        except grpc.RpcError as e:
            if e.code() != grpc.StatusCode.RESOURCE_EXHAUSTED:
                raise
            return False


class InputLimitsTest(SecurityTestCase):
    def setUp(self):
        super().setUp()
        self.start("limits:\n  max_request_bytes: 65536\n  max_image_request_bytes: 131072\n"
                   "  max_prompt_bytes: 1000\n  max_messages: 3\n  max_metadata_entries: 2\n"
                   "  max_metadata_value_bytes: 16\n")

    def test_each_limit_is_named_when_exceeded(self):
        cases = [
            (dict(prompt="x" * 1001), "limits.max_prompt_bytes (1000)"),
            (dict(prompt="", messages=[pb2.ChatMessage(role="user", content="hi")] * 4),
             "limits.max_messages (3)"),
            (dict(metadata={"a": "1", "b": "2", "c": "3"}), "limits.max_metadata_entries (2)"),
            (dict(metadata={"team": "x" * 17}), "limits.max_metadata_value_bytes (16)"),
            (dict(prompt="", metadata={"a": "x" * 70000}), "limits.max_request_bytes (65536)"),
            (dict(prompt="", messages=[pb2.ChatMessage(role="user", content="hi",
                                                       images=[b"\0" * 140000])]),
             "limits.max_image_request_bytes (131072)"),
        ]
        for fields, limit in cases:
            with self.subTest(limit=limit):
                self.assert_status(grpc.StatusCode.INVALID_ARGUMENT,
                                   lambda: self.call(**fields), limit)
        self.assertEqual(self.generations(), 0)
        self.assertTrue(self.call(prompt="x" * 1000).done)
        # Images past max_request_bytes but within max_image_request_bytes pass.
        self.assertTrue(self.call(prompt="", messages=[pb2.ChatMessage(
            role="user", content="hi", images=[b"\0" * 70000])]).done)

    def test_a_message_past_the_transport_ceiling_is_refused_by_grpc(self):
        # Twice the larger limit would be 256 KiB; the ceiling is at least 4 MiB.
        self.assert_status(grpc.StatusCode.RESOURCE_EXHAUSTED,
                           lambda: self.call(prompt="x" * (5 << 20)))
        self.assertTrue(self.call().done)  # the gateway is fine

    def test_an_invalid_model_name_is_invalid_argument(self):
        self.assert_status(grpc.StatusCode.INVALID_ARGUMENT,
                           lambda: self.call(model="../etc/passwd"), "not a valid Ollama model")


class RedactionTest(SecurityTestCase):
    def test_matches_are_replaced_before_the_backend_sees_the_prompt(self):
        self.start("redaction:\n  rules:\n"
                   "    - name: email\n"
                   "      pattern: '[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\.[A-Za-z]{2,}'\n"
                   "      replacement: '[EMAIL]'\n"
                   "    - name: phone\n      pattern: '\\+?[0-9][0-9 -]{7,}[0-9]'\n"
                   "      replacement: '[PHONE]'\n")
        secret = "write to bob@example.com or call +1 555 123 4567 today"
        redacted = "write to [EMAIL] or call [PHONE] today"
        via_gateway = self.call(prompt=secret).output_data
        # The simulator's answer is a pure function of its name and the prompt it got: the same
        # answer as for the redacted text, and not the one the original text gives.
        self.assertEqual(via_gateway, self.call(prompt=redacted).output_data)
        direct = harness.http_post_json(self.backend.url + "/api/generate",
                                        {"model": MODEL, "prompt": secret, "stream": False})
        self.assertNotEqual(via_gateway.decode(), direct["response"])
        metrics = self.metrics()
        self.assertIn('gateway_redactions_total{rule="email"} 1', metrics)
        self.assertIn('gateway_redactions_total{rule="phone"} 1', metrics)

    def test_an_invalid_pattern_is_refused_at_load_with_its_line(self):
        errors = self.refused_config(
            "redaction:\n  rules:\n    - name: broken\n      pattern: '([a-z'\n")
        self.assertIn(f"{self.tmp}/bad.yaml:7: redaction.rules[0].pattern: ", errors)
        self.assertIn("broken", errors)


class HttpSecurityTestCase(SecurityTestCase):
    """The gateway with its HTTP front door on, in front of one ollama-sim serving `models`."""

    def start_http(self, security_yaml, models=(MODEL,)):
        # The backend takes bodies as large as the gateway's image limit, as Ollama does.
        self.backend = self.sim("gpu-a", models=models, tokens=4,
                                extra=("--max-body-bytes", str(96 << 20)))
        text = ("listen:\n  address: 127.0.0.1:0\n  insecure: true\n"
                "http:\n  address: 127.0.0.1:0\n  insecure: true\n"
                "admin:\n  address: 127.0.0.1:0\nlogging:\n  level: debug\n"
                f"  access_log:\n    path: {os.path.join(self.tmp, 'access.log')}\n"
                + security_yaml + "backends:\n" + harness.backend_yaml("gpu-a", self.backend.url))
        self.gw = self.gateway(text)
        self.http = dict(kv.split("=", 1) for kv in self.gw.first_line.split()[1:])["http"]
        harness.wait_for(lambda: harness.http_get(f"http://{self.gw.admin}/readyz")[0] == 200,
                         10, "the backend to be healthy")

    def post(self, path, body, key=None, base=None, timeout=60):
        """(status, body text) of a JSON POST (`body` a dict or bytes) to the gateway."""
        host, port = (base or self.http).rsplit(":", 1)
        conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        conn.request("POST", path, body=data, headers=headers)
        r = conn.getresponse()
        text = r.read().decode()
        conn.close()
        return r.status, text


def chat_with_images(model, image_bytes):
    """An /api/chat body whose one message carries `image_bytes` of base64 images (4 of them)."""
    image = base64.b64encode(b"\x89PNG" + b"\0" * (image_bytes * 3 // 16)).decode()
    return {"model": model, "stream": False,
            "messages": [{"role": "user", "content": "what is in these?", "images": [image] * 4}]}


class ModelNameTest(HttpSecurityTestCase):
    NAME = "registry.corp:5000/team/m:tag"

    def test_a_name_with_a_registry_port_is_routed_over_http_and_grpc(self):
        self.start_http("authorization:\n  rules:\n    - identities: [anonymous]\n"
                        "      models: ['registry.corp:5000/team/*']\n", models=(self.NAME,))
        status, body = self.post("/api/chat", {"model": self.NAME, "stream": False,
                                               "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["model"], self.NAME)
        # Ollama compares names case-insensitively.
        status, body = self.post("/api/chat", {"model": "Registry.Corp:5000/Team/M:TAG",
                                               "stream": False,
                                               "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(status, 200, body)
        self.assertTrue(self.call(model=self.NAME).done)
        # A digest is not a name Ollama addresses models by.
        status, body = self.post("/api/chat", {"model": "m@sha256:" + "0" * 64,
                                               "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(status, 400, body)
        self.assertIn("digest", body)
        self.assertEqual(self.generations(), 3)


class BodyLimitTest(HttpSecurityTestCase):
    def setUp(self):
        super().setUp()
        # Only max_messages is lowered; the image and body limits are the defaults.
        self.start_http("limits:\n  max_messages: 3\n", models=(MODEL, "nomic-embed-text"))

    def curl_post(self, url, body):
        """(HTTP status, body text) of POSTing `body` as JSON with curl, which sends
        Expect: 100-continue, so a body refused on its length is answered before it is sent."""
        path = os.path.join(self.tmp, "body.json")
        with open(path, "wb") as f:
            f.write(json.dumps(body).encode())
        out = subprocess.run(
            ["curl", "-sS", "--max-time", "60", "-H", "Content-Type: application/json",
             "--data-binary", "@" + path, "-w", "\n%{http_code}", url],
            capture_output=True, text=True, timeout=90)
        text, _, code = out.stdout.rpartition("\n")
        return int(code or 0), text

    def test_a_chat_with_20_mib_of_images_passes_with_default_limits(self):
        status, text = self.post("/api/chat", chat_with_images(MODEL, 20 << 20))
        self.assertEqual(status, 200, text[:300])
        self.assertTrue(json.loads(text)["done"])
        self.assertEqual(self.generations(), 1)

    def test_a_body_over_the_image_limit_gets_413_naming_the_key(self):
        status, text = self.curl_post(f"http://{self.http}/api/chat",
                                      chat_with_images(MODEL, (64 << 20) + 4096))
        self.assertEqual(status, 413, text[:300])
        self.assertIn("limits.max_image_request_bytes (67108864 bytes)",
                      json.loads(text)["error"])
        self.assertEqual(self.generations(), 0)

    def test_embedding_inputs_are_not_messages(self):
        status, body = self.post("/api/embed", {"model": "nomic-embed-text",
                                                "input": [f"text {i}" for i in range(10)]})
        self.assertEqual(status, 200, body)
        self.assertEqual(len(json.loads(body)["embeddings"]), 10)
        # Chat messages still count against max_messages (3).
        status, body = self.post("/api/chat", {"model": MODEL, "stream": False, "messages": [
            {"role": "user", "content": "hi"}] * 4})
        self.assertEqual(status, 400, body)
        self.assertIn("limits.max_messages (3)", body)


class NetworkIdentityTest(HttpSecurityTestCase):
    def setUp(self):
        super().setUp()
        self.key, entry = hash_key("alice")
        self.start_http(
            "auth:\n  required: true\n  api_keys:\n" + "".join(f"    {line}\n" for line in entry) +
            "  networks:\n    - {cidr: 127.0.0.0/8, identity: ollama-cli}\n"
            "    - {cidr: 'fd00::/8', identity: lab}\n"
            "authorization:\n  rules:\n    - identities: [ollama-cli]\n      models: ['*']\n")

    def test_a_caller_without_a_key_runs_as_its_network_identity(self):
        self.assertTrue(self.call().done)
        status, body = self.post("/api/chat", {"model": MODEL, "stream": False,
                                               "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(status, 200, body)
        lines = self.access_log(at_least=2)
        self.assertEqual([(line["identity"], line["auth"]) for line in lines[-2:]],
                         [("ollama-cli", "network")] * 2)
        self.assertIn('gateway_auth_total{frontend="grpc",method="network",result="ok"}',
                      self.metrics())

    def test_a_key_wins_over_the_network_and_is_authorized_as_its_own_identity(self):
        self.assert_status(grpc.StatusCode.PERMISSION_DENIED, lambda: self.call(key=self.key),
                           "identity 'alice' may not use model")
        status, body = self.post("/api/chat", {"model": MODEL,
                                               "messages": [{"role": "user", "content": "hi"}]},
                                 key=self.key)
        self.assertEqual(status, 403, body)
        # An invalid key is refused even from a known network.
        self.assert_status(grpc.StatusCode.UNAUTHENTICATED, lambda: self.call(key="og_nope"),
                           "not valid")
        self.assertEqual(self.generations(), 0)


class NoMatchingNetworkTest(HttpSecurityTestCase):
    def test_a_caller_outside_every_network_is_anonymous(self):
        self.start_http(
            "auth:\n  networks:\n    - {cidr: 10.0.0.0/8, identity: ollama-cli}\n"
            "authorization:\n  rules:\n    - identities: [ollama-cli]\n      models: ['*']\n")
        status, body = self.post("/api/chat", {"model": MODEL,
                                               "messages": [{"role": "user", "content": "hi"}]})
        self.assertEqual(status, 403, body)
        self.assertIn("identity 'anonymous' may not use model", body)
        self.assertEqual(self.generations(), 0)


class UnknownKeyTest(HttpSecurityTestCase):
    def start_with(self, unknown_keys=""):
        _, entry = hash_key("alice")
        self.start_http("auth:\n" + unknown_keys + "  api_keys:\n" +
                        "".join(f"    {line}\n" for line in entry))

    def chat(self, key):
        return self.post("/api/chat", {"model": MODEL, "stream": False,
                                       "messages": [{"role": "user", "content": "hi"}]}, key=key)

    def test_a_placeholder_key_is_refused_by_default(self):
        self.start_with()
        status, body = self.chat("ollama")
        self.assertEqual(status, 401, body)
        self.assertIn("not valid", body)
        self.assertEqual(self.generations(), 0)

    def test_a_placeholder_key_runs_as_anonymous_with_unknown_keys_anonymous(self):
        self.start_with("  unknown_keys: anonymous\n")
        status, body = self.chat("ollama")
        self.assertEqual(status, 200, body)
        self.assertTrue(self.call(key="ollama").done)
        lines = self.access_log(at_least=2)
        self.assertEqual([(line["identity"], line["auth"]) for line in lines[-2:]],
                         [("anonymous", "unknown_key")] * 2)
        self.assertIn('gateway_auth_total{frontend="http",method="unknown_key",result="ok"}',
                      self.metrics())

    def test_auth_required_refuses_a_placeholder_key_even_so(self):
        self.start_with("  required: true\n  unknown_keys: anonymous\n")
        status, body = self.chat("ollama")
        self.assertEqual(status, 401, body)
        self.assertEqual(self.generations(), 0)


if __name__ == "__main__":
    import unittest
    unittest.main()
