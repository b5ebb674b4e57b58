"""The access log, the gateway's JSON log format and GET /admin/config, seen from outside.

A real gateway in front of ollama-sim writes its access log to a file in the test's temp dir;
the tests read it back as an auditor would.
"""
import glob
import hashlib
import json
import os
import time
import unittest
import urllib.request

import grpc

from harness import ProcessTestCase, gateway_config, grpc_modules
from test_tls import Pki

pb2, pb2_grpc = grpc_modules()


def read(path):
    with open(path) as f:
        return f.read()


class AccessLogTestCase(ProcessTestCase):
    def start(self, logging_yaml, backends=None, extra=""):
        self.sim_a = self.sim("gpu-a")
        backends = backends or [("gpu-a", self.sim_a.url, ["llama3.2"])]
        config = gateway_config(backends, extra=extra).replace(
            "logging:\n  level: debug\n", logging_yaml)
        self.gw = self.gateway(config)
        self.channel = grpc.insecure_channel(self.gw.target)
        self.addCleanup(self.channel.close)
        self.stub = pb2_grpc.ModelInferenceStub(self.channel)

    def predict(self, prompt, model="llama3.2", request_id=None):
        metadata = [("x-request-id", request_id)] if request_id else None
        request = pb2.InferenceRequest(model_name=model, input_data=prompt.encode())
        return self.stub.Predict.with_call(request, timeout=20, metadata=metadata)

    def lines(self, path, count, timeout=5):
        """The first `count` lines of the access log, waiting for the writer thread."""
        deadline = time.monotonic() + timeout
        while True:
            text = read(path) if os.path.exists(path) else ""
            lines = [json.loads(line) for line in text.splitlines() if line]
            if len(lines) >= count or time.monotonic() > deadline:
                self.assertGreaterEqual(len(lines), count, text)
                return lines

    def admin(self, path):
        with urllib.request.urlopen(f"http://{self.gw.admin}{path}", timeout=5) as r:
            return r.status, r.read().decode()


class AccessLogTest(AccessLogTestCase):
    def test_every_call_gets_one_line_with_the_audit_fields_and_no_prompt(self):
        path = os.path.join(self.tmp, "logs", "access.log")  # the directory is created
        self.start(f"logging:\n  level: info\n  access_log:\n    path: {path}\n")
        prompt = "the secret plan for Tuesday"
        response, call = self.predict(prompt, request_id="audit-42")
        self.assertEqual(dict(call.trailing_metadata())["x-request-id"], "audit-42")
        with self.assertRaises(grpc.RpcError):
            self.predict("another secret", model="mistral")
        ok, failed = self.lines(path, 2)

        self.assertEqual(ok["request_id"], "audit-42")
        self.assertEqual(ok["rpc"], "Predict")
        self.assertEqual(ok["model"], "llama3.2")
        self.assertEqual(ok["backend"], "gpu-a")
        self.assertEqual(ok["status"], "OK")
        self.assertEqual(ok["attempts"], 1)
        self.assertEqual(ok["client"], "-")  # no client certificate on this listener
        self.assertTrue(ok["peer"].startswith("ipv"), ok["peer"])
        self.assertGreater(ok["latency_ms"], 0)
        self.assertGreater(ok["ttft_ms"], 0)
        self.assertLessEqual(ok["ttft_ms"], ok["latency_ms"])
        self.assertEqual(ok["completion_tokens"], response.usage.completion_tokens)
        self.assertEqual(ok["prompt_tokens"], response.usage.prompt_tokens)
        self.assertEqual(ok["input_sha256"], hashlib.sha256(prompt.encode()).hexdigest())
        self.assertRegex(ok["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")

        self.assertEqual(failed["status"], "NOT_FOUND")
        self.assertEqual(failed["backend"], "")
        self.assertIn("mistral", failed["error"])
        self.assertIsNone(failed["ttft_ms"])
        self.assertEqual(len(failed["request_id"]), 32)  # made up by the gateway

        self.assertNotIn("secret", read(path))
        self.assertNotIn("input", ok)
        self.assertNotIn("output", ok)

    def test_log_content_adds_prompt_and_answer_and_warns(self):
        path = os.path.join(self.tmp, "access.log")
        self.start(f"logging:\n  level: info\n  access_log:\n    path: {path}\n"
                   "    log_content: true\n")
        response, _ = self.predict("tell me")
        (line,) = self.lines(path, 1)
        self.assertEqual(line["input"], "tell me")
        self.assertEqual(line["output"], response.output_data.decode())
        self.assertIn("log_content is on", self.gw.log())

    def test_the_file_rotates_by_size_keeping_max_files(self):
        path = os.path.join(self.tmp, "access.log")
        self.start(f"logging:\n  level: info\n  access_log:\n    path: {path}\n"
                   "    max_size_mb: 1\n    max_files: 2\n    log_content: true\n")
        big = "x" * (200 * 1024)  # each line carries it: about 5 lines per MiB
        for _ in range(16):
            self.predict(big)
        pattern = os.path.join(self.tmp, "access*.log")  # access.log, access.1.log, ...
        expected = sorted([path, path.replace(".log", ".1.log"), path.replace(".log", ".2.log")])
        # A listing taken while a rotation renames its files can miss one (slow under ASan):
        # wait for the whole set.
        deadline = time.monotonic() + 10
        while sorted(glob.glob(pattern)) != expected and time.monotonic() < deadline:
            time.sleep(0.05)
        files = sorted(glob.glob(pattern))
        self.assertEqual(files, expected)
        for f in files:
            self.assertLessEqual(os.path.getsize(f), 1024 * 1024 + 256 * 1024)

    def test_a_stream_call_is_logged_once_when_it_ends(self):
        path = os.path.join(self.tmp, "access.log")
        self.start(f"logging:\n  level: info\n  access_log:\n    path: {path}\n")
        request = pb2.InferenceRequest(model_name="llama3.2", input_data=b"stream it")
        chunks = list(self.stub.PredictStream(request, timeout=20))
        (line,) = self.lines(path, 1)
        self.assertEqual(line["rpc"], "PredictStream")
        self.assertEqual(line["status"], "OK")
        self.assertEqual(line["completion_tokens"], chunks[-1].usage.completion_tokens)


class ProcessLogFormatTest(AccessLogTestCase):
    def test_json_format_makes_every_stderr_line_a_json_object(self):
        self.start("logging:\n  level: debug\n  format: json\n")
        self.predict('a "quoted" prompt')
        with self.assertRaises(grpc.RpcError):
            self.predict("x", model="mistral")
        lines = [line for line in self.gw.log().splitlines() if line.strip()]
        self.assertGreater(len(lines), 3)
        for line in lines:
            entry = json.loads(line)  # fails the test on a line that is not JSON
            self.assertEqual(set(entry), {"time", "level", "msg"})
        self.assertTrue(any("health: backend gpu-a" in json.loads(l)["msg"] for l in lines))


class AdminConfigTest(AccessLogTestCase):
    def test_admin_config_shows_the_config_in_force_with_key_paths_redacted(self):
        pki = Pki(self.tmp, "backend-ca")
        cert, key = pki.issue("gateway-client", "1a", client=True)
        config_backends = (
            "  - name: gpu-tls\n    url: https://127.0.0.1:9\n"
            f"    tls:\n      ca: {pki.cert}\n      cert: {cert}\n      key: {key}\n")
        self.sim_a = self.sim("gpu-a")
        text = gateway_config([("gpu-a", self.sim_a.url, ["llama3.2"])])
        text = text.replace("logging:\n  level: debug\n",
                            "logging:\n  level: info\n  format: json\n") + config_backends
        self.gw = self.gateway(text)
        status, body = self.admin("/admin/config")
        self.assertEqual(status, 200)
        config = json.loads(body)
        self.assertEqual(config["logging"]["format"], "json")
        self.assertEqual(config["upstream"]["max_attempts"], 2)  # a default, shown
        self.assertEqual(config["health"]["connect"]["interval"], "5000ms")
        tls = config["backends"][1]["tls"]
        self.assertEqual(tls["cert"], cert)
        self.assertEqual(tls["key"], "(redacted)")
        self.assertNotIn(key, body)
        self.assertEqual([b["name"] for b in config["backends"]], ["gpu-a", "gpu-tls"])


if __name__ == "__main__":
    unittest.main()
