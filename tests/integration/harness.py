"""Shared helpers for the integration tests.

They start real processes on loopback with ports chosen at run time (ollama-sim, the gateway),
generate Python gRPC stubs from proto/ with protoc and grpc_python_plugin, and clean everything
up when a test ends. Run under Debian's /usr/bin/python3, which has python3-grpcio.
"""
import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

SOURCE_DIR = os.environ.get(
    "OG_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BIN_DIR = os.environ.get("OG_BIN_DIR", os.path.join(SOURCE_DIR, "build", "bin"))
PROTO_DIR = os.path.join(SOURCE_DIR, "proto")
# Set by scripts/test.sh when the binaries are built with a sanitizer (memory figures mean
# little then).
SANITIZED = bool(os.environ.get("OG_SANITIZER"))

_stubs = None
_stubs_lock = threading.Lock()


def binary(name):
    path = os.path.join(BIN_DIR, name)
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"{path} is not built (set OG_BIN_DIR or build the project first)")
    return path


def grpc_modules():
    """Returns (inference_pb2, inference_pb2_grpc), generated once per test process."""
    global _stubs
    with _stubs_lock:
        if _stubs is None:
            out = tempfile.mkdtemp(prefix="og-stubs-")
            proto = os.path.join(PROTO_DIR, "ollama_gateway", "v1", "inference.proto")
            subprocess.run(
                ["protoc", f"--proto_path={PROTO_DIR}", f"--python_out={out}",
                 f"--grpc_python_out={out}",
                 "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin", proto],
                check=True)
            sys.path.insert(0, out)
            from ollama_gateway.v1 import inference_pb2, inference_pb2_grpc  # noqa: E402
            _stubs = (inference_pb2, inference_pb2_grpc)
        return _stubs


class Process:
    """A child process whose stdout's first line announces what it listens on.

    stderr goes to a file so a failing test can show the process's log. A process that
    announces nothing (ready_line=False) has stdout go to that file too; the caller finds out
    when it is ready.
    """

    def __init__(self, argv, name, ready_timeout=20.0, ready_line=True):
        self.name = name
        self.argv = argv
        self.log_path = tempfile.mktemp(prefix=f"og-{name}-", suffix=".log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE if ready_line else self._log,
                                     stderr=self._log, stdin=subprocess.DEVNULL)
        self.first_line = self._read_first_line(ready_timeout) if ready_line else None

    def _read_first_line(self, timeout):
        deadline = time.monotonic() + timeout
        buf = b""
        fd = self.proc.stdout.fileno()
        while b"\n" not in buf:
            left = deadline - time.monotonic()
            if left <= 0:
                self.stop()
                raise RuntimeError(f"{self.name} did not start within {timeout}s:\n{self.log()}")
            ready, _, _ = select.select([fd], [], [], left)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    self.proc.wait(timeout=5)
                    raise RuntimeError(
                        f"{self.name} exited with {self.proc.returncode} before it was ready:\n"
                        f"{self.log()}")
                buf += chunk
        # Keep draining stdout so the child never blocks on a full pipe.
        threading.Thread(target=self._drain, daemon=True).start()
        return buf.split(b"\n", 1)[0].decode()

    def _drain(self):
        try:
            while self.proc.stdout.read(65536):
                pass
        except (OSError, ValueError):
            pass

    def log(self):
        self._log.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def alive(self):
        return self.proc.poll() is None

    def signal(self, sig):
        if self.alive():
            self.proc.send_signal(sig)

    def stop(self, timeout=10):
        """Stops the process (SIGTERM, then SIGKILL) and returns its exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def cleanup(self):
        """Stops the process and removes its log file."""
        self.stop()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self._log.close()
        try:
            os.unlink(self.log_path)
        except OSError:
            pass

    def kill(self):
        if self.alive():
            self.proc.kill()
            self.proc.wait()


class Sim(Process):
    """An ollama-sim backend on a free loopback port."""

    def __init__(self, name, models=("llama3.2",), tokens=8, token_delay_ms=0, load_delay_ms=0,
                 extra=(), port=0):
        argv = [binary("ollama-sim"), "--port", str(port), "--name", name,
                "--models", ",".join(models), "--tokens", str(tokens),
                "--token-delay-ms", str(token_delay_ms), "--load-delay-ms", str(load_delay_ms),
                *extra]
        super().__init__(argv, f"sim-{name}")
        self.port = int(self.first_line.strip())
        self.url = f"http://127.0.0.1:{self.port}"


class Gateway(Process):
    """The gateway started on a config file whose listen ports are 0 (chosen at run time).

    Its first stdout line is `listening grpc=HOST:PORT admin=HOST:PORT`.
    """

    def __init__(self, config_path, extra=()):
        self.config_path = config_path
        super().__init__([binary("ollama-gateway"), "--config", config_path, *extra], "gateway")
        fields = dict(kv.split("=", 1) for kv in self.first_line.split()[1:])
        self.target = fields["grpc"]
        self.admin = fields.get("admin", "")


def proc_status(pid, key):
    """A number field of /proc/PID/status (VmRSS, VmHWM, Threads...); memory fields in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rss_kib(pid):
    """Resident memory of a process, in KiB."""
    return proc_status(pid, "VmRSS")


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, for benchmark reports."""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


WORDS = ("the quick brown fox jumps over lazy dog and then runs far away from home into green "
         "hills where small birds sing soft songs under blue sky while rivers flow past "
         "stones").split()


def fnv1a64(data):
    h = 14695981039346656037
    for byte in data:
        h ^= byte
        h = (h * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def sim_tokens(name, prompt, count):
    """The tokens simulator `name` generates for `prompt`, as docs/ollama-sim.md defines them."""
    h = fnv1a64(prompt.encode())
    return [f"[{name}]" if i == 0 else " " + WORDS[(h + i) % len(WORDS)] for i in range(count)]


def write_file(directory, name, text):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def backend_yaml(name, url, models=None, weight=1):
    lines = [f"  - name: {name}", f"    url: {url}", f"    weight: {weight}"]
    if models is not None:
        lines.append("    models: [" + ", ".join(models) + "]")
    return "\n".join(lines) + "\n"


def gateway_config(backends, policy="round_robin", extra=""):
    """A minimal plaintext config on ephemeral loopback ports.

    backends: list of (name, url, models-or-None).
    """
    text = ("listen:\n  address: 127.0.0.1:0\n  insecure: true\n"
            "admin:\n  address: 127.0.0.1:0\n"
            f"balancer:\n  policy: {policy}\n"
            "logging:\n  level: debug\n" + extra + "backends:\n")
    for name, url, models in backends:
        text += backend_yaml(name, url, models)
    return text


# What the sanitizers print when they find something; a test whose processes printed one fails.
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer")


def sanitizer_report(log):
    for marker in SANITIZER_MARKERS:
        at = log.find(marker)
        if at >= 0:
            return log[max(0, at - 200):at + 4000]
    return None


class ProcessTestCase(unittest.TestCase):
    """A TestCase that stops every process it started and prints their logs on failure."""

    def setUp(self):
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="og-test-")

    def tearDown(self):
        outcome = getattr(self, "_outcome", None)
        failed = outcome is not None and not getattr(outcome, "success", True)
        reports = []
        for p in reversed(self.procs):
            p.stop()
            log = p.log()
            if failed or os.environ.get("OG_SHOW_LOGS"):
                sys.stderr.write(f"\n----- {p.name} log -----\n{log[-8000:]}\n")
            report = sanitizer_report(log)
            if report:
                reports.append(f"{p.name}:\n{report}")
            p.cleanup()
        shutil.rmtree(self.tmp, ignore_errors=True)
        if reports:
            self.fail("sanitizer report from a process under test:\n" + "\n".join(reports))

    def track(self, proc):
        self.procs.append(proc)
        return proc

    def sim(self, name, **kw):
        return self.track(Sim(name, **kw))

    def gateway(self, config_text, extra=()):
        path = write_file(self.tmp, "gateway.yaml", config_text)
        return self.track(Gateway(path, extra))


def assert_rpc_error(test, code, fn, *contains):
    """Runs fn(), which must fail with gRPC status `code` and details holding each of `contains`;
    returns the error."""
    import grpc  # only the gRPC tests need it
    with test.assertRaises(grpc.RpcError) as ctx:
        fn()
    err = ctx.exception
    test.assertEqual(err.code(), code, err.details())
    for text in contains:
        test.assertIn(text, err.details())
    return err


def wait_for(predicate, timeout, what, interval=0.05):
    """Polls predicate() until it returns something truthy; fails naming `what` after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:.1f}s waiting for {what() if callable(what) else what}")
        time.sleep(interval)


def http_get(url, timeout=5):
    """(status, body) of a GET, also for 4xx/5xx answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def http_post_json(url, value, timeout=10):
    """POSTs `value` as JSON and returns the reply's (first) JSON object."""
    request = urllib.request.Request(url, data=json.dumps(value).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as r:
        return json.loads(r.read().decode().splitlines()[0] or "{}")


def http_request(address, method, path, body=None, headers=None, timeout=20):
    """(status, headers dict with lower-case names, body text) of one request to `address`
    ("host:port"); `body` a dict or list (sent as JSON), bytes, or None."""
    host, port = address.rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
    conn.request(method, path, body=data, headers=headers or {})
    r = conn.getresponse()
    text = r.read().decode()
    conn.close()
    return r.status, {k.lower(): v for k, v in r.getheaders()}, text


def free_port():
    """A loopback port free now (for programs that cannot be told to pick one)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PROMETHEUS = "/usr/bin/prometheus"


class Prometheus(Process):
    """A Prometheus server on a free loopback port, scraping and evaluating rules every second
    (it prints no ready line: /-/ready says). It scrapes `targets` (host:port), or the targets
    set_targets() writes to a file it watches (so it can start before the gateways that query
    it, whose configs then name its URL); `rules_path`, a rules file to evaluate."""

    def __init__(self, directory, targets=None, rules_path=None):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.targets_path = os.path.join(directory, "targets.json")
        self.set_targets(targets or [])
        config = os.path.join(directory, "prometheus.yml")
        with open(config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n")
            if rules_path:
                f.write(f"rule_files:\n  - {rules_path}\n")
            f.write("scrape_configs:\n  - job_name: ollama-gateway\n    file_sd_configs:\n"
                    f"      - files: ['{self.targets_path}']\n        refresh_interval: 1s\n")
        super().__init__([PROMETHEUS, f"--config.file={config}",
                          f"--storage.tsdb.path={os.path.join(directory, 'tsdb')}",
                          f"--web.listen-address=127.0.0.1:{self.port}"],
                         "prometheus", ready_line=False)
        try:
            wait_for(self._ready, 30, lambda: f"prometheus to be ready:\n{self.log()}", 0.1)
        except AssertionError:
            self.stop()
            raise

    def set_targets(self, targets):
        tmp = self.targets_path + ".new"
        with open(tmp, "w") as f:
            json.dump([{"targets": list(targets)}], f)
        os.replace(tmp, self.targets_path)

    def active_targets(self):
        """instance -> health ("up", "down", "unknown") of what it scrapes now."""
        with urllib.request.urlopen(self.url + "/api/v1/targets", timeout=5) as r:
            reply = json.loads(r.read().decode())
        return {t["labels"]["instance"]: t["health"] for t in reply["data"]["activeTargets"]}

    def query(self, expr):
        """The result vector of an instant query; raises on a query error."""
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                reply = json.loads(r.read().decode())
        except urllib.error.HTTPError as e:
            raise AssertionError(f"query {expr!r} failed: {e.read().decode()}") from None
        if reply["status"] != "success":
            raise AssertionError(f"query {expr!r} failed: {reply}")
        return reply["data"]["result"]

    def _ready(self):
        if not self.alive():
            raise RuntimeError(f"prometheus exited with {self.proc.returncode}:\n{self.log()}")
        try:
            with urllib.request.urlopen(self.url + "/-/ready", timeout=1) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False
