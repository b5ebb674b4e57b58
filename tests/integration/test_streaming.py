"""PredictStream end to end: tokens as they are generated, cancellation and backpressure."""
import json
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request

import grpc

import harness
from harness import ProcessTestCase, gateway_config, rss_kib

pb2, pb2_grpc = harness.grpc_modules()


class StreamTestCase(ProcessTestCase):
    def start(self, extra="", **sim_kw):
        self.backend = self.sim("gpu-a", **sim_kw)
        self.gw = self.gateway(gateway_config([("gpu-a", self.backend.url, ["llama3.2"])],
                                              extra=extra))
        channel = grpc.insecure_channel(self.gw.target)
        self.addCleanup(channel.close)
        return pb2_grpc.ModelInferenceStub(channel)

    def request(self, prompt="tell me a story"):
        return pb2.InferenceRequest(model_name="llama3.2", input_data=prompt.encode())

    def stats(self):
        with urllib.request.urlopen(self.backend.url + "/sim/stats", timeout=5) as r:
            return json.load(r)

    def wait_for(self, predicate, seconds=5):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            value = self.stats()
            if predicate(value):
                return value
            time.sleep(0.02)
        return self.stats()


class PredictStreamTest(StreamTestCase):
    def test_tokens_arrive_as_they_are_generated(self):
        stub = self.start(tokens=10, token_delay_ms=100)
        arrivals, texts, last = [], [], None
        for message in stub.PredictStream(self.request(), timeout=30):
            arrivals.append(time.monotonic())
            texts.append(message.output_data.decode())
            last = message
        self.assertGreaterEqual(len(arrivals), 10)
        # The first token came long before the last (about 0.9 s of generation in between).
        self.assertGreater(arrivals[-1] - arrivals[0], 0.5)
        self.assertTrue(last.done)
        self.assertEqual(last.done_reason, "stop")
        self.assertEqual(last.usage.completion_tokens, 10)
        self.assertGreater(last.timings.gateway_time_to_first_token_ns, 0)
        # The streamed text is the unary answer.
        unary = stub.Predict(self.request(), timeout=30)
        self.assertEqual("".join(texts), unary.output_data.decode())

    def test_cancelling_a_stream_closes_the_backend_request(self):
        stub = self.start(tokens=1000, token_delay_ms=20)
        stream = stub.PredictStream(self.request(), timeout=60)
        next(stream)
        next(stream)
        stream.cancel()
        stats = self.wait_for(lambda s: s["generations_aborted"] >= 1)
        self.assertEqual(stats["generations_aborted"], 1, stats)
        self.assertEqual(stats["in_flight"], 0, stats)

    def test_a_backend_failing_after_the_first_token_ends_the_stream_unavailable(self):
        stub = self.start(tokens=20)
        request = urllib.request.Request(self.backend.url + "/sim/config", method="POST",
                                         data=json.dumps({"fail_after_tokens": 3}).encode())
        urllib.request.urlopen(request, timeout=5).close()
        received = []
        with self.assertRaises(grpc.RpcError) as ctx:
            for message in stub.PredictStream(self.request(), timeout=30):
                received.append(message.output_data.decode())
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.UNAVAILABLE)
        self.assertIn("failed during generation", ctx.exception.details())
        self.assertEqual(len(received), 3)
        self.assertEqual(dict(ctx.exception.trailing_metadata())["x-gateway-attempts"], "1")

    def test_unknown_model_is_not_found_on_the_stream_too(self):
        stub = self.start()
        with self.assertRaises(grpc.RpcError) as ctx:
            list(stub.PredictStream(pb2.InferenceRequest(model_name="nope", input_data=b"x"),
                                    timeout=10))
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND)

    def test_a_reader_that_stops_pauses_the_backend_instead_of_growing_memory(self):
        # 2,000,000 tokens at full speed is ~30 MB of NDJSON from the backend and far more as
        # queued messages: more than every socket and flow-control buffer on the way holds.
        stub = self.start(extra="upstream:\n  stream_buffer_bytes: 65536\n", tokens=2000000)
        stream = stub.PredictStream(self.request(), timeout=120)
        next(stream)
        before = rss_kib(self.gw.proc.pid)
        time.sleep(4)  # the reader stalls; unpaused, the gateway would queue ~100 MB a second
        stats = self.stats()
        grown_mib = (rss_kib(self.gw.proc.pid) - before) / 1024
        self.assertEqual(stats["generations_completed"], 0, stats)
        self.assertEqual(stats["in_flight"], 1, stats)
        # Under AddressSanitizer freed memory sits in its quarantine, so RSS says nothing there;
        # the release run checks it (unpaused, this grows by well over 100 MiB).
        if not harness.SANITIZED:
            self.assertLess(grown_mib, 32, f"gateway RSS grew {grown_mib:.1f} MiB while paused")
        # Reading on resumes the backend: the answer keeps coming.
        for _ in range(5000):
            next(stream)
        stream.cancel()
        self.assertEqual(self.wait_for(lambda s: s["in_flight"] == 0, seconds=30)["in_flight"], 0)

    def test_gatewayctl_streams_the_answer(self):
        self.start(tokens=5)
        out = subprocess.run(
            [harness.binary("gatewayctl"), "predict", "--insecure", "--stream",
             "--target", self.gw.target, "--model", "llama3.2", "hello"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertTrue(out.stdout.startswith("[gpu-a]"), out.stdout)
        self.assertIn("completion_tokens=5", out.stderr)
        self.assertIn("backend=gpu-a", out.stderr)


class DrainTest(StreamTestCase):
    def test_sigterm_lets_open_streams_finish_and_refuses_new_calls(self):
        stub = self.start(tokens=20, token_delay_ms=100)
        results, first_seen = [], threading.Semaphore(0)
        lock = threading.Lock()

        def consume():
            count, status = 0, "OK"
            try:
                for message in stub.PredictStream(self.request(), timeout=60):
                    count += 1
                    if count == 1:
                        first_seen.release()
            except grpc.RpcError as e:
                status = e.code().name
            with lock:
                results.append((status, count))

        threads = [threading.Thread(target=consume) for _ in range(20)]
        for t in threads:
            t.start()
        for _ in threads:
            self.assertTrue(first_seen.acquire(timeout=30))
        self.gw.signal(signal.SIGTERM)
        time.sleep(0.2)
        with self.assertRaises(urllib.error.HTTPError) as ctx:
            urllib.request.urlopen(f"http://{self.gw.admin}/readyz", timeout=5)
        self.assertEqual(ctx.exception.code, 503)
        for t in threads:
            t.join(timeout=60)
        self.assertEqual(sorted(results), [("OK", 21)] * 20)  # 20 tokens + the final message
        self.gw.proc.wait(timeout=10)
        self.assertEqual(self.gw.proc.returncode, 0)


if __name__ == "__main__":
    import unittest
    unittest.main()
