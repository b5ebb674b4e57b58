#!/usr/bin/python3
"""Sorts the samples of a `perf record -g` profile of the gateway into what they were spent on.

Usage (while wrk drives the unary scenario, see bench/README.md):

    perf record -F 2999 -g --call-graph dwarf,16384 -p $(pgrep -f ollama-gateway) -- sleep 8
    perf script -F comm,ip,sym > samples.txt
    /usr/bin/python3 bench/perf_buckets.py samples.txt

Each sample goes to the first bucket below whose test its stack passes (innermost frame first),
and the script prints a Markdown table of the shares. A frame whose address is a kernel one
(0xffffffff...) counts as the kernel's.
"""
import collections
import re
import sys


def kernel(frames):
    return frames[0].startswith("[k]")


def within(frames, *names):
    return any(name in frame for frame in frames for name in names)


BUCKETS = [
    ("kernel: sending (sendmsg/sendto, including the loopback delivery to the peer)",
     lambda f: kernel(f) and within(f, "sendmsg", "sendto")),
    ("kernel: receiving", lambda f: kernel(f) and within(f, "recvfrom", "__libc_recv",
                                                          "tcp_recvmsg")),
    ("kernel: epoll_wait, scheduling, wake-ups",
     lambda f: kernel(f) and within(f, "epoll", "schedule", "finish_task_switch")),
    ("kernel: other", kernel),
    ("malloc and free",
     lambda f: re.search(r"malloc|free|operator new|operator delete|_int_", f[0]) is not None),
    ("the caller's JSON (nlohmann: parse, key folding, the body dumped again for the backend)",
     lambda f: within(f, "nlohmann", "DumpJson", "ParseJson", "CanonicalizeKeys")),
    ("the backend's lines (simdjson, ParseOllamaChunk, the answer spliced)",
     lambda f: within(f, "simdjson", "ParseOllamaChunk", "OllamaAggregate", "SplitObject")),
    ("HTTP parsing (Beast, both directions)", lambda f: within(f, "basic_parser")),
    ("metrics", lambda f: within(f, "Metrics", "prometheus")),
    ("Asio's scheduler and reactor", lambda f: within(f[:3], "boost::asio::detail")),
    ("the rest of the gateway's own code", lambda f: within(f, "og::")),
    ("other user space", lambda f: True),
]


def main(path):
    counts = collections.Counter()
    total = 0
    with open(path) as f:
        samples = f.read().split("\n\n")
    for sample in samples:
        lines = [line.strip() for line in sample.strip().split("\n") if line.strip()]
        if len(lines) < 2:
            continue
        frames = []
        for line in lines[1:]:  # the first line is the thread's name
            address, _, symbol = line.partition(" ")
            frames.append(("[k] " if address.startswith("ffffffff") else "") + symbol)
        total += 1
        for name, test in BUCKETS:
            if test(frames):
                counts[name] += 1
                break
    if total == 0:
        sys.exit(f"{path}: no samples (was it written by `perf script -F comm,ip,sym`?)")
    print("| where | share |\n|---|---|")
    for name, _ in BUCKETS:
        print(f"| {name} | {100.0 * counts[name] / total:.1f}% |")
    print(f"\n{total} samples")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
