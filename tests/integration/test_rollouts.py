"""Rollouts: one model name split between a baseline and a candidate target, seen from outside.

Three ollama-sim backends: a and b serve the baseline `support-bot:v7`, c serves the candidate
`support-bot:v8`, so the backend that answered (the x-gateway-backend header or trailer) says
which target a call reached. Callers only ever name `support-bot`. The tests check the split
(a binomial bound on the candidate's share), session affinity by a header, retries that stay on
the candidate, the step schedule, an automatic abort when the candidate starts failing (local
analysis), the admin API (promote, pause, resume, abort, 404/409), the state kept across reloads
and restarts (rollouts.state_file), and the PromQL mode against a real Prometheus (Debian's
/usr/bin/prometheus) scraping two replicas, with a third replica whose Prometheus cannot be
reached.

Outlier detection is off in these configs: the candidate's only backend answering 500 must stay
routable so that the analysis, not an ejection, decides what happens to its traffic.
"""
import collections
import concurrent.futures
import json
import math
import os
import signal
import socket
import threading
import time
import unittest

import grpc

import harness
from harness import wait_for

pb2, pb2_grpc = harness.grpc_modules()

ROLLOUT = "support-bot"
BASELINE = "support-bot:v7"
CANDIDATE = "support-bot:v8"
TARGET_OF = {"a": "baseline", "b": "baseline", "c": "candidate"}
ABORT_REASONS = ("error_rate", "ttft", "token_latency", "manual")
# Analysis margins for the tests about error rates: latency margins no loaded CI machine's
# jitter can cross.
ERROR_RATE_ONLY = {"max_error_rate_increase": 0.05, "min_ttft_p99_increase": "30s",
                   "min_token_latency_p99_increase": "30s"}


def rollout_yaml(weight=None, steps=None, analysis=None, hash_key=None,
                 baseline_backends=None, candidate_backends=("c",)):
    """One entry of rollouts.models, block style, indented for its place under `models:`."""
    lines = [f"- model: {ROLLOUT}"]
    if hash_key:
        lines.append(f"  hash_key: {hash_key}")
    for name, model, backends in (("baseline", BASELINE, baseline_backends),
                                  ("candidate", CANDIDATE, candidate_backends)):
        lines += [f"  {name}:", f"    model: {model}"]
        if backends:
            lines.append("    backends: [" + ", ".join(backends) + "]")
    if weight is not None:
        lines.append(f"  weight: {weight}")
    for section, values in (("steps", steps), ("analysis", analysis)):
        if values:
            lines.append(f"  {section}:")
            lines += [f"    {k}: {v}" for k, v in values.items()]
    return "".join("    " + line + "\n" for line in lines)


class Load:
    """Calls fn() from `threads` threads until stopped; counts (status, backend) results."""

    def __init__(self, fn, threads=4, pause=0.005):
        self.results = collections.Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._fn = fn
        self._pause = pause
        self._threads = [threading.Thread(target=self._run, daemon=True) for _ in range(threads)]
        for t in self._threads:
            t.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                status, backend, _ = self._fn()
            except OSError as e:  # the gateway went away: a failure the test will show
                status, backend = f"error: {e}", ""
            with self._lock:
                self.results[(status, backend)] += 1
            time.sleep(self._pause)

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(timeout=30)
        return self.results


class RolloutCase(harness.ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.sims = {"a": self.sim("a", models=(BASELINE,), tokens=2),
                     "b": self.sim("b", models=(BASELINE,), tokens=2),
                     "c": self.sim("c", models=(CANDIDATE,), tokens=2)}

    # ---- config and processes

    def config(self, rollout, state_file=None, level="info", logging_extra="", extra=""):
        text = harness.gateway_config(
            [(name, sim.url, None) for name, sim in self.sims.items()],
            extra=("http:\n  address: 127.0.0.1:0\n  insecure: true\n"
                   "outlier_detection:\n  consecutive_failures: 0\n" + extra +
                   "rollouts:\n" + (f"  state_file: {state_file}\n" if state_file else "") +
                   "  models:\n" + rollout))
        return text.replace("logging:\n  level: debug\n",
                            f"logging:\n  level: {level}\n" + logging_extra)

    def start(self, config_text):
        """A gateway on `config_text` whose backends are all healthy and listed."""
        gw = self.gateway(config_text)
        self.ready(gw)
        return gw

    def restart(self, gw, text=None):
        """Stops `gw` and starts a new gateway on the same config file (rewritten with `text`
        while no gateway runs, if given)."""
        gw.stop()
        if text is not None:
            with open(gw.config_path, "w") as f:
                f.write(text)
        new = self.track(harness.Gateway(gw.config_path))
        self.ready(new)
        return new

    def ready(self, gw):
        gw.http = dict(kv.split("=", 1) for kv in gw.first_line.split()[1:])["http"]

        def all_listed():
            if harness.http_get(f"http://{gw.admin}/readyz")[0] != 200:
                return False
            status, _, body = harness.http_request(gw.http, "GET", "/api/version")
            return status == 200 and len(json.loads(body).get("versions", {})) == len(self.sims)

        wait_for(all_listed, 15, "every backend to be healthy")

    def reload(self, gw, text):
        """Writes `text` as gw's config, sends SIGHUP and waits until it is applied."""
        before = self.metric(gw, "gateway_config_reloads_total", result="ok") or 0
        tmp = gw.config_path + ".new"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, gw.config_path)
        gw.signal(signal.SIGHUP)
        wait_for(lambda: (self.metric(gw, "gateway_config_reloads_total", result="ok") or 0)
                 > before, 10, lambda: f"the reload to be applied:\n{gw.log()[-3000:]}")

    # ---- calls

    def generate(self, gw, session=None, prompt="hi"):
        """(status, backend, body) of one non-streamed /api/generate for the rollout's name."""
        headers = {"x-session-id": session} if session is not None else {}
        status, h, body = harness.http_request(
            gw.http, "POST", "/api/generate",
            {"model": ROLLOUT, "prompt": prompt, "stream": False, "options": {"num_predict": 2}},
            headers)
        return status, h.get("x-gateway-backend", ""), body

    def many(self, count, fn, workers=8):
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda i: fn(i), range(count)))

    def assert_all_reach(self, gw, backends, count=20):
        """`count` calls all answered 200 by one of `backends`, under the caller's name."""
        results = self.many(count, lambda i: self.generate(gw, prompt=f"p{i}"), workers=4)
        for status, backend, body in results:
            self.assertEqual(status, 200, body)
            self.assertIn(backend, backends, body)
            self.assertEqual(json.loads(body)["model"], ROLLOUT, body)

    # ---- admin API and metrics

    def rollouts(self, gw):
        status, body = harness.http_get(f"http://{gw.admin}/admin/rollouts")
        self.assertEqual(status, 200, body)
        return json.loads(body)["rollouts"]

    def rollout(self, gw):
        entries = [r for r in self.rollouts(gw) if r["name"] == ROLLOUT]
        self.assertEqual(len(entries), 1, entries)
        return entries[0]

    def act(self, gw, action, name=ROLLOUT):
        """(status, content type, body) of POST /admin/rollouts/NAME/ACTION."""
        status, headers, body = harness.http_request(gw.admin, "POST",
                                                     f"/admin/rollouts/{name}/{action}")
        return status, headers.get("content-type", ""), body

    def act_ok(self, gw, action):
        status, _, body = self.act(gw, action)
        self.assertEqual(status, 200, f"POST {action}: {body}")
        entry = json.loads(body)
        self.assertEqual(entry["name"], ROLLOUT, body)
        return entry

    def assert_refused(self, gw, action, status, name=ROLLOUT):
        got, content_type, body = self.act(gw, action, name)
        self.assertEqual(got, status, f"POST /admin/rollouts/{name}/{action}: {body}")
        self.assertTrue(content_type.startswith("text/plain"), content_type)
        self.assertTrue(body.strip(), "a refusal must say why")
        return body

    def metrics(self, gw):
        status, body = harness.http_get(f"http://{gw.admin}/metrics")
        self.assertEqual(status, 200)
        return body

    def metric(self, gw, name, text=None, **labels):
        """The sum of the series of `name` whose labels include `labels`; None if there is none."""
        total, found = 0.0, False
        for line in (text if text is not None else self.metrics(gw)).splitlines():
            if not line.startswith(name + "{"):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
                found = True
        return total if found else None

    def rollout_metric(self, gw, name, text=None, **labels):
        return self.metric(gw, name, text, rollout=ROLLOUT, **labels)

    def assert_weights(self, gw, candidate, entry=None):
        entry = entry or self.rollout(gw)
        self.assertEqual(entry["weights"], {"baseline": 100 - candidate, "candidate": candidate},
                         entry)
        text = self.metrics(gw)
        self.assertEqual(self.rollout_metric(gw, "gateway_rollout_weight", text,
                                             target="candidate"), candidate)
        self.assertEqual(self.rollout_metric(gw, "gateway_rollout_weight", text,
                                             target="baseline"), 100 - candidate)

    # ---- simulators

    def sim_request(self, name, method, path, body=None):
        return harness.http_request(self.sims[name].url.removeprefix("http://"), method, path,
                                    body)

    def sim_config(self, name, **knobs):
        status, _, body = self.sim_request(name, "POST", "/sim/config", knobs)
        self.assertEqual(status, 200, body)

    def sim_generations(self, name):
        """/api/generate requests the simulator received."""
        stats = json.loads(self.sim_request(name, "GET", "/sim/stats")[2])
        return stats["requests_by_path"]["/api/generate"]

    def models_forwarded(self, name):
        """The `model` of the last /api/generate bodies the simulator received."""
        requests = json.loads(self.sim_request(name, "GET", "/sim/requests")[2])
        return {json.loads(r["body"])["model"] for r in requests if r["path"] == "/api/generate"}


class SplitTest(RolloutCase):
    def test_a_weight_sends_about_that_share_to_the_candidate_under_the_callers_name(self):
        log_path = os.path.join(self.tmp, "access.log")
        gw = self.start(self.config(rollout_yaml(weight=10, candidate_backends=None),
                                    logging_extra=f"  access_log:\n    path: {log_path}\n"))
        entry = self.rollout(gw)
        self.assertEqual(entry["phase"], "holding", entry)  # a weight-only rollout
        self.assertEqual(entry["baseline"]["model"], BASELINE, entry)
        self.assertEqual(entry["candidate"]["model"], CANDIDATE, entry)
        self.assert_weights(gw, 10, entry)
        self.assertEqual(self.rollout_metric(gw, "gateway_rollout_step"), 0)
        text = self.metrics(gw)
        for reason in ABORT_REASONS:  # every reason's series exists at 0
            self.assertEqual(self.rollout_metric(gw, "gateway_rollout_aborts_total", text,
                                                 reason=reason), 0, reason)

        # 400 calls without an affinity key: each target at random, by the weight.
        calls = 400
        results = self.many(calls, lambda i: self.generate(gw, prompt=f"prompt {i}"))
        served = collections.Counter()
        for status, backend, body in results:
            self.assertEqual(status, 200, body)
            self.assertEqual(json.loads(body)["model"], ROLLOUT, body)
            served[backend] += 1
        self.assertEqual(set(served) - {"a", "b", "c"}, set(), served)
        candidate = served["c"]
        sigma = math.sqrt(calls * 0.1 * 0.9)
        self.assertTrue(calls * 0.1 - 4 * sigma <= candidate <= calls * 0.1 + 4 * sigma,
                        f"{candidate} of {calls} calls reached the candidate at weight 10: "
                        f"{dict(served)}")
        # The baseline's share is balanced over its own pool.
        self.assertGreater(served["a"], 0, served)
        self.assertGreater(served["b"], 0, served)
        # Each backend got its target's model name.
        self.assertEqual(self.models_forwarded("c"), {CANDIDATE})
        self.assertEqual(self.models_forwarded("a"), {BASELINE})
        self.assertEqual(self.models_forwarded("b"), {BASELINE})

        # gRPC: the response's model_name is the caller's name too.
        channel = grpc.insecure_channel(gw.target)
        self.addCleanup(channel.close)
        stub = pb2_grpc.ModelInferenceStub(channel)
        grpc_calls = 20
        for i in range(grpc_calls):
            response, call = stub.Predict.with_call(
                pb2.InferenceRequest(model_name=ROLLOUT, input_data=f"grpc {i}".encode()),
                timeout=10)
            self.assertEqual(response.model_name, ROLLOUT)
            backend = dict(call.trailing_metadata())["x-gateway-backend"]
            self.assertIn(backend, ("a", "b", "c"))
            served[backend] += 1

        # The counters agree with what the callers saw.
        text = self.metrics(gw)
        self.assertEqual(self.rollout_metric(gw, "gateway_rollout_requests_total", text,
                                             target="candidate", result="ok"), served["c"])
        self.assertEqual(self.rollout_metric(gw, "gateway_rollout_requests_total", text,
                                             target="baseline", result="ok"),
                         served["a"] + served["b"])
        self.assertFalse(self.rollout_metric(gw, "gateway_rollout_requests_total", text,
                                             result="error"))
        self.assertIsNotNone(self.rollout_metric(
            gw, "gateway_rollout_time_to_first_token_seconds_bucket", text, target="candidate"))
        self.assertIsNotNone(self.rollout_metric(
            gw, "gateway_rollout_token_latency_seconds_bucket", text, target="baseline"))

        # The access log: one line per call naming the rollout, the target and its model; the
        # model stays the caller's.
        total = calls + grpc_calls

        def lines():
            with open(log_path) as f:
                return [json.loads(line) for line in f.read().splitlines() if line]

        wait_for(lambda: len(lines()) >= total, 10, lambda: f"{total} access log lines")
        by_target = collections.Counter()
        for line in lines():
            self.assertEqual(line["model"], ROLLOUT, line)
            self.assertEqual(line["rollout"], ROLLOUT, line)
            self.assertEqual(line["target"], TARGET_OF[line["backend"]], line)
            self.assertEqual(line["target_model"],
                             CANDIDATE if line["target"] == "candidate" else BASELINE, line)
            by_target[line["target"]] += 1
        self.assertEqual(by_target, {"candidate": served["c"],
                                     "baseline": served["a"] + served["b"]})

        # The listings show the name callers use, as a copy of the baseline's entry.
        status, _, body = harness.http_request(gw.http, "GET", "/api/tags")
        self.assertEqual(status, 200, body)
        tags = {m["name"]: m for m in json.loads(body)["models"]}
        listed = [tags[n] for n in (ROLLOUT, ROLLOUT + ":latest") if n in tags]
        self.assertEqual(len(listed), 1, f"{ROLLOUT} in /api/tags: {sorted(tags)}")
        self.assertEqual(listed[0]["digest"], tags[BASELINE]["digest"], body)
        status, _, body = harness.http_request(gw.http, "GET", "/v1/models")
        self.assertEqual(status, 200, body)
        ids = {m["id"] for m in json.loads(body)["data"]}
        self.assertTrue({ROLLOUT, ROLLOUT + ":latest"} & ids, f"{ROLLOUT} in /v1/models: {ids}")


class AffinityTest(RolloutCase):
    def test_a_session_stays_on_one_target_and_a_higher_weight_only_moves_sessions_over(self):
        def config(weight):
            return self.config(rollout_yaml(weight=weight, hash_key="header:x-session-id"))

        gw = self.start(config(50))
        sessions = [f"session-{i}" for i in range(20)]

        def targets_of(calls_each):
            results = self.many(len(sessions) * calls_each,
                                lambda i: (sessions[i % len(sessions)],
                                           self.generate(gw, session=sessions[i % len(sessions)],
                                                         prompt=f"turn {i}")))
            seen = collections.defaultdict(set)
            for session, (status, backend, body) in results:
                self.assertEqual(status, 200, body)
                self.assertEqual(json.loads(body)["model"], ROLLOUT, body)
                seen[session].add(TARGET_OF[backend])
            for session, targets in seen.items():
                self.assertEqual(len(targets), 1, f"{session} reached {targets}: {dict(seen)}")
            return {session: targets.pop() for session, targets in seen.items()}

        at_50 = targets_of(5)
        self.assertEqual(set(at_50), set(sessions))
        # At 50%, 20 sessions on one target alone would be a 1-in-500,000 event.
        self.assertEqual(set(at_50.values()), {"baseline", "candidate"}, at_50)

        self.reload(gw, config(90))
        wait_for(lambda: self.rollout(gw)["weights"]["candidate"] == 90, 10,
                 lambda: f"weight 90: {self.rollout(gw)}")
        at_90 = targets_of(2)
        moved_back = [s for s in sessions if at_50[s] == "candidate" and at_90[s] != "candidate"]
        self.assertEqual(moved_back, [], f"at 50: {at_50}\nat 90: {at_90}")
        self.assertGreaterEqual(list(at_90.values()).count("candidate"),
                                list(at_50.values()).count("candidate"))


class AbortTest(RolloutCase):
    def test_a_failing_candidate_is_aborted_and_the_baseline_takes_everything(self):
        gw = self.start(self.config(rollout_yaml(
            steps={"start": 50, "step": 10, "interval": "1m"},
            analysis=dict(ERROR_RATE_ONLY, interval="1s", min_calls=5))))
        entry = self.rollout(gw)
        self.assertEqual(entry["phase"], "running", entry)
        self.assertEqual(entry["step"], 1, entry)
        self.assertEqual(entry["candidate"]["backends"], ["c"], entry)
        self.assert_weights(gw, 50, entry)
        self.assertEqual(self.rollout_metric(gw, "gateway_rollout_step"), 1)

        load = Load(lambda: self.generate(gw))
        try:
            # A healthy candidate passes its analysis and keeps running.
            wait_for(lambda: self.rollout(gw)["analysis"]["verdict"] == "pass", 10,
                     lambda: f"a passing analysis: {self.rollout(gw)}")
            entry = self.rollout(gw)
            self.assertEqual(entry["phase"], "running", entry)
            self.assertEqual(entry["analysis"]["source"], "local", entry)

            self.sim_config("c", fail_status=500)
            wait_for(lambda: self.rollout(gw)["phase"] == "aborted", 15,
                     lambda: f"the rollout to abort: {self.rollout(gw)}", interval=0.2)
        finally:
            results = load.stop()
        # The candidate's calls failed (the gateway answers a backend's 500 with a 5xx of its
        # own); the baseline's did not fail.
        failed = [(status, backend) for status, backend in results if status != 200]
        self.assertTrue(failed, results)
        self.assertEqual([(status, backend) for status, backend in failed
                          if not (isinstance(status, int) and 500 <= status < 600)
                          or backend not in ("c", "")], [], results)

        entry = self.rollout(gw)
        self.assertEqual(entry["reason"], "error_rate", entry)
        self.assert_weights(gw, 0, entry)
        analysis = entry["analysis"]
        self.assertEqual(analysis["verdict"], "fail", entry)
        self.assertGreater(analysis["candidate"]["errors"], 0, entry)
        self.assertGreater(analysis["candidate"]["error_rate"],
                           analysis["baseline"]["error_rate"] + 0.05, entry)
        text = self.metrics(gw)
        self.assertEqual(self.rollout_metric(gw, "gateway_rollout_aborts_total", text,
                                             reason="error_rate"), 1)
        self.assertEqual(self.rollout_metric(gw, "gateway_rollout_aborts_total", text,
                                             reason="manual"), 0)
        self.assertGreater(self.rollout_metric(gw, "gateway_rollout_requests_total", text,
                                               target="candidate", result="error") or 0, 0)
        self.assertIn(f"rollout '{ROLLOUT}' aborted (error_rate): ", gw.log())

        # From now on every call goes to the baseline; the candidate's backend gets none.
        before = self.sim_generations("c")
        self.assert_all_reach(gw, ("a", "b"), count=40)
        self.assertEqual(self.sim_generations("c"), before)


class RetryTest(RolloutCase):
    def test_a_call_assigned_to_the_candidate_is_not_retried_on_the_baseline(self):
        gw = self.start(self.config(rollout_yaml(weight=50)))
        # c answers Ollama's "server busy", which the gateway retries on another backend: of
        # the candidate's, and it has no other.
        self.sim_config("c", fail_status=503)
        results = []
        for i in range(40):
            status, headers, body = harness.http_request(
                gw.http, "POST", "/api/generate",
                {"model": ROLLOUT, "prompt": f"r{i}", "stream": False,
                 "options": {"num_predict": 2}})
            results.append((status, headers.get("x-gateway-backend", ""),
                            headers.get("x-gateway-attempts", "")))
        failed = [r for r in results if r[0] != 200]
        self.assertTrue(failed, results)  # 40 calls at 50%: some were the candidate's
        for status, backend, attempts in results:
            if status == 200:
                # Served by the baseline at its first attempt: not a candidate call retried there.
                self.assertIn(backend, ("a", "b"), results)
                self.assertEqual(attempts, "1", results)
            else:
                self.assertTrue(500 <= status < 600, results)
        self.assertEqual(self.rollout_metric(gw, "gateway_rollout_requests_total",
                                             target="candidate", result="error"), len(failed))
        self.assertFalse(self.rollout_metric(gw, "gateway_rollout_requests_total",
                                             target="candidate", result="ok"))


class ScheduleTest(RolloutCase):
    def test_steps_raise_the_weight_each_interval_and_then_promote(self):
        gw = self.start(self.config(rollout_yaml(
            steps={"start": 10, "step": 20, "interval": "1s", "max": 50, "then": "promote"})))
        seen = []  # (phase, step, candidate weight), each change once

        def observe():
            entry = self.rollout(gw)
            state = (entry["phase"], entry["step"], entry["weights"]["candidate"])
            if not seen or seen[-1] != state:
                seen.append(state)
            self.assertEqual(entry["steps"], 3, entry)
            return entry["phase"] == "promoted"

        wait_for(observe, 15, lambda: f"the promotion after the last step: {seen}", 0.05)
        # The first poll comes about a second after the gateway loaded its config, so it may
        # miss step 1; every later change is seen.
        self.assertGreaterEqual(len(seen), 3, seen)
        self.assertEqual(seen, [("running", 1, 10), ("running", 2, 30), ("running", 3, 50),
                                ("promoted", 3, 100)][-len(seen):])
        self.assertEqual(self.rollout_metric(gw, "gateway_rollout_step"), 3)
        self.assert_weights(gw, 100)
        self.assert_all_reach(gw, ("c",), count=10)


class AdminTest(RolloutCase):
    def test_pause_resume_promote_and_what_does_not_apply(self):
        gw = self.start(self.config(rollout_yaml(
            steps={"start": 10, "step": 10, "interval": "1m", "max": 50})))
        entry = self.rollout(gw)
        self.assertEqual((entry["phase"], entry["step"], entry["steps"]), ("running", 1, 5), entry)
        self.assertTrue(0 < entry["next_step_in_s"] <= 60, entry)
        self.assert_weights(gw, 10, entry)

        self.assert_refused(gw, "pause", 404, name="no-such-rollout")
        self.assert_refused(gw, "promote", 404, name="no-such-rollout")

        entry = self.act_ok(gw, "pause")
        self.assertEqual(entry["phase"], "paused", entry)
        self.assertEqual(self.rollout(gw)["phase"], "paused")
        self.assert_weights(gw, 10)  # a pause holds the weight
        entry = self.act_ok(gw, "resume")
        self.assertEqual((entry["phase"], entry["step"]), ("running", 1), entry)
        self.assert_weights(gw, 10, entry)

        entry = self.act_ok(gw, "promote")
        self.assertEqual(entry["phase"], "promoted", entry)
        self.assertEqual(self.rollout(gw)["phase"], "promoted")
        self.assert_weights(gw, 100)
        self.assert_all_reach(gw, ("c",), count=30)
        self.assertEqual(self.models_forwarded("c"), {CANDIDATE})

        body = self.assert_refused(gw, "resume", 409)
        self.assertEqual(self.rollout(gw)["phase"], "promoted", body)
        self.assert_weights(gw, 100)

    def test_a_manual_abort_sends_everything_to_the_baseline(self):
        gw = self.start(self.config(rollout_yaml(weight=50)))
        self.assert_weights(gw, 50)
        entry = self.act_ok(gw, "abort")
        self.assertEqual((entry["phase"], entry["reason"]), ("aborted", "manual"), entry)
        self.assert_weights(gw, 0)
        text = self.metrics(gw)
        self.assertEqual(self.rollout_metric(gw, "gateway_rollout_aborts_total", text,
                                             reason="manual"), 1)
        self.assertEqual(self.rollout_metric(gw, "gateway_rollout_aborts_total", text,
                                             reason="error_rate"), 0)
        before = self.sim_generations("c")
        self.assert_all_reach(gw, ("a", "b"), count=30)
        self.assertEqual(self.sim_generations("c"), before)


class StateTest(RolloutCase):
    def test_state_survives_a_reload_of_the_same_rollout_and_a_restart_with_its_state_file(self):
        state_file = os.path.join(self.tmp, "rollouts.json")

        def config(start, level="info"):
            return self.config(rollout_yaml(
                steps={"start": start, "step": 10, "interval": "1m", "max": 50}),
                state_file=state_file, level=level)

        def state_text():
            try:
                with open(state_file) as f:
                    return f.read()
            except OSError:
                return None

        gw = self.start(config(10))
        entry = self.act_ok(gw, "pause")
        self.assertEqual(entry["phase"], "paused", entry)

        # A reload that changes something else keeps the rollout where it was.
        self.reload(gw, config(10, level="warn"))
        entry = self.rollout(gw)
        self.assertEqual((entry["phase"], entry["step"]), ("paused", 1), entry)
        self.assert_weights(gw, 10, entry)

        # A changed definition starts the rollout over.
        self.reload(gw, config(20))
        entry = self.rollout(gw)
        self.assertEqual((entry["phase"], entry["step"]), ("running", 1), entry)
        self.assert_weights(gw, 20, entry)

        # Promoted, then restarted: the state file brings the promotion back.
        before = state_text()
        self.assertEqual(self.act_ok(gw, "promote")["phase"], "promoted")
        wait_for(lambda: state_text() not in (None, before), 5,
                 lambda: f"the state file to be written after the promotion: {state_text()!r}")
        gw = self.restart(gw)
        entry = self.rollout(gw)
        self.assertEqual(entry["phase"], "promoted", f"{entry}\nstate file: {state_text()}")
        self.assert_weights(gw, 100, entry)
        self.assert_all_reach(gw, ("c",))

        # Restarted on another definition: the saved state is not this rollout's.
        gw = self.restart(gw, config(30))
        entry = self.rollout(gw)
        self.assertEqual((entry["phase"], entry["step"]), ("running", 1),
                         f"{entry}\nstate file: {state_text()}")
        self.assert_weights(gw, 30, entry)


class PrometheusModeTest(RolloutCase):
    def test_replicas_decide_on_the_fleets_numbers_and_hold_without_prometheus(self):
        prom_dir = os.path.join(self.tmp, "prometheus")
        os.makedirs(prom_dir)
        prom = self.track(harness.Prometheus(prom_dir))
        # A port bound but not listening: connections to it are refused, and nothing else can
        # take it during the test.
        closed = socket.socket()
        self.addCleanup(closed.close)
        closed.bind(("127.0.0.1", 0))
        closed_url = f"http://127.0.0.1:{closed.getsockname()[1]}"

        def config(url):
            return self.config(rollout_yaml(
                steps={"start": 50, "step": 10, "interval": "1m"},
                analysis=dict(ERROR_RATE_ONLY, interval="1s", min_calls=5, timeout="1s",
                              prometheus_url=url)))

        # Two replicas scraped by the Prometheus; a third whose Prometheus cannot be reached.
        # Each replica's config is its own file.
        replicas = []
        for name, url in (("one", prom.url), ("two", prom.url), ("lost", closed_url)):
            path = harness.write_file(self.tmp, f"gateway-{name}.yaml", config(url))
            gw = self.track(harness.Gateway(path))
            gw.name = f"gateway-{name}"
            self.ready(gw)
            replicas.append(gw)
        one, two, lost = replicas
        prom.set_targets([one.admin, two.admin])
        wait_for(lambda: prom.active_targets() == {one.admin: "up", two.admin: "up"}, 15,
                 lambda: f"prometheus to scrape both replicas: {prom.active_targets()}", 0.2)

        # The candidate fails; only `one` (and `lost`) take calls. `two` sees none of them
        # itself: if it aborts, it is on the fleet's numbers.
        self.sim_config("c", fail_status=500)
        loads = [Load(lambda: self.generate(one), threads=3),
                 Load(lambda: self.generate(lost), threads=1, pause=0.05)]
        try:
            wait_for(lambda: all(self.rollout(gw)["phase"] == "aborted" for gw in (one, two)),
                     40, lambda: "both scraped replicas to abort: " + json.dumps(
                         [self.rollout(gw) for gw in (one, two)]), interval=0.25)
            # By now `lost` has had local failures enough for a local verdict many times over.
            wait_for(lambda: (self.rollout_metric(lost, "gateway_rollout_requests_total",
                                                  target="candidate", result="error") or 0) >= 5,
                     10, "failed candidate calls through the replica without Prometheus")
            # Two more analysis windows of it.
            time.sleep(2.5)
        finally:
            for load in loads:
                load.stop()

        for gw in (one, two):
            entry = self.rollout(gw)
            self.assertEqual(entry["reason"], "error_rate", entry)
            self.assertEqual(entry["analysis"]["source"], "prometheus", entry)
            self.assertEqual(entry["analysis"]["verdict"], "fail", entry)
            self.assert_weights(gw, 0, entry)
            self.assertEqual(self.rollout_metric(gw, "gateway_rollout_aborts_total",
                                                 reason="error_rate"), 1)
        self.assertFalse(self.rollout_metric(two, "gateway_rollout_requests_total",
                                             target="candidate"))

        entry = self.rollout(lost)
        self.assertEqual(entry["phase"], "running", entry)
        self.assert_weights(lost, 50, entry)
        self.assertEqual(entry["analysis"]["verdict"], "unavailable", entry)
        self.assertEqual(entry["analysis"]["source"], "prometheus", entry)
        self.assertTrue(entry["analysis"].get("error"), entry)
        self.assertEqual(self.rollout_metric(lost, "gateway_rollout_aborts_total",
                                             reason="error_rate"), 0)


if __name__ == "__main__":
    unittest.main()
