#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite (unit and integration).
#
#   bash scripts/test.sh            release build in build/ (the README's test command)
#   bash scripts/test.sh asan       the same suite under AddressSanitizer + UBSan (build-asan/)
#   bash scripts/test.sh tsan       the unit tests under ThreadSanitizer (build-tsan/): the threaded
#                                   core (upstream event loops, HTTP server, router, policies).
#                                   Integration tests are left out: Debian's gRPC is not built
#                                   with TSan, so the gateway's gRPC side only reports noise.
#
# Under CI=true warnings are errors.
set -euo pipefail
cd "$(dirname "$0")/.."
preset="${1:-release}"

bash scripts/install-deps.sh

werror=OFF
if [ "${CI:-}" = "true" ]; then werror=ON; fi
cmake --preset "$preset" -DOG_WERROR="$werror" >/dev/null
targets=()
ctest_args=(-LE soak)  # the soak test runs on its own: ctest --preset release -L soak
if [ "$preset" = tsan ]; then
  targets=(--target unit_tests)
  ctest_args=(-LE "integration|soak")
fi
cmake --build --preset "$preset" -j "$(nproc)" "${targets[@]}"

case "$preset" in
  asan|tsan) export OG_SANITIZER="$preset" ;;
esac
case "$preset" in
  asan)
    export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:strict_string_checks=1"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
    export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
    ;;
  tsan)
    export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/sanitizers/tsan.supp"
    ;;
esac
ctest --preset "$preset" -j "$(nproc)" "${ctest_args[@]}"
