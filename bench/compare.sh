#!/usr/bin/env bash
# One command for the side-by-side comparison (bench/README.md): installs nginx, HAProxy, wrk
# and gnuplot next to the project's own dependencies, builds the release binaries and runs
# bench/compare.py with the flags given here (--help lists them). Results go to bench/results/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh --bench
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
exec /usr/bin/python3 bench/compare.py "$@"
