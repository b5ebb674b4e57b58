#!/usr/bin/env bash
# Installs the Debian bookworm packages ollama-gateway needs to build, test and run its demo,
# then the npm packages of the JS client tests (tests/js: the official ollama, openai and @anthropic-ai/sdk clients, LangChain's ChatOllama).
# Idempotent and non-interactive: packages already present are skipped, so a second run is
# a no-op apart from the dpkg query and two file-time tests. Must run as root (or with sudo
# available).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang-format
  # fuzzing (scripts/fuzz.sh): clang 14, and its runtimes for libFuzzer, ASan and UBSan
  clang libclang-rt-14-dev
  # RPC and serialization
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  # runtime libraries
  libssl-dev libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  prometheus-cpp-dev libboost-dev libre2-dev libsimdjson-dev
  # tests and benchmarks
  catch2 libbenchmark-dev python3-grpcio python3-protobuf openssl curl procps
  # tests/integration/test_deploy.py parses the deploy/ manifests and runs
  # `systemd-analyze verify` on the unit
  python3-yaml systemd
  # HTTPS backends in tests/integration/test_tls.py: ollama-sim behind a TLS terminator
  stunnel4
  # a real Prometheus (and promtool) for tests/integration/test_prometheus.py: it scrapes a
  # gateway, evaluates every dashboard query and alert rule of deploy/, and checks the files
  prometheus
  # bench/compare.py (and test_compare, which runs it briefly): the reverse proxies it compares
  # the gateway with, its HTTP load generator, its plots
  nginx-light haproxy wrk gnuplot-nox
  # tests/integration/test_image.py: builds the container image's runtime stage with podman
  # on a debian:bookworm-slim base it makes with debootstrap (no registry is needed)
  podman debootstrap
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
apt_updated=""

if [ ${#missing[@]} -ne 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  $SUDO apt-get update -qq
  apt_updated=1
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's prometheus package enables and starts prometheus.service, listening on :9090, which
# is also the demo gateway's admin port (127.0.0.1:9090, scripts/demo.sh). The tests start their
# own Prometheus on a free port, so the system service is only in the way: stop it and keep it
# from starting at boot. Only where systemd runs (not in containers without it); done only when
# this run installed the package, so a service enabled on purpose later is left alone.
# nginx and HAProxy start system services the same way; bench/compare.py runs its own.
if [ -d /run/systemd/system ]; then
  for service in prometheus nginx haproxy; do
    if [[ " ${missing[*]} " == *" $service"[\ -]* ]]; then
      $SUDO systemctl disable --now "$service" >/dev/null 2>&1 || true
    fi
  done
fi

# Node.js and npm for tests/js (tests/integration runs the client drivers there with node). Tested
# by command rather than in the list above: a node from elsewhere (NodeSource's nodejs, which
# bundles npm and conflicts with Debian's npm package) is fine too. Debian bookworm's nodejs 18
# runs the pinned clients.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  node_pkgs=(npm)
  if ! command -v node >/dev/null 2>&1; then node_pkgs=(nodejs npm); fi
  echo "install-deps: installing ${node_pkgs[*]}" >&2
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; fi
  $SUDO apt-get install -y -qq --no-install-recommends "${node_pkgs[@]}" >/dev/null
fi

# The JS test dependencies, exactly as tests/js/package-lock.json pins them (from the npm
# registry). Only when node_modules is missing or older than the lock file: npm writes
# node_modules/.package-lock.json last, so an interrupted install is redone too.
js_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/js"
js_stamp="$js_dir/node_modules/.package-lock.json"
if [ ! -f "$js_stamp" ] || [ "$js_dir/package-lock.json" -nt "$js_stamp" ]; then
  echo "install-deps: npm ci in tests/js" >&2
  npm ci --prefix "$js_dir" --no-audit --no-fund --loglevel=error >/dev/null
fi
