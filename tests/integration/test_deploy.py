"""The deployment files in deploy/ agree with each other and with the gateway binary.

- deploy/kubernetes/*.yaml: kinds and apiVersions; the Deployment's ports match the ConfigMap's
  listen/admin addresses and the Service's targetPorts; the config and TLS files are mounted
  where the args and the config say; the grace period covers preStop plus the drain; the probe
  and scrape paths are served by a real gateway started on the ConfigMap's configuration.
- The ConfigMap's gateway.yaml and deploy/examples/*.yaml pass `ollama-gateway --check-config`.
- deploy/systemd/ollama-gateway.service: flags the binary accepts, a stop timeout above the
  drain timeout, and `systemd-analyze verify` when it is installed.

Needs python3-yaml (scripts/install-deps.sh).
"""
import copy
import glob
import os
import re
import shlex
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import yaml

import harness
from harness import ProcessTestCase, http_get

DEPLOY = os.path.join(harness.SOURCE_DIR, "deploy")
K8S = os.path.join(DEPLOY, "kubernetes")
UNIT = os.path.join(DEPLOY, "systemd", "ollama-gateway.service")
EXAMPLES = sorted(glob.glob(os.path.join(DEPLOY, "examples", "*.yaml")))

# listen.drain_timeout when the config does not set it (docs/configuration.md).
DEFAULT_DRAIN_MS = 30_000

EXPECTED_KINDS = {
    "ConfigMap": "v1",
    "Deployment": "apps/v1",
    "Service": "v1",
    "HorizontalPodAutoscaler": "autoscaling/v2",
    "PodDisruptionBudget": "policy/v1",
    "NetworkPolicy": "networking.k8s.io/v1",
    "Kustomization": "kustomize.config.k8s.io/v1beta1",
}


def duration_ms(value):
    """A duration as the gateway reads it: Go syntax (1m30s, 250ms) or bare milliseconds."""
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    units = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {value!r}")
    return int(sum(float(n) * units[u] for n, u in parts))


def systemd_seconds(value):
    """A systemd time span in seconds ("45", "45s", "1min 30s")."""
    text = value.strip()
    if re.fullmatch(r"\d+", text):
        return int(text)
    units = {"ms": 0.001, "s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600, "hr": 3600}
    total = 0.0
    for number, unit in re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", text):
        total += float(number) * units[unit]
    return total


def port_of(address):
    return int(str(address).rsplit(":", 1)[1])


def load_k8s():
    """{file name: [documents]} for every YAML file in deploy/kubernetes (multi-document)."""
    docs = {}
    for path in sorted(glob.glob(os.path.join(K8S, "*.yaml")) + glob.glob(os.path.join(K8S, "*.yml"))):
        with open(path) as f:
            docs[os.path.basename(path)] = [d for d in yaml.safe_load_all(f) if d is not None]
    return docs


def by_kind(docs):
    found = {}
    for documents in docs.values():
        for d in documents:
            found.setdefault(d["kind"], []).append(d)
    return found


def parse_unit(path):
    """{section: [(key, value)]} of a systemd unit; keys may repeat (ExecReload=)."""
    sections = {}
    current = None
    with open(path) as f:
        lines = f.read().replace("\\\n", " ").splitlines()
    for line in lines:
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, _, value = line.partition("=")
        current.append((key.strip(), value.strip()))
    return sections


def unit_values(sections, section, key):
    return [v for k, v in sections.get(section, []) if k == key]


def check_config(path):
    return subprocess.run([harness.binary("ollama-gateway"), "--check-config", path],
                          capture_output=True, text=True, timeout=30)


def make_cert(directory):
    """A throw-away self-signed server certificate for 127.0.0.1 (cert, key paths)."""
    cert = os.path.join(directory, "server.crt")
    key = os.path.join(directory, "server.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    return cert, key




class KubernetesManifestTest(unittest.TestCase):
    """Static checks of deploy/kubernetes; they need no binary."""

    @classmethod
    def setUpClass(cls):
        cls.docs = load_k8s()
        cls.kinds = by_kind(cls.docs)
        cls.configmap = cls.one("ConfigMap")
        cls.deployment = cls.one("Deployment")
        cls.service = cls.one("Service")
        cls.gateway = yaml.safe_load(cls.configmap["data"]["gateway.yaml"])
        cls.pod = cls.deployment["spec"]["template"]
        cls.container = cls.pod["spec"]["containers"][0]
        cls.ports = {p["name"]: p["containerPort"] for p in cls.container["ports"]}

    @classmethod
    def one(cls, kind):
        items = cls.kinds.get(kind, [])
        if len(items) != 1:
            raise AssertionError(f"expected one {kind} in deploy/kubernetes, found {len(items)}")
        return items[0]

    def test_kinds_and_api_versions(self):
        self.assertTrue(self.docs, "no YAML in deploy/kubernetes")
        for name, documents in self.docs.items():
            for d in documents:
                kind = d.get("kind")
                self.assertIn(kind, EXPECTED_KINDS, f"{name}: unexpected kind {kind}")
                self.assertEqual(d.get("apiVersion"), EXPECTED_KINDS[kind], f"{name}: {kind}")
        for kind in EXPECTED_KINDS:
            self.assertIn(kind, self.kinds, f"no {kind} in deploy/kubernetes")

    def test_kustomization_lists_every_manifest(self):
        kustomization = self.one("Kustomization")
        manifests = {n for n in self.docs if n != "kustomization.yaml"}
        self.assertEqual(set(kustomization["resources"]), manifests)

    def test_container_ports_match_the_config_and_the_service(self):
        self.assertEqual(self.ports["grpc"], port_of(self.gateway["listen"]["address"]))
        self.assertEqual(self.ports["admin"], port_of(self.gateway["admin"]["address"]))
        # In a pod the endpoints must listen beyond loopback, or probes and Services fail.
        for section in ("listen", "admin"):
            host = self.gateway[section]["address"].rsplit(":", 1)[0]
            self.assertIn(host, ("0.0.0.0", "[::]"), f"{section}.address")
        service_ports = {}
        for p in self.service["spec"]["ports"]:
            target = p.get("targetPort", p["port"])
            if isinstance(target, str):
                self.assertIn(target, self.ports, f"Service targetPort {target} is no container port")
                target = self.ports[target]
            self.assertIn(target, self.ports.values(), f"Service port {p['name']}")
            service_ports[p["name"]] = (p["port"], target, p.get("appProtocol"))
        self.assertEqual(service_ports["grpc"], (50051, self.ports["grpc"], "grpc"))
        self.assertEqual(service_ports["admin"][:2], (9090, self.ports["admin"]))
        self.assertEqual(self.service["spec"].get("type", "ClusterIP"), "ClusterIP")

    def test_selectors_match_the_pod_labels(self):
        labels = self.pod["metadata"]["labels"]
        def matches(selector):
            return all(labels.get(k) == v for k, v in selector.items())
        self.assertTrue(matches(self.deployment["spec"]["selector"]["matchLabels"]))
        self.assertTrue(matches(self.service["spec"]["selector"]))
        self.assertTrue(matches(self.one("PodDisruptionBudget")["spec"]["selector"]["matchLabels"]))
        self.assertTrue(matches(self.one("NetworkPolicy")["spec"]["podSelector"]["matchLabels"]))

    def test_probes_and_scrape_target_use_the_admin_port(self):
        probes = {k: self.container[k]["httpGet"] for k in
                  ("livenessProbe", "readinessProbe", "startupProbe")}
        self.assertEqual(probes["livenessProbe"]["path"], "/healthz")
        self.assertEqual(probes["readinessProbe"]["path"], "/readyz")
        for name, probe in probes.items():
            port = probe["port"]
            self.assertEqual(self.ports.get(port, port), self.ports["admin"], name)
        annotations = self.pod["metadata"]["annotations"]
        self.assertEqual(annotations["prometheus.io/scrape"], "true")
        self.assertEqual(int(annotations["prometheus.io/port"]), self.ports["admin"])
        self.assertEqual(annotations["prometheus.io/path"], "/metrics")

    def mounted_files(self):
        """{absolute path in the container: (source kind, source name, key)}."""
        volumes = {v["name"]: v for v in self.pod["spec"]["volumes"]}
        files = {}
        for mount in self.container["volumeMounts"]:
            self.assertNotIn("subPath", mount, "a subPath mount never sees ConfigMap updates")
            volume = volumes[mount["name"]]
            sources = []
            if "projected" in volume:
                sources = volume["projected"]["sources"]
            elif "configMap" in volume or "secret" in volume:
                sources = [volume]
            for source in sources:
                for kind in ("configMap", "secret"):
                    if kind not in source:
                        continue
                    name = source[kind].get("name") or source[kind].get("secretName")
                    for item in source[kind].get("items", []):
                        path = os.path.join(mount["mountPath"], item["path"])
                        files[path] = (kind, name, item["key"])
        return files

    def test_args_config_and_tls_files_are_mounted(self):
        args = self.container.get("args", [])
        self.assertEqual(args[:1], ["--config"])
        files = self.mounted_files()
        self.assertEqual(files.get(args[1]),
                         ("configMap", self.configmap["metadata"]["name"], "gateway.yaml"))
        listen = self.gateway["listen"]
        self.assertFalse(listen.get("insecure", False), "the ConfigMap should serve TLS")
        self.assertEqual(files.get(listen["cert"]), ("secret", "ollama-gateway-tls", "tls.crt"))
        self.assertEqual(files.get(listen["key"]), ("secret", "ollama-gateway-tls", "tls.key"))

    def test_read_only_root_has_a_writable_tmp(self):
        # The gateway writes its OpenSSL policy file and its TLS copies to $TMPDIR (/tmp).
        self.assertTrue(self.container["securityContext"]["readOnlyRootFilesystem"])
        volumes = {v["name"]: v for v in self.pod["spec"]["volumes"]}
        tmp = [m for m in self.container["volumeMounts"] if m["mountPath"] == "/tmp"]
        self.assertEqual(len(tmp), 1, "no /tmp mount")
        self.assertIn("emptyDir", volumes[tmp[0]["name"]])
        self.assertFalse(tmp[0].get("readOnly", False))

    def test_security_context(self):
        pod = self.pod["spec"]["securityContext"]
        container = self.container["securityContext"]
        self.assertTrue(pod["runAsNonRoot"])
        self.assertFalse(container["allowPrivilegeEscalation"])
        self.assertEqual(container["capabilities"]["drop"], ["ALL"])

    def test_grace_period_covers_pre_stop_and_drain(self):
        drain = duration_ms(self.gateway["listen"].get("drain_timeout", DEFAULT_DRAIN_MS))
        pre_stop = self.container.get("lifecycle", {}).get("preStop", {})
        sleep_ms = 0
        if "sleep" in pre_stop:
            sleep_ms = pre_stop["sleep"]["seconds"] * 1000
        elif "exec" in pre_stop:
            command = pre_stop["exec"]["command"]
            sleep_ms = int(float(command[-1]) * 1000) if "sleep" in " ".join(command) else 0
        self.assertGreater(sleep_ms, 0, "no preStop sleep")
        grace = self.pod["spec"]["terminationGracePeriodSeconds"] * 1000
        self.assertGreater(grace, drain)
        self.assertGreater(grace, sleep_ms + drain)

    def test_rollout_hpa_and_pdb(self):
        spec = self.deployment["spec"]
        self.assertEqual(spec["replicas"], 3)
        self.assertEqual(spec["strategy"]["rollingUpdate"]["maxUnavailable"], 0)
        hpa = self.one("HorizontalPodAutoscaler")["spec"]
        self.assertEqual(hpa["scaleTargetRef"]["kind"], "Deployment")
        self.assertEqual(hpa["scaleTargetRef"]["name"], self.deployment["metadata"]["name"])
        self.assertEqual((hpa["minReplicas"], hpa["maxReplicas"]), (3, 10))
        self.assertEqual(hpa["metrics"][0]["resource"]["target"]["averageUtilization"], 70)
        self.assertGreaterEqual(hpa["minReplicas"], spec["replicas"])
        pdb = self.one("PodDisruptionBudget")["spec"]
        self.assertTrue(pdb.get("maxUnavailable") == 1 or pdb.get("minAvailable", 0) >= 2)

    def test_several_replicas_agree_on_routing(self):
        # Per-replica policies would still work, but the point of this layout is that every
        # replica sends a session to the same backend: ketama on a client-provided key.
        balancer = self.gateway["balancer"]
        self.assertEqual(balancer["policy"], "ketama")
        self.assertEqual(balancer["hash_key"], "header:x-session-id")


class ConfigCheckTest(unittest.TestCase):
    """The shipped configurations pass `ollama-gateway --check-config` as they are
    (it checks the syntax and values, not the TLS files: docs/configuration.md)."""

    def test_configmap_gateway_yaml(self):
        configmap = by_kind(load_k8s())["ConfigMap"][0]
        with tempfile.TemporaryDirectory(prefix="og-deploy-") as tmp:
            path = os.path.join(tmp, "gateway.yaml")
            with open(path, "w") as f:
                f.write(configmap["data"]["gateway.yaml"])
            result = check_config(path)
            self.assertEqual(result.returncode, 0, result.stderr)
            self.assertIn(": OK (3 backends, policy ketama)", result.stdout)

    def test_examples(self):
        self.assertTrue(EXAMPLES)
        for path in EXAMPLES:
            with self.subTest(example=os.path.basename(path)):
                result = check_config(path)
                self.assertEqual(result.returncode, 0, result.stderr)


class ContainerTest(unittest.TestCase):
    """The image tag, the manifests and the Compose file agree (test_image builds the image)."""

    def test_manifests_run_the_tag_build_image_makes(self):
        with open(os.path.join(harness.SOURCE_DIR, "gateway", "process", "serve.h")) as f:
            version = re.search(r'kVersion = "([^"]+)"', f.read()).group(1)
        kinds = by_kind(load_k8s())
        container = kinds["Deployment"][0]["spec"]["template"]["spec"]["containers"][0]
        self.assertEqual(container["image"], f"ollama-gateway:{version}")
        images = kinds["Kustomization"][0]["images"]
        self.assertEqual([(i["name"], i["newTag"]) for i in images],
                         [("ollama-gateway", version)])
        with open(os.path.join(DEPLOY, "compose", "compose.yaml")) as f:
            compose = yaml.safe_load(f)
        self.assertEqual(compose["services"]["gateway"]["image"], f"ollama-gateway:{version}")

    def test_compose_config_passes_and_its_ports_are_published(self):
        path = os.path.join(DEPLOY, "compose", "gateway.yaml")
        result = check_config(path)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(path) as f:
            config = yaml.safe_load(f)
        with open(os.path.join(DEPLOY, "compose", "compose.yaml")) as f:
            gateway = yaml.safe_load(f)["services"]["gateway"]
        published = {p.rsplit(":", 1)[1] for p in gateway["ports"]}
        for section in ("listen", "http", "admin"):
            self.assertIn(config[section]["address"].rsplit(":", 1)[1], published, section)
        mounts = {v.split(":")[1] for v in gateway["volumes"]}
        self.assertIn("/etc/ollama-gateway/gateway.yaml", mounts)
        self.assertIn(os.path.dirname(config["listen"]["cert"]), mounts)
        with open(os.path.join(DEPLOY, "compose", "prometheus.yml")) as f:
            targets = yaml.safe_load(f)["scrape_configs"][0]["static_configs"][0]["targets"]
        self.assertEqual(targets, ["gateway:" + config["admin"]["address"].rsplit(":", 1)[1]])


class SystemdUnitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.unit = parse_unit(UNIT)

    def argv(self, key):
        values = unit_values(self.unit, "Service", key)
        self.assertEqual(len(values), 1, key)
        return shlex.split(values[0].lstrip("-@:+!"))

    def test_exec_lines_use_flags_the_binary_accepts(self):
        start = self.argv("ExecStart")
        pre = self.argv("ExecStartPre")
        self.assertEqual(start[0], "/usr/bin/ollama-gateway")
        self.assertEqual(start[1:], ["--config", "/etc/ollama-gateway/gateway.yaml"])
        self.assertEqual(pre, ["/usr/bin/ollama-gateway", "--check-config",
                               "/etc/ollama-gateway/gateway.yaml"])
        reload_lines = unit_values(self.unit, "Service", "ExecReload")
        self.assertEqual(reload_lines[-1], "/bin/kill -HUP $MAINPID")
        # The binary accepts exactly these forms: the unit's flags with a real file work, and
        # an unknown flag is refused with the usage text (exit 2).
        usage = subprocess.run([harness.binary("ollama-gateway"), "--help"],
                               capture_output=True, text=True, timeout=10).stdout
        self.assertIn("--config FILE", usage)
        self.assertIn("--check-config FILE", usage)
        bogus = subprocess.run([harness.binary("ollama-gateway"), "--conf", EXAMPLES[0]],
                               capture_output=True, text=True, timeout=10)
        self.assertEqual(bogus.returncode, 2)
        result = check_config(os.path.join(DEPLOY, "examples", "gateway.yaml"))
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_stop_timeout_exceeds_the_drain_timeout(self):
        self.assertEqual(unit_values(self.unit, "Service", "KillSignal"), ["SIGTERM"])
        timeout = systemd_seconds(unit_values(self.unit, "Service", "TimeoutStopSec")[0])
        self.assertGreater(timeout * 1000, DEFAULT_DRAIN_MS)
        with open(os.path.join(DEPLOY, "examples", "gateway.yaml")) as f:
            example = yaml.safe_load(f)
        drain = duration_ms(example["listen"].get("drain_timeout", DEFAULT_DRAIN_MS))
        self.assertGreater(timeout * 1000, drain)

    def test_hardening(self):
        service = dict(self.unit["Service"])
        for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict",
                           "PrivateTmp": "yes", "CapabilityBoundingSet": "",
                           "LimitNOFILE": "65536", "Restart": "on-failure"}.items():
            self.assertEqual(service.get(key), value, key)

    def test_systemd_analyze_verify(self):
        # verify wants the executables to exist: point them at the built binary.
        with tempfile.TemporaryDirectory(prefix="og-unit-") as tmp:
            path = os.path.join(tmp, "ollama-gateway.service")
            with open(UNIT) as f:
                text = f.read().replace("/usr/bin/ollama-gateway", harness.binary("ollama-gateway"))
            with open(path, "w") as f:
                f.write(text)
            result = subprocess.run(["systemd-analyze", "verify", path], capture_output=True,
                                    text=True, timeout=60)
            self.assertEqual(result.returncode, 0, result.stdout + result.stderr)


ADMIN_KEY = "og-test-admin-key"


def admin_key_hash():
    out = subprocess.run([harness.binary("ollama-gateway"), "hash-key", "--identity", "admin"],
                         input=ADMIN_KEY + "\n", capture_output=True, text=True, check=True).stdout
    return re.search(r'hash: "([^"]+)"', out).group(1)


def admin_get(url):
    """(status, body) of a GET with the admin key, as Prometheus scrapes."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class LiveGatewayTest(ProcessTestCase):
    """A gateway on the ConfigMap's configuration, with loopback addresses and an ollama-sim
    as every backend, serves the paths the Deployment probes and Prometheus scrapes."""

    def derived_config(self, sim_url, tls_files=None):
        configmap = by_kind(load_k8s())["ConfigMap"][0]
        config = copy.deepcopy(yaml.safe_load(configmap["data"]["gateway.yaml"]))
        if tls_files:
            config["listen"].update(address="127.0.0.1:0", cert=tls_files[0], key=tls_files[1])
        else:
            listen = config["listen"]
            for key in ("cert", "key", "client_ca", "client_auth"):
                listen.pop(key, None)
            listen.update(address="127.0.0.1:0", insecure=True)
        config["admin"]["address"] = "127.0.0.1:0"
        # The ConfigMap's admin key is a placeholder no key matches; the test's own stands in.
        self.assertIn("api_key_hash", config["admin"])
        config["admin"]["api_key_hash"] = admin_key_hash()
        first = config["backends"][0]
        config["backends"] = [{"name": "sim", "url": sim_url, "models": first.get("models", [])}]
        return yaml.safe_dump(config, sort_keys=False)

    def wait_ready(self, admin, seconds=15):
        deadline = time.monotonic() + seconds
        while True:
            status, body = http_get(f"http://{admin}/readyz")
            if status == 200 or time.monotonic() > deadline:
                return status, body
            time.sleep(0.1)

    def check_paths(self, gw):
        k8s = by_kind(load_k8s())
        pod = k8s["Deployment"][0]["spec"]["template"]
        container = pod["spec"]["containers"][0]
        paths = {container[p]["httpGet"]["path"]
                 for p in ("livenessProbe", "readinessProbe", "startupProbe")}
        paths.add(pod["metadata"]["annotations"]["prometheus.io/path"])
        self.assertEqual(paths, {"/healthz", "/readyz", "/metrics"})
        status, body = self.wait_ready(gw.admin)
        self.assertEqual(status, 200, body)
        # kubelet's probes carry no key; Prometheus sends the one of its Secret.
        for path in ("/healthz", "/readyz"):
            status, body = http_get(f"http://{gw.admin}{path}")
            self.assertEqual(status, 200, f"{path}: {body}")
        for path in ("/metrics", "/admin/backends"):
            self.assertEqual(http_get(f"http://{gw.admin}{path}")[0], 401, path)
            status, body = admin_get(f"http://{gw.admin}{path}")
            self.assertEqual(status, 200, f"{path}: {body}")
        _, metrics = admin_get(f"http://{gw.admin}/metrics")
        self.assertIn("gateway_", metrics)

    def test_probe_and_metrics_paths_answer(self):
        sim = self.sim("a", models=("llama3.2", "qwen2.5:7b"))
        gw = self.gateway(self.derived_config(sim.url))
        self.check_paths(gw)

        # The ketama key comes from the x-session-id header the ConfigMap names.
        import grpc
        pb2, pb2_grpc = harness.grpc_modules()
        with grpc.insecure_channel(gw.target) as channel:
            stub = pb2_grpc.ModelInferenceStub(channel)
            _, call = stub.Predict.with_call(
                pb2.InferenceRequest(model_name="llama3.2", input_data=b"hi"),
                metadata=[("x-session-id", "s-1")], timeout=10)
            self.assertEqual(dict(call.trailing_metadata())["x-gateway-backend"], "sim")
        _, metrics = admin_get(f"http://{gw.admin}/metrics")
        missing = [l for l in metrics.splitlines()
                   if l.startswith("gateway_hash_key_missing_total") and not l.endswith(" 0")]
        self.assertEqual(missing, [], "the x-session-id header was not used as the key")

        # SIGTERM drains and exits 0, as systemd's KillSignal and the kubelet expect.
        gw.signal(signal.SIGTERM)
        self.assertEqual(gw.proc.wait(timeout=DEFAULT_DRAIN_MS / 1000 + 10), 0, gw.log()[-2000:])

    def test_with_tls_from_the_configmap(self):
        sim = self.sim("a", models=("llama3.2", "qwen2.5:7b"))
        cert, key = make_cert(self.tmp)
        gw = self.gateway(self.derived_config(sim.url, tls_files=(cert, key)))
        self.check_paths(gw)


if __name__ == "__main__":
    unittest.main()
