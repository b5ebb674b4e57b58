"""Admission control and retries end to end: per-backend max_in_flight, the gateway queue
(overflow, max_queue_wait, caller deadline) and max_attempts, against real ollama-sim backends.
"""
import concurrent.futures
import re
import time
import unittest
import urllib.request

import grpc

import harness
import test_gateway
from harness import gateway_config

pb2, pb2_grpc = harness.grpc_modules()


class AdmissionTestCase(test_gateway.GatewayTestCase):
    def start_limited(self, sims, max_in_flight, admission="", upstream=""):
        """Like start(), with `max_in_flight` set on the last backend and extra sections."""
        self.sims = {name: self.sim(name, **kw) for name, kw in sims.items()}
        backends = [(name, s.url, ["llama3.2"]) for name, s in self.sims.items()]
        extra = ""
        if admission:
            extra += "admission:\n" + admission
        if upstream:
            extra += "upstream:\n" + upstream
        text = gateway_config(backends, extra=extra) + f"    max_in_flight: {max_in_flight}\n"
        self.gw = self.gateway(text)
        self.channel = grpc.insecure_channel(self.gw.target)
        self.addCleanup(self.channel.close)
        return pb2_grpc.ModelInferenceStub(self.channel)

    def metric(self, name):
        with urllib.request.urlopen(f"http://{self.gw.admin}/metrics", timeout=5) as r:
            text = r.read().decode()
        m = re.search(r"^" + re.escape(name) + r" ([0-9.e+-]+)$", text, re.M)
        return float(m.group(1)) if m else None

    def wait_for(self, condition, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                self.fail("condition not met in time")
            time.sleep(0.02)

    def in_background(self, fn):
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=8)
        self.addCleanup(pool.shutdown)
        return pool.submit(fn)


class MaxInFlightTest(AdmissionTestCase):
    def test_a_backend_never_sees_more_than_max_in_flight_and_every_call_succeeds(self):
        stub = self.start_limited({"gpu-a": {"tokens": 4, "token_delay_ms": 80}}, 2)
        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            futures = [pool.submit(self.predict, stub, f"call {i}") for i in range(6)]
            results = [f.result(timeout=30) for f in futures]
        for response, trailers in results:
            self.assertTrue(response.done)
            self.assertEqual(trailers["x-gateway-backend"], "gpu-a")
        stats = self.sim_stats("gpu-a")
        self.assertEqual(stats["max_in_flight_seen"], 2)
        self.assertEqual(self.metric("gateway_queue_depth"), 0)
        self.assertGreaterEqual(self.metric("gateway_queue_wait_seconds_count"), 4)


class QueueLimitTest(AdmissionTestCase):
    def busy_backend(self, admission):
        stub = self.start_limited({"gpu-a": {"tokens": 20, "token_delay_ms": 100}}, 1, admission)
        first = self.in_background(lambda: self.predict(stub, "long", timeout=30))
        self.wait_for(lambda: self.sim_stats("gpu-a")["in_flight"] == 1)
        return stub, first

    def test_a_call_beyond_max_queue_is_refused_at_once_naming_the_model_and_limit(self):
        stub, first = self.busy_backend("  max_queue: 1\n")
        queued = self.in_background(lambda: self.predict(stub, "second", timeout=30))
        self.wait_for(lambda: self.metric("gateway_queue_depth") == 1)
        started = time.monotonic()
        self.assert_rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED,
                              lambda: self.predict(stub, "third"),
                              "'llama3.2'", "queue is full", "max_queue 1")
        self.assertLess(time.monotonic() - started, 1.0)
        self.assertTrue(first.result(timeout=30)[0].done)
        self.assertTrue(queued.result(timeout=30)[0].done)
        self.assertEqual(self.sim_stats("gpu-a")["max_in_flight_seen"], 1)

    def test_a_call_waiting_longer_than_max_queue_wait_is_resource_exhausted(self):
        stub, first = self.busy_backend("  max_queue_wait: 300ms\n")
        started = time.monotonic()
        self.assert_rpc_error(grpc.StatusCode.RESOURCE_EXHAUSTED,
                              lambda: self.predict(stub, "second"),
                              "freed within max_queue_wait")
        self.assertLess(time.monotonic() - started, 1.5)
        self.assertEqual(self.metric('gateway_queue_rejected_total{reason="timeout"}'), 1)
        self.assertTrue(first.result(timeout=30)[0].done)

    def test_a_queued_call_leaves_the_queue_at_its_deadline(self):
        stub, first = self.busy_backend("  max_queue_wait: 30s\n")
        self.assert_rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED,
                              lambda: self.predict(stub, "second", timeout=0.3))
        self.wait_for(lambda: self.metric("gateway_queue_depth") == 0, timeout=2)
        self.assertTrue(first.result(timeout=30)[0].done)

    def test_a_cancelled_queued_call_leaves_the_queue_at_once(self):
        stub, first = self.busy_backend("")
        request = pb2.InferenceRequest(model_name="llama3.2", input_data=b"second")
        future = stub.Predict.future(request, timeout=30)
        self.wait_for(lambda: self.metric("gateway_queue_depth") == 1)
        future.cancel()
        self.wait_for(lambda: self.metric("gateway_queue_depth") == 0, timeout=2)
        self.assertTrue(first.result(timeout=30)[0].done)
        self.assertEqual(self.sim_stats("gpu-a")["requests_by_path"]["/api/generate"], 1)


class RetryTest(AdmissionTestCase):
    def knobs(self, name, **values):
        return test_gateway.FaultyBackendTest.knobs(self, name, **values)

    def test_max_attempts_bounds_the_retries_on_other_backends(self):
        stub = self.start_limited({"gpu-a": {}, "gpu-b": {}, "gpu-c": {}}, 0,
                                  upstream="  max_attempts: 3\n")
        for name in self.sims:
            self.knobs(name, fail_status=503)
        err = self.assert_rpc_error(grpc.StatusCode.UNAVAILABLE,
                                    lambda: self.predict(stub, "hi"))
        self.assertEqual(dict(err.trailing_metadata())["x-gateway-attempts"], "3")

    def test_two_failing_backends_end_after_two_attempts_even_with_more_allowed(self):
        stub = self.start_limited({"gpu-a": {}, "gpu-b": {}}, 0, upstream="  max_attempts: 3\n")
        for name in self.sims:
            self.knobs(name, fail_status=503)
        err = self.assert_rpc_error(grpc.StatusCode.UNAVAILABLE,
                                    lambda: self.predict(stub, "hi"))
        self.assertEqual(dict(err.trailing_metadata())["x-gateway-attempts"], "2")

    def test_max_attempts_1_never_retries(self):
        stub = self.start_limited({"gpu-a": {}, "gpu-b": {}}, 0, upstream="  max_attempts: 1\n")
        for name in self.sims:
            self.knobs(name, fail_status=503)
        err = self.assert_rpc_error(grpc.StatusCode.UNAVAILABLE,
                                    lambda: self.predict(stub, "hi"))
        self.assertEqual(dict(err.trailing_metadata())["x-gateway-attempts"], "1")

    def test_retries_beyond_the_budget_are_refused_with_the_failure_the_call_had(self):
        # gpu-a answers 503 at once; gpu-b is slow, so every retry onto it stays in progress
        # while the others arrive. A budget of 0 percent leaves the floor of 3 retries.
        stub = self.start_limited(
            {"gpu-a": {}, "gpu-b": {"tokens": 10, "token_delay_ms": 150}}, 0,
            upstream="  retry_budget_percent: 0\n")
        self.knobs("gpu-a", fail_status=503)

        def call(i):
            try:
                self.predict(stub, f"call {i}", timeout=30)
                return None
            except grpc.RpcError as err:
                return err

        with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
            errors = [e for e in pool.map(call, range(10)) if e is not None]
        self.assertGreaterEqual(len(errors), 1)
        for err in errors:
            self.assertEqual(err.code(), grpc.StatusCode.UNAVAILABLE, err.details())
            self.assertIn("gpu-a", err.details())
            self.assertEqual(dict(err.trailing_metadata())["x-gateway-attempts"], "1")
        self.assertEqual(self.metric('gateway_retries_refused_total{reason="budget"}'),
                         len(errors))


if __name__ == "__main__":
    unittest.main()
