"""listen.write_timeout: a PredictStream whose caller stops reading is cancelled, and its
backend request aborted, instead of holding the backend for ever."""
import json
import time
import urllib.request

import grpc

import harness
from harness import ProcessTestCase, gateway_config

pb2, pb2_grpc = harness.grpc_modules()


class WriteTimeoutTest(ProcessTestCase):
    def stats(self):
        with urllib.request.urlopen(self.backend.url + "/sim/stats", timeout=5) as r:
            return json.load(r)

    def test_a_caller_that_stops_reading_is_cancelled_and_the_backend_request_aborted(self):
        # 2,000,000 tokens at full speed fill every buffer on the way within a fraction of a
        # second, so the gateway's write to this caller stalls.
        self.backend = self.sim("gpu-a", tokens=2000000)
        config = gateway_config([("gpu-a", self.backend.url, ["llama3.2"])],
                                extra="upstream:\n  stream_buffer_bytes: 65536\n")
        config = config.replace("  insecure: true\n", "  insecure: true\n  write_timeout: 1s\n", 1)
        self.gw = self.gateway(config)
        channel = grpc.insecure_channel(self.gw.target)
        self.addCleanup(channel.close)
        stub = pb2_grpc.ModelInferenceStub(channel)
        stream = stub.PredictStream(
            pb2.InferenceRequest(model_name="llama3.2", input_data=b"tell me a long story"),
            timeout=60)
        next(stream)
        started = time.monotonic()
        # The caller reads nothing more. Once the buffers on the way are full (slower under
        # the sanitizers), within the timeout plus the watchdog's one-second sweep, the gateway
        # gives up on it and aborts the backend request.
        harness.wait_for(lambda: self.stats()["generations_aborted"] >= 1, 30,
                         "the backend request to be aborted")
        self.assertGreaterEqual(time.monotonic() - started, 0.9)
        stats = self.stats()
        self.assertEqual(stats["in_flight"], 0, stats)
        self.assertEqual(self.stats()["generations_completed"], 0)
        # What the caller had buffered still arrives, then the status.
        with self.assertRaises(grpc.RpcError) as ctx:
            for _ in stream:
                pass
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.CANCELLED)
        status, metrics = harness.http_get(f"http://{self.gw.admin}/metrics")
        self.assertEqual(status, 200)
        self.assertIn('gateway_stream_write_timeouts_total{frontend="grpc"} 1', metrics)


if __name__ == "__main__":
    import unittest
    unittest.main()
