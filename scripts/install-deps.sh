#!/usr/bin/env bash
# Installs the Debian bookworm packages ollama-gateway needs to build, test and run its demo.
# Idempotent and non-interactive: packages already present are skipped, so a second run is
# a no-op apart from the dpkg query. Must run as root (or with sudo available).
set -euo pipefail

packages=(
  # toolchain
  build-essential cmake ninja-build pkg-config git clang-format
  # fuzzing (scripts/fuzz.sh): clang 14, and its runtimes for libFuzzer, ASan and UBSan
  clang libclang-rt-14-dev
  # RPC and serialization
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  # runtime libraries
  libssl-dev libcurl4-openssl-dev libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  prometheus-cpp-dev libboost-dev libre2-dev
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
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# Debian's prometheus package enables and starts prometheus.service, listening on :9090, which
# is also the demo gateway's admin port (127.0.0.1:9090, scripts/demo.sh). The tests start their
# own Prometheus on a free port, so the system service is only in the way: stop it and keep it
# from starting at boot. Only where systemd runs (not in containers without it); done only when
# this run installed the package, so a service enabled on purpose later is left alone.
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
