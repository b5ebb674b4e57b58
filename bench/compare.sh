#!/usr/bin/env bash
# One command for the side-by-side comparison (bench/README.md): installs the project's
# dependencies (nginx, HAProxy, wrk and gnuplot among them), builds the release binaries and runs
# bench/compare.py with the flags given here (--help lists them). Results go to bench/results/.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"
exec /usr/bin/python3 bench/compare.py "$@"
