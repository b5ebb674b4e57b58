#!/usr/bin/env python3
"""The gateway's CPU per call on a compatibility endpoint (/v1/chat/completions), two gateway
binaries side by side: wrk at 32 connections against one ollama-sim for a few seconds per run,
runs alternating, medians. CPU is the gateway process's user + system time over the run, divided
by the calls answered, so it is the gateway's own cost whatever the backend does with the call
(a binary that translated /v1 itself sends the backend /api/chat; one that forwards sends /v1).

  /usr/bin/python3 bench/compat_cpu.py --before OLD/ollama-gateway --after build/bin/ollama-gateway

With --rollout the --after binary's calls go through a rollout instead (docs/rollouts.md): callers
name `assistant`, split 50/50 between llama3.2 and llama3.2:q8 on the same simulator, so
`--before B --after B --rollout` is what a rollout costs a call of the same binary.

Needs wrk and a built ollama-sim (build/bin). Run it on an otherwise idle machine.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
os.environ.setdefault("OG_SOURCE_DIR", os.path.join(HERE, ".."))
os.environ.setdefault("OG_BIN_DIR", os.path.join(HERE, "..", "build", "bin"))
import harness  # noqa: E402

BODIES = {
    "unary": '{"model":"llama3.2","messages":[{"role":"user","content":"Say hi"}],'
             '"max_tokens":10}',
    "stream": '{"model":"llama3.2","stream":true,"messages":[{"role":"user","content":"Say hi"}],'
              '"max_tokens":10}',
}


ROLLOUT = ("rollouts:\n  models:\n    - model: assistant\n      baseline: {model: llama3.2}\n"
           "      candidate: {model: \"llama3.2:q8\"}\n      weight: 50\n")


def run(binary, body, seconds, workdir, rollout=False):
    sim = harness.Sim("gpu-a", models=("llama3.2", "llama3.2:q8"), tokens=10)
    extra = "http:\n  address: 127.0.0.1:0\n  insecure: true\n"
    if rollout:
        extra += ROLLOUT
        body = body.replace('"model":"llama3.2"', '"model":"assistant"')
    config = harness.write_file(workdir, "gateway.yaml", harness.gateway_config(
        [("gpu-a", sim.url, ["llama3.2", "llama3.2:q8"])], extra=extra))
    gateway = harness.Process([binary, "--config", config], "gateway")
    try:
        fields = dict(kv.split("=", 1) for kv in gateway.first_line.split()[1:])
        url = "http://" + fields["http"] + "/v1/chat/completions"
        script = harness.write_file(workdir, "wrk.lua", 'wrk.method = "POST"\n'
                                    'wrk.headers["Content-Type"] = "application/json"\n'
                                    f"wrk.body = [[{body}]]\n")
        time.sleep(1)  # health checks settle
        subprocess.run(["wrk", "-t1", "-c32", "-d1s", "-s", script, url], capture_output=True)
        cpu = harness.cpu_seconds(gateway.proc.pid)
        out = subprocess.run(["wrk", "-t1", "-c32", f"-d{seconds}s", "-s", script, url],
                             capture_output=True, text=True, check=True).stdout
        cpu = harness.cpu_seconds(gateway.proc.pid) - cpu
        calls = int(re.search(r"(\d+) requests in", out).group(1))
        failed = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        return calls / seconds, cpu / calls * 1e6, int(failed.group(1)) if failed else 0
    finally:
        gateway.stop()
        sim.stop()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the first gateway binary")
    parser.add_argument("--after", required=True, help="the second gateway binary")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per run")
    parser.add_argument("--rollout", action="store_true",
                        help="the --after binary's calls go through a 50/50 rollout")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        for scenario, body in BODIES.items():
            rows = {"before": [], "after": []}
            for _ in range(args.repeats):
                for name in rows:
                    rows[name].append(run(getattr(args, name), body, args.duration, workdir,
                                          rollout=args.rollout and name == "after"))
            cpu = {name: statistics.median(r[1] for r in runs) for name, runs in rows.items()}
            for name, runs in rows.items():
                print(f"{scenario:6} {name:6}: {statistics.median(r[0] for r in runs):8.0f} calls/s, "
                      f"{cpu[name]:6.1f} us CPU per call, {sum(r[2] for r in runs)} failed")
            print(f"{scenario:6} after/before CPU per call: {cpu['after'] / cpu['before']:.2f}")


if __name__ == "__main__":
    main()
