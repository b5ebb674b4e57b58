"""The gateway end to end: real ollama-sim backends, the real gateway, real gRPC clients."""
import collections
import json
import os
import signal
import subprocess
import time
import unittest
import urllib.request

import grpc

import harness
from harness import ProcessTestCase, gateway_config

pb2, pb2_grpc = harness.grpc_modules()


class GatewayTestCase(ProcessTestCase):
    def start(self, sims, models=("llama3.2",), config_models=None, extra=""):
        """Starts the named sims and a gateway in front of them; returns the gRPC stub."""
        self.sims = {name: self.sim(name, models=models, **kw) for name, kw in sims.items()}
        backends = [(name, s.url, list(config_models or models)) for name, s in self.sims.items()]
        self.gw = self.gateway(gateway_config(backends, extra=extra))
        self.channel = grpc.insecure_channel(self.gw.target)
        self.addCleanup(self.channel.close)
        return pb2_grpc.ModelInferenceStub(self.channel)

    def predict(self, stub, prompt, model="llama3.2", timeout=20, **fields):
        request = pb2.InferenceRequest(model_name=model, input_data=prompt.encode(), **fields)
        response, call = stub.Predict.with_call(request, timeout=timeout)
        trailers = dict(call.trailing_metadata())
        return response, trailers

    def assert_rpc_error(self, code, fn, *contains):
        return harness.assert_rpc_error(self, code, fn, *contains)

    def sim_stats(self, name):
        with urllib.request.urlopen(self.sims[name].url + "/sim/stats", timeout=5) as r:
            return json.load(r)


class PredictTest(GatewayTestCase):
    def test_answers_are_complete_and_spread_over_every_backend(self):
        stub = self.start({"gpu-a": {}, "gpu-b": {}, "gpu-c": {}})
        served = collections.Counter()
        for i in range(9):
            response, trailers = self.predict(stub, f"question number {i}")
            backend = trailers["x-gateway-backend"]
            served[backend] += 1
            text = response.output_data.decode()
            # The simulator's first token names it: the answer really came from that backend.
            self.assertTrue(text.startswith(f"[{backend}]"), text)
            self.assertTrue(response.done)
            self.assertEqual(response.done_reason, "stop")
            self.assertEqual(response.model_name, "llama3.2")
            self.assertEqual(response.usage.completion_tokens, 8)
            self.assertEqual(response.usage.prompt_tokens, 3)
            self.assertGreater(response.timings.eval_duration_ns, 0)
            self.assertGreater(response.timings.gateway_total_ns, 0)
            self.assertEqual(trailers["x-gateway-attempts"], "1")
        # Round-robin with equal weights: every backend exactly a third of the calls.
        self.assertEqual(served, {"gpu-a": 3, "gpu-b": 3, "gpu-c": 3})

    def test_same_prompt_gives_the_same_text_from_the_same_backend(self):
        stub = self.start({"gpu-a": {}})
        first, _ = self.predict(stub, "determinism please")
        second, _ = self.predict(stub, "determinism please")
        other, _ = self.predict(stub, "something else")
        self.assertEqual(first.output_data, second.output_data)
        self.assertNotEqual(first.output_data, other.output_data)

    def test_chat_messages_go_to_the_chat_endpoint(self):
        stub = self.start({"gpu-a": {}})
        request = pb2.InferenceRequest(model_name="llama3.2", messages=[
            pb2.ChatMessage(role="system", content="be brief"),
            pb2.ChatMessage(role="user", content="hello there")])
        response = stub.Predict(request, timeout=20)
        self.assertTrue(response.output_data.decode().startswith("[gpu-a]"))
        self.assertEqual(response.usage.completion_tokens, 8)

    def test_num_predict_limits_the_answer(self):
        stub = self.start({"gpu-a": {}})
        response, _ = self.predict(stub, "short please",
                                   options=pb2.GenerationOptions(num_predict=3))
        self.assertEqual(response.usage.completion_tokens, 3)
        self.assertEqual(response.done_reason, "length")

    def test_model_names_match_case_insensitively_with_the_default_tag(self):
        stub = self.start({"gpu-a": {}})
        response, _ = self.predict(stub, "hi", model="Llama3.2:latest")
        self.assertEqual(response.model_name, "Llama3.2:latest")

    def test_gatewayctl_prints_the_answer_and_the_backend(self):
        self.start({"gpu-a": {}})
        out = subprocess.run(
            [harness.binary("gatewayctl"), "predict", "--insecure", "--target", self.gw.target,
             "--model", "llama3.2", "why is the sky blue?"],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(out.stdout.startswith("[gpu-a]"), out.stdout)
        self.assertIn("backend=gpu-a", out.stderr)
        self.assertIn("completion_tokens=8", out.stderr)

    def test_gatewayctl_reports_a_failed_call_with_its_status(self):
        self.start({"gpu-a": {}})
        out = subprocess.run(
            [harness.binary("gatewayctl"), "predict", "--insecure", "--target", self.gw.target,
             "--model", "no-such-model", "hi"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertIn("error: NOT_FOUND: model 'no-such-model' is not served", out.stderr)


class ErrorTest(GatewayTestCase):
    def test_unknown_model_is_not_found_and_names_the_model(self):
        stub = self.start({"gpu-a": {}})
        self.assert_rpc_error(grpc.StatusCode.NOT_FOUND,
                              lambda: self.predict(stub, "hi", model="mistral"),
                              "model 'mistral' is not served by any backend",
                              "llama3.2:latest")

    def test_backend_without_the_model_gives_not_found_from_ollama(self):
        # The config claims gpu-a serves qwen2.5, but the backend does not have it. Without
        # discovery the gateway believes the config and passes Ollama's 404 on.
        stub = self.start({"gpu-a": {}}, models=("llama3.2",), config_models=("qwen2.5",),
                          extra="health: {discovery: false}\n")
        self.assert_rpc_error(grpc.StatusCode.NOT_FOUND,
                              lambda: self.predict(stub, "hi", model="qwen2.5"),
                              "backend 'gpu-a' answered HTTP 404", "not found")

    def test_configured_model_no_backend_has_is_not_found_without_asking_a_backend(self):
        # With discovery the gateway knows from /api/tags that gpu-a lacks qwen2.5.
        stub = self.start({"gpu-a": {}}, models=("llama3.2",), config_models=("qwen2.5",))
        self.assert_rpc_error(grpc.StatusCode.NOT_FOUND,
                              lambda: self.predict(stub, "hi", model="qwen2.5"),
                              "model 'qwen2.5'", "not installed", "/api/tags")
        generations = self.sim_stats("gpu-a")["requests_by_path"]["/api/generate"]
        self.assertEqual(generations, 0)

    def test_an_empty_prompt_loads_the_model_as_on_ollama(self):
        stub = self.start({"gpu-a": {}})
        response, _ = self.predict(stub, "")
        self.assertEqual((response.done_reason, response.output_data), ("load", b""))

    def test_bad_model_name_is_an_invalid_argument(self):
        stub = self.start({"gpu-a": {}})
        self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT,
                              lambda: self.predict(stub, "hi", model="bad model!"),
                              "not a valid Ollama model name")
        self.assert_rpc_error(grpc.StatusCode.INVALID_ARGUMENT,
                              lambda: self.predict(stub, "hi", model=""), "model_name is empty")

    def test_deadline_shorter_than_the_answer_is_deadline_exceeded_and_aborts_the_backend(self):
        stub = self.start({"gpu-a": {"token_delay_ms": 200, "tokens": 50}})
        self.assert_rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED,
                              lambda: self.predict(stub, "a long story", timeout=0.5))
        # The backend must see its client go away rather than generate 10 s for nobody.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            stats = self.sim_stats("gpu-a")
            if stats["generations_aborted"] >= 1:
                break
            time.sleep(0.05)
        self.assertEqual(stats["generations_aborted"], 1, stats)
        self.assertEqual(stats["in_flight"], 0, stats)

    def test_all_backends_down_is_unavailable_naming_the_model(self):
        stub = self.start({"gpu-a": {}, "gpu-b": {}})
        for s in self.sims.values():
            s.kill()
        # UNAVAILABLE, not DEADLINE_EXCEEDED after the call's 20 s: the answer comes at once.
        self.assert_rpc_error(grpc.StatusCode.UNAVAILABLE,
                              lambda: self.predict(stub, "anyone?"), "unreachable")
        self.assert_rpc_error(grpc.StatusCode.UNAVAILABLE,
                              lambda: self.predict(stub, "anyone?"),
                              "no backend available for model 'llama3.2'")


class FailoverTest(GatewayTestCase):
    def test_a_stopped_backend_is_skipped_and_every_call_succeeds(self):
        stub = self.start({"gpu-a": {}, "gpu-b": {}, "gpu-c": {}})
        self.sims["gpu-b"].kill()
        served = collections.Counter()
        for i in range(12):
            _, trailers = self.predict(stub, f"call {i}")
            served[trailers["x-gateway-backend"]] += 1
        self.assertNotIn("gpu-b", served)
        self.assertEqual(sum(served.values()), 12)
        self.assertGreaterEqual(served["gpu-a"], 4)
        self.assertGreaterEqual(served["gpu-c"], 4)
        self.assertIn("backend gpu-b unreachable", self.gw.log())


class FaultyBackendTest(GatewayTestCase):
    """Backends that fail in every way Ollama can: the caller always gets a clean status."""

    def knobs(self, name, **values):
        request = urllib.request.Request(self.sims[name].url + "/sim/config",
                                         data=json.dumps(values).encode(), method="POST")
        with urllib.request.urlopen(request, timeout=5) as r:
            return json.load(r)

    def test_an_error_line_mid_stream_is_unavailable_naming_the_backend(self):
        stub = self.start({"gpu-a": {}})
        self.knobs("gpu-a", fail_after_tokens=3)
        self.assert_rpc_error(grpc.StatusCode.UNAVAILABLE, lambda: self.predict(stub, "hi"),
                              "backend 'gpu-a' failed during generation")

    def test_a_unary_call_whose_backend_resets_mid_answer_runs_again_elsewhere(self):
        stub = self.start({"gpu-a": {}, "gpu-b": {}})
        self.knobs("gpu-a", reset_after_tokens=2)
        reran = 0
        for i in range(4):
            response, trailers = self.predict(stub, f"call {i}")
            # One whole answer, from the backend that finished it.
            self.assertEqual(trailers["x-gateway-backend"], "gpu-b")
            self.assertEqual(response.output_data.decode(),
                             "".join(harness.sim_tokens("gpu-b", f"call {i}", 8)))
            reran += trailers["x-gateway-attempts"] == "2"
        self.assertGreaterEqual(reran, 1)  # round-robin sent a call to gpu-a first

    def test_a_unary_call_reset_mid_answer_everywhere_is_unavailable(self):
        stub = self.start({"gpu-a": {}, "gpu-b": {}})
        self.knobs("gpu-a", reset_after_tokens=2)
        self.knobs("gpu-b", reset_after_tokens=2)
        err = self.assert_rpc_error(grpc.StatusCode.UNAVAILABLE,
                                    lambda: self.predict(stub, "hi"), "connection to backend")
        self.assertEqual(dict(err.trailing_metadata())["x-gateway-attempts"], "2")

    def test_queue_full_is_retried_on_another_backend_and_the_caller_sees_success(self):
        stub = self.start({"gpu-a": {}, "gpu-b": {}})
        self.knobs("gpu-a", fail_status=503)
        for i in range(4):
            response, trailers = self.predict(stub, f"call {i}")
            self.assertEqual(trailers["x-gateway-backend"], "gpu-b")
            self.assertTrue(response.output_data.decode().startswith("[gpu-b]"))

    def test_a_backend_500_is_unavailable_with_ollamas_message_and_not_retried(self):
        stub = self.start({"gpu-a": {}, "gpu-b": {}})
        self.knobs("gpu-a", fail_status=500)
        self.knobs("gpu-b", fail_status=500)
        err = self.assert_rpc_error(grpc.StatusCode.UNAVAILABLE, lambda: self.predict(stub, "hi"),
                                    "answered HTTP 500")
        self.assertEqual(dict(err.trailing_metadata())["x-gateway-attempts"], "1")

    def test_a_silent_backend_is_abandoned_after_first_byte_timeout_and_retried(self):
        stub = self.start({"gpu-a": {}, "gpu-b": {}},
                          extra="upstream:\n  first_byte_timeout: 300ms\n")
        self.knobs("gpu-a", hang=True)
        for i in range(4):
            response, trailers = self.predict(stub, f"call {i}", timeout=10)
            self.assertEqual(trailers["x-gateway-backend"], "gpu-b")
        stats = self.sim_stats("gpu-a")
        self.assertEqual(stats["in_flight"], 0, stats)  # the abandoned requests were closed

    def test_a_hanging_backend_ends_at_the_callers_deadline(self):
        stub = self.start({"gpu-a": {}})
        self.knobs("gpu-a", hang=True)
        self.assert_rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED,
                              lambda: self.predict(stub, "hi", timeout=0.5))

    def test_an_answer_too_big_for_a_unary_reply_is_cut_with_resource_exhausted(self):
        # A small cap keeps the test quick under sanitizers; the 4 MiB default is the same path.
        stub = self.start({"gpu-a": {"tokens": 2000000}},
                          extra="upstream:\n  max_unary_answer_bytes: 65536\n")
        self.assert_rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED,
                              lambda: self.predict(stub, "talk forever", timeout=60),
                              "exceeds 65536 bytes", "num_predict")
        deadline = time.monotonic() + 5
        while self.sim_stats("gpu-a")["generations_aborted"] < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(self.sim_stats("gpu-a")["generations_aborted"], 1)


class ConfigTest(GatewayTestCase):
    def test_check_config_accepts_the_demo_config(self):
        out = subprocess.run(
            [harness.binary("ollama-gateway"), "--check-config",
             os.path.join(harness.SOURCE_DIR, "deploy", "examples", "demo.yaml")],
            capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("OK", out.stdout)

    def test_bad_config_is_refused_with_file_line_and_reason(self):
        path = harness.write_file(self.tmp, "bad.yaml", (
            "listen:\n  address: 127.0.0.1:0\n  insecure: true\n"
            "balancer:\n  policy: fastest\n"
            "backends:\n  - name: a\n    url: http://127.0.0.1:1\n    weight: 0\n"))
        for flag in ("--check-config", "--config"):
            out = subprocess.run([harness.binary("ollama-gateway"), flag, path],
                                 capture_output=True, text=True, timeout=30)
            self.assertNotEqual(out.returncode, 0)
            self.assertIn(f"{path}:5: ", out.stderr)
            self.assertIn("fastest", out.stderr)
            self.assertIn(f"{path}:9: ", out.stderr)

    def test_malformed_yaml_is_refused_with_its_line(self):
        path = harness.write_file(self.tmp, "broken.yaml", "listen:\n  address: [oops\n")
        out = subprocess.run([harness.binary("ollama-gateway"), "--check-config", path],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 1)
        self.assertRegex(out.stderr, rf"{path}:\d+: ")

    def test_sighup_reload_keeps_the_last_good_config_and_applies_a_good_one(self):
        stub = self.start({"gpu-a": {}})
        extra = self.sim("gpu-new")
        with open(self.gw.config_path, "w") as f:
            f.write("not: [valid")
        self.gw.signal(signal.SIGHUP)
        time.sleep(0.5)
        _, trailers = self.predict(stub, "still there?")
        self.assertEqual(trailers["x-gateway-backend"], "gpu-a")
        self.assertIn("refused, keeping the running config", self.gw.log())

        with open(self.gw.config_path, "w") as f:
            f.write(gateway_config([("gpu-new", extra.url, ["llama3.2"])]))
        self.gw.signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "config reloaded" not in self.gw.log() and time.monotonic() < deadline:
            time.sleep(0.05)
        _, trailers = self.predict(stub, "who now?")
        self.assertEqual(trailers["x-gateway-backend"], "gpu-new")


class AdminTest(GatewayTestCase):
    def test_metrics_count_calls_by_model_backend_and_code(self):
        stub = self.start({"gpu-a": {}})
        self.predict(stub, "one")
        with self.assertRaises(grpc.RpcError):
            self.predict(stub, "two", model="missing")
        with urllib.request.urlopen(f"http://{self.gw.admin}/metrics", timeout=5) as r:
            text = r.read().decode()
        self.assertIn('gateway_requests_total{backend="gpu-a",code="OK",frontend="grpc",'
                      'model="llama3.2:latest"} 1', text)
        self.assertIn('gateway_rejected_total{frontend="grpc",reason="unknown_model"} 1', text)
        self.assertIn('gateway_tokens_total{direction="completion",model="llama3.2:latest"} 8',
                      text)
        self.assertIn("gateway_time_to_first_token_seconds_bucket", text)
        self.assertIn('gateway_backend_in_flight{backend="gpu-a"} 0', text)
        with urllib.request.urlopen(f"http://{self.gw.admin}/healthz", timeout=5) as r:
            self.assertEqual(r.status, 200)
        with urllib.request.urlopen(f"http://{self.gw.admin}/readyz", timeout=5) as r:
            self.assertEqual(r.status, 200)

    def test_a_backend_serving_any_model_has_its_in_flight_gauge(self):
        sim = self.sim("gpu-any")
        self.gw = self.gateway(gateway_config([("gpu-any", sim.url, None)]))
        with urllib.request.urlopen(f"http://{self.gw.admin}/metrics", timeout=5) as r:
            self.assertIn('gateway_backend_in_flight{backend="gpu-any"} 0', r.read().decode())
        with urllib.request.urlopen(f"http://{self.gw.admin}/readyz", timeout=5) as r:
            self.assertEqual(r.status, 200)

    def test_sigterm_stops_the_gateway_cleanly(self):
        self.start({"gpu-a": {}})
        self.assertEqual(self.gw.stop(), 0)


if __name__ == "__main__":
    unittest.main()
