"""The Grafana dashboard and the Prometheus alert rules of deploy/, against a real Prometheus.

Three ollama-sim backends, a gateway with TLS on its gRPC listener (so the certificate expiry
gauge exists) and short health intervals, and a real Prometheus (Debian's /usr/bin/prometheus,
scrape and rule evaluation every second) scraping the gateway's admin /metrics. The gateway has
a rollout (a fixed 50% split of the name ROLLOUT between two tags every simulator serves, without
analysis, so it never aborts) for the Rollouts panels and GatewayRolloutAborted. The test drives
gRPC load with some errors (an unknown model; a backend answering 502, which also makes
outlier detection eject it) and some calls for the rollout, one refused and one good config
reload and one TLS file rotation, then:

  (a) evaluates every query of every panel of deploy/grafana/ollama-gateway.json through
      Prometheus's HTTP API and requires each to return data;
  (b) evaluates the left-hand side of every alert rule of
      deploy/prometheus/ollama-gateway.rules.yml (the expression without its final threshold
      comparison, so data is required even when the alert should not fire) and requires data,
      and requires Prometheus to report every rule healthy;
  (c) runs `promtool check config` and `promtool check rules` on the files of deploy/prometheus;
  (d) kills one simulator and waits for GatewayBackendDown to fire for it (the rules file is
      loaded from a copy whose `for:` durations are cut to a few seconds).

With OG_DASHBOARD_SNAPSHOT=PATH the test also writes a markdown table of every panel query and
what it evaluated to (docs/dashboard-snapshot.md was made that way).
"""
import datetime
import json
import os
import re
import signal
import subprocess
import threading
import time
import unittest
import urllib.error
import urllib.request

import grpc
import yaml

import harness
from harness import wait_for
from test_tls import Pki, read, replace_file

MODEL = "llama3.2"
# A rollout's name, what callers call, split 50/50 between MODEL and CANDIDATE.
ROLLOUT = "assistant"
CANDIDATE = "llama3.2:q8"
PROMTOOL = "/usr/bin/promtool"
DASHBOARD = os.path.join(harness.SOURCE_DIR, "deploy", "grafana", "ollama-gateway.json")
PROM_DIR = os.path.join(harness.SOURCE_DIR, "deploy", "prometheus")
RULES = os.path.join(PROM_DIR, "ollama-gateway.rules.yml")
# What the test's copy of the rules file uses for every `for:`.
SHORT_FOR = "2s"
# Grafana's variables, as the test substitutes them: every model and backend, and a range that
# covers the whole test (the queries run once, after the load).
VARIABLES = [("$__rate_interval", "1m"), ("$__interval", "1s"), ("$__range", "1m"),
             ("${model}", ".*"), ("$model", ".*"), ("${backend}", ".*"), ("$backend", ".*")]
# A trailing comparison with a number: the threshold of an alert rule.
THRESHOLD = re.compile(r"\s*(==|!=|>=|<=|>|<)\s*-?[0-9.]+(e[0-9]+)?\s*$")

pb2, pb2_grpc = harness.grpc_modules()




def http_json(url, timeout=5):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return json.loads(r.read().decode())


def dashboard_panels(dashboard):
    """Every non-row panel, also those nested in collapsed rows."""
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            yield from panel.get("panels", [])
        else:
            yield panel


def substitute(expr):
    for name, value in VARIABLES:
        expr = expr.replace(name, value)
    return expr


def metric_names(expr):
    """The gateway metric names an expression uses, without _bucket/_sum/_count."""
    names = set()
    for name in re.findall(r"\bgateway_[a-z_]+\b", expr):
        names.add(re.sub(r"_(bucket|sum|count)$", "", name))
    return names


class DashboardFileTest(unittest.TestCase):
    """Static checks of the dashboard JSON: what Grafana's import needs."""

    def test_dashboard_is_importable_json(self):
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        self.assertGreaterEqual(dashboard["schemaVersion"], 36)
        self.assertEqual(dashboard["uid"], "ollama-gateway")
        self.assertEqual([i["pluginId"] for i in dashboard["__inputs"]], ["prometheus"])
        variables = {v["name"]: v for v in dashboard["templating"]["list"]}
        self.assertEqual(variables["datasource"]["type"], "datasource")
        self.assertEqual(variables["datasource"]["query"], "prometheus")
        for name, metric in (("model", "gateway_requests_total"),
                             ("backend", "gateway_backend_in_flight")):
            v = variables[name]
            self.assertEqual(v["definition"], f"label_values({metric}, {name})")
            self.assertTrue(v["multi"] and v["includeAll"])
            self.assertEqual(v["allValue"], ".*")
        ids = [p["id"] for p in dashboard["panels"]]
        self.assertEqual(len(ids), len(set(ids)), "panel ids must be unique")
        panels = list(dashboard_panels(dashboard))
        self.assertGreaterEqual(len(panels), 15)
        for p in panels:
            with self.subTest(panel=p["title"]):
                self.assertEqual(p["datasource"], {"type": "prometheus", "uid": "${datasource}"})
                grid = p["gridPos"]
                self.assertTrue(all(k in grid for k in ("x", "y", "w", "h")))
                self.assertLessEqual(grid["x"] + grid["w"], 24)
                self.assertTrue(p["targets"])
                refs = [t["refId"] for t in p["targets"]]
                self.assertEqual(len(refs), len(set(refs)))
                for t in p["targets"]:
                    self.assertTrue(t["expr"].strip())
                    self.assertEqual(t["datasource"], p["datasource"])


class PrometheusTest(harness.ProcessTestCase):
    def setUp(self):
        super().setUp()
        self.ca = Pki(self.tmp, "ca")
        self.cert, self.key = self.ca.issue("gateway", "1001")
        self.sims = {name: self.sim(name, models=(MODEL, CANDIDATE), tokens=6, token_delay_ms=2)
                     for name in ("gpu-a", "gpu-b", "gpu-c")}
        self.config_text = (
            f"listen:\n  address: 127.0.0.1:0\n  cert: {self.cert}\n  key: {self.key}\n"
            "  reload_interval: 200ms\n"
            "admin:\n  address: 127.0.0.1:0\n"
            "logging:\n  level: info\n"
            "upstream:\n  max_attempts: 2\n  retry_budget_percent: 50\n"
            "admission:\n  max_queue: 100\n"
            "health:\n"
            "  connect: {interval: 300ms, timeout: 200ms, jitter: 50ms, healthy_threshold: 2, "
            "unhealthy_threshold: 2}\n"
            "  api: {interval: 500ms, timeout: 300ms, jitter: 100ms, healthy_threshold: 2, "
            "unhealthy_threshold: 2}\n"
            "outlier_detection:\n  consecutive_failures: 2\n  base_ejection_time: 3s\n"
            "  max_ejection_percent: 50\n"
            "rollouts:\n  models:\n"
            f"    - model: {ROLLOUT}\n"
            f"      baseline: {{model: {MODEL}}}\n"
            f"      candidate: {{model: \"{CANDIDATE}\"}}\n"
            "      weight: 50\n"
            "backends:\n")
        for name, sim in self.sims.items():
            self.config_text += harness.backend_yaml(name, sim.url)
        self.gw = self.gateway(self.config_text)
        # The rules as shipped, but every `for:` cut short so alerts fire within the test.
        with open(RULES) as f:
            rules = f.read()
        self.short_rules = os.path.join(self.tmp, "ollama-gateway.rules.yml")
        with open(self.short_rules, "w") as f:
            f.write(re.sub(r"(?m)^(\s+for:\s*)\S+", rf"\g<1>{SHORT_FOR}", rules))
        self.prom = self.track(harness.Prometheus(self.tmp, [self.gw.admin], self.short_rules))
        creds = grpc.ssl_channel_credentials(root_certificates=read(self.ca.cert))
        self.channel = grpc.secure_channel(
            self.gw.target, creds, options=[("grpc.ssl_target_name_override", "localhost")])
        self.addCleanup(self.channel.close)
        self.stub = pb2_grpc.ModelInferenceStub(self.channel)

    def knobs(self, name, **values):
        request = urllib.request.Request(self.sims[name].url + "/sim/config",
                                         data=json.dumps(values).encode(), method="POST")
        urllib.request.urlopen(request, timeout=5).read()

    def metrics_text(self):
        with urllib.request.urlopen(f"http://{self.gw.admin}/metrics", timeout=5) as r:
            return r.read().decode()

    def counter(self, text, name, labels):
        m = re.search(rf"^{name}\{{{labels}\}} ([0-9.e+]+)$", text, re.M)
        return float(m.group(1)) if m else 0.0

    # ---- load

    def call(self, model, stream):
        request = pb2.InferenceRequest(model_name=model, input_data=b"why is the sky blue?")
        try:
            if stream:
                for _ in self.stub.PredictStream(request, timeout=10):
                    pass
            else:
                self.stub.Predict(request, timeout=10)
            return grpc.StatusCode.OK
        except grpc.RpcError as e:
            return e.code()

    def drive_load(self, seconds):
        """Calls from 4 threads for `seconds`; returns a count of status codes."""
        codes = {}
        lock = threading.Lock()
        stop = time.monotonic() + seconds

        def worker(i):
            n = 0
            while time.monotonic() < stop:
                n += 1
                model = "no-such-model" if n % 10 == 0 else ROLLOUT if n % 5 == 2 else MODEL
                code = self.call(model, stream=(n + i) % 2 == 0)
                with lock:
                    codes[code] = codes.get(code, 0) + 1
                time.sleep(0.01)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        return threads, codes

    def reload_config(self, text, result):
        before = self.counter(self.metrics_text(), "gateway_config_reloads_total",
                              f'result="{result}"')
        harness.write_file(self.tmp, "gateway.yaml", text)
        self.gw.signal(signal.SIGHUP)
        wait_for(lambda: self.counter(self.metrics_text(), "gateway_config_reloads_total",
                                      f'result="{result}"') > before,
                 10, f"a config reload counted as {result}")

    # ---- the test

    def test_dashboard_queries_and_alert_rules_against_a_live_prometheus(self):
        # (c) The shipped files pass promtool (the config names the rules file, which
        # `check config` checks too).
        for argv in ([PROMTOOL, "check", "config", os.path.join(PROM_DIR, "prometheus.yml")],
                     [PROMTOOL, "check", "rules", RULES]):
            proc = subprocess.run(argv, capture_output=True, text=True)
            self.assertEqual(proc.returncode, 0, f"{' '.join(argv)}:\n{proc.stdout}{proc.stderr}")

        threads, codes = self.drive_load(12)
        time.sleep(2)
        # 502 from gpu-c: retried on another backend (gateway_retries_total), counted as
        # failures by outlier detection, which ejects gpu-c after 2 in a row
        # (gateway_outlier_ejections_total); its ejection lasts 3 s.
        self.knobs("gpu-c", fail_status=502)
        wait_for(lambda: self.counter(self.metrics_text(), "gateway_outlier_ejections_total",
                                      'backend="gpu-c"') > 0, 10, "gpu-c to be ejected")
        # A refused reload (a bad file), then a good one (the original text, with a change).
        self.reload_config("backends: [not a backend\n", "invalid")
        self.reload_config(self.config_text.replace("level: info", "level: warn"), "ok")
        # A TLS file rotation: gateway_tls_reloads_total{result="ok"}.
        cert, key = self.ca.issue("gateway-2", "1002")
        replace_file(self.key, read(key))
        replace_file(self.cert, read(cert))
        wait_for(lambda: 'gateway_tls_reloads_total{result="ok"}' in self.metrics_text(), 10,
                 "the TLS files to be reloaded")
        self.knobs("gpu-c", fail_status=0)
        for t in threads:
            t.join()
        self.assertGreater(codes.get(grpc.StatusCode.OK, 0), 50, codes)
        self.assertGreater(codes.get(grpc.StatusCode.NOT_FOUND, 0), 0, codes)

        # Every metric the dashboard and the rules name is one the gateway exports.
        exported = set(re.findall(r"^# TYPE (\S+) ", self.metrics_text(), re.M))
        with open(DASHBOARD) as f:
            dashboard = json.load(f)
        with open(RULES) as f:
            rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
        queries = [(p["title"], t) for p in dashboard_panels(dashboard) for t in p["targets"]]
        for expr in [t["expr"] for _, t in queries] + [r["expr"] for r in rules]:
            self.assertLessEqual(metric_names(expr), exported, expr)

        # (a) Every panel query returns data. Scrapes lag by up to a second or two, so poll
        # until all of them do.
        results = {}

        def all_panels_have_data():
            for title, t in queries:
                results[(title, t["refId"])] = self.prom.query(substitute(t["expr"]))
            return all(results.values())

        def empty_panels():
            return "data for " + "; ".join(f"{title} {t['refId']}: {t['expr']}"
                                           for title, t in queries
                                           if not results[(title, t["refId"])])

        wait_for(all_panels_have_data, 15, empty_panels, interval=0.5)
        if os.environ.get("OG_DASHBOARD_SNAPSHOT"):
            self.write_snapshot(os.environ["OG_DASHBOARD_SNAPSHOT"], queries, results)

        # (b) The left-hand side of every alert rule returns data: the expression without its
        # final threshold comparison (`gateway_backend_healthy == 0` -> `gateway_backend_healthy`,
        # `increase(...{result="invalid"}[15m]) > 0` -> `increase(...)`), so data is required
        # also where the alert must not fire. Prometheus must also evaluate each rule without
        # error.
        for rule in rules:
            lhs = THRESHOLD.sub("", rule["expr"].strip())
            self.assertNotEqual(lhs, rule["expr"].strip(), f"no threshold in {rule['expr']}")
            with self.subTest(alert=rule["alert"]):
                self.assertTrue(self.prom.query(lhs), f"{rule['alert']}: no data for {lhs}")
        groups = http_json(self.prom.url + "/api/v1/rules")["data"]["groups"]
        loaded = {r["name"]: r for g in groups for r in g["rules"]}
        self.assertEqual(set(loaded), {r["alert"] for r in rules})
        for name, r in loaded.items():
            self.assertEqual(r["health"], "ok", f"{name}: {r.get('lastError')}")

        # (d) Kill gpu-b: GatewayBackendDown fires for it (health checks notice within about a
        # second, then the shortened `for:`).
        self.sims["gpu-b"].kill()

        def backend_down_firing():
            alerts = http_json(self.prom.url + "/api/v1/alerts")["data"]["alerts"]
            return [a for a in alerts if a["labels"].get("alertname") == "GatewayBackendDown"
                    and a["labels"].get("backend") == "gpu-b" and a["state"] == "firing"]

        firing = wait_for(backend_down_firing, 20,
                          lambda: "GatewayBackendDown firing for gpu-b; alerts: " + json.dumps(
                              http_json(self.prom.url + "/api/v1/alerts")["data"]["alerts"]))
        self.assertEqual(firing[0]["labels"]["severity"], "warning")
        self.assertIn("gpu-b", firing[0]["annotations"]["summary"])

    def write_snapshot(self, path, queries, results):
        def cell(text):
            return text.replace("|", "\\|").replace("\n", " ")

        def first(result):
            series = sorted(result, key=lambda s: json.dumps(s["metric"], sort_keys=True))[0]
            labels = ", ".join(f'{k}="{v}"' for k, v in sorted(series["metric"].items())
                               if k not in ("instance", "job"))
            value = float(series["value"][1])
            shown = f"{value:.4g}" if value == value else "NaN"
            return f"{{{labels}}} {shown}"

        now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        lines = [
            "# Dashboard snapshot",
            "",
            f"Generated {now} by `tests/integration/test_prometheus.py` with",
            "`OG_DASHBOARD_SNAPSHOT=$PWD/docs/dashboard-snapshot.md` set: every query of every "
            "panel of",
            "`deploy/grafana/ollama-gateway.json`, evaluated by a real Prometheus that scraped a "
            "real gateway",
            "(3 ollama-sim backends, one answering 502 for a while and ejected, 10% of calls for "
            "an unknown model,",
            "one refused and one good config reload, one TLS rotation) once per second for about "
            "15 s. Grafana's",
            "variables were replaced: `$model` and `$backend` by `.*`, `$__rate_interval` by "
            "`1m`. Result: the",
            "number of series and the first one (labels other than instance and job, value); "
            "values are a",
            "moment's, shown to prove every query returns data, not as a benchmark. An "
            "`increase()` of 0 on a",
            "counter the test's events created (reloads, ejections) is Prometheus's view, not "
            "a missing event: a",
            "series that appears at 1 has no earlier sample to increase from.",
            "",
            "| Panel | Ref | Query | Series | First series |",
            "|---|---|---|---|---|",
        ]
        for title, t in queries:
            result = results[(title, t["refId"])]
            lines.append(f"| {cell(title)} | {t['refId']} | `{cell(t['expr'])}` | {len(result)} "
                         f"| `{cell(first(result))}` |")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    unittest.main()
