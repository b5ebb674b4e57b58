"""Each balancing policy serving real traffic through the gateway, selected by config."""
import collections
import time
import urllib.request

import grpc

import harness
from harness import ProcessTestCase, gateway_config

pb2, pb2_grpc = harness.grpc_modules()


class PolicyTestCase(ProcessTestCase):
    def start(self, policy_yaml, sims):
        self.sims = {name: self.sim(name, **kw) for name, kw in sims.items()}
        config = gateway_config([(n, s.url, ["llama3.2"]) for n, s in self.sims.items()])
        config = config.replace("  policy: round_robin\n", policy_yaml)
        self.gw = self.gateway(config)
        channel = grpc.insecure_channel(self.gw.target)
        self.addCleanup(channel.close)
        self.stub = pb2_grpc.ModelInferenceStub(channel)

    def call(self, prompt="hi", **fields):
        request = pb2.InferenceRequest(model_name="llama3.2", input_data=prompt.encode(), **fields)
        _, call = self.stub.Predict.with_call(request, timeout=30)
        return dict(call.trailing_metadata())["x-gateway-backend"]

    def metrics(self):
        with urllib.request.urlopen(f"http://{self.gw.admin}/metrics", timeout=5) as r:
            return r.read().decode()


class KetamaTest(PolicyTestCase):
    def setUp(self):
        super().setUp()
        self.start("  policy: ketama\n  hash_key: metadata:session\n",
                   {"gpu-a": {}, "gpu-b": {}, "gpu-c": {}})

    def owners(self, sessions):
        return {s: self.call(metadata={"session": s}) for s in sessions}

    def test_a_session_always_lands_on_the_same_backend(self):
        sessions = [f"user-{i}" for i in range(30)]
        first = self.owners(sessions)
        self.assertEqual(self.owners(sessions), first)
        self.assertEqual(len(set(first.values())), 3)

    def test_a_dead_backend_moves_only_its_own_sessions(self):
        sessions = [f"user-{i}" for i in range(30)]
        before = self.owners(sessions)
        self.sims["gpu-b"].kill()
        after = self.owners(sessions)
        for s in sessions:
            if before[s] == "gpu-b":
                self.assertNotEqual(after[s], "gpu-b")
            else:
                self.assertEqual(after[s], before[s], s)

    def test_a_call_without_a_key_is_balanced_and_counted(self):
        served = collections.Counter(self.call() for _ in range(6))
        self.assertEqual(len(served), 3)
        self.assertIn('gateway_hash_key_missing_total{model="llama3.2:latest"} 6', self.metrics())


class HeaderKeyTest(PolicyTestCase):
    def test_the_key_can_come_from_a_grpc_header(self):
        self.start("  policy: ketama\n  hash_key: header:x-session\n",
                   {"gpu-a": {}, "gpu-b": {}})
        request = pb2.InferenceRequest(model_name="llama3.2", input_data=b"hi")
        owners = set()
        for _ in range(5):
            _, call = self.stub.Predict.with_call(request, timeout=30,
                                                  metadata=[("x-session", "alice")])
            owners.add(dict(call.trailing_metadata())["x-gateway-backend"])
        self.assertEqual(len(owners), 1)
        self.assertNotIn("gateway_hash_key_missing_total", self.metrics())


class LeastConnectionsTest(PolicyTestCase):
    def test_a_slow_backend_gets_fewer_calls_than_round_robin_would_give_it(self):
        self.start("  policy: least_connections\n",
                   {"fast-1": {}, "fast-2": {}, "slow": {"token_delay_ms": 100, "tokens": 10}})
        request = pb2.InferenceRequest(model_name="llama3.2", input_data=b"hi")
        futures = []
        for _ in range(30):
            futures.append(self.stub.Predict.future(request, timeout=30))
            time.sleep(0.02)
        served = collections.Counter(
            dict(f.trailing_metadata())["x-gateway-backend"] for f in futures if f.result())
        self.assertEqual(sum(served.values()), 30)
        # Each slow call holds a slot for a second, so least-connections steers away from it;
        # round-robin would give it 10.
        self.assertLessEqual(served["slow"], 5, served)


if __name__ == "__main__":
    import unittest
    unittest.main()
