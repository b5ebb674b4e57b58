"""`ollama-gateway ring` against an independent libketama implementation written here in Python.

Another libketama client given the same labels and weights must map every key to the same
backend; this file is that other client.
"""
import bisect
import hashlib
import math
import struct
import subprocess
import tempfile
import unittest

import harness


def f32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def libketama_ring(servers):
    """servers: list of (label, weight, name). Returns sorted [(point, name)] as libketama does."""
    total = sum(w for _, w, _ in servers)
    points = []
    for label, weight, name in servers:
        pct = f32(f32(weight) / f32(total))
        digests = int(math.floor(f32(pct * 40.0 * f32(len(servers)))))
        for k in range(digests):
            d = hashlib.md5(f"{label}-{k}".encode()).digest()
            for h in range(4):
                points.append((int.from_bytes(d[4 * h:4 * h + 4], "little"), name))
    points.sort(key=lambda p: p[0])
    return points


def libketama_owner(ring, key):
    h = int.from_bytes(hashlib.md5(key.encode()).digest()[:4], "little")
    i = bisect.bisect_left([p for p, _ in ring], h)
    return ring[i % len(ring)][1]


def config(backends, policy="ketama"):
    text = ("listen: {address: '127.0.0.1:0', insecure: true}\n"
            f"balancer: {{policy: {policy}}}\nbackends:\n")
    for name, url, weight, extra in backends:
        text += f"  - {{name: {name}, url: '{url}', weight: {weight}{extra}}}\n"
    return text


class RingToolTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)

    def write(self, name, text):
        return harness.write_file(self.tmp.name, name, text)

    def ring(self, *args, keys):
        out = subprocess.run([harness.binary("ollama-gateway"), "ring", *args],
                             input="\n".join(keys) + "\n", capture_output=True, text=True,
                             timeout=60)
        return out

    def test_every_key_lands_where_libketama_puts_it(self):
        backends = [("gpu-a", "http://10.0.0.1:11434", 1, ""),
                    ("gpu-b", "http://10.0.0.2:11434", 1, ""),
                    ("gpu-c", "http://gpu-c.internal", 1, ""),
                    ("gpu-d", "http://10.0.0.4:11434", 1, ", hash_id: rack7-slot2")]
        path = self.write("ring.yaml", config(backends))
        keys = [f"session-{i}" for i in range(2000)] + ["", "ünïcode", "a b\tc"]
        out = self.ring("--config", path, keys=keys)
        self.assertEqual(out.returncode, 0, out.stderr)
        got = dict(line.rsplit("\t", 1) for line in out.stdout.splitlines())
        # Labels: host:port (port made explicit) or the configured hash_id.
        expected_ring = libketama_ring([("10.0.0.1:11434", 1, "gpu-a"),
                                        ("10.0.0.2:11434", 1, "gpu-b"),
                                        ("gpu-c.internal:80", 1, "gpu-c"),
                                        ("rack7-slot2", 1, "gpu-d")])
        mismatches = [k for k in keys if k and got.get(k) != libketama_owner(expected_ring, k)]
        self.assertEqual(mismatches, [])
        self.assertEqual(set(got.values()), {"gpu-a", "gpu-b", "gpu-c", "gpu-d"})

    def test_weighted_rings_agree_with_libketama(self):
        backends = [("a", "http://10.0.0.1:1", 1, ""), ("b", "http://10.0.0.2:1", 3, ""),
                    ("c", "http://10.0.0.3:1", 4, "")]
        path = self.write("w.yaml", config(backends))
        keys = [f"k{i}" for i in range(3000)]
        out = self.ring("--config", path, keys=keys)
        self.assertEqual(out.returncode, 0, out.stderr)
        got = dict(line.rsplit("\t", 1) for line in out.stdout.splitlines())
        ring = libketama_ring([("10.0.0.1:1", 1, "a"), ("10.0.0.2:1", 3, "b"),
                               ("10.0.0.3:1", 4, "c")])
        self.assertEqual([k for k in keys if got[k] != libketama_owner(ring, k)], [])

    def test_compare_reports_the_share_of_keys_that_move(self):
        three = [(f"b{i}", f"http://10.0.0.{i}:11434", 1, "") for i in range(1, 4)]
        four = three + [("b4", "http://10.0.0.4:11434", 1, "")]
        old = self.write("old.yaml", config(three))
        new = self.write("new.yaml", config(four))
        keys = [f"user-{i}" for i in range(20000)]
        out = self.ring("--config", old, "--compare", new, keys=keys)
        self.assertEqual(out.returncode, 0, out.stderr)
        old_ring = libketama_ring([(f"10.0.0.{i}:11434", 1, f"b{i}") for i in range(1, 4)])
        new_ring = libketama_ring([(f"10.0.0.{i}:11434", 1, f"b{i}") for i in range(1, 5)])
        moved = sum(libketama_owner(old_ring, k) != libketama_owner(new_ring, k) for k in keys)
        self.assertEqual(out.stdout.strip(),
                         f"{moved} of 20000 keys move ({100.0 * moved / 20000:.2f}%)")
        self.assertTrue(0.18 < moved / 20000 < 0.32, moved)

    def test_model_selects_the_pool_and_a_non_ketama_pool_gets_a_note(self):
        backends = [("a", "http://10.0.0.1:1", 1, ", models: [llama3.2]"),
                    ("b", "http://10.0.0.2:1", 1, ", models: [qwen2.5]")]
        path = self.write("m.yaml", config(backends, policy="round_robin"))
        out = self.ring("--config", path, "--model", "qwen2.5", keys=["x", "y", "z"])
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual({line.split("\t")[1] for line in out.stdout.splitlines()}, {"b"})
        self.assertIn("routes 'qwen2.5' with round_robin, not ketama", out.stderr)

    def test_bad_usage_and_bad_config_are_refused(self):
        out = self.ring("--config", keys=[])
        self.assertEqual(out.returncode, 2)
        self.assertIn("--config needs a value", out.stderr)
        bad = self.write("bad.yaml", "backends: []\n")
        out = self.ring("--config", bad, keys=["k"])
        self.assertEqual(out.returncode, 1)
        self.assertIn(f"{bad}:1: backends: at least one backend is required", out.stderr)


if __name__ == "__main__":
    unittest.main()
