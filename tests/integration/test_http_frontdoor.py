"""The HTTP front door: Ollama's REST API and the OpenAI-compatible endpoints.

Real clients against a real gateway and ollama-sim backends: curl, Python's http.client, and the
official `ollama` and `openai` JavaScript clients from the npm registry (tests/js, installed by
scripts/install-deps.sh) run unmodified under Node.js.
"""
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request

import harness
from test_tls import Pki

MODEL = "llama3.2"
JS_DIR = os.path.join(harness.SOURCE_DIR, "tests", "js")
# A key made with `ollama-gateway hash-key` for the plaintext key "og-test-key-alice".
KEY = "og-test-key-alice"


def without_backend(text):
    """An answer of ollama-sim without the "[backend] " it starts with (the rest depends only on
    the prompt and seed)."""
    return re.sub(r"^\[[^\]]*\] ", "", text)


def hash_key(identity, key):
    out = subprocess.run([harness.binary("ollama-gateway"), "hash-key", "--identity", identity],
                         input=key + "\n", capture_output=True, text=True, check=True).stdout
    return out


class FrontDoorTestCase(harness.ProcessTestCase):
    """Two sims serving different models behind a gateway with its HTTP front door on."""

    http_extra = "  insecure: true\n"
    extra = ""

    def setUp(self):
        super().setUp()
        self.a = self.sim("gpu-a", models=(MODEL, "nomic-embed-text"), tokens=8)
        self.b = self.sim("gpu-b", models=(MODEL, "qwen2.5:7b"), tokens=8)
        self.gw = self.gateway(harness.gateway_config(
            [("gpu-a", self.a.url, None), ("gpu-b", self.b.url, None)],
            extra="http:\n  address: 127.0.0.1:0\n" + self.http_extra + self.extra))
        fields = dict(kv.split("=", 1) for kv in self.gw.first_line.split()[1:])
        self.http = fields["http"]
        self.base = "http://" + self.http
        harness.wait_for(lambda: self.request("GET", "/api/tags")[0] == 200
                         and len(json.loads(self.request("GET", "/api/tags")[2])["models"]) == 3,
                         10, "both backends to be healthy")

    def request(self, method, path, body=None, headers=None, timeout=20):
        """(status, headers dict with lower-case names, body text)."""
        return harness.http_request(self.http, method, path, body, headers, timeout)

    def curl(self, *args):
        proc = subprocess.run(["curl", "-sS", "--max-time", "20", *args], capture_output=True,
                              text=True, timeout=30)
        return proc.returncode, proc.stdout, proc.stderr

    def metrics(self):
        return harness.http_get(f"http://{self.gw.admin}/metrics")[1]

    def node(self, script, *args):
        if shutil.which("node") is None or not os.path.isdir(os.path.join(JS_DIR, "node_modules")):
            self.fail("node and tests/js/node_modules are needed: run bash scripts/install-deps.sh")
        if "--model" not in args:
            args = ("--model", MODEL, *args)
        proc = subprocess.run(["node", os.path.join(JS_DIR, script), "--base-url", self.base,
                               *args], capture_output=True, text=True, timeout=240)
        checks = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
        return proc.returncode, checks, proc.stdout + proc.stderr


class OllamaApiTest(FrontDoorTestCase):
    def test_root_answers_like_ollama_to_get_and_head(self):
        code, out, _ = self.curl(self.base + "/")
        self.assertEqual((code, out), (0, "Ollama is running"))
        status, headers, body = self.request("HEAD", "/")
        self.assertEqual((status, body), (200, ""))
        self.assertEqual(headers["content-length"], str(len("Ollama is running")))

    def test_tags_and_ps_are_the_union_over_backends(self):
        status, _, body = self.request("GET", "/api/tags")
        self.assertEqual(status, 200, body)
        names = [m["name"] for m in json.loads(body)["models"]]
        self.assertEqual(names, sorted(["llama3.2:latest", "nomic-embed-text:latest",
                                        "qwen2.5:7b"]))
        status, _, body = self.request("GET", "/api/ps")
        self.assertEqual(status, 200, body)
        self.assertIn("models", json.loads(body))
        status, _, body = self.request("GET", "/api/version")
        self.assertEqual(status, 200, body)
        self.assertIn("version", json.loads(body))

    def test_generate_without_stream_is_one_json_answer(self):
        status, headers, body = self.request(
            "POST", "/api/generate", {"model": MODEL, "prompt": "hi", "stream": False})
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["content-type"].startswith("application/json"))
        answer = json.loads(body)
        self.assertTrue(answer["done"])
        self.assertEqual(answer["eval_count"], 8)
        self.assertTrue(answer["response"])
        self.assertIn(headers["x-gateway-backend"], ("gpu-a", "gpu-b"))
        self.assertTrue(headers["x-request-id"])

    def test_generate_streams_ndjson_by_default(self):
        code, out, err = self.curl("-N", self.base + "/api/generate",
                                   "-d", json.dumps({"model": MODEL, "prompt": "hi"}))
        self.assertEqual(code, 0, err)
        lines = [json.loads(line) for line in out.splitlines()]
        self.assertGreaterEqual(len(lines), 8)
        self.assertTrue(all(not line["done"] for line in lines[:-1]))
        self.assertTrue(lines[-1]["done"])

    def test_chat_streamed_and_whole_agree(self):
        request = {"model": MODEL, "messages": [{"role": "user", "content": "hello"}],
                   "options": {"seed": 7, "num_predict": 5}}
        status, _, body = self.request("POST", "/api/chat", dict(request, stream=False))
        self.assertEqual(status, 200, body)
        whole = json.loads(body)
        self.assertEqual(whole["message"]["role"], "assistant")
        self.assertEqual(whole["eval_count"], 5)
        status, headers, body = self.request("POST", "/api/chat", request)
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["content-type"], "application/x-ndjson")
        chunks = [json.loads(line) for line in body.splitlines()]
        self.assertEqual(without_backend("".join(c["message"]["content"] for c in chunks)),
                         without_backend(whole["message"]["content"]))

    def test_embed_and_show_go_to_a_backend_serving_the_model(self):
        status, headers, body = self.request(
            "POST", "/api/embed", {"model": "nomic-embed-text", "input": ["a", "b"]})
        self.assertEqual(status, 200, body)
        self.assertEqual(len(json.loads(body)["embeddings"]), 2)
        self.assertEqual(headers["x-gateway-backend"], "gpu-a")
        status, headers, body = self.request("POST", "/api/show", {"model": "qwen2.5:7b"})
        self.assertEqual(status, 200, body)
        self.assertEqual(headers["x-gateway-backend"], "gpu-b")

    def test_errors_come_in_ollama_shape_with_matching_status(self):
        status, _, body = self.request("POST", "/api/generate", {"model": "nope", "prompt": "x"})
        self.assertEqual(status, 404, body)
        self.assertIn("'nope'", json.loads(body)["error"])
        status, _, body = self.request("POST", "/api/chat", b"{not json")
        self.assertEqual(status, 400, body)
        self.assertIn("not valid JSON", json.loads(body)["error"])
        status, _, body = self.request("POST", "/api/generate", {"prompt": "x"})
        self.assertEqual((status, json.loads(body)["error"]), (400, "model is required"))
        status, headers, body = self.request("GET", "/api/generate")
        self.assertEqual(status, 405, body)
        self.assertEqual(headers["allow"], "POST")
        status, _, body = self.request("GET", "/api/nothing")
        self.assertEqual(status, 404, body)
        self.assertIn("error", json.loads(body))

    def test_a_backend_failing_mid_stream_ends_the_stream_with_an_error_line(self):
        for sim in (self.a, self.b):
            harness.http_post_json(sim.url + "/sim/config", {"garbage_after_tokens": 3})
        status, _, body = self.request("POST", "/api/generate", {"model": MODEL, "prompt": "x"})
        self.assertEqual(status, 200, body)
        lines = [json.loads(line) for line in body.splitlines()]
        self.assertEqual(len(lines), 4, body)
        self.assertIn("malformed chunk", lines[-1]["error"])
        status, _, body = self.request("POST", "/v1/chat/completions", {
            "model": MODEL, "stream": True, "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(status, 200, body)
        last = json.loads(body.strip().split("\n\n")[-1][len("data: "):])
        self.assertIn("sent a malformed answer: a line that is not a server-sent event",
                      last["error"]["message"])
        self.assertNotIn("[DONE]", body)
        # Not streamed: nothing was sent yet, so the status says it.
        status, _, body = self.request("POST", "/api/chat", {
            "model": MODEL, "stream": False, "messages": [{"role": "user", "content": "x"}]})
        self.assertEqual(status, 503, body)
        self.assertIn("malformed chunk", json.loads(body)["error"])

    def test_a_client_that_disconnects_aborts_the_backend_request(self):
        slow = self.sim("slow", models=("slowmodel",), tokens=500, token_delay_ms=20)
        gw = self.gateway(harness.gateway_config(
            [("slow", slow.url, None)], extra="http:\n  address: 127.0.0.1:0\n  insecure: true\n"))
        http_addr = dict(kv.split("=", 1) for kv in gw.first_line.split()[1:])["http"]
        host, port = http_addr.rsplit(":", 1)

        def stats():
            with urllib.request.urlopen(slow.url + "/sim/stats", timeout=5) as r:
                return json.loads(r.read())

        harness.wait_for(lambda: harness.http_get(f"http://{gw.admin}/readyz")[0] == 200, 10,
                         "the gateway to be ready")
        sock = socket.create_connection((host, int(port)), timeout=10)
        body = json.dumps({"model": "slowmodel", "prompt": "go"}).encode()
        sock.sendall(b"POST /api/generate HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json"
                     b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        received = b""
        while received.count(b"\n") < 12:  # headers and a first chunk
            chunk = sock.recv(4096)
            self.assertTrue(chunk, received)
            received += chunk
        self.assertIn(b"200 OK", received)
        sock.close()
        harness.wait_for(lambda: stats()["generations_aborted"] >= 1, 5,
                         lambda: f"the backend generation to be aborted: {stats()}")
        self.assertEqual(stats()["in_flight"], 0)
        self.assertEqual(stats()["generations_completed"], 0)
        harness.wait_for(lambda: 'code="CANCELLED",frontend="http"' in
                         harness.http_get(f"http://{gw.admin}/metrics")[1], 5,
                         "the cancelled call in the metrics")
        # The official client's abort() does the same: stream.abort(), then client.abort().
        self.base = f"http://{http_addr}"
        code, checks, out = self.node("ollama_client.mjs", "--model", "slowmodel",
                                      "--check", "abort")
        self.assertEqual(code, 0, out)
        self.assertEqual([c["check"] for c in checks if c["ok"]], ["abort"], out)
        harness.wait_for(lambda: stats()["generations_aborted"] >= 3, 5,
                         lambda: f"both client aborts to reach the backend: {stats()}")

    def test_the_official_ollama_js_client_works_unmodified(self):
        # abort needs a slow backend: it runs in the disconnect test above.
        every = ["generate", "generate-stream", "chat", "chat-stream", "list", "ps", "version",
                 "show", "embed", "error-unknown-model"]
        code, checks, out = self.node("ollama_client.mjs", "--embed-model", "nomic-embed-text",
                                      "--check", ",".join(every))
        self.assertEqual(code, 0, out)
        self.assertEqual(sorted(c["check"] for c in checks if c["ok"]), sorted(every), out)
        self.assertIn('frontend="http"', self.metrics())


class OpenAiApiTest(FrontDoorTestCase):
    def test_chat_completion_whole_and_streamed(self):
        request = {"model": MODEL, "messages": [{"role": "user", "content": "hi"}],
                   "max_tokens": 4}
        status, _, body = self.request("POST", "/v1/chat/completions", request)
        self.assertEqual(status, 200, body)
        answer = json.loads(body)
        self.assertEqual(answer["object"], "chat.completion")
        self.assertEqual(answer["choices"][0]["finish_reason"], "length")
        self.assertEqual(answer["usage"]["completion_tokens"], 4)
        code, out, err = self.curl("-N", self.base + "/v1/chat/completions",
                                   "-H", "Content-Type: application/json",
                                   "-d", json.dumps(dict(request, stream=True)))
        self.assertEqual(code, 0, err)
        events = [line[len("data: "):] for line in out.split("\n\n") if line]
        self.assertEqual(events[-1], "[DONE]")
        chunks = [json.loads(e) for e in events[:-1]]
        self.assertEqual(chunks[0]["choices"][0]["delta"]["role"], "assistant")
        self.assertEqual(chunks[-1]["choices"][0]["finish_reason"], "length")
        self.assertEqual(
            without_backend("".join(c["choices"][0]["delta"].get("content", "")
                                    for c in chunks if c["choices"])),
            without_backend(answer["choices"][0]["message"]["content"]))

    def test_errors_come_in_openai_shape(self):
        status, _, body = self.request("POST", "/v1/chat/completions",
                                       {"model": "nope", "messages": [{"role": "user",
                                                                       "content": "x"}]})
        self.assertEqual(status, 404, body)
        error = json.loads(body)["error"]
        self.assertEqual((error["type"], error["code"]), ("invalid_request_error",
                                                          "model_not_found"))
        self.assertIn("'nope'", error["message"])
        status, _, body = self.request("POST", "/v1/chat/completions",
                                       {"model": MODEL, "messages": [], "n": 1})
        self.assertEqual(status, 400, body)
        self.assertIn("messages", json.loads(body)["error"]["message"])

    def test_models_and_embeddings(self):
        status, _, body = self.request("GET", "/v1/models")
        self.assertEqual(status, 200, body)
        ids = [m["id"] for m in json.loads(body)["data"]]
        self.assertIn("llama3.2:latest", ids)
        status, _, body = self.request("POST", "/v1/embeddings",
                                       {"model": "nomic-embed-text", "input": "a"})
        self.assertEqual(status, 200, body)
        data = json.loads(body)["data"]
        self.assertEqual(len(data), 1)
        self.assertTrue(all(isinstance(x, float) for x in data[0]["embedding"]))

    def test_the_official_openai_js_client_works_unmodified(self):
        # The tool, Responses and fill-in-the-middle checks run in test_client_fidelity.
        every = ["chat", "chat-stream", "completions", "completions-stream", "models",
                 "embeddings", "error-unknown-model", "max-tokens"]
        code, checks, out = self.node("openai_client.mjs", "--embed-model", "nomic-embed-text",
                                      "--check", ",".join(every))
        self.assertEqual(code, 0, out)
        self.assertEqual(sorted(c["check"] for c in checks if c["ok"]), sorted(every), out)


class AuthTest(FrontDoorTestCase):
    """The same keys, authorization and rate limits as the gRPC port."""

    def setUp(self):
        entry = hash_key("alice", KEY)
        self.extra = ("auth:\n  required: true\n  api_keys:\n" +
                      "".join("    " + line + "\n" for line in entry.strip().splitlines()) +
                      "rate_limits:\n  identities:\n    alice:\n      requests_per_second: 0.2\n"
                      "      burst: 3\n")
        super().setUp()

    def request(self, method, path, body=None, headers=None, timeout=20):
        headers = dict(headers or {})
        headers.setdefault("Authorization", "Bearer " + KEY)
        return super().request(method, path, body, headers, timeout)

    def test_a_key_is_required_and_checked(self):
        status, _, body = super().request("POST", "/api/generate",
                                          {"model": MODEL, "prompt": "x"})
        self.assertEqual(status, 401, body)
        self.assertIn("error", json.loads(body))
        status, _, body = super().request("GET", "/v1/models",
                                          headers={"Authorization": "Bearer wrong"})
        self.assertEqual(status, 401, body)
        self.assertEqual(json.loads(body)["error"]["type"], "authentication_error")
        self.assertNotIn("wrong", body)
        self.assertIn('gateway_auth_total{frontend="http",method="api_key",result="invalid"} 1',
                      self.metrics())

    def test_the_openai_client_sees_wrong_and_missing_keys_refused(self):
        code, checks, out = self.node("openai_client.mjs", "--api-key", KEY,
                                      "--check", "error-auth")
        self.assertEqual(code, 0, out)
        self.assertEqual([(c["check"], c["ok"], c.get("skipped")) for c in checks],
                         [("error-auth", True, None)], out)

    def test_the_rate_limit_answers_429_with_retry_after(self):
        request = {"model": MODEL, "prompt": "x", "stream": False}
        statuses = [self.request("POST", "/api/generate", request)[0] for _ in range(3)]
        self.assertEqual(statuses, [200, 200, 200])
        status, headers, body = self.request("POST", "/api/generate", request)
        self.assertEqual(status, 429, body)
        self.assertGreaterEqual(int(headers["retry-after"]), 1)
        self.assertIn("rate limit", json.loads(body)["error"])
        self.assertIn('gateway_rate_limited_total{frontend="http",reason="rate"} 1',
                      self.metrics())


class HttpsTest(harness.ProcessTestCase):
    """TLS 1.3 only, with the listen section's certificate, as on the gRPC port."""

    def test_tls13_is_served_and_tls12_refused(self):
        ca = Pki(self.tmp, "ca")
        cert, key = ca.issue("gateway", "1001")
        sim = self.sim("gpu-a", models=(MODEL,))
        config = harness.gateway_config([("gpu-a", sim.url, None)]).replace(
            "listen:\n  address: 127.0.0.1:0\n  insecure: true\n",
            f"listen:\n  address: 127.0.0.1:0\n  cert: {cert}\n  key: {key}\n") + \
            "http:\n  address: 127.0.0.1:0\n"
        gw = self.gateway(config)
        http_addr = dict(kv.split("=", 1) for kv in gw.first_line.split()[1:])["http"]
        port = http_addr.rsplit(":", 1)[1]
        url = f"https://localhost:{port}"
        resolve = f"localhost:{port}:127.0.0.1"

        def curl(*args):
            return subprocess.run(["curl", "-sS", "--max-time", "20", "--resolve", resolve,
                                   "--cacert", ca.cert, *args], capture_output=True, text=True)

        ok = curl("--tlsv1.3", url + "/")
        self.assertEqual((ok.returncode, ok.stdout), (0, "Ollama is running"), ok.stderr)
        harness.wait_for(lambda: curl(url + "/api/tags").stdout.count("llama3.2") > 0, 10,
                         "the backend to be listed over HTTPS")
        old = curl("--tls-max", "1.2", url + "/")
        self.assertNotEqual(old.returncode, 0, old.stdout)
        plain = subprocess.run(["curl", "-sS", "--max-time", "5", f"http://127.0.0.1:{port}/"],
                               capture_output=True, text=True)
        self.assertNotEqual(plain.returncode, 0)
        self.assertNotIn("Ollama is running", plain.stdout)
        # The listener survived both refusals.
        self.assertEqual(curl(url + "/").stdout, "Ollama is running")


if __name__ == "__main__":
    import unittest
    unittest.main()
