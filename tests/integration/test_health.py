"""Active health checks, outlier detection, panic mode and discovery, end to end.

Real ollama-sim backends broken at run time through /sim/config (or killed), the real gateway
with short check intervals, and real gRPC clients. Every wait polls with a deadline; the
deadlines are loose (the machine is shared and may run the binaries under a sanitizer), and no
test asserts on speed beyond "noticed within the documented bound plus slack".
"""
import collections
import json
import subprocess
import threading
import time

import grpc

import harness
from harness import ProcessTestCase, gateway_config, http_get, http_post_json, wait_for

pb2, pb2_grpc = harness.grpc_modules()

# Extra time allowed on top of a documented detection bound.
SLACK = 3.0 if harness.SANITIZED else 1.5

# Short tier settings for the tests: 500 ms between checks, 300 ms timeout, 100 ms jitter.
FAST_INTERVAL = 0.5
FAST_TIMEOUT = 0.3
UNHEALTHY_THRESHOLD = 2
HEALTHY_THRESHOLD = 3


def tier_yaml(interval="500ms", timeout="300ms", jitter="100ms",
              healthy=HEALTHY_THRESHOLD, unhealthy=UNHEALTHY_THRESHOLD, **more):
    fields = [f"interval: {interval}", f"timeout: {timeout}", f"jitter: {jitter}",
              f"healthy_threshold: {healthy}", f"unhealthy_threshold: {unhealthy}"]
    fields += [f"{k}: {v}" for k, v in more.items()]
    return "{" + ", ".join(fields) + "}"


def health_yaml(panic_threshold=None, inference=None, outlier=None, connect=None, api=None,
                discovery=None):
    """The `health:` (and `outlier_detection:`) sections with fast checks.

    inference: None keeps tier 3 off, else a dict of extra keys with `models`.
    outlier: None keeps the defaults, else a dict of outlier_detection keys.
    """
    text = "health:\n"
    if discovery is not None:
        text += f"  discovery: {'true' if discovery else 'false'}\n"
    if panic_threshold is not None:
        text += f"  panic_threshold: {panic_threshold}\n"
    text += f"  connect: {tier_yaml(**(connect or {}))}\n"
    text += f"  api: {tier_yaml(**(api or {}))}\n"
    if inference is not None:
        models = inference.pop("models")
        settings = {"interval": "1s", "timeout": "400ms", "jitter": "100ms", "healthy": 1,
                    "unhealthy": 2}
        settings.update(inference)
        text += (f"  inference: {tier_yaml(**settings)[:-1]}, "
                 f"models: [{', '.join(models)}]}}\n")
    if outlier is not None:
        text += "outlier_detection:\n"
        text += "".join(f"  {k}: {v}\n" for k, v in outlier.items())
    return text








def health_request(service):
    # grpc.health.v1.HealthCheckRequest {string service = 1}.
    data = service.encode()
    return (b"\x0a" + bytes([len(data)]) + data) if data else b""


def health_status(reply):
    """HealthCheckResponse.status (field 1, varint): 1 SERVING, 2 NOT_SERVING; 0 when absent."""
    if len(reply) >= 2 and reply[0] == 0x08:
        return reply[1]
    return 0


SERVING, NOT_SERVING = 1, 2


class HealthTestCase(ProcessTestCase):
    def start(self, sims, extra="", policy="round_robin", config_models=None, preload=True):
        """Starts the sims (name -> Sim kwargs) and a gateway in front of them.

        config_models: name -> models list for the backend's config (None = no `models` key).
        preload: load each sim's models before the gateway starts, so /api/ps reports them
        loaded everywhere and the router's preference for loaded backends does not skew where
        calls go.
        """
        self.sims = {name: self.sim(name, **kw) for name, kw in sims.items()}
        if preload:
            for name, kw in sims.items():
                for model in kw.get("models", ("llama3.2",)):
                    self.preload(name, model)
        config_models = config_models or {}
        backends = [(name, s.url, config_models.get(name)) for name, s in self.sims.items()]
        self.gw = self.gateway(gateway_config(backends, policy=policy, extra=extra))
        self.channel = grpc.insecure_channel(self.gw.target)
        self.addCleanup(self.channel.close)
        self.stub = pb2_grpc.ModelInferenceStub(self.channel)
        return self.stub

    # --- backends ------------------------------------------------------------------------------

    def knobs(self, name, **values):
        return http_post_json(self.sims[name].url + "/sim/config", values)

    def sim_stats(self, name):
        status, body = http_get(self.sims[name].url + "/sim/stats")
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def generates(self, name):
        return self.sim_stats(name)["requests_by_path"]["/api/generate"]

    def preload(self, name, model):
        """An empty prompt only loads the model (as `ollama run` does before the first prompt)."""
        reply = http_post_json(self.sims[name].url + "/api/generate", {"model": model})
        self.assertEqual(reply.get("done_reason"), "load", reply)

    # --- gateway -------------------------------------------------------------------------------

    def admin_get(self, path):
        return http_get(f"http://{self.gw.admin}{path}")

    def backends(self):
        status, body = self.admin_get("/admin/backends")
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def backend(self, name):
        for b in self.backends()["backends"]:
            if b["name"] == name:
                return b
        self.fail(f"backend {name} not in /admin/backends")

    def pool(self, model):
        for p in self.backends()["pools"]:
            if p["model"] == model:
                return p
        self.fail(f"model {model} has no pool in /admin/backends")

    def tier_state(self, name, tier, model=None):
        tiers = self.backend(name)["tiers"]
        t = tiers[tier] if model is None else tiers[tier][model]
        return t["state"]

    def metrics(self):
        status, body = self.admin_get("/metrics")
        self.assertEqual(status, 200, body)
        return body

    def predict(self, model="llama3.2", prompt="hello", timeout=20):
        """Makes a call; returns (response, backend that served it)."""
        request = pb2.InferenceRequest(model_name=model, input_data=prompt.encode())
        response, call = self.stub.Predict.with_call(request, timeout=timeout)
        return response, dict(call.trailing_metadata())["x-gateway-backend"]

    def served_by(self, n, model="llama3.2", timeout=20, prefix="call"):
        """Makes n calls one after the other; returns the Counter of the backends that served
        them. Every call must succeed."""
        served = collections.Counter()
        for i in range(n):
            response, backend = self.predict(model, f"{prefix} {i}", timeout=timeout)
            self.assertTrue(response.output_data.decode().startswith(f"[{backend}]"),
                            response.output_data)
            served[backend] += 1
        return served

    def grpc_health(self, service):
        """(grpc code, status) of grpc.health.v1.Health/Check for `service`."""
        check = self.channel.unary_unary(
            "/grpc.health.v1.Health/Check",
            request_serializer=health_request, response_deserializer=lambda b: b)
        try:
            return grpc.StatusCode.OK, health_status(check(service, timeout=5))
        except grpc.RpcError as e:
            return e.code(), None


class KilledBackendTest(HealthTestCase):
    def test_a_killed_backend_is_marked_unhealthy_in_time_and_gets_no_calls(self):
        self.start({"gpu-a": {}, "gpu-b": {}, "gpu-c": {}}, extra=health_yaml(panic_threshold=0))
        self.assertEqual(self.served_by(6, prefix="before").keys(), {"gpu-a", "gpu-b", "gpu-c"})

        bound = FAST_INTERVAL * UNHEALTHY_THRESHOLD + FAST_TIMEOUT + SLACK
        self.sims["gpu-b"].kill()
        killed_at = time.monotonic()
        served = collections.Counter()
        i = 0
        # Calls made while the checks have not noticed yet must succeed too (on another backend).
        while self.tier_state("gpu-b", "connect") != "unhealthy":
            self.assertLess(time.monotonic() - killed_at, bound,
                            f"connect tier of gpu-b: {self.backend('gpu-b')['tiers']['connect']}")
            _, backend = self.predict(prompt=f"meanwhile {i}")
            served[backend] += 1
            status, body = self.admin_get("/readyz")
            self.assertEqual(status, 200, body)
            i += 1
            time.sleep(0.05)
        noticed = time.monotonic() - killed_at
        self.assertLess(noticed, bound)
        self.assertNotIn("gpu-b", served)

        b = self.backend("gpu-b")
        self.assertFalse(b["healthy"], b)
        self.assertTrue(b["reasons"], b)
        self.assertIn("health: backend gpu-b connect check healthy -> unhealthy", self.gw.log())

        after = self.served_by(20, prefix="after")
        self.assertEqual(sum(after.values()), 20)
        self.assertNotIn("gpu-b", after)
        self.assertEqual(after.keys(), {"gpu-a", "gpu-c"}, after)
        status, body = self.admin_get("/readyz")
        self.assertEqual(status, 200, body)


class HangingInferenceTest(HealthTestCase):
    def test_a_backend_whose_generation_hangs_fails_tier_3_and_is_skipped(self):
        self.start({"gpu-a": {}, "gpu-b": {}},
                   extra=health_yaml(panic_threshold=0, inference={"models": ["llama3.2"]}))
        wait_for(lambda: all(self.tier_state(n, "inference", "llama3.2") == "healthy"
                             for n in ("gpu-a", "gpu-b")), 5, "both inference tiers healthy")
        probes_before = self.sim_stats("gpu-a")["probe_generations"]

        self.knobs("gpu-a", hang=True)
        # /api/version and /api/tags still answer: only tier 3 can notice.
        # Bound: up to one interval until the next probe, then unhealthy_threshold probes that
        # each time out (interval 1 s, timeout 400 ms).
        wait_for(lambda: self.tier_state("gpu-a", "inference", "llama3.2") == "unhealthy",
                 1.0 * 3 + 0.4 + SLACK, "the inference tier of gpu-a to turn unhealthy")
        self.assertGreater(self.sim_stats("gpu-a")["probe_generations"], probes_before)
        a = self.backend("gpu-a")
        self.assertEqual(a["tiers"]["connect"]["state"], "healthy", a)
        self.assertEqual(a["tiers"]["api"]["state"], "healthy", a)
        self.assertTrue(any("llama3.2" in r for r in a["reasons"]), a["reasons"])
        self.assertIn("health: backend gpu-a inference (llama3.2) check healthy -> unhealthy",
                      self.gw.log())

        served = self.served_by(10, timeout=5)
        self.assertEqual(served, {"gpu-b": 10})
        self.assertEqual(self.tier_state("gpu-b", "inference", "llama3.2"), "healthy")


class DiscoveryTest(HealthTestCase):
    def test_a_model_goes_only_to_backends_that_list_it_and_discovery_follows_changes(self):
        self.start({"gpu-a": {"models": ("llama3.2",)}, "gpu-b": {"models": ("qwen2.5:7b",)}},
                   extra=health_yaml(panic_threshold=0))
        self.assertEqual(self.backend("gpu-a")["models"], ["llama3.2:latest"])
        self.assertEqual(self.backend("gpu-b")["models"], ["qwen2.5:7b"])

        self.assertEqual(self.served_by(20), {"gpu-a": 20})
        self.assertEqual(self.served_by(5, model="qwen2.5:7b"), {"gpu-b": 5})
        with self.assertRaises(grpc.RpcError) as ctx:
            self.predict(model="mistral")
        self.assertEqual(ctx.exception.code(), grpc.StatusCode.NOT_FOUND,
                         ctx.exception.details())
        self.assertIn("mistral", ctx.exception.details())

        # gpu-b gets llama3.2 at run time (pulled, say): the next api check finds it.
        self.knobs("gpu-b", models=["llama3.2", "qwen2.5:7b"])
        wait_for(lambda: "llama3.2:latest" in (self.backend("gpu-b")["models"] or []),
                 FAST_INTERVAL * 2 + FAST_TIMEOUT + SLACK, "gpu-b to list llama3.2")
        wait_for(lambda: "gpu-b" in self.pool("llama3.2:latest")["backends"], 2,
                 "gpu-b in the llama3.2 pool")
        # The router prefers backends where the model is loaded: load it on gpu-b too and wait
        # for /api/ps to report it, so round-robin has two equal choices.
        self.preload("gpu-b", "llama3.2")
        wait_for(lambda: "llama3.2:latest" in (self.backend("gpu-b")["loaded_models"] or []),
                 FAST_INTERVAL * 2 + FAST_TIMEOUT + SLACK, "llama3.2 loaded on gpu-b")
        served = self.served_by(10, prefix="after")
        self.assertEqual(served.keys(), {"gpu-a", "gpu-b"}, served)
        self.assertEqual(self.served_by(3, model="qwen2.5:7b", prefix="q"), {"gpu-b": 3})


class OutlierTest(HealthTestCase):
    def outlier_config(self):
        return health_yaml(panic_threshold=0, outlier={
            "consecutive_failures": 3, "base_ejection_time": "30s", "max_ejection_time": "1m"})

    def check_ejected_with_healthy_tiers(self, name):
        b = self.backend(name)
        self.assertTrue(b["outlier"]["ejected"], b)
        self.assertGreaterEqual(b["outlier"]["times_ejected"], 1, b)
        self.assertIsNotNone(b["outlier"]["ejected_until"], b)
        # No active check noticed anything: the ejection came from live calls alone.
        self.assertEqual(b["tiers"]["connect"]["state"], "healthy", b)
        self.assertEqual(b["tiers"]["api"]["state"], "healthy", b)
        self.assertFalse(b["healthy"], b)
        self.assertIn(f"health: backend {name} ejected for 30000 ms after 3 failed calls in a row",
                      self.gw.log())
        self.assertIn(f'gateway_backend_ejected{{backend="{name}"}} 1', self.metrics())

    def test_a_backend_failing_every_generation_with_500_is_ejected(self):
        self.start({"gpu-a": {}, "gpu-b": {}}, extra=self.outlier_config())
        self.knobs("gpu-a", fail_status=500)
        # HTTP 500 is not a retriable status (only 502, 503, 504 are, see upstream.max_attempts
        # and FaultyBackendTest), so calls that land on gpu-a before its ejection fail with
        # UNAVAILABLE; every other call succeeds on gpu-b.
        failed = 0
        for i in range(12):
            try:
                _, backend = self.predict(prompt=f"call {i}")
                self.assertEqual(backend, "gpu-b")
            except grpc.RpcError as e:
                self.assertEqual(e.code(), grpc.StatusCode.UNAVAILABLE, e.details())
                self.assertIn("gpu-a", e.details())
                self.assertIn("500", e.details())
                failed += 1
            if self.backend("gpu-a")["outlier"]["ejected"]:
                break
        self.assertEqual(failed, 3)
        self.check_ejected_with_healthy_tiers("gpu-a")

        generates = self.generates("gpu-a")
        self.assertEqual(self.served_by(10, prefix="after"), {"gpu-b": 10})
        self.assertEqual(self.generates("gpu-a"), generates)

    def test_a_backend_failing_every_generation_with_502_is_ejected_and_no_call_fails(self):
        # Same as above with a retriable status: every call is retried on gpu-b and succeeds.
        self.start({"gpu-a": {}, "gpu-b": {}},
                   extra=self.outlier_config() + "upstream:\n  max_attempts: 2\n")
        self.knobs("gpu-a", fail_status=502)
        served = self.served_by(12)
        self.assertEqual(served, {"gpu-b": 12})
        self.check_ejected_with_healthy_tiers("gpu-a")
        self.assertEqual(self.sim_stats("gpu-a")["injected_failures"], 3)
        generates = self.generates("gpu-a")
        self.assertEqual(self.served_by(10, prefix="after"), {"gpu-b": 10})
        self.assertEqual(self.generates("gpu-a"), generates)


class BlackHoleTest(HealthTestCase):
    def test_an_instantly_failing_backend_does_not_attract_least_connections_traffic(self):
        # A backend that fails at once always has the fewest calls in flight, so
        # least_connections alone would send it nearly everything. (502: retried elsewhere and
        # the backend's fault; Ollama's "server busy" 503 is load, which outlier detection
        # leaves alone: test_hostile.)
        self.start({"fast-fail": {"token_delay_ms": 20}, "gpu-b": {"token_delay_ms": 20},
                    "gpu-c": {"token_delay_ms": 20}},
                   policy="least_connections",
                   extra=health_yaml(panic_threshold=0)
                   + "upstream:\n  max_attempts: 2\n  retry_budget_percent: 100\n")
        before = {name: self.generates(name) for name in self.sims}
        self.knobs("fast-fail", fail_status=502)

        threads, calls_per_thread = 4, 15
        served = collections.Counter()
        errors = []
        lock = threading.Lock()

        def worker(t):
            for i in range(calls_per_thread):
                try:
                    _, backend = self.predict(prompt=f"thread {t} call {i}", timeout=30)
                    with lock:
                        served[backend] += 1
                except grpc.RpcError as e:
                    with lock:
                        errors.append(f"{e.code()}: {e.details()}")

        workers = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        self.assertEqual(errors, [])
        self.assertEqual(sum(served.values()), threads * calls_per_thread)
        self.assertNotIn("fast-fail", served)
        got = {name: self.generates(name) - before[name] for name in self.sims}
        self.assertLessEqual(got["fast-fail"], got["gpu-b"], got)
        self.assertLessEqual(got["fast-fail"], got["gpu-c"], got)


class RecoveryTest(HealthTestCase):
    def test_a_backend_comes_back_after_healthy_threshold_passed_checks(self):
        self.start({"gpu-a": {}, "gpu-b": {}}, extra=health_yaml(panic_threshold=0))
        self.knobs("gpu-a", api_status=500)
        wait_for(lambda: self.tier_state("gpu-a", "api") == "unhealthy",
                 FAST_INTERVAL * (UNHEALTHY_THRESHOLD + 1) + FAST_TIMEOUT + SLACK,
                 "the api tier of gpu-a to turn unhealthy")
        a = self.backend("gpu-a")
        self.assertFalse(a["healthy"], a)
        self.assertTrue(a["reasons"], a)
        self.assertIn("500", a["tiers"]["api"]["last_error"], a)
        self.assertEqual(self.served_by(6, prefix="out"), {"gpu-b": 6})

        self.knobs("gpu-a", api_status=0)
        api = wait_for(lambda: (lambda t: t if t["state"] == "healthy" else None)(
            self.backend("gpu-a")["tiers"]["api"]),
            FAST_INTERVAL * (HEALTHY_THRESHOLD + 1) + FAST_TIMEOUT + SLACK,
            "the api tier of gpu-a to turn healthy again")
        self.assertGreaterEqual(api["consecutive_successes"], HEALTHY_THRESHOLD, api)
        self.assertIn("health: backend gpu-a api check unhealthy -> healthy: "
                      f"{HEALTHY_THRESHOLD} checks passed in a row", self.gw.log())
        a = wait_for(lambda: (lambda b: b if b["healthy"] else None)(self.backend("gpu-a")),
                     2, "gpu-a healthy")
        self.assertEqual(a["reasons"], [], a)
        served = self.served_by(6, prefix="back")
        self.assertIn("gpu-a", served)


class AllDownTest(HealthTestCase):
    def test_with_every_backend_down_calls_fail_fast_with_unavailable_naming_the_model(self):
        self.start({"gpu-a": {}, "gpu-b": {}}, extra=health_yaml())
        for s in self.sims.values():
            s.kill()

        def call():
            started = time.monotonic()
            with self.assertRaises(grpc.RpcError) as ctx:
                self.predict(prompt="anyone?", timeout=30)
            err = ctx.exception
            # The functional point: the gateway answered rather than waiting out the deadline.
            self.assertEqual(err.code(), grpc.StatusCode.UNAVAILABLE, err.details())
            self.assertLess(time.monotonic() - started, 25)
            return err

        call()  # before the checks noticed: connect errors
        status, body = wait_for(
            lambda: (lambda r: r if r[0] == 503 else None)(self.admin_get("/readyz")),
            FAST_INTERVAL * UNHEALTHY_THRESHOLD + FAST_TIMEOUT + SLACK, "/readyz to answer 503")
        self.assertIn("not ready: no healthy backend", body)
        err = call()
        self.assertIn("no backend available for model 'llama3.2'", err.details())
        status, body = self.admin_get("/healthz")
        self.assertEqual(status, 200, body)


class GrpcHealthTest(HealthTestCase):
    def test_grpc_health_reports_overall_and_per_model_serving(self):
        self.start({"gpu-a": {}, "gpu-b": {}}, extra=health_yaml())
        for service in ("", "ollama_gateway.v1.ModelInference", "llama3.2", "llama3.2:latest"):
            self.assertEqual(self.grpc_health(service), (grpc.StatusCode.OK, SERVING), service)
        self.assertEqual(self.grpc_health("no-such-model")[0], grpc.StatusCode.NOT_FOUND)

        for s in self.sims.values():
            s.kill()
        bound = FAST_INTERVAL * UNHEALTHY_THRESHOLD + FAST_TIMEOUT + SLACK
        wait_for(lambda: self.grpc_health("") == (grpc.StatusCode.OK, NOT_SERVING), bound,
                 "overall grpc health NOT_SERVING")
        for service in ("ollama_gateway.v1.ModelInference", "llama3.2", "llama3.2:latest"):
            self.assertEqual(self.grpc_health(service), (grpc.StatusCode.OK, NOT_SERVING),
                             service)


class GrpcHealthAtStartTest(HealthTestCase):
    def test_health_status_is_published_by_the_time_the_gateway_says_it_listens(self):
        # The `listening` line means "ready to serve": a load balancer's health check made right
        # after it must already see the models. Started a few times, as the window is short.
        self.start({"gpu-a": {}}, extra=health_yaml())
        config = self.gw.config_path
        for attempt in range(10):
            gw = self.track(harness.Gateway(config))
            channel = grpc.insecure_channel(gw.target)
            self.addCleanup(channel.close)
            check = channel.unary_unary("/grpc.health.v1.Health/Check",
                                        request_serializer=health_request,
                                        response_deserializer=lambda b: b)
            for service in ("ollama_gateway.v1.ModelInference", "llama3.2:latest", "llama3.2"):
                try:
                    status = health_status(check(service, timeout=5))
                except grpc.RpcError as e:
                    self.fail(f"start {attempt}: Check({service!r}) right after the listening "
                              f"line: {e.code()} {e.details()}")
                self.assertEqual(status, SERVING, (attempt, service))
            gw.stop()


class PanicTest(HealthTestCase):
    def test_too_few_healthy_backends_puts_the_pool_in_panic(self):
        self.start({"gpu-a": {}, "gpu-b": {}}, extra=health_yaml(panic_threshold=60))
        self.assertFalse(self.pool("llama3.2:latest")["panic"])
        self.knobs("gpu-a", api_status=500)
        wait_for(lambda: self.tier_state("gpu-a", "api") == "unhealthy",
                 FAST_INTERVAL * (UNHEALTHY_THRESHOLD + 1) + FAST_TIMEOUT + SLACK,
                 "the api tier of gpu-a to turn unhealthy")
        # 1 of 2 backends healthy is 50% < 60%: calls are routed across the whole pool,
        # gpu-a included (its generations still work).
        served = self.served_by(8)
        self.assertEqual(served.keys(), {"gpu-a", "gpu-b"}, served)
        self.assertIn("PANIC", self.gw.log())
        self.assertIn('gateway_pool_panic{model="llama3.2:latest"} 1', self.metrics())
        pool = self.pool("llama3.2:latest")
        self.assertTrue(pool["panic"], pool)
        self.assertEqual(pool["healthy"], 1, pool)
        self.assertEqual(pool["panic_threshold"], 60, pool)

        # Back to 2 of 2 healthy: the next calls leave panic mode.
        self.knobs("gpu-a", api_status=0)
        wait_for(lambda: self.backend("gpu-a")["healthy"],
                 FAST_INTERVAL * (HEALTHY_THRESHOLD + 1) + FAST_TIMEOUT + SLACK,
                 "gpu-a healthy again")
        self.served_by(2, prefix="calm")
        pool = self.pool("llama3.2:latest")
        self.assertFalse(pool["panic"], pool)
        self.assertEqual(pool["healthy"], 2, pool)
        self.assertIn('gateway_pool_panic{model="llama3.2:latest"} 0', self.metrics())
        self.assertIn("health: model llama3.2:latest out of panic", self.gw.log())

    def test_panic_state_follows_the_health_checks_without_traffic(self):
        # gateway_pool_panic is documented as "1 while in panic", i.e. while fewer than
        # panic_threshold percent of the pool is healthy; the admin view and the gauge should
        # follow the checks even when no call happens to be routed.
        self.start({"gpu-a": {}, "gpu-b": {}}, extra=health_yaml(panic_threshold=60))
        self.knobs("gpu-a", api_status=500)
        wait_for(lambda: self.tier_state("gpu-a", "api") == "unhealthy",
                 FAST_INTERVAL * (UNHEALTHY_THRESHOLD + 1) + FAST_TIMEOUT + SLACK,
                 "the api tier of gpu-a to turn unhealthy")

        def state():
            gauges = [line for line in self.metrics().splitlines()
                      if line.startswith("gateway_pool_panic{")]
            return (f"pools[llama3.2:latest].panic to turn true without calls (pool now: "
                    f"{self.pool('llama3.2:latest')}, gauge lines: {gauges})")

        wait_for(lambda: self.pool("llama3.2:latest")["panic"], 2 + SLACK, state)
        self.assertIn('gateway_pool_panic{model="llama3.2:latest"} 1', self.metrics())
        self.assertIn("PANIC", self.gw.log())


class MetricsTest(HealthTestCase):
    def test_health_metrics_cover_every_tier(self):
        self.start({"gpu-a": {}}, extra=health_yaml(inference={"models": ["llama3.2"]}))

        def all_tiers_counted():
            text = self.metrics()
            return all(f'gateway_health_checks_total{{backend="gpu-a",result="ok",tier="{t}"}}'
                       in text for t in ("connect", "api", "inference")) and text

        text = wait_for(all_tiers_counted, 5, "health check counters of every tier")
        for line in ('gateway_backend_health{backend="gpu-a",tier="connect"} 1',
                     'gateway_backend_health{backend="gpu-a",tier="api"} 1',
                     'gateway_backend_health{backend="gpu-a",model="llama3.2",tier="inference"} 1',
                     'gateway_backend_healthy{backend="gpu-a"} 1',
                     'gateway_backend_ejected{backend="gpu-a"} 0'):
            self.assertIn(line, text)


class BadHealthConfigTest(HealthTestCase):
    def refused(self, text, *expected):
        path = harness.write_file(self.tmp, "bad.yaml", text)
        for flag in ("--check-config", "--config"):
            out = subprocess_run([harness.binary("ollama-gateway"), flag, path])
            # --check-config exits 1 on a bad file (docs/configuration.md); --config refuses to
            # start, which gateway/main.cc reports as a start-up failure (2).
            if flag == "--check-config":
                self.assertEqual(out.returncode, 1, (flag, out.stderr))
            else:
                self.assertNotEqual(out.returncode, 0, (flag, out.stderr))
                self.assertNotIn("listening", out.stdout)
            for e in expected:
                self.assertIn(e.format(path=path), out.stderr, flag)

    def test_a_zero_interval_is_refused_with_its_line(self):
        text = gateway_config([("gpu-a", "http://127.0.0.1:1", ["llama3.2"])],
                              extra="health:\n  connect: {interval: 0s}\n")
        line = text.splitlines().index("  connect: {interval: 0s}") + 1
        self.refused(text, f"{{path}}:{line}: health.connect.interval")

    def test_a_probe_model_no_backend_serves_is_refused_naming_it(self):
        text = gateway_config([("gpu-a", "http://127.0.0.1:1", ["llama3.2"])],
                              extra="health:\n  inference:\n    models: [mistral]\n")
        line = text.splitlines().index("    models: [mistral]") + 1
        self.refused(text, f"{{path}}:{line}: health.inference.models[0]", '"mistral"')


def subprocess_run(argv):
    return subprocess.run(argv, capture_output=True, text=True, timeout=30)


if __name__ == "__main__":
    import unittest
    unittest.main()
