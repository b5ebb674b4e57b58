"""Backends that break the protocol itself, end to end: real ollama-sim backends with their
malformed-stream knobs, the real gateway, real gRPC clients.

For each fault (a line that is not JSON, a stream cut mid-object, a huge line, a wrong
Content-Type, a body cut mid-chunk, a backend that ignores num_predict) the caller must get a
specific status naming the backend, the backend request must end (the simulator counts it aborted
or failed, and nothing stays in flight), and the gateway must stay healthy. Sizes are small so
the file also runs quickly under AddressSanitizer.
"""
import unittest

import grpc

import harness
from test_gateway import GatewayTestCase

pb2, pb2_grpc = harness.grpc_modules()

# Every fault knob of the simulator at its "off" value, to put a backend right again.
FAULTS_OFF = {"garbage_after_tokens": 0, "truncate_after_tokens": 0, "huge_line_bytes": 0,
              "close_mid_chunk_after_tokens": 0, "ignore_num_predict": False,
              "content_type": ""}
# Long enough (200 tokens, 5 ms apart) that a backend is still generating when the gateway gives
# up on it, so the simulator sees the connection close instead of finishing.
SLOW = {"tokens": 200, "token_delay_ms": 5}
# A lowered upstream.max_line_bytes keeps the huge lines small.
LINE_LIMIT = 1048576
UNAVAILABLE = grpc.StatusCode.UNAVAILABLE


class BackendFaultTestCase(GatewayTestCase):
    def knobs(self, name, **values):
        return harness.http_post_json(self.sims[name].url + "/sim/config", values)

    def stream(self, stub, prompt, timeout=20, **fields):
        """(messages, error) of a PredictStream call; error is None when it ended OK."""
        request = pb2.InferenceRequest(model_name="llama3.2", input_data=prompt.encode(),
                                       **fields)
        messages = []
        try:
            for message in stub.PredictStream(request, timeout=timeout):
                messages.append(message)
        except grpc.RpcError as e:
            return messages, e
        return messages, None

    def assert_status(self, err, code, *contains):
        self.assertIsNotNone(err, "the call succeeded")
        self.assertEqual(err.code(), code, err.details())
        for text in contains:
            self.assertIn(text, err.details())

    def wait_for_stats(self, name, predicate, what):
        """Waits until the sim's stats satisfy predicate (and nothing is in flight there)."""
        last = {}

        def check():
            last.update(self.sim_stats(name))
            return last["in_flight"] == 0 and predicate(last)
        harness.wait_for(check, 5, lambda: f"{what} on {name}: {last}")
        return last

    def assert_gateway_healthy(self):
        """The gateway still answers calls and /healthz, and holds no backend slot."""
        for name in self.sims:
            self.knobs(name, **FAULTS_OFF, tokens=8, token_delay_ms=0)
        stub = pb2_grpc.ModelInferenceStub(self.channel)
        response, _ = self.predict(stub, "are you still there?")
        self.assertTrue(response.done)
        status, _ = harness.http_get(f"http://{self.gw.admin}/healthz")
        self.assertEqual(status, 200)
        _, metrics = harness.http_get(f"http://{self.gw.admin}/metrics")
        for name in self.sims:
            self.assertIn(f'gateway_backend_in_flight{{backend="{name}"}} 0', metrics)
        self.assertTrue(self.gw.alive())


class GarbageLineTest(BackendFaultTestCase):
    def test_a_line_that_is_not_json_ends_the_call_unavailable_and_aborts_the_backend(self):
        stub = self.start({"gpu-a": SLOW})
        # The simulator writes the garbage line after 3 tokens and then streams on: only the
        # gateway giving up ends the backend request.
        self.knobs("gpu-a", garbage_after_tokens=3)
        with self.subTest(rpc="Predict"):
            with self.assertRaises(grpc.RpcError) as ctx:
                self.predict(stub, "hi")
            self.assert_status(ctx.exception, UNAVAILABLE, "backend 'gpu-a' sent a malformed chunk",
                               "not a JSON object", "<html>")
            self.wait_for_stats("gpu-a", lambda s: s["generations_aborted"] == 1,
                                "the first request aborted")
        with self.subTest(rpc="PredictStream"):
            messages, err = self.stream(stub, "hi")
            self.assert_status(err, UNAVAILABLE, "backend 'gpu-a' sent a malformed chunk")
            self.assertEqual(len(messages), 3)  # the tokens before the garbage, then the status
            self.wait_for_stats("gpu-a", lambda s: s["generations_aborted"] == 2,
                                "the second request aborted")
        self.assert_gateway_healthy()


class TruncatedStreamTest(BackendFaultTestCase):
    def test_a_stream_ending_mid_object_is_unavailable_and_says_incomplete(self):
        stub = self.start({"gpu-a": SLOW})
        self.knobs("gpu-a", truncate_after_tokens=3)
        with self.subTest(rpc="Predict"):
            with self.assertRaises(grpc.RpcError) as ctx:
                self.predict(stub, "hi")
            self.assert_status(ctx.exception, UNAVAILABLE, "backend 'gpu-a' sent a malformed chunk",
                               "incomplete JSON object")
            self.wait_for_stats("gpu-a", lambda s: s["generations_failed"] == 1,
                                "the first request ended")
        with self.subTest(rpc="PredictStream"):
            messages, err = self.stream(stub, "hi")
            self.assert_status(err, UNAVAILABLE, "incomplete JSON object", "gpu-a")
            self.assertEqual(len(messages), 3)
            self.wait_for_stats("gpu-a", lambda s: s["generations_failed"] == 2,
                                "the second request ended")
        self.assert_gateway_healthy()

    def test_a_final_line_cut_in_half_is_not_a_complete_answer(self):
        # Every token arrives; only the done line (usage, done_reason) is cut. The caller must
        # not take the answer for complete.
        stub = self.start({"gpu-a": {"tokens": 5}})
        self.knobs("gpu-a", truncate_after_tokens=5)
        messages, err = self.stream(stub, "hi")
        self.assert_status(err, UNAVAILABLE, "incomplete JSON object", "gpu-a")
        self.assertEqual(len(messages), 5)
        self.assertFalse(any(m.done for m in messages))
        with self.assertRaises(grpc.RpcError) as ctx:
            self.predict(stub, "hi")
        self.assert_status(ctx.exception, UNAVAILABLE, "incomplete JSON object")
        self.wait_for_stats("gpu-a", lambda s: s["generations_failed"] == 2, "both ended")
        self.assert_gateway_healthy()


class HugeLineTest(BackendFaultTestCase):
    def start_limited(self):
        return self.start({"gpu-a": SLOW},
                          extra=f"upstream:\n  max_line_bytes: {LINE_LIMIT}\n")

    def test_a_line_under_max_line_bytes_passes_whole(self):
        stub = self.start_limited()
        self.knobs("gpu-a", huge_line_bytes=LINE_LIMIT - 4096, tokens=5)
        with self.subTest(rpc="Predict"):
            response, _ = self.predict(stub, "hi")
            text = response.output_data.decode()
            self.assertTrue(text.startswith("[gpu-a]...."), text[:40])
            self.assertGreaterEqual(len(text), LINE_LIMIT - 4096)
            self.assertEqual(response.usage.completion_tokens, 5)
        with self.subTest(rpc="PredictStream"):
            messages, err = self.stream(stub, "hi")
            self.assertIsNone(err)
            self.assertEqual(len(messages[0].output_data), LINE_LIMIT - 4096)
            self.assertTrue(messages[-1].done)
        stats = self.sim_stats("gpu-a")
        self.assertEqual(stats["generations_completed"], 2, stats)

    def test_a_line_over_max_line_bytes_ends_the_call_naming_the_limit_and_the_backend(self):
        stub = self.start_limited()
        self.knobs("gpu-a", huge_line_bytes=LINE_LIMIT + LINE_LIMIT // 2)
        with self.subTest(rpc="Predict"):
            with self.assertRaises(grpc.RpcError) as ctx:
                self.predict(stub, "hi")
            details = ctx.exception.details()
            self.assertIn("gpu-a", details)
            self.assertIn(f"longer than {LINE_LIMIT} bytes (upstream.max_line_bytes)", details)
            self.wait_for_stats("gpu-a", lambda s: s["generations_aborted"] == 1,
                                "the first request aborted")
        with self.subTest(rpc="PredictStream"):
            messages, err = self.stream(stub, "hi")
            self.assertIsNotNone(err)
            self.assertIn("upstream.max_line_bytes", err.details())
            self.assertEqual(messages, [])  # nothing of the line reached the caller
            self.wait_for_stats("gpu-a", lambda s: s["generations_aborted"] == 2,
                                "the second request aborted")
        self.assert_gateway_healthy()

    # The line limit is the gateway's own (upstream.max_line_bytes): RESOURCE_EXHAUSTED.
    def test_a_line_over_max_line_bytes_is_resource_exhausted(self):
        stub = self.start_limited()
        self.knobs("gpu-a", huge_line_bytes=LINE_LIMIT + LINE_LIMIT // 2)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.predict(stub, "hi")
        self.assert_status(ctx.exception, grpc.StatusCode.RESOURCE_EXHAUSTED,
                           "backend 'gpu-a'", "upstream.max_line_bytes")
        messages, err = self.stream(stub, "hi")
        self.assert_status(err, grpc.StatusCode.RESOURCE_EXHAUSTED, "upstream.max_line_bytes")


class ContentTypeTest(BackendFaultTestCase):
    def test_a_wrong_content_type_is_unavailable_naming_the_types_and_the_backend(self):
        stub = self.start({"gpu-a": SLOW})
        self.knobs("gpu-a", content_type="text/html; charset=utf-8")
        with self.subTest(rpc="Predict"):
            with self.assertRaises(grpc.RpcError) as ctx:
                self.predict(stub, "hi")
            self.assert_status(ctx.exception, UNAVAILABLE, "backend 'gpu-a'",
                               "Content-Type 'text/html; charset=utf-8'",
                               "expected application/x-ndjson")
            self.wait_for_stats("gpu-a", lambda s: s["generations_aborted"] == 1,
                                "the first request aborted")
        with self.subTest(rpc="PredictStream"):
            messages, err = self.stream(stub, "hi")
            self.assert_status(err, UNAVAILABLE, "backend 'gpu-a'", "text/html",
                               "application/x-ndjson")
            self.assertEqual(messages, [])
            self.wait_for_stats("gpu-a", lambda s: s["generations_aborted"] == 2,
                                "the second request aborted")
        self.assert_gateway_healthy()

    def test_a_wrong_content_type_is_retried_on_another_backend(self):
        # Refused before any byte of the body was read, so nothing reached the caller: the call
        # moves on like after a refused connection.
        stub = self.start({"gpu-a": SLOW, "gpu-b": {}})
        self.knobs("gpu-a", content_type="text/html")
        retried = 0
        for i in range(4):
            response, trailers = self.predict(stub, f"call {i}")
            self.assertEqual(trailers["x-gateway-backend"], "gpu-b")
            self.assertTrue(response.output_data.decode().startswith("[gpu-b]"))
            retried += trailers["x-gateway-attempts"] == "2"
        self.assertGreaterEqual(retried, 1)  # round-robin sent at least the first call to gpu-a
        self.wait_for_stats("gpu-a", lambda s: s["generations_aborted"] == retried,
                            f"{retried} aborted requests")
        self.assert_gateway_healthy()

    def test_json_with_a_charset_is_accepted(self):
        # Ollama's one-object replies are application/json; the check must let them through.
        stub = self.start({"gpu-a": {}})
        self.knobs("gpu-a", content_type="Application/JSON; charset=utf-8")
        response, _ = self.predict(stub, "hi")
        self.assertTrue(response.done)
        self.assertEqual(response.usage.completion_tokens, 8)


class CloseMidChunkTest(BackendFaultTestCase):
    def test_a_body_cut_mid_chunk_is_unavailable_naming_the_backend(self):
        stub = self.start({"gpu-a": SLOW, "gpu-b": SLOW})
        for name in self.sims:
            self.knobs(name, close_mid_chunk_after_tokens=3)
        with self.subTest(rpc="Predict"):
            with self.assertRaises(grpc.RpcError) as ctx:
                self.predict(stub, "hi")
            self.assert_status(ctx.exception, UNAVAILABLE, "connection to backend 'gpu-",
                               "closed the connection before its answer ended")
            # The caller had seen nothing, so the call ran again on the other backend, which
            # failed the same way.
            self.assertEqual(dict(ctx.exception.trailing_metadata())["x-gateway-attempts"], "2")
        with self.subTest(rpc="PredictStream"):
            messages, err = self.stream(stub, "hi")
            # The caller has three chunks of a templated generate, which cannot be continued.
            self.assert_status(err, UNAVAILABLE, "connection to backend 'gpu-",
                               "after 3 tokens of the answer had reached the caller; not "
                               "continued: a templated generate")
            self.assertEqual(len(messages), 3)
        # Three generations, each ended where it failed.
        harness.wait_for(
            lambda: sum(self.sim_stats(n)["generations_failed"] for n in self.sims) == 3 and
            all(self.sim_stats(n)["in_flight"] == 0 for n in self.sims),
            5, lambda: f"three failed generations: {[self.sim_stats(n) for n in self.sims]}")
        self.assert_gateway_healthy()


class IgnoredNumPredictTest(BackendFaultTestCase):
    def test_a_backend_that_stops_at_num_predict_is_not_cut(self):
        # The limit itself is fine: exactly num_predict content chunks, then the done line.
        stub = self.start({"gpu-a": {"tokens": 20}})
        options = pb2.GenerationOptions(num_predict=3)
        response, _ = self.predict(stub, "hi", options=options)
        self.assertEqual(response.usage.completion_tokens, 3)
        messages, err = self.stream(stub, "hi", options=options)
        self.assertIsNone(err)
        self.assertEqual(len(messages), 4)
        self.assertEqual(messages[-1].done_reason, "length")

    # More content chunks than options.num_predict end the call with UNAVAILABLE and abort the
    # backend request, rather than passing on an answer the caller bounded.
    def test_a_backend_generating_past_num_predict_is_stopped_and_aborted(self):
        stub = self.start({"gpu-a": SLOW})
        self.knobs("gpu-a", ignore_num_predict=True)
        options = pb2.GenerationOptions(num_predict=3)
        with self.assertRaises(grpc.RpcError) as ctx:
            self.predict(stub, "hi", options=options)
        self.assert_status(ctx.exception, UNAVAILABLE,
                           "backend 'gpu-a' kept generating past num_predict=3")
        messages, err = self.stream(stub, "hi", options=options)
        self.assert_status(err, UNAVAILABLE, "kept generating past num_predict=3")
        self.assertEqual(len(messages), 3)
        self.wait_for_stats("gpu-a", lambda s: s["generations_aborted"] == 2, "both aborted")
        self.assert_gateway_healthy()


if __name__ == "__main__":
    unittest.main()
