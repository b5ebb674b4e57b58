"""gateway-bench end to end: closed and open loop against a gateway over two ollama-sim backends,
and against a closed port (it must report UNAVAILABLE and exit, not hang)."""
import json
import os
import socket
import subprocess

import harness
from harness import ProcessTestCase, gateway_config


def closed_port():
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GatewayBenchTest(ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.json_path = os.path.join(self.tmp, "report.json")

    def start_gateway(self):
        a = self.sim("gpu-a", tokens=8, token_delay_ms=2)
        b = self.sim("gpu-b", tokens=8, token_delay_ms=2)
        gw = self.gateway(gateway_config([("gpu-a", a.url, ["llama3.2"]),
                                          ("gpu-b", b.url, ["llama3.2"])]))
        return gw.target

    def bench(self, *args, timeout=15):
        """Runs gateway-bench with --json; returns (exit code, report, stdout)."""
        argv = [harness.binary("gateway-bench"), "--json", self.json_path, *args]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        report = None
        if os.path.exists(self.json_path):
            with open(self.json_path) as f:
                report = json.load(f)
        return done.returncode, report, done.stdout + done.stderr

    def assert_ordered(self, summary, count):
        self.assertEqual(summary["count"], count)
        self.assertGreater(summary["p50"], 0)
        self.assertLessEqual(summary["p50"], summary["p90"])
        self.assertLessEqual(summary["p90"], summary["p99"])
        self.assertLessEqual(summary["p99"], summary["p999"])
        self.assertLessEqual(summary["p999"], summary["max"])

    def test_closed_loop_predict_reports_rps_and_ordered_percentiles(self):
        target = self.start_gateway()
        code, report, output = self.bench("--target", target, "--insecure", "--concurrency", "8",
                                          "--duration", "2s", "--warmup", "0.5s",
                                          "--num-predict", "4", "--hash-key-cardinality", "4",
                                          "--connections", "2")
        self.assertEqual(code, 0, output)
        self.assertEqual(report["schema"], "gateway-bench/v1")
        self.assertEqual(report["load"], "closed")
        self.assertEqual(report["concurrency"], 8)
        self.assertEqual(report["errors"], {}, output)
        self.assertGreater(report["ok"], 0)
        self.assertGreater(report["rps"], 0)
        self.assertGreaterEqual(report["duration_s"], 2.0)
        self.assertAlmostEqual(report["rps"], report["ok"] / report["duration_s"], places=6)
        self.assertEqual(report["requests"], report["ok"])
        self.assertEqual(report["dropped"], 0)
        self.assert_ordered(report["latency_us"], report["ok"])
        self.assertIsNone(report["ttft_us"])
        self.assertIn("ok calls/s", output)

    def test_open_loop_stream_reports_time_to_first_message(self):
        target = self.start_gateway()
        code, report, output = self.bench("--target", target, "--insecure", "--rpc", "stream",
                                          "--rate", "40", "--arrivals", "uniform",
                                          "--duration", "2s", "--num-predict", "6")
        self.assertEqual(code, 0, output)
        self.assertEqual(report["load"], "open")
        self.assertEqual(report["offered_rps"], 40)
        self.assertIsNone(report["concurrency"])
        self.assertEqual(report["errors"], {}, output)
        self.assertEqual(report["dropped"], 0)
        # Uniform arrivals at 40/s for 2 s: exactly 80 intended calls.
        self.assertEqual(report["requests"], 80)
        self.assert_ordered(report["latency_us"], report["ok"])
        self.assert_ordered(report["ttft_us"], report["ok"])
        self.assertLessEqual(report["ttft_us"]["p50"], report["latency_us"]["p50"])
        # Each stream carries at least the 6 tokens (plus the final done message).
        self.assertGreaterEqual(report["messages"], 6 * report["ok"])
        self.assertGreater(report["messages_per_s"], 0)

    def test_open_loop_counts_arrivals_over_the_outstanding_cap_as_dropped(self):
        a = self.sim("slow", tokens=4, token_delay_ms=250)
        gw = self.gateway(gateway_config([("slow", a.url, ["llama3.2"])]))
        code, report, output = self.bench("--target", gw.target, "--insecure", "--rate", "50",
                                          "--arrivals", "uniform", "--max-outstanding", "2",
                                          "--requests", "20")
        self.assertEqual(code, 0, output)
        self.assertGreater(report["dropped"], 0)
        self.assertEqual(report["ok"] + report["dropped"], 20)

    def test_an_unreachable_target_is_reported_as_unavailable_without_hanging(self):
        code, report, output = self.bench("--target", f"127.0.0.1:{closed_port()}", "--insecure",
                                          "--concurrency", "4", "--duration", "1s",
                                          "--timeout", "2s")
        self.assertEqual(code, 1, output)
        self.assertEqual(report["ok"], 0)
        self.assertEqual(list(report["errors"]), ["UNAVAILABLE"], output)
        self.assertGreater(report["errors"]["UNAVAILABLE"], 0)
        self.assertEqual(report["requests"], report["errors"]["UNAVAILABLE"])
        self.assertEqual(report["rps"], 0)
        self.assertIn("UNAVAILABLE", output)

    def test_bad_flags_exit_2_with_usage(self):
        code, report, output = self.bench("--target", "127.0.0.1:1", "--rate", "5",
                                          "--concurrency", "2")
        self.assertEqual(code, 2)
        self.assertIsNone(report)
        self.assertIn("--rate (open loop) and --concurrency (closed loop) exclude each other",
                      output)
        self.assertIn("usage: gateway-bench", output)


if __name__ == "__main__":
    import unittest
    unittest.main()
