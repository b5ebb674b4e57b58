"""Configuration hot reload: on file change and SIGHUP, with traffic flowing."""
import collections
import os
import signal
import threading
import time
import urllib.request

import grpc

import harness
from harness import ProcessTestCase, gateway_config

pb2, pb2_grpc = harness.grpc_modules()


class ReloadTest(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.sims = {n: self.sim(n, tokens=10, token_delay_ms=5) for n in ("a", "b", "c")}

    def config(self, names):
        return gateway_config([(n, self.sims[n].url, ["llama3.2"]) for n in names])

    def write_config(self, text):
        # Replace atomically, as an operator's tooling (or a ConfigMap update) does.
        tmp = self.gw.config_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.gw.config_path)

    def wait_log(self, text, count=1, seconds=10):
        deadline = time.monotonic() + seconds
        while self.gw.log().count(text) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(self.gw.log().count(text), count, self.gw.log()[-3000:])

    def metrics(self):
        with urllib.request.urlopen(f"http://{self.gw.admin}/metrics", timeout=5) as r:
            return r.read().decode()

    def test_a_changed_file_is_applied_without_a_signal_and_a_bad_one_refused_once(self):
        self.gw = self.gateway(self.config(["a"]))
        channel = grpc.insecure_channel(self.gw.target)
        self.addCleanup(channel.close)
        stub = pb2_grpc.ModelInferenceStub(channel)
        request = pb2.InferenceRequest(model_name="llama3.2", input_data=b"hi")

        self.write_config(self.config(["b"]))
        self.wait_log("config reloaded from")
        _, call = stub.Predict.with_call(request, timeout=10)
        self.assertEqual(dict(call.trailing_metadata())["x-gateway-backend"], "b")

        self.write_config("backends: [oops\n")
        self.wait_log("refused, keeping the running config")
        time.sleep(2.5)  # two more polls of the same bad file: still one report
        self.assertEqual(self.gw.log().count("refused, keeping the running config"), 1)
        _, call = stub.Predict.with_call(request, timeout=10)
        self.assertEqual(dict(call.trailing_metadata())["x-gateway-backend"], "b")
        text = self.metrics()
        self.assertIn('gateway_config_reloads_total{result="ok"} 1', text)
        self.assertIn('gateway_config_reloads_total{result="invalid"} 1', text)

    def test_reloads_that_add_and_remove_backends_under_load_lose_no_call(self):
        self.gw = self.gateway(self.config(["a", "b"]))
        channel = grpc.insecure_channel(self.gw.target)
        self.addCleanup(channel.close)
        stub = pb2_grpc.ModelInferenceStub(channel)
        outcomes, served = collections.Counter(), collections.Counter()
        lock = threading.Lock()
        stop = threading.Event()

        def client():
            request = pb2.InferenceRequest(model_name="llama3.2", input_data=b"steady load")
            while not stop.is_set():
                try:
                    _, call = stub.Predict.with_call(request, timeout=10)
                    backend = dict(call.trailing_metadata())["x-gateway-backend"]
                    with lock:
                        outcomes["OK"] += 1
                        served[backend] += 1
                except grpc.RpcError as e:
                    with lock:
                        outcomes[e.code().name] += 1

        threads = [threading.Thread(target=client) for _ in range(6)]
        for t in threads:
            t.start()
        for names in (["b", "c"], ["c", "a"], ["a", "b", "c"], ["b"]):
            time.sleep(0.7)
            self.write_config(self.config(names))
            self.gw.signal(signal.SIGHUP)
        time.sleep(0.7)
        stop.set()
        for t in threads:
            t.join(timeout=30)
        self.assertEqual(set(outcomes), {"OK"}, outcomes)
        self.assertGreater(outcomes["OK"], 50)
        self.assertEqual(set(served), {"a", "b", "c"})


if __name__ == "__main__":
    import unittest
    unittest.main()
