#!/usr/bin/python3
"""End-to-end policy comparison over backends of unequal speed.

Starts three ollama-sim backends (one three times slower per token, each with a fixed number of
decode slots like OLLAMA_NUM_PARALLEL), then, for each balancing policy in turn, a gateway in
front of them, and drives it with the same open-loop offered load: Poisson arrivals at a fixed
rate, latency measured from each call's intended send time (so a stalled gateway cannot hide
queueing). Prints p50/p99 latency, errors and per-backend request counts per policy.

  /usr/bin/python3 bench/policy_scenario.py [--rate 30] [--seconds 20] [--bin build/bin]

Run with Debian's /usr/bin/python3 (python3-grpcio). Everything listens on loopback.
"""
import argparse
import collections
import os
import random
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402

POLICIES = [
    ("round_robin", "policy: round_robin"),
    ("least_connections", "policy: least_connections"),
    ("ketama", "policy: ketama\n  hash_key: metadata:session"),
    ("ketama bounded 1.25", "policy: ketama\n  hash_key: metadata:session\n"
                            "  bounded_load_factor: 1.25"),
]


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(p / 100.0 * len(sorted_values)))]


def drive(target, rate, seconds, sessions, timeout, seed):
    """Open loop: returns (latencies in s, errors by code, calls by backend)."""
    pb2, pb2_grpc = harness.grpc_modules()
    import grpc
    channel = grpc.insecure_channel(target)
    stub = pb2_grpc.ModelInferenceStub(channel)
    rng = random.Random(seed)
    lock = threading.Lock()
    latencies, errors, backends = [], collections.Counter(), collections.Counter()
    pending = []
    start = time.monotonic() + 0.2
    t = 0.0
    while t < seconds:
        t += rng.expovariate(rate)
        intended = start + t
        delay = intended - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        session = f"user-{rng.randrange(sessions)}"
        request = pb2.InferenceRequest(model_name="llama3.2", input_data=f"hi from {session}".encode(),
                                       metadata={"session": session})
        future = stub.Predict.future(request, timeout=timeout)

        def done(f, intended=intended):
            finished = time.monotonic()
            with lock:
                if f.code() == grpc.StatusCode.OK:
                    latencies.append(finished - intended)
                    backends[dict(f.trailing_metadata()).get("x-gateway-backend", "?")] += 1
                else:
                    errors[f.code().name] += 1
        future.add_done_callback(done)
        pending.append(future)
    for f in pending:
        try:
            f.result()
        except Exception:  # noqa: BLE001 - counted in the callback
            pass
    channel.close()
    return sorted(latencies), errors, backends


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=30.0, help="calls per second offered")
    parser.add_argument("--seconds", type=float, default=20.0, help="duration per policy")
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--token-delay-ms", type=int, default=10, help="fast backends")
    parser.add_argument("--slow-factor", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=4, help="decode slots per backend")
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--bin", default=os.path.join(HERE, "..", "build", "bin"))
    args = parser.parse_args()
    harness.BIN_DIR = os.path.abspath(args.bin)

    delays = {"fast-1": args.token_delay_ms, "fast-2": args.token_delay_ms,
              "slow": args.token_delay_ms * args.slow_factor}
    sims = {name: harness.Sim(name, tokens=args.tokens, token_delay_ms=d,
                              extra=["--parallel", str(args.parallel)])
            for name, d in delays.items()}
    rows = []
    try:
        for label, policy in POLICIES:
            config = harness.gateway_config([(n, s.url, ["llama3.2"]) for n, s in sims.items()])
            config = config.replace("  policy: round_robin", "  " + policy)
            config = config.replace("level: debug", "level: warn")
            path = harness.write_file("/tmp", "policy-scenario.yaml", config)
            gateway = harness.Gateway(path)
            try:
                lat, errors, backends = drive(gateway.target, args.rate, args.seconds,
                                              args.sessions, timeout=60, seed=42)
            finally:
                gateway.stop()
                gateway.cleanup()
            rows.append((label, lat, errors, backends))
            print(f"{label}: done", file=sys.stderr)
    finally:
        for s in sims.values():
            s.cleanup()

    print(f"\nOffered load {args.rate:g} calls/s for {args.seconds:g} s per policy; "
          f"{args.tokens} tokens per call; token delay {delays['fast-1']} ms (fast-1, fast-2) "
          f"and {delays['slow']} ms (slow); {args.parallel} decode slots per backend.\n")
    print("| policy | ok | errors | p50 ms | p99 ms | fast-1 | fast-2 | slow |")
    print("|---|---|---|---|---|---|---|---|")
    for label, lat, errors, backends in rows:
        err = ", ".join(f"{k} {v}" for k, v in errors.items()) or "0"
        print(f"| {label} | {len(lat)} | {err} | {percentile(lat, 50) * 1000:.0f} | "
              f"{percentile(lat, 99) * 1000:.0f} | {backends['fast-1']} | {backends['fast-2']} | "
              f"{backends['slow']} |")


if __name__ == "__main__":
    main()
