#!/usr/bin/python3
"""Side-by-side comparison of the gateway with nginx, HAProxy and the backends alone.

On one machine, on loopback, in one run: starts ollama-sim backends, then in turn each contender
in front of them (the gateway's HTTP front door and its gRPC port, nginx with least_conn and with
hash ... consistent, HAProxy with leastconn, and no proxy at all), drives each with the same
load (wrk for HTTP, gateway-bench for gRPC, curl for stream batches) and prints one table per
scenario with throughput, latency, CPU seconds per 10,000 requests and peak RSS of the proxy,
each also as a ratio to the backend-alone row. Repeats every measurement and reports medians.

  bench/compare.sh                      # installs what it needs, builds, runs everything
  /usr/bin/python3 bench/compare.py --scenarios unary --repeats 5

Scenarios:
  unary    tiny generations (10 tokens, no delay, "stream": false): pure proxy overhead, plus a
           concurrency sweep whose latency percentiles are plotted against throughput
  streams  N concurrent streams at 20 ms per token, all started at once (default N = 1,000 for
           every contender and 10,000 for the gateway's gRPC port; see --stream-counts)
  mixed    short and long generations over three backends of unequal speed, per policy

Results go to --out (default bench/results): results.json, one Markdown file of tables and PNG
plots drawn by gnuplot. See bench/README.md for how to read them.
"""
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402

MODEL = "llama3.2"
PROMPT = "Why is the sky blue?"


# ---------------------------------------------------------------------------------------------
# Processes: CPU time and memory read from /proc.

def process_tree(pid):
    """pid and its direct children (nginx's workers, for instance)."""
    pids = [pid]
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                pids.append(int(entry))
        except (OSError, IndexError, ValueError):
            pass
    return pids


def cpu_seconds(pids):
    """utime + stime of the processes, in seconds."""
    return sum(harness.cpu_seconds(pid) for pid in pids)


def rss_kib(pids):
    """Summed VmRSS of the processes, in KiB."""
    return sum(harness.rss_kib(pid) for pid in pids)


class RssSampler:
    """Samples the summed VmRSS of some processes every 50 ms and keeps the largest."""

    def __init__(self, pids):
        self.pids, self.peak, self._stop = pids, rss_kib(pids), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, rss_kib(self.pids))

    def stop(self):
        self._stop.set()
        self._thread.join()
        return self.peak


def wait_port(port, proc, timeout=10.0):
    def listening():
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited:\n{proc.log()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            return False
    harness.wait_for(listening, timeout, f"{proc.name} listening on {port}")


def pinned(argv, cpus):
    return (["taskset", "-c", cpus] if cpus else []) + argv


# ---------------------------------------------------------------------------------------------
# Contenders. Each start function returns a Proxy with the URL or gRPC target to drive.

class Proxy:
    def __init__(self, name, proc, http_url=None, grpc_target=None):
        self.name, self.proc, self.http_url, self.grpc_target = name, proc, http_url, grpc_target

    def pids(self):
        return process_tree(self.proc.proc.pid) if self.proc else []

    def stop(self):
        if self.proc:
            self.proc.cleanup()


def start_gateway(name, backends, workdir, cpus, policy="least_connections", hash_header=None,
                  binary=None):
    balancer = f"  policy: {policy}\n"
    if hash_header:
        balancer += f"  hash_key: header:{hash_header}\n"
    text = ("listen:\n  address: 127.0.0.1:0\n  insecure: true\n"
            "admin:\n  address: 127.0.0.1:0\n"
            "http:\n  address: 127.0.0.1:0\n  insecure: true\n"
            f"balancer:\n{balancer}"
            "logging:\n  level: warn\n"
            # The proxies measured against it have no limits either.
            "admission:\n  max_queue: 100000\n"
            "backends:\n")
    for backend_name, url in backends:
        text += harness.backend_yaml(backend_name, url, [MODEL])
    path = harness.write_file(workdir, "gateway.yaml", text)
    proc = harness.Process(pinned([binary or harness.binary("ollama-gateway"), "--config", path],
                                  cpus),
                           "gateway", ready_timeout=30)
    fields = dict(kv.split("=", 1) for kv in proc.first_line.split()[1:])
    return Proxy(name, proc, http_url=f"http://{fields['http']}", grpc_target=fields["grpc"])


def start_nginx(name, backends, workdir, cpus, balance):
    port = harness.free_port()
    prefix = os.path.join(workdir, "nginx")
    os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
    servers = "".join(f"    server {url.split('//', 1)[1]};\n" for _, url in backends)
    # A production reverse-proxy setup for Ollama: keep-alive to the backends, HTTP/1.1,
    # no buffering so streamed tokens reach the client as they come, no access log (the gateway
    # writes none by default either).
    conf = f"""worker_processes auto;
worker_rlimit_nofile 19000;
error_log {prefix}/logs/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 9000; }}
http {{
  access_log off;
  client_body_temp_path {prefix}/body;
  proxy_temp_path {prefix}/proxy;
  upstream ollama {{
    {balance};
{servers}    keepalive 512;
  }}
  server {{
    listen 127.0.0.1:{port} reuseport;
    location / {{
      proxy_pass http://ollama;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 600s;
    }}
  }}
}}
"""
    path = harness.write_file(prefix, "nginx.conf", conf)
    proc = harness.Process(pinned(["nginx", "-p", prefix, "-c", path, "-g", "daemon off;"], cpus),
                           name, ready_line=False)
    wait_port(port, proc)
    return Proxy(name, proc, http_url=f"http://127.0.0.1:{port}")


def start_haproxy(name, backends, workdir, cpus):
    port = harness.free_port()
    servers = "".join(f"  server {n} {url.split('//', 1)[1]}\n" for n, url in backends)
    # maxconn is bounded by the 20,000 descriptors a process may open here (two per proxied
    # connection); nbthread is left to HAProxy (one per CPU it may run on). Without
    # http-no-delay HAProxy sends with MSG_MORE while it expects more of a body, which held each
    # stream's first token back by about 220 ms here (Nagle against delayed ACKs).
    conf = f"""global
  maxconn 9000
defaults
  mode http
  timeout connect 5s
  timeout client 600s
  timeout server 600s
  option http-keep-alive
  option http-no-delay
backend ollama
  balance leastconn
{servers}frontend fe
  bind 127.0.0.1:{port}
  default_backend ollama
"""
    path = harness.write_file(workdir, "haproxy.cfg", conf)
    proc = harness.Process(pinned(["haproxy", "-f", path], cpus), name, ready_line=False)
    wait_port(port, proc)
    return Proxy(name, proc, http_url=f"http://127.0.0.1:{port}")


def start_none(name, backends):
    return Proxy(name, None, http_url=backends[0][1])


def start_grpc_floor(name, cpus):
    """The gRPC floor (bench/grpc-floor): answers from memory, no backend behind it."""
    proc = harness.Process(pinned([harness.binary("grpc-floor")], cpus), name)
    return Proxy(name, proc, grpc_target=proc.first_line.split("=", 1)[1].strip())


def is_grpc(contender):
    """Whether the contender is driven by gateway-bench (gRPC) rather than wrk or curl."""
    return contender.startswith("gateway-grpc") or contender == "grpc-floor"


# ---------------------------------------------------------------------------------------------
# Load: wrk for HTTP (closed loop), gateway-bench for gRPC, curl for batches of streams.

WRK_SCRIPT = r"""
local bodies = {%(bodies)s}
local sessions = %(sessions)d
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = bodies[1]
local counter = 0
function setup(thread) counter = counter + 1; thread:set("seed", counter) end
function init(args) math.randomseed(seed) end
if #bodies > 1 or sessions > 0 then
  function request()
    local headers = {["Content-Type"] = "application/json"}
    if sessions > 0 then headers["X-Session"] = "user-" .. math.random(sessions) end
    return wrk.format("POST", nil, headers, bodies[math.random(#bodies)])
  end
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%%d,"duration_us":%%d,"connect":%%d,"read":%%d,"write":%%d,' ..
    '"status":%%d,"timeout":%%d,"p50":%%d,"p90":%%d,"p99":%%d,"p999":%%d,"max":%%d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
"""


def generate_body(num_predict, stream=False):
    return json.dumps({"model": MODEL, "prompt": PROMPT, "stream": stream,
                       "options": {"num_predict": num_predict}})


def wrk_script(workdir, bodies, sessions=0):
    lua = WRK_SCRIPT % {"bodies": ", ".join("[[" + b + "]]" for b in bodies),
                        "sessions": sessions}
    return harness.write_file(workdir, "wrk.lua", lua)


def run_wrk(url, script, connections, seconds, cpus, threads=1):
    out = subprocess.run(
        pinned(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s",
                "-s", script, url + "/api/generate"], cpus),
        capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("WRKJSON "):
            r = json.loads(line[len("WRKJSON "):])
            errors = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
            return {"requests": r["requests"], "errors": errors,
                    "rps": r["requests"] / (r["duration_us"] / 1e6),
                    "p50_us": r["p50"], "p90_us": r["p90"], "p99_us": r["p99"],
                    "p999_us": r["p999"], "max_us": r["max"]}
    raise RuntimeError(f"wrk printed no summary:\n{out}")


def run_gateway_bench(target, args, cpus):
    out = subprocess.run(
        pinned([harness.binary("gateway-bench"), "--target", target, "--insecure",
                "--json", "-", *args], cpus),
        capture_output=True, text=True)
    if out.returncode not in (0, 1):
        raise RuntimeError(f"gateway-bench failed ({out.returncode}):\n{out.stderr}")
    r = json.loads(out.stdout)
    result = {"requests": r["requests"], "errors": r["requests"] - r["ok"] + r["dropped"],
              "rps": r["rps"], "p50_us": r["latency_us"]["p50"], "p90_us": r["latency_us"]["p90"],
              "p99_us": r["latency_us"]["p99"], "p999_us": r["latency_us"]["p999"],
              "max_us": r["latency_us"]["max"], "messages": r["messages"],
              "error_codes": r["errors"]}
    if r["ttft_us"]:
        result.update({"ttft_p50_us": r["ttft_us"]["p50"], "ttft_p99_us": r["ttft_us"]["p99"]})
    return result


def run_curl_streams(url, count, body_path, workdir, cpus):
    """Starts `count` streaming generations at once (curl --parallel, at most 300 transfers per
    curl process) and returns time to first byte and total time of each, in µs. Ollama and the
    simulator send nothing before the first token, so the first byte is the first token."""
    per_process = 250
    procs = []
    for start in range(0, count, per_process):
        n = min(per_process, count - start)
        config = os.path.join(workdir, f"curl-{start}.cfg")
        with open(config, "w") as f:
            for _ in range(n):
                f.write(f'url = "{url}/api/generate"\noutput = "/dev/null"\n')
        procs.append(subprocess.Popen(
            pinned(["curl", "-s", "--no-progress-meter", "--parallel", "--parallel-immediate", "--parallel-max", str(n),
                    "-H", "Content-Type: application/json", "--data-binary", f"@{body_path}",
                    "-w", "%{http_code} %{time_starttransfer} %{time_total}\\n", "-K", config],
                   cpus), stdout=subprocess.PIPE, text=True))
    ttfb, total, errors = [], [], 0
    for p in procs:
        out, _ = p.communicate()
        for line in out.splitlines():
            code, first, whole = line.split()
            if code != "200":
                errors += 1
                continue
            ttfb.append(float(first) * 1e6)
            total.append(float(whole) * 1e6)
    return ttfb, total, errors


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, -(-len(s) * p // 100) - 1))]


# ---------------------------------------------------------------------------------------------
# Scenarios

class Runner:
    def __init__(self, args, workdir):
        self.args, self.workdir = args, workdir
        # With --pin, proxies get CPU 0 and everything else (backends, load generators) CPU 1.
        self.proxy_cpus = "0" if args.pin else None
        self.other_cpus = "1" if args.pin else None

    def sims(self, specs):
        return {name: harness.Sim(name, tokens=tokens, token_delay_ms=delay,
                                  extra=[*extra, "--threads", str(self.args.sim_threads)])
                for name, tokens, delay, extra in specs}

    def start(self, contender, backends):
        name = contender
        contender, _, build = contender.partition("@")
        kind, _, variant = contender.partition(":")
        if kind in ("gateway-http", "gateway-grpc"):
            policy = variant or "least_connections"
            return start_gateway(name, backends, self.workdir, self.proxy_cpus, policy,
                                 hash_header="x-session" if policy == "ketama" else None,
                                 binary=self.args.builds[build] if build else None)
        if kind == "nginx":
            balance = {"least_conn": "least_conn",
                       "hash": "hash $http_x_session consistent"}[variant or "least_conn"]
            return start_nginx(name, backends, self.workdir, self.proxy_cpus, balance)
        if kind == "haproxy":
            return start_haproxy(name, backends, self.workdir, self.proxy_cpus)
        if kind == "backend":
            return start_none(name, backends)
        if kind == "grpc-floor":
            return start_grpc_floor(name, self.proxy_cpus)
        raise ValueError(contender)

    def measure(self, contender, backends, drive, sim_pids):
        """Starts the contender, warms it up, runs `drive(proxy)` and returns its result with the
        proxy's CPU time and peak RSS (the backend's own for the backend-alone row)."""
        proxy = self.start(contender, backends)
        try:
            pids = proxy.pids() or sim_pids
            drive(proxy, warmup=True)
            cpu0, idle_rss = cpu_seconds(pids), rss_kib(pids)
            sampler = RssSampler(pids)
            result = drive(proxy, warmup=False)
            result["peak_rss_kib"] = sampler.stop()
            result["idle_rss_kib"] = idle_rss
            result["cpu_s"] = cpu_seconds(pids) - cpu0
        finally:
            proxy.stop()
        return result

    def rounds(self, scenario, measures):
        """Runs every contender's measurement once per round, --repeats rounds, so that a change
        in the machine's load during the run touches every contender alike; returns each
        contender's medians (and its runs)."""
        runs = {name: [] for name in measures}
        for i in range(self.args.repeats):
            for name, fn in measures.items():
                r = fn()
                runs[name].append(r)
                print(f"{scenario}: {name}: round {i + 1}/{self.args.repeats}: "
                      f"{r.get('rps', 0):.0f}/s p50 {r.get('p50_us', 0):.0f} us "
                      f"errors {r.get('errors', 0)} {r.get('error_codes') or ''}",
                      file=sys.stderr)
        table = {}
        for name, rs in runs.items():
            keys = [k for k in rs[0] if isinstance(rs[0][k], (int, float))]
            table[name] = {k: statistics.median(r[k] for r in rs) for k in keys}
            table[name]["runs"] = rs
        return table

    # (a) tiny unary generations -------------------------------------------------------------

    def unary(self):
        a = self.args
        sims = self.sims([("a", 10, 0, [])])
        backends = [("a", sims["a"].url)]
        sim_pids = [s.proc.pid for s in sims.values()]
        script = wrk_script(self.workdir, [generate_body(10)])

        def drive_for(contender, concurrency, seconds):
            def drive(proxy, warmup):
                secs = a.warmup if warmup else seconds
                if is_grpc(contender):
                    return run_gateway_bench(proxy.grpc_target, [
                        "--concurrency", str(concurrency), "--connections", "2",
                        "--num-predict", "10", "--prompt", PROMPT,
                        "--duration", f"{secs}s"], self.other_cpus)
                return run_wrk(proxy.http_url, script, concurrency, secs, self.other_cpus)
            return drive

        table, sweep = {}, {}
        try:
            table = self.rounds("unary", {
                c: lambda c=c: self.measure(c, backends, drive_for(c, a.concurrency, a.duration),
                                            sim_pids)
                for c in a.contenders})
            for concurrency in a.sweep:
                for contender in a.contenders:
                    r = self.measure(contender, backends,
                                     drive_for(contender, concurrency, a.sweep_duration), sim_pids)
                    sweep.setdefault(contender, []).append(dict(r, concurrency=concurrency))
                    print(f"  sweep {contender} c={concurrency}: {r['rps']:.0f}/s "
                          f"p99 {r['p99_us']} us", file=sys.stderr)
        finally:
            for s in sims.values():
                s.cleanup()
        return {"table": table, "sweep": sweep}

    # (b) concurrent streams -------------------------------------------------------------------

    def streams(self):
        a = self.args
        results = {}
        for count, delay in a.stream_counts:
            tokens = max(2, round(a.stream_seconds * 1000 / delay))
            sims = self.sims([("a", tokens, delay, [])])
            backends = [("a", sims["a"].url)]
            sim_pids = [s.proc.pid for s in sims.values()]
            body = harness.write_file(self.workdir, "stream.json",
                                      generate_body(tokens, stream=True))
            contenders = [c for c in a.contenders
                          if (count <= a.http_stream_limit or is_grpc(c) or c == "backend")
                          # The floor streams unpaced, at once: a unary-only reference.
                          and c != "grpc-floor"]

            def drive_for(contender, count=count, body=body, tokens=tokens):
                def drive(proxy, warmup):
                    n = min(count, 100) if warmup else count
                    if is_grpc(contender):
                        r = run_gateway_bench(proxy.grpc_target, [
                            "--rpc", "stream", "--concurrency", str(n), "--requests", str(n),
                            # The gateway's listen.max_concurrent_streams (100) is per
                            # connection: enough connections that the batch is not queued.
                            "--connections", str(max(4, -(-n // 100))),
                            "--num-predict", str(tokens),
                            "--timeout", "300s"], self.other_cpus)
                        r["tokens"] = r["messages"] - (r["requests"] - r["errors"])
                        return r
                    ttfb, total, errors = run_curl_streams(proxy.http_url, n, body, self.workdir,
                                                           self.other_cpus)
                    return {"requests": n, "errors": errors, "ttft_p50_us": pct(ttfb, 50),
                            "ttft_p99_us": pct(ttfb, 99), "p50_us": pct(total, 50),
                            "p99_us": pct(total, 99), "tokens": len(total) * tokens}
                return drive

            try:
                results[f"{count}@{delay}"] = self.rounds(f"streams x{count} at {delay} ms", {
                    c: lambda c=c: self.measure(c, backends, drive_for(c), sim_pids)
                    for c in contenders})
            finally:
                for s in sims.values():
                    s.cleanup()
        return results

    # (c) mixed lengths over unequal backends --------------------------------------------------

    def mixed(self):
        a = self.args
        slots = ["--parallel", str(a.mixed_parallel)]
        sims = self.sims([("fast-1", 200, a.mixed_delay_ms, slots),
                          ("fast-2", 200, a.mixed_delay_ms, slots),
                          ("slow", 200, a.mixed_delay_ms * 3, slots)])
        backends = [(n, s.url) for n, s in sims.items()]
        sim_pids = [s.proc.pid for s in sims.values()]
        # Nine short answers (10 tokens) for one long one (200 tokens), session keys for hashing.
        script = wrk_script(self.workdir, [generate_body(10)] * 9 + [generate_body(200)],
                            sessions=1000)
        contenders = ["gateway-http:least_connections", "gateway-http:round_robin",
                      "gateway-http:ketama", "nginx:least_conn", "nginx:hash", "haproxy"]

        def drive(proxy, warmup):
            return run_wrk(proxy.http_url, script, a.mixed_concurrency,
                           a.warmup if warmup else a.duration, self.other_cpus)

        try:
            table = self.rounds("mixed", {
                c: lambda c=c: self.measure(c, backends, drive, sim_pids) for c in contenders})
        finally:
            for s in sims.values():
                s.cleanup()
        return table


# ---------------------------------------------------------------------------------------------
# Reports

def fmt_us(us):
    if us != us:  # NaN
        return "-"
    return f"{us / 1000:.2f} ms" if us >= 1000 else f"{us:.0f} µs"


def ratio(value, base):
    return f"{value / base:.2f}x" if base else "-"


def unary_table(table):
    base = table.get("backend")
    lines = ["| contender | RPS | p50 | p99 | added p50 | CPU s / 10k req | peak RSS | "
             "RPS ratio | p50 ratio | p99 ratio | CPU ratio | errors |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in table.items():
        cpu10k = r["cpu_s"] / r["requests"] * 10000 if r["requests"] else float("nan")
        row = [name, f"{r['rps']:,.0f}", fmt_us(r["p50_us"]), fmt_us(r["p99_us"]),
               "-" if name == "backend" or not base else fmt_us(r["p50_us"] - base["p50_us"]),
               f"{cpu10k:.2f}", f"{r['peak_rss_kib'] / 1024:.1f} MiB"]
        if base:
            base10k = base["cpu_s"] / base["requests"] * 10000
            row += [ratio(r["rps"], base["rps"]), ratio(r["p50_us"], base["p50_us"]),
                    ratio(r["p99_us"], base["p99_us"]), ratio(cpu10k, base10k)]
        else:
            row += ["-"] * 4
        row.append(f"{r['errors']:.0f}")
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def floor_table(table):
    """The gRPC rows against the gRPC floor: what the gateway adds to gRPC C++'s own cost."""
    floor = table.get("grpc-floor")
    if not floor or not floor["requests"]:
        return ""
    lines = ["| contender | RPS | CPU µs / call | RPS / floor's | CPU / floor's |",
             "|---|---|---|---|---|"]
    floor_cpu = floor["cpu_s"] / floor["requests"] * 1e6
    for name, r in table.items():
        if not is_grpc(name) or not r["requests"]:
            continue
        cpu = r["cpu_s"] / r["requests"] * 1e6
        lines.append(f"| {name} | {r['rps']:,.0f} | {cpu:.0f} | {ratio(r['rps'], floor['rps'])} "
                     f"| {ratio(cpu, floor_cpu)} |")
    return "\n".join(lines)


def streams_table(results):
    lines = ["| streams | ms/token | contender | TTFT p50 | TTFT p99 | added TTFT p99 | stream p99 | "
             "CPU µs / token | RSS over idle | per stream | errors |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for batch, table in results.items():
        count, delay = (int(x) for x in batch.split("@"))
        base = table.get("backend")
        for name, r in table.items():
            per_token = r["cpu_s"] / r["tokens"] * 1e6 if r.get("tokens") else float("nan")
            grown = max(0, r["peak_rss_kib"] - r["idle_rss_kib"])
            added = ("-" if name == "backend" or not base
                     else fmt_us(r["ttft_p99_us"] - base["ttft_p99_us"]))
            lines.append(
                f"| {count:,} | {delay} | {name} | {fmt_us(r['ttft_p50_us'])} | {fmt_us(r['ttft_p99_us'])} "
                f"| {added} | {fmt_us(r['p99_us'])} | {per_token:.1f} | {grown / 1024:.1f} MiB | "
                f"{grown / count:.1f} KiB | {r['errors']:.0f} |")
    return "\n".join(lines)


def mixed_table(table):
    lines = ["| contender | RPS | p50 | p90 | p99 | CPU s / 10k req | peak RSS | errors |",
             "|---|---|---|---|---|---|---|---|"]
    for name, r in table.items():
        cpu10k = r["cpu_s"] / r["requests"] * 10000 if r["requests"] else float("nan")
        lines.append(f"| {name} | {r['rps']:,.0f} | {fmt_us(r['p50_us'])} | "
                     f"{fmt_us(r['p90_us'])} | {fmt_us(r['p99_us'])} | {cpu10k:.2f} | "
                     f"{r['peak_rss_kib'] / 1024:.1f} MiB | {r['errors']:.0f} |")
    return "\n".join(lines)


def plot_sweep(sweep, out_dir):
    """Latency percentiles against achieved throughput, one line per contender, with gnuplot."""
    if not shutil.which("gnuplot"):
        print("gnuplot not found: no plots (scripts/install-deps.sh installs it)",
              file=sys.stderr)
        return []
    pngs = []
    if not sweep:
        return pngs
    for key, title in (("p50_us", "p50"), ("p99_us", "p99")):
        data_files = []
        for name, points in sweep.items():
            path = os.path.join(out_dir, f"sweep-{name.replace(':', '-')}.dat")
            with open(path, "w") as f:
                f.write("# concurrency rps p50_us p90_us p99_us\n")
                for p in points:
                    f.write(f"{p['concurrency']} {p['rps']:.1f} {p['p50_us']} {p['p90_us']} "
                            f"{p['p99_us']}\n")
            data_files.append((name, path))
        column = {"p50_us": 3, "p99_us": 5}[key]
        png = os.path.join(out_dir, f"unary-latency-{title}.png")
        plots = ", ".join(f"'{path}' using 2:($%d/1000) with linespoints title '{name}'"
                          % column for name, path in data_files)
        script = (f"set terminal pngcairo size 900,560 font ',10' noenhanced\nset output '{png}'\n"
                  f"set title 'Tiny unary generations: {title} latency against throughput "
                  "(closed loop; each point one concurrency of the sweep)'\n"
                  "set xlabel 'requests per second'\nset ylabel 'latency (ms)'\n"
                  "set logscale y\nset grid\nset key outside right top\n"
                  f"plot {plots}\n")
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
        pngs.append(png)
    return pngs


def machine_line():
    model = harness.cpu_model()
    load = os.getloadavg()
    return (f"{os.cpu_count()} CPUs ({model}), Linux {os.uname().release}, load average "
            f"{load[0]:.2f} at the end of the run; "
            f"nginx {version(['nginx', '-v'])}, HAProxy {version(['haproxy', '-v'])}, "
            f"wrk {version(['wrk', '-v'])}")


def version(argv):
    try:
        out = subprocess.run(argv, capture_output=True, text=True)
        text = (out.stdout + out.stderr).split("\n")[0]
        for word in text.replace("/", " ").split():
            if word[:1].isdigit():
                return word
    except OSError:
        pass
    return "?"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=__doc__.split("\n\n", 1)[1])
    p.add_argument("--scenarios", default="unary,streams,mixed")
    p.add_argument("--contenders",
                   default="backend,gateway-http,gateway-grpc,grpc-floor,nginx:least_conn,"
                           "nginx:hash,haproxy",
                   help="which to run, in order (unary and streams)")
    p.add_argument("--repeats", type=int, default=3, help="runs per table row (median reported)")
    p.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    p.add_argument("--warmup", type=int, default=2, help="seconds of warm-up before each run")
    p.add_argument("--concurrency", type=int, default=32, help="unary table: connections/calls")
    p.add_argument("--sweep", default="1,4,16,64,256", help="unary sweep concurrencies")
    p.add_argument("--sweep-duration", type=int, default=5)
    p.add_argument("--stream-counts", default="1000,10000,10000@1000",
                   help="batches of streams: COUNT or COUNT@MS_PER_TOKEN")
    p.add_argument("--stream-seconds", type=float, default=4,
                   help="length of every stream (tokens = this / ms per token)")
    p.add_argument("--token-delay-ms", type=int, default=20,
                   help="ms per token of a batch that gives none")
    p.add_argument("--http-stream-limit", type=int, default=4000,
                   help="larger stream counts run only the gRPC gateway and the backend alone: an "
                        "HTTP proxy needs two descriptors per stream, and the hard limit here "
                        "is 20,000")
    p.add_argument("--mixed-concurrency", type=int, default=32)
    p.add_argument("--mixed-delay-ms", type=int, default=2, help="fast backends' ms per token")
    p.add_argument("--mixed-parallel", type=int, default=4, help="decode slots per backend")
    p.add_argument("--sim-threads", type=int, default=1)
    p.add_argument("--pin", action="store_true",
                   help="proxies on CPU 0, backends and load generators on CPU 1")
    p.add_argument("--build", action="append", default=[], metavar="LABEL=PATH",
                   help="another ollama-gateway binary, run as contender gateway-http@LABEL or "
                        "gateway-grpc@LABEL (before/after comparisons in one run)")
    p.add_argument("--bin", default=os.path.join(HERE, "..", "build", "bin"))
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    a = p.parse_args()
    a.contenders = a.contenders.split(",")
    a.builds = dict(b.split("=", 1) for b in a.build)
    a.sweep = [int(x) for x in a.sweep.split(",") if x]
    a.stream_counts = [(int(c), int(d or a.token_delay_ms))
                       for c, _, d in (x.partition("@") for x in a.stream_counts.split(",") if x)]
    harness.BIN_DIR = os.path.abspath(a.bin)
    for tool in ("wrk", "nginx", "haproxy", "curl", "taskset"):
        if not shutil.which(tool) and not os.path.exists(f"/usr/sbin/{tool}"):
            sys.exit(f"compare.py: {tool} is not installed: run scripts/install-deps.sh")
    os.environ["PATH"] += ":/usr/sbin"
    os.makedirs(a.out, exist_ok=True)

    workdir = tempfile.mkdtemp(prefix="og-compare-")
    runner = Runner(a, workdir)
    results = {"machine": None, "args": dict(vars(a))}
    started = time.monotonic()
    try:
        for scenario in a.scenarios.split(","):
            results[scenario] = getattr(runner, scenario)()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results["machine"] = machine_line()
    results["seconds"] = round(time.monotonic() - started)

    report = [f"Machine: {results['machine']}. Medians of {a.repeats} runs; "
              f"{a.duration} s per run after {a.warmup} s of warm-up; whole run "
              f"{results['seconds']} s{'; pinned' if a.pin else ''}.", ""]
    if "unary" in results:
        report += ["### (a) Tiny unary generations", "",
                   f"10 tokens, no delay, `\"stream\": false`, one backend, closed loop at "
                   f"{a.concurrency} connections (gRPC: {a.concurrency} calls on 2 "
                   f"connections).", "", unary_table(results["unary"]["table"]), ""]
        floor = floor_table(results["unary"]["table"])
        if floor:
            report += ["The gRPC rows against the gRPC floor (`bench/grpc-floor`: the same "
                       "service answering from memory, driven by the same client):", "", floor,
                       ""]
        for png in plot_sweep(results["unary"]["sweep"], a.out):
            report += [f"![{os.path.basename(png)}]({os.path.basename(png)})", ""]
    if "streams" in results:
        report += ["### (b) Concurrent streams", "",
                   f"Streams of {a.stream_seconds:g} s (the number of tokens that takes at the "
                   "batch's ms per token), a batch started at once; one backend.", "",
                   streams_table(results["streams"]), ""]
    if "mixed" in results:
        report += ["### (c) Mixed lengths over unequal backends", "",
                   f"Nine of ten calls ask 10 tokens, one asks 200; `fast-1` and `fast-2` take "
                   f"{a.mixed_delay_ms} ms a token, `slow` {a.mixed_delay_ms * 3} ms; "
                   f"{a.mixed_parallel} decode slots each; closed loop at "
                   f"{a.mixed_concurrency} connections, 1,000 session keys in `X-Session`.", "",
                   mixed_table(results["mixed"]), ""]
    text = "\n".join(report)
    with open(os.path.join(a.out, "results.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)
    print(text)


if __name__ == "__main__":
    main()
