"""Bounded soak: steady unary and streaming load from several clients while backends are killed
and restarted and the configuration is reloaded at random moments.

At most one backend is down at a time, so no unary call and no chat stream may be lost: a unary
call whose backend dies runs again on another one, a chat stream continues there. Every such
call must end OK well within its deadline (a DEADLINE_EXCEEDED here means something hung); a
templated generate stream, which cannot be continued, may end UNAVAILABLE when its backend dies
under it. The gateway must not crash, its sanitizer log must stay clean, and its RSS at the end
must stay within a small margin of the middle. Prints a table of calls by outcome, and the
streams continued. Not part of the fast test run: CI runs it as `ctest -L soak`.

  OG_SOAK_SECONDS=90 /usr/bin/python3 -m unittest -v soak
"""
import collections
import json
import os
import random
import re
import signal
import threading
import time
import unittest

import grpc

import harness
from harness import ProcessTestCase, gateway_config, rss_kib

pb2, pb2_grpc = harness.grpc_modules()


class SoakTest(ProcessTestCase):
    def test_load_with_backend_deaths_and_reloads(self):
        seconds = float(os.environ.get("OG_SOAK_SECONDS", "75"))
        rng = random.Random(7)
        names = ["gpu-a", "gpu-b", "gpu-c", "gpu-d"]
        sims = {n: self.sim(n, tokens=12, token_delay_ms=8) for n in names}
        ports = {n: s.port for n, s in sims.items()}
        # Health checks notice a death (and a return) within about a second.
        extra = ("health:\n"
                 "  connect:\n    interval: 250ms\n    timeout: 200ms\n    jitter: 50ms\n"
                 "  api:\n    interval: 500ms\n    timeout: 400ms\n    jitter: 100ms\n"
                 # A killed backend's failed calls may eject it; it comes back soon after.
                 "outlier_detection:\n  base_ejection_time: 1s\n  max_ejection_time: 2s\n"
                 # A kill fails a quarter of the calls in progress at once, more than the
                 # default budget's 20% (floor 3) lets retry; the soak tests failover, not the
                 # budget (call_path_test does).
                 "upstream:\n  retry_budget_percent: 100\n")

        def config_for(subset):
            return gateway_config([(n, f"http://127.0.0.1:{ports[n]}", ["llama3.2"])
                                   for n in subset],
                                  extra=extra).replace("level: debug", "level: info")

        config = config_for(names)
        gw = self.gateway(config)

        def routable(subset):
            """Whether the gateway routes to every backend of `subset` again."""
            status, body = harness.http_get(f"http://{gw.admin}/admin/backends")
            if status != 200:
                return False
            by_name = {b["name"]: b for b in json.loads(body)["backends"]}
            return all(n in by_name and by_name[n]["healthy"] and not by_name[n]["reasons"]
                       for n in subset)

        serving = list(names)
        harness.wait_for(lambda: routable(serving), 10, "every backend to be routable")
        channel = grpc.insecure_channel(gw.target)
        self.addCleanup(channel.close)
        stub = pb2_grpc.ModelInferenceStub(channel)

        outcomes = collections.Counter()
        reasons = collections.Counter()
        slowest = [0.0]
        lock = threading.Lock()
        stop = threading.Event()
        deadline_s = 15

        def record(kind, status, elapsed, details=""):
            with lock:
                outcomes[(kind, status)] += 1
                if details:
                    # Backend names and ports vary; the shape of the reason is what counts.
                    reasons[re.sub(r"'gpu-.'|port \d+|\d+ ms", "*", details)[:300]] += 1
                slowest[0] = max(slowest[0], elapsed)

        def unary_client(i):
            request = pb2.InferenceRequest(model_name="llama3.2", input_data=f"unary {i}".encode())
            while not stop.is_set():
                started = time.monotonic()
                details = ""
                try:
                    stub.Predict(request, timeout=deadline_s)
                    status = "OK"
                except grpc.RpcError as e:
                    status, details = e.code().name, e.details()
                record("Predict", status, time.monotonic() - started, details)

        continued = collections.Counter()

        def stream_client(i, chat):
            if chat:
                kind = "PredictStream(chat)"
                request = pb2.InferenceRequest(model_name="llama3.2", messages=[
                    pb2.ChatMessage(role="user", content=f"stream {i}")])
            else:
                kind = "PredictStream(generate)"
                request = pb2.InferenceRequest(model_name="llama3.2",
                                               input_data=f"stream {i}".encode())
            while not stop.is_set():
                started = time.monotonic()
                details = ""
                try:
                    last = None
                    call = stub.PredictStream(request, timeout=deadline_s)
                    for last in call:
                        pass
                    status = "OK" if last is not None and last.done else "INCOMPLETE"
                    if dict(call.trailing_metadata()).get("x-gateway-continued"):
                        with lock:
                            continued[kind] += 1
                except grpc.RpcError as e:
                    status, details = e.code().name, e.details()
                record(kind, status, time.monotonic() - started, details)

        clients = [threading.Thread(target=unary_client, args=(i,)) for i in range(4)]
        clients += [threading.Thread(target=stream_client, args=(i, True)) for i in range(3)]
        clients += [threading.Thread(target=stream_client, args=(3, False))]
        for t in clients:
            t.start()

        events = collections.Counter()
        middle_rss = None
        start = time.monotonic()
        while time.monotonic() - start < seconds:
            time.sleep(rng.uniform(0.5, 2.0))
            action = rng.choice(["kill", "kill", "reload", "reload_bad"])
            # One backend at most is down at a time: the next event waits until the gateway
            # routes to every backend again.
            if action == "kill":
                victim = rng.choice(names)
                sims[victim].kill()
                time.sleep(rng.uniform(0.2, 1.0))
                sims[victim] = self.sim(victim, tokens=12, token_delay_ms=8,
                                        port=ports[victim])
            elif action == "reload":
                serving = sorted(rng.sample(names, rng.randint(2, 4)))
                harness.write_file(self.tmp, "gateway.yaml", config_for(serving))
                gw.signal(signal.SIGHUP)
            else:
                harness.write_file(self.tmp, "gateway.yaml", "backends: [broken\n")
                gw.signal(signal.SIGHUP)
            events[action] += 1
            harness.wait_for(lambda: routable(serving), 10,
                             lambda: f"every backend of {serving} to be routable after {action}: "
                             + harness.http_get(f"http://{gw.admin}/admin/backends")[1])
            if middle_rss is None and time.monotonic() - start > seconds / 2:
                middle_rss = rss_kib(gw.proc.pid)
            self.assertTrue(gw.alive(), "the gateway died:\n" + gw.log()[-4000:])
        stop.set()
        for t in clients:
            t.join(timeout=deadline_s + 5)
        end_rss = rss_kib(gw.proc.pid)

        print(f"\nsoak: {seconds:.0f} s, events {dict(events)}, slowest call {slowest[0]:.2f} s, "
              f"gateway RSS middle {middle_rss // 1024} MiB, end {end_rss // 1024} MiB")
        print("| rpc | outcome | calls |\n|---|---|---|")
        for (kind, status), n in sorted(outcomes.items()):
            print(f"| {kind} | {status} | {n} |")
        for reason, n in reasons.most_common(5):
            print(f"  {n:5d} x {reason}")
        lost = {k: n for (k, s), n in outcomes.items() if s != "OK" and k != "PredictStream(generate)"}
        metrics = harness.http_get(f"http://{gw.admin}/metrics")[1]
        refused = [line for line in metrics.splitlines()
                   if line.startswith("gateway_retries_refused_total")]
        print(f"lost unary calls and chat streams: {sum(lost.values())}; "
              f"streams continued on another backend: {dict(continued)}; {refused}")

        self.assertTrue(gw.alive())
        self.assertFalse(any(t.is_alive() for t in clients), "a client is still waiting")
        self.assertEqual(lost, {}, f"calls lost: {dict(outcomes)}; {reasons.most_common(5)}")
        # A templated generate stream cut by a kill after its first byte cannot be continued:
        # UNAVAILABLE, the retriable answer.
        generate = {s for k, s in outcomes if k == "PredictStream(generate)"}
        self.assertEqual(generate - {"OK", "UNAVAILABLE"}, set(), outcomes)
        ok = sum(n for (_, s), n in outcomes.items() if s == "OK")
        self.assertGreater(ok, 0.9 * sum(outcomes.values()), outcomes)
        self.assertLess(slowest[0], deadline_s - 1)
        self.assertLess(end_rss, middle_rss * 1.15 + 8 * 1024,
                        f"RSS grew from {middle_rss} KiB to {end_rss} KiB")


if __name__ == "__main__":
    unittest.main()
