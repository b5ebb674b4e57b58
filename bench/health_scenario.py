#!/usr/bin/python3
"""Active health checks at scale: what they cost and how fast they notice a failure.

Starts S ollama-sim processes listening on 0.0.0.0 and a gateway with B backends spread over
them, each backend on its own loopback address (http://127.K.X.Y:PORT; Linux routes all of
127.0.0.0/8 to lo), so the gateway keeps B separate connections. Every tier checks at the same
interval (1 s by default). Then:

1. waits until every backend passes every enabled tier;
2. measures, over a window, the gateway's CPU time (utime + stime from /proc/PID/stat, in % of
   one core), its RSS and open descriptors, the checks it made (gateway_health_checks_total by
   tier and result), the requests the sims received (requests_by_path) and the sims' CPU;
3. tier 1 detection: SIGKILLs one sim at T0 (its B/S backends die) and polls /admin/backends
   every 100 ms until all of them have connect "unhealthy"; per backend, the detection time is
   the tier's last_change minus T0;
4. tier 3 detection: sets {"hang": true} on another sim at T0 and waits until its backends'
   inference tier for the probe model is "unhealthy"; same statistics.

Prints a markdown table, the machine and the command line.

  /usr/bin/python3 bench/health_scenario.py [--backends 500] [--sims 5] [--window 30]
      [--tiers connect,api,inference | --tiers none] [--interval-ms 1000] [--timeout-ms 500]
      [--jitter-ms 200] [--bin build/bin]

stdlib only; everything listens on loopback.
"""
import argparse
import datetime
import json
import os
import re
import resource
import shlex
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402
from harness import Process, http_get, http_post_json  # noqa: E402
MODEL = "llama3.2"
TIERS = ("connect", "api", "inference")
# (healthy_threshold, unhealthy_threshold) per tier.
THRESHOLDS = {"connect": (2, 3), "api": (2, 3), "inference": (1, 2)}
PAGE = os.sysconf("SC_PAGE_SIZE")


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def percentile(sorted_values, p):
    """Nearest-rank percentile."""
    if not sorted_values:
        return float("nan")
    rank = max(1, int(-(-p * len(sorted_values) // 100)))
    return sorted_values[min(len(sorted_values), rank) - 1]






def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def parse_time(text):
    """RFC 3339 UTC with milliseconds (2026-11-25T20:15:50.251Z) -> epoch seconds."""
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def address(sim_index, j):
    """The j-th loopback address of sim sim_index: 127.(k+1).(j//250).(j%250+1)."""
    return f"127.{sim_index + 1}.{j // 250}.{j % 250 + 1}"


def gateway_config(backends, tiers, args):
    def tier(name):
        h, u = THRESHOLDS[name]
        return (f"  {name}:\n    enabled: {'true' if name in tiers else 'false'}\n"
                f"    interval: {args.interval_ms}ms\n    timeout: {args.timeout_ms}ms\n"
                f"    jitter: {args.jitter_ms}ms\n    healthy_threshold: {h}\n"
                f"    unhealthy_threshold: {u}\n")
    text = ("listen:\n  address: 127.0.0.1:0\n  insecure: true\n"
            "admin:\n  address: 127.0.0.1:0\n"
            f"upstream:\n  threads: {args.upstream_threads}\n"
            "logging:\n  level: warn\n"
            "health:\n  panic_threshold: 0\n" + tier("connect") + tier("api") + tier("inference")
            + f"    models: [{MODEL}]\n"
            "backends:\n")
    for name, url in backends:
        text += f"  - name: {name}\n    url: {url}\n"
    return text


def backend_states(admin):
    return json.loads(http_get(f"http://{admin}/admin/backends", timeout=30)[1])["backends"]


def tier_of(backend, tier):
    t = backend.get("tiers", {}).get(tier)
    if tier == "inference" and t is not None:
        t = t.get(MODEL)
    return t or {}


def all_healthy(backends, tiers):
    for b in backends:
        for tier in tiers:
            if tier_of(b, tier).get("state") != "healthy":
                return False
        if not b.get("healthy"):
            return False
    return True


METRIC_RE = re.compile(r'^gateway_health_checks_total\{([^}]*)\}\s+([0-9.eE+-]+)$')


def health_check_counts(admin):
    """{(tier, result): count} summed over backends, from the gateway's /metrics."""
    text = http_get(f"http://{admin}/metrics", timeout=30)[1]
    counts = {}
    for line in text.splitlines():
        m = METRIC_RE.match(line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        key = (labels.get("tier", "?"), labels.get("result", "?"))
        counts[key] = counts.get(key, 0) + float(m.group(2))
    return counts


def sim_paths(sims):
    total = {}
    for sim in sims:
        stats = json.loads(http_get(f"http://127.0.0.1:{sim.port}/sim/stats")[1])
        for path, n in stats["requests_by_path"].items():
            total[path] = total.get(path, 0) + n
    return total


def measure(gateway, sims, window):
    pids = [s.proc.pid for s in sims]
    checks0 = health_check_counts(gateway.admin)
    paths0 = sim_paths(sims)
    g0, s0 = harness.cpu_seconds(gateway.proc.pid), sum(harness.cpu_seconds(p) for p in pids)
    t0 = time.monotonic()
    rss_max = 0
    end = t0 + window
    while time.monotonic() < end:
        time.sleep(min(1.0, max(0.0, end - time.monotonic())))
        rss_max = max(rss_max, harness.proc_status(gateway.proc.pid, "VmRSS"))
    g1, s1 = harness.cpu_seconds(gateway.proc.pid), sum(harness.cpu_seconds(p) for p in pids)
    t1 = time.monotonic()
    paths1 = sim_paths(sims)
    checks1 = health_check_counts(gateway.admin)
    elapsed = t1 - t0
    checks = {k: (checks1.get(k, 0) - checks0.get(k, 0)) / elapsed
              for k in set(checks0) | set(checks1)}
    paths = {k: (paths1.get(k, 0) - paths0.get(k, 0)) / elapsed for k in paths1}
    return {
        "elapsed": elapsed,
        "gateway_cpu": 100.0 * (g1 - g0) / elapsed,
        "sims_cpu": 100.0 * (s1 - s0) / elapsed,
        "rss_kib": harness.proc_status(gateway.proc.pid, "VmRSS"),
        "rss_max_kib": rss_max,
        "hwm_kib": harness.proc_status(gateway.proc.pid, "VmHWM"),
        "threads": harness.proc_status(gateway.proc.pid, "Threads"),
        "fds": fd_count(gateway.proc.pid),
        "checks": checks,
        "paths": paths,
    }


def detect(gateway, names, tier, t0, limit):
    """Polls /admin/backends every 100 ms until every backend in names has tier unhealthy.

    Returns (per-backend detection times in s from last_change, per-backend first-seen times,
    names still not unhealthy at the limit).
    """
    pending = set(names)
    seen, by_change = {}, {}
    deadline = time.time() + limit
    while pending and time.time() < deadline:
        now = time.time()
        for b in backend_states(gateway.admin):
            if b["name"] not in pending:
                continue
            t = tier_of(b, tier)
            if t.get("state") == "unhealthy":
                pending.discard(b["name"])
                seen[b["name"]] = now - t0
                by_change[b["name"]] = parse_time(t["last_change"]) - t0
        time.sleep(0.1)
    return by_change, seen, sorted(pending)


def summary(values):
    v = sorted(values)
    return {"n": len(v), "min": v[0], "p50": percentile(v, 50), "p90": percentile(v, 90),
            "p99": percentile(v, 99), "max": v[-1]} if v else {"n": 0}


def machine():
    return (f"nproc {os.cpu_count()}, {harness.cpu_model()}, load average "
            f"{os.getloadavg()[0]:.2f} at the end")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", type=int, default=500)
    parser.add_argument("--sims", type=int, default=5)
    parser.add_argument("--window", type=float, default=30.0, help="measurement window, s")
    parser.add_argument("--tiers", default="connect,api,inference",
                        help="enabled tiers, comma-separated, or 'none'")
    parser.add_argument("--interval-ms", type=int, default=1000, help="every tier")
    parser.add_argument("--timeout-ms", type=int, default=500, help="every tier")
    parser.add_argument("--jitter-ms", type=int, default=200, help="every tier")
    parser.add_argument("--upstream-threads", type=int, default=1)
    parser.add_argument("--no-detection", action="store_true", help="skip steps 3 and 4")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    parser.add_argument("--bin", default=os.path.join(HERE, "..", "build", "bin"))
    args = parser.parse_args()
    tiers = [] if args.tiers == "none" else [t for t in args.tiers.split(",") if t]
    for t in tiers:
        if t not in TIERS:
            parser.error(f"unknown tier {t!r}")
    if args.backends % args.sims:
        parser.error("--backends must be a multiple of --sims")
    per_sim = args.backends // args.sims
    bin_dir = os.path.abspath(args.bin)

    # Every backend costs the gateway a few descriptors (a connect probe, a kept-alive api
    # connection, an inference probe); make sure the children may open them.
    need = 8 * args.backends + 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < need:
        new = need if hard == resource.RLIM_INFINITY else min(need, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        log(f"raised RLIMIT_NOFILE soft limit {soft} -> {new}")
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]

    sims, gateway, config_path = [], None, None
    result = {}
    try:
        for k in range(args.sims):
            sim = Process([os.path.join(bin_dir, "ollama-sim"), "--host", "0.0.0.0", "--port",
                           "0", "--models", MODEL, "--tokens", "1", "--name", f"sim{k}"],
                          f"sim{k}", ready_timeout=30)
            sim.port = int(sim.first_line.strip())
            sims.append(sim)
        backends, owner = [], {}
        for k, sim in enumerate(sims):
            for j in range(per_sim):
                name = f"b{k}-{j:03d}"
                backends.append((name, f"http://{address(k, j)}:{sim.port}"))
                owner[name] = k
        fd, config_path = tempfile.mkstemp(prefix="og-health-", suffix=".yaml")
        with os.fdopen(fd, "w") as f:
            f.write(gateway_config(backends, tiers, args))
        log(f"{args.sims} sims up; starting the gateway with {args.backends} backends, "
            f"tiers {tiers or 'none'}")
        start = time.monotonic()
        gateway = Process([os.path.join(bin_dir, "ollama-gateway"), "--config", config_path],
                          "gateway", ready_timeout=60)
        fields = dict(kv.split("=", 1) for kv in gateway.first_line.split()[1:])
        gateway.admin = fields["admin"]
        result["ready_s"] = time.monotonic() - start
        states = backend_states(gateway.admin)
        result["healthy_at_ready"] = sum(1 for b in states if b.get("healthy"))

        deadline = time.monotonic() + 120
        while True:
            if not gateway.alive():
                raise RuntimeError(f"gateway exited:\n{gateway.log()[-4000:]}")
            if all_healthy(backend_states(gateway.admin), tiers):
                break
            if time.monotonic() > deadline:
                states = backend_states(gateway.admin)
                bad = [b["name"] for b in states if not all(
                    tier_of(b, t).get("state") == "healthy" for t in tiers)]
                raise RuntimeError(f"{len(bad)} backends not healthy after 120 s: {bad[:10]}")
            time.sleep(0.5)
        result["all_healthy_s"] = time.monotonic() - start
        log(f"all healthy after {result['all_healthy_s']:.1f} s; measuring {args.window:g} s")
        time.sleep(2)  # let the start-up burst pass
        result["measure"] = measure(gateway, sims, args.window)
        log("measured")

        detection = {}
        if not args.no_detection and "connect" in tiers and args.sims >= 1:
            victim = 0
            names = [n for n, k in owner.items() if k == victim]
            bound = args.interval_ms * THRESHOLDS["connect"][1] / 1000 + args.timeout_ms / 1000
            log(f"tier 1: killing sim{victim} ({len(names)} backends)")
            t0 = time.time()
            sims[victim].kill()
            by_change, seen, missing = detect(gateway, names, "connect", t0, 3 * bound + 10)
            detection["connect"] = (by_change, seen, missing, bound, len(names))
        if not args.no_detection and "inference" in tiers and args.sims >= 2:
            victim = 1
            names = [n for n, k in owner.items() if k == victim]
            bound = args.interval_ms * THRESHOLDS["inference"][1] / 1000 + args.timeout_ms / 1000
            log(f"tier 3: hanging sim{victim} ({len(names)} backends)")
            t0 = time.time()
            http_post_json(f"http://127.0.0.1:{sims[victim].port}/sim/config", {"hang": True})
            by_change, seen, missing = detect(gateway, names, "inference", t0, 3 * bound + 10)
            detection["inference"] = (by_change, seen, missing, bound, len(names))
        result["detection"] = detection
        if not gateway.alive():
            raise RuntimeError(f"gateway exited:\n{gateway.log()[-4000:]}")
        result["fds_end"] = fd_count(gateway.proc.pid)
        result["gateway_log"] = gateway.log()
    finally:
        for child in ([gateway] if gateway is not None else []) + sims:
            if args.keep_logs:
                child.stop()
                log(f"{child.name} log kept: {child.log_path}")
            else:
                child.cleanup()
        if config_path:
            os.unlink(config_path)

    report(args, tiers, nofile, result)


def report(args, tiers, nofile, result):
    m = result["measure"]
    print()
    argv = " ".join(shlex.quote(a) for a in sys.argv[1:])
    print(f"Command: `{' '.join(['/usr/bin/python3 bench/health_scenario.py'] + ([argv] if argv else []))}`")
    print(f"Machine: {machine()}")
    print(f"{args.backends} backends on {args.sims} sims; tiers: {', '.join(tiers) or 'none'}; "
          f"interval {args.interval_ms} ms, timeout {args.timeout_ms} ms, jitter "
          f"{args.jitter_ms} ms, thresholds (healthy/unhealthy) "
          + ", ".join(f"{t} {THRESHOLDS[t][0]}/{THRESHOLDS[t][1]}" for t in TIERS)
          + f"; upstream threads {args.upstream_threads}; RLIMIT_NOFILE {nofile}")
    print(f"Gateway ready (listening line) after {result['ready_s']:.1f} s with "
          f"{result['healthy_at_ready']}/{args.backends} backends healthy; all backends healthy "
          f"after {result['all_healthy_s']:.1f} s.")
    print()
    print("| Measure (window %.0f s) | Value |" % m["elapsed"])
    print("|---|---|")
    print(f"| gateway CPU, % of one core | {m['gateway_cpu']:.1f} |")
    print(f"| gateway RSS (end / max sampled / VmHWM) | {m['rss_kib'] / 1024:.1f} / "
          f"{m['rss_max_kib'] / 1024:.1f} / {m['hwm_kib'] / 1024:.1f} MiB |")
    print(f"| gateway threads, open fds | {m['threads']}, {m['fds']} |")
    for t in TIERS:
        ok = m["checks"].get((t, "ok"), 0.0)
        failed = m["checks"].get((t, "failed"), 0.0)
        print(f"| {t} checks/s (ok, failed) | {ok:.1f}, {failed:.1f} |")
    total = sum(m["checks"].values())
    print(f"| all checks/s | {total:.1f} |")
    if total:
        print(f"| gateway CPU per check | {m['gateway_cpu'] / 100 / total * 1e6:.0f} µs |")
    paths = ", ".join(f"{p} {v:.1f}" for p, v in sorted(m["paths"].items()) if v)
    print(f"| sim requests/s by path | {paths or 'none'} |")
    print(f"| sims' CPU, % of one core (all {args.sims}) | {m['sims_cpu']:.1f} |")
    det = result.get("detection", {})
    if det:
        print()
        print("| Detection (s after T0) | backends | min | p50 | p90 | p99 | max | bound | "
              "over bound | not detected |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        labels = {"connect": "tier 1 connect (sim killed)",
                  "inference": "tier 3 inference (sim hangs)"}
        for tier, (by_change, seen, missing, bound, n) in det.items():
            for label, values in ((f"{labels[tier]}, last_change", by_change),
                                  (f"{labels[tier]}, seen by 100 ms poll", seen)):
                s = summary(values.values())
                over = sum(1 for v in values.values() if v > bound)
                if s["n"]:
                    print(f"| {label} | {s['n']}/{n} | {s['min']:.2f} | {s['p50']:.2f} | "
                          f"{s['p90']:.2f} | {s['p99']:.2f} | {s['max']:.2f} | {bound:.2f} | "
                          f"{over} | {len(missing)} |")
                else:
                    print(f"| {label} | 0/{n} | | | | | | {bound:.2f} | | {len(missing)} |")
    print(f"\nGateway open fds at the end: {result.get('fds_end')}")
    # Tier state changes are expected; anything else the gateway logged is shown.
    lines = result.get("gateway_log", "").splitlines()
    other = [line for line in lines if not re.search(r"health: backend \S+ .*check ", line)]
    print(f"Gateway log: {len(lines)} lines, {len(lines) - len(other)} of them tier state changes")
    if other:
        print("Other gateway log lines (first 20):\n```\n" + "\n".join(other[:20]) + "\n```")


if __name__ == "__main__":
    main()
