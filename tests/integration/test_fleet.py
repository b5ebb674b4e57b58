"""Fleet operations through the HTTP front door: model management on every backend at once, the
fleet's views (/api/ps, /api/tags, /api/version), unloads, calls retried when a backend refuses a
model, slots and deadlines that fit LLMs.

Real clients (the official `ollama` npm client in tests/js/ollama_fleet.mjs, curl, http.client)
against a real gateway and several ollama-sim backends, which implement Ollama's pull, push,
create, copy, delete and blobs (docs/ollama-sim.md).
"""
import http.client
import json
import os
import shutil
import subprocess

import harness

MODEL = "llama3.2"
JS_DIR = os.path.join(harness.SOURCE_DIR, "tests", "js")
# Tier-2 checks every minute: whatever the gateway learns between two of them, it learned from
# the fleet operations and the answers themselves.
SLOW_CHECKS = "health:\n  api:\n    interval: 60s\n    timeout: 2s\n"


class FleetCase(harness.ProcessTestCase):
    def start(self, sims, extra=""):
        """A gateway with its HTTP front door in front of `sims` (name -> Sim)."""
        self.sims = sims
        self.gw = self.gateway(harness.gateway_config(
            [(name, sim.url, None) for name, sim in sims.items()],
            extra="http:\n  address: 127.0.0.1:0\n  insecure: true\n" + extra))
        fields = dict(kv.split("=", 1) for kv in self.gw.first_line.split()[1:])
        self.http = fields["http"]
        self.base = "http://" + self.http
        harness.wait_for(
            lambda: harness.http_get(f"http://{self.gw.admin}/readyz")[0] == 200
            and len(json.loads(self.request("GET", "/api/version")[2]).get("versions", {}))
            == len(sims), 10, "every backend to be healthy")

    def request(self, method, path, body=None, headers=None, timeout=20, base=None):
        """(status, headers dict with lower-case names, body text)."""
        return harness.http_request(base or self.http, method, path, body, headers, timeout)

    def sim_request(self, name, method, path, body=None):
        return self.request(method, path, body, base=self.sims[name].url.removeprefix("http://"))

    def sim_stats(self, name):
        return json.loads(self.sim_request(name, "GET", "/sim/stats")[2])

    def sim_ps(self, name):
        return [m["name"] for m in json.loads(self.sim_request(name, "GET", "/api/ps")[2])["models"]]

    def metrics(self):
        return harness.http_get(f"http://{self.gw.admin}/metrics")[1]

    def metric(self, name, **labels):
        """The sum of the series of `name` whose labels include `labels`."""
        total = 0.0
        for line in self.metrics().splitlines():
            if not line.startswith(name + "{"):
                continue
            if all(f'{k}="{v}"' in line for k, v in labels.items()):
                total += float(line.rsplit(" ", 1)[1])
        return total

    def node(self, *args):
        if shutil.which("node") is None or not os.path.isdir(os.path.join(JS_DIR, "node_modules")):
            self.fail("node and tests/js/node_modules are needed: run bash scripts/install-deps.sh")
        proc = subprocess.run(["node", os.path.join(JS_DIR, "ollama_fleet.mjs"), "--base-url",
                               self.base, *args], capture_output=True, text=True, timeout=120)
        results = {}
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                r = json.loads(line)
                results[r["check"]] = r
        for name, r in results.items():
            self.assertTrue(r["ok"], f"{name}: {json.dumps(r)}\n{proc.stderr}")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        return results

    def lines(self, text):
        return [json.loads(line) for line in text.splitlines() if line.strip()]


class ModelManagementTest(FleetCase):
    def setUp(self):
        super().setUp()
        self.start({name: self.sim(name, models=(MODEL,), extra=("--pull-delay-ms", "150"))
                    for name in ("a", "b", "c")}, extra=SLOW_CHECKS)

    def test_a_pull_reaches_every_backend_and_the_model_is_routable_at_once(self):
        results = self.node("--model", "qwen2.5:0.5b", "--check", "pull,list")
        self.assertEqual(results["pull"]["detail"]["backends"], ["a", "b", "c"])
        self.assertEqual(results["pull"]["detail"]["final"]["backends"], ["a", "b", "c"])
        self.assertEqual(sorted(results["list"]["detail"]["backends"]), ["a", "b", "c"])
        for name in self.sims:
            self.assertEqual(self.sim_stats(name)["pulls"], 1, name)
        # Routable on every backend now, a minute before the next tier-2 check could say so.
        served = set()
        for _ in range(6):
            status, headers, body = self.request(
                "POST", "/api/chat", {"model": "qwen2.5:0.5b", "stream": False,
                                      "messages": [{"role": "user", "content": "hi"}]})
            self.assertEqual(status, 200, body)
            served.add(headers["x-gateway-backend"])
        self.assertEqual(served, {"a", "b", "c"})
        self.assertEqual(self.metric("gateway_fleet_operations_total", operation="pull",
                                     result="ok"), 3)

    def test_a_pull_failing_on_one_backend_says_which(self):
        self.sim_request("b", "POST", "/sim/config", {"pull_fail": ["*"]})
        status, headers, body = self.request("POST", "/api/pull", {"model": "phi3"})
        self.assertEqual(status, 200)
        self.assertEqual(headers["content-type"], "application/x-ndjson")
        lines = self.lines(body)
        final = lines[-1]
        self.assertIn("error", final)
        self.assertIn("pull failed on 1 of 3 backends: backend 'b': pull model manifest: "
                      "file does not exist", final["error"])
        self.assertIn("(it succeeded on 'a', 'c')", final["error"])
        # Every progress line says whose it is.
        self.assertTrue(all(line.get("backend") in ("a", "b", "c") for line in lines[:-1]))
        # Not streamed: one answer, an error status naming the backend.
        status, _, body = self.request("POST", "/api/pull", {"model": "phi3", "stream": False})
        self.assertEqual(status, 502, body)
        self.assertIn("backend 'b'", json.loads(body)["error"])
        # Where it succeeded, the model is routable; where it failed, not.
        for _ in range(4):
            status, headers, body = self.request(
                "POST", "/api/generate", {"model": "phi3", "prompt": "x", "stream": False})
            self.assertEqual(status, 200, body)
            self.assertIn(headers["x-gateway-backend"], ("a", "c"))

    def test_named_backends_copy_and_delete_with_the_ollama_client(self):
        # ?backends= picks the backends; an unknown name is refused before anything runs.
        status, _, body = self.request("POST", "/api/pull?backends=a,c", {"model": "mistral"})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.lines(body)[-1]["status"], "success")
        self.assertEqual([self.sim_stats(n)["pulls"] for n in ("a", "b", "c")], [1, 0, 1])
        status, _, body = self.request("POST", "/api/pull?backends=zz", {"model": "mistral"})
        self.assertEqual(status, 400)
        self.assertIn("no backend is named 'zz'", body)
        # Copy: Ollama's empty 200 when every backend that has the source copied it.
        status, _, body = self.request("POST", "/api/copy",
                                       {"source": "mistral", "destination": "mistral-copy"})
        self.assertEqual(status, 200, body)
        self.assertEqual(body, "")
        tags = json.loads(self.request("GET", "/api/tags")[2])["models"]
        copy = [m for m in tags if m["name"] == "mistral-copy:latest"]
        self.assertEqual(sorted(copy[0]["backends"]), ["a", "c"])
        # Delete with the official client: gone from every backend, and from the listing.
        results = self.node("--model", "mistral-copy", "--check", "delete")
        self.assertTrue(results["delete"]["ok"])
        # b never had it: it was asked too, answered 404, and that is no failure.
        self.assertEqual([self.sim_stats(n)["deletes"] for n in ("a", "b", "c")], [1, 0, 1])
        self.assertEqual(self.sim_stats("b")["requests_by_path"]["/api/delete"], 1)
        # A model no backend has: Ollama's own 404.
        status, _, body = self.request("DELETE", "/api/delete", {"model": "never-pulled"})
        self.assertEqual(status, 404, body)
        self.assertEqual(json.loads(body)["error"], "model 'never-pulled' not found")

    def test_blobs_go_to_every_backend(self):
        import hashlib
        data = b"GGUF" + os.urandom(4096)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        status, _, _ = self.request("HEAD", f"/api/blobs/{digest}")
        self.assertEqual(status, 404)
        status, _, body = self.request("POST", f"/api/blobs/{digest}", data)
        self.assertEqual(status, 201, body)
        for name in self.sims:
            self.assertEqual(self.sim_request(name, "HEAD", f"/api/blobs/{digest}")[0], 200)
        self.assertEqual(self.request("HEAD", f"/api/blobs/{digest}")[0], 200)
        status, _, body = self.request("POST", f"/api/blobs/sha256:{'0' * 64}", data)
        self.assertEqual(status, 400)
        self.assertIn("digest mismatch", body)


class ManageAuthorizationTest(FleetCase):
    def test_manage_is_denied_unless_a_rule_grants_it(self):
        sims = {"a": self.sim("a", models=(MODEL,))}
        self.start(sims, extra=(
            "authorization:\n  rules:\n"
            "    - identities: [anonymous]\n      models: ['*']\n"
            "    - identities: [anonymous]\n      models: [phi3]\n      actions: [manage]\n"))
        status, _, body = self.request("POST", "/api/pull", {"model": "mistral"})
        self.assertEqual(status, 403, body)
        self.assertIn("may not use model 'mistral' for manage", json.loads(body)["error"])
        self.assertEqual(self.sim_stats("a")["pulls"], 0)
        # Ollama reads keys case-insensitively: a second spelling cannot smuggle another name.
        status, _, body = self.request("POST", "/api/pull", b'{"model":"phi3","Model":"mistral"}')
        self.assertEqual(status, 400, body)
        self.assertEqual(self.sim_stats("a")["pulls"], 0)
        status, _, body = self.request("POST", "/api/pull", b'{"MODEL":"phi3"}')
        self.assertEqual(status, 200, body)
        self.assertEqual(self.lines(body)[-1]["status"], "success")
        self.assertEqual(self.sim_stats("a")["pulls"], 1)
        # Generations still run.
        status, _, body = self.request("POST", "/api/generate",
                                       {"model": MODEL, "prompt": "x", "stream": False})
        self.assertEqual(status, 200, body)


class FleetViewsTest(FleetCase):
    def setUp(self):
        super().setUp()
        self.start({
            "a": self.sim("a", models=(MODEL, "qwen3"), extra=("--version", "0.33.0")),
            "b": self.sim("b", models=(MODEL,), extra=("--version", "0.32.1")),
            "c": self.sim("c", models=(MODEL, "qwen3"),
                          extra=("--version", "0.33.0", "--digest-salt", "rebuilt")),
        })

    def test_ps_shows_every_copy_and_an_unload_reaches_each(self):
        for name in ("a", "b"):
            self.sim_request(name, "POST", "/api/generate", {"model": MODEL})
        results = self.node("--model", MODEL, "--check", "ps")
        detail = results["ps"]["detail"]
        self.assertEqual(detail["models"], 1)  # one entry per model, as Ollama clients expect
        self.assertLessEqual({"a", "b"}, set(detail["copies"]))
        self.assertEqual(sorted(detail["backends"]), detail["copies"])
        # `ollama stop`: keep_alive 0 and no prompt, sent to every backend of the pool.
        status, headers, body = self.request("POST", "/api/generate",
                                             {"model": MODEL, "keep_alive": 0})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["done_reason"], "unload")
        self.assertEqual(headers["x-gateway-backends"], "a,b,c")
        for name in self.sims:
            harness.wait_for(lambda: self.sim_ps(name) == [], 5, f"{name} to unload the model")

    def test_version_is_the_lowest_and_tags_flag_a_digest_that_differs(self):
        status, _, body = self.request("GET", "/api/version")
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body), {
            "version": "0.32.1", "versions": {"a": "0.33.0", "b": "0.32.1", "c": "0.33.0"}})
        tags = {m["name"]: m for m in json.loads(self.request("GET", "/api/tags")[2])["models"]}
        llama = tags["llama3.2:latest"]
        self.assertTrue(llama["digest_mismatch"])
        self.assertEqual(sorted(llama["digests"]), ["a", "b", "c"])
        self.assertEqual(llama["digests"]["a"], llama["digests"]["b"])
        self.assertNotEqual(llama["digests"]["a"], llama["digests"]["c"])
        self.assertEqual(sorted(llama["backends"]), ["a", "b", "c"])
        self.assertEqual(sorted(tags["qwen3:latest"]["backends"]), ["a", "c"])


class RefusedModelTest(FleetCase):
    def chat(self, model=MODEL):
        return self.request("POST", "/api/chat", {
            "model": model, "stream": False, "messages": [{"role": "user", "content": "hi"}]})

    def test_a_stale_404_is_retried_elsewhere_and_marks_the_pair(self):
        self.start({n: self.sim(n, models=(MODEL,)) for n in ("a", "b")}, extra=SLOW_CHECKS)
        # Deleted on a behind the gateway's back: its list says otherwise for a minute.
        self.assertEqual(self.sim_request("a", "DELETE", "/api/delete", {"model": MODEL})[0], 200)
        for _ in range(6):
            status, headers, body = self.chat()
            self.assertEqual(status, 200, body)
            self.assertEqual(headers["x-gateway-backend"], "b")
        # One refusal: after it, a takes no calls for the model until tier 2 lists it there.
        self.assertEqual(self.metric("gateway_model_refusals_total", backend="a",
                                     reason="model_not_found"), 1)
        self.assertEqual(self.metric("gateway_retries_total"), 1)
        backends = json.loads(harness.http_get(f"http://{self.gw.admin}/admin/backends")[1])
        a = [b for b in backends["backends"] if b["name"] == "a"][0]
        self.assertTrue(a["healthy"], a)  # the backend itself is not ejected

    def test_an_out_of_memory_500_is_retried_on_a_backend_where_it_fits(self):
        self.start({
            "small": self.sim("small", models=(MODEL,), extra=("--memory-bytes", "1000000")),
            "big": self.sim("big", models=(MODEL,)),
        }, extra=SLOW_CHECKS)
        for _ in range(4):
            status, headers, body = self.chat()
            self.assertEqual(status, 200, body)
            self.assertEqual(headers["x-gateway-backend"], "big")
        self.assertEqual(self.metric("gateway_model_refusals_total", backend="small",
                                     reason="out_of_memory"), 1)
        self.assertEqual(self.sim_stats("small")["memory_failures"], 1)


class SlotsAndDeadlinesTest(FleetCase):
    def test_show_and_embeddings_are_answered_while_every_generation_slot_is_busy(self):
        self.start({"a": self.sim("a", models=(MODEL, "nomic-embed-text"))},
                   extra="admission:\n  max_in_flight: 1\n  max_queue_wait: 60s\n")
        # A generation that holds the backend's only slot until the test lets go of it.
        self.sim_request("a", "POST", "/sim/config", {"hang": True})
        host, port = self.http.rsplit(":", 1)
        held = http.client.HTTPConnection(host, int(port), timeout=30)
        held.request("POST", "/api/generate", body=json.dumps({"model": MODEL, "prompt": "x"}))
        harness.wait_for(lambda: self.metric("gateway_backend_in_flight", backend="a") == 1, 10,
                         "the generation to hold the backend's only slot")
        # Had either waited for that slot, it would still be queued (max_queue_wait 60 s)
        # when its 20 s request timeout ran out.
        status, _, body = self.request("POST", "/api/show", {"model": MODEL})
        self.assertEqual(status, 200, body)
        status, _, body = self.request("POST", "/api/embed",
                                       {"model": "nomic-embed-text", "input": ["x"]})
        self.assertEqual(status, 200, body)
        self.assertEqual(self.metric("gateway_backend_in_flight", backend="a"), 1)
        held.close()

    def test_a_long_stream_is_not_cut_and_a_silent_backend_is(self):
        sim = self.sim("a", models=(MODEL,), tokens=12, token_delay_ms=250)
        self.start({"a": sim}, extra="upstream:\n  idle_timeout: 1s\n  max_attempts: 1\n")
        # Three seconds of tokens, each within the idle timeout: nothing cuts it (no total cap
        # unless request_timeout is set).
        status, _, body = self.request("POST", "/api/generate", {"model": MODEL, "prompt": "x"})
        self.assertEqual(status, 200)
        self.assertTrue(self.lines(body)[-1]["done"], body[-300:])
        # A backend that goes quiet longer than idle_timeout is given up on.
        self.sim_request("a", "POST", "/sim/config", {"token_delay_ms": 2500})
        status, _, body = self.request("POST", "/api/generate",
                                       {"model": MODEL, "prompt": "x", "stream": False})
        self.assertEqual(status, 503, body)
        self.assertRegex(json.loads(body)["error"], r"sent nothing for idle_timeout \(1000 ms\)")


if __name__ == "__main__":
    import unittest
    unittest.main()
