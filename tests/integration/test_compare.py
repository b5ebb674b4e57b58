"""bench/compare.py end to end, briefly: every scenario and every contender (the gateway's two
front doors, nginx, HAProxy, the backend alone) for one short round, then what a reader of the
results sees: one row per contender with requests served and no errors, the proxies' CPU and
memory, ratios to the backend row, and the plots."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import harness

COMPARE = os.path.join(harness.SOURCE_DIR, "bench", "compare.py")
CONTENDERS = ["backend", "gateway-http", "gateway-grpc", "grpc-floor", "nginx:least_conn",
              "nginx:hash", "haproxy"]


@unittest.skipIf(harness.SANITIZED, "checks the runner, not the gateway: release build only")
class CompareTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.out = tempfile.mkdtemp(prefix="og-compare-test-")
        run = subprocess.run(
            [sys.executable, COMPARE, "--bin", harness.BIN_DIR, "--out", cls.out,
             "--repeats", "1", "--duration", "1", "--warmup", "1", "--sweep", "1,4",
             "--sweep-duration", "1", "--stream-counts", "20,30@50", "--stream-seconds", "0.5",
             "--contenders", ",".join(CONTENDERS)],
            capture_output=True, text=True, timeout=600)
        cls.stdout, cls.stderr = run.stdout, run.stderr
        if run.returncode != 0:
            raise AssertionError(f"compare.py exited {run.returncode}:\n{run.stderr[-4000:]}")
        with open(os.path.join(cls.out, "results.json")) as f:
            cls.results = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.out, ignore_errors=True)

    def test_unary_has_every_contender_serving_without_errors(self):
        table = self.results["unary"]["table"]
        self.assertEqual(list(table), CONTENDERS)
        for name, row in table.items():
            with self.subTest(name):
                self.assertGreater(row["requests"], 0)
                self.assertEqual(row["errors"], 0)
                self.assertGreater(row["rps"], 0)
                self.assertGreater(row["p50_us"], 0)
                self.assertLessEqual(row["p50_us"], row["p99_us"])
                self.assertGreater(row["cpu_s"], 0)
                self.assertGreater(row["peak_rss_kib"], 1024)

    def test_the_table_gives_ratios_to_the_backend(self):
        self.assertIn("| backend | ", self.stdout)
        backend_row = next(line for line in self.stdout.splitlines()
                           if line.startswith("| backend | "))
        self.assertIn("| 1.00x | 1.00x | 1.00x | 1.00x |", backend_row)
        for name in CONTENDERS:
            self.assertIn(f"| {name} | ", self.stdout)

    def test_the_grpc_rows_are_compared_with_the_grpc_floor(self):
        self.assertIn("| contender | RPS | CPU µs / call | RPS / floor's | CPU / floor's |",
                      self.stdout)
        floor_row = next(line for line in self.stdout.splitlines()
                         if line.startswith("| grpc-floor | ") and "1.00x | 1.00x |" in line)
        self.assertTrue(floor_row)
        self.assertIn("| gateway-grpc | ", self.stdout.split(floor_row)[0])

    def test_streams_measure_first_tokens_and_memory(self):
        streams = self.results["streams"]
        self.assertEqual(sorted(streams), ["20@20", "30@50"])
        for batch, table in streams.items():
            # The gRPC floor answers unpaced, so it is a unary row only.
            self.assertEqual(list(table), [c for c in CONTENDERS if c != "grpc-floor"])
            for name, row in table.items():
                with self.subTest(batch=batch, contender=name):
                    self.assertEqual(row["errors"], 0)
                    # nothing reaches a client before the backend's first token
                    first_token_ms = int(batch.split("@")[1])
                    self.assertGreaterEqual(row["ttft_p50_us"], first_token_ms * 1000)
                    self.assertGreater(row["tokens"], 0)

    def test_mixed_compares_the_policies(self):
        mixed = self.results["mixed"]
        self.assertEqual(set(mixed), {"gateway-http:least_connections", "gateway-http:round_robin",
                                      "gateway-http:ketama", "nginx:least_conn", "nginx:hash",
                                      "haproxy"})
        for name, row in mixed.items():
            with self.subTest(name):
                self.assertGreater(row["requests"], 0)
                self.assertEqual(row["errors"], 0)

    def test_plots_are_png_files(self):
        for name in ("unary-latency-p50.png", "unary-latency-p99.png"):
            with open(os.path.join(self.out, name), "rb") as f:
                self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        with open(os.path.join(self.out, "results.md")) as f:
            self.assertIn("![unary-latency-p99.png](unary-latency-p99.png)", f.read())


if __name__ == "__main__":
    unittest.main()
