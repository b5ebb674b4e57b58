#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ (the `fuzz` preset: clang, ASan + UBSan, build-fuzz/) and
# runs each for SECONDS (default 60). Fails when any target crashes, leaks, times out or runs out
# of memory, printing the input that did it and the command that reproduces it.
#
#   bash scripts/fuzz.sh            every target, 60 s each (what CI runs)
#   bash scripts/fuzz.sh 600        every target, 10 minutes each
#   OG_FUZZ_TARGETS=ndjson_fuzzer bash scripts/fuzz.sh 3600     one target, an hour
#
# Per target: first every input of fuzz/regressions/<target>/ is run once (each must pass), then
# the fuzzer starts from the seeds of fuzz/corpus/<target>/ copied to a temporary directory, so the
# repository is never written. OG_FUZZ_KEEP=1 keeps that directory (the grown corpus, the logs)
# after a passing run. Under CI=true warnings are errors.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: bash scripts/fuzz.sh [SECONDS]   (whole seconds per target, at least 1)" >&2
  exit 2
fi
read -r -a targets <<<"${OG_FUZZ_TARGETS:-config_fuzzer ndjson_fuzzer ollama_response_fuzzer http_protocol_fuzzer http_connection_fuzzer}"

# Longest input per target: a realistic config file is a few KiB; NDJSON lines and error bodies
# need only be long enough to reach the limits and truncations (the 300-byte quote of an error);
# front-door bodies must fit deep JSON nesting, and a client's byte stream must get past the
# request reader's caps (64 KiB of headers, a 4 KiB chunk line, 8 KiB of trailers).
max_len_of() {
  case "$1" in
    config_fuzzer) echo 8192 ;;
    ollama_response_fuzzer) echo 2048 ;;
    http_protocol_fuzzer | http_connection_fuzzer) echo 65536 ;;
    *) echo 4096 ;;
  esac
}
# libFuzzer's options shared by the regression runs and the fuzzing: one input may take 10 s and
# 2 GiB at most.
limits=(-timeout=10 -rss_limit_mb=2048)
# libFuzzer's own timeout handler runs in a signal handler and allocates; when the alarm lands
# inside ASan's allocator it deadlocks, so a hung process is killed from outside as well.
grace=120

bash scripts/install-deps.sh

werror=OFF
if [ "${CI:-}" = "true" ]; then werror=ON; fi
cmake --preset fuzz -DOG_WERROR="$werror" >/dev/null
build_started=$SECONDS
cmake --build --preset fuzz -j 2
echo "fuzz: built the fuzz targets in $((SECONDS - build_started)) s"

work=$(mktemp -d "${TMPDIR:-/tmp}/og-fuzz.XXXXXX")
failed=0
summary=()
# Report leaks, abort (not exit) on a report so that libFuzzer keeps the input, and a stack for
# every UBSan report; options already in the environment come after, so they win.
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:symbolize=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

# The first line of a log that says what went wrong.
reason_in() {
  grep -m 1 -E '^SUMMARY: |ERROR: libFuzzer: |invariant broken at ' "$1" || echo "exit status $2"
}

# Runs every regression input of $1 once; sets `regressions` to how many passed of how many.
run_regressions() {
  local target=$1 binary=$2 dir="fuzz/regressions/$1" passed=0 total=0 input log status
  regressions="0/0"
  [ -d "$dir" ] || return 0
  for input in "$dir"/*; do
    [ -f "$input" ] || continue
    total=$((total + 1))
    log="$work/$target/regression-$(basename "$input").log"
    status=0
    timeout -k 10 $((10 + grace)) "$binary" "${limits[@]}" "$root/$input" >"$log" 2>&1 || status=$?
    if [ "$status" -eq 0 ]; then
      passed=$((passed + 1))
      continue
    fi
    failed=1
    {
      tail -n 60 "$log"
      echo "fuzz: $target FAILED on the regression input $input: $(reason_in "$log" "$status")"
      echo "fuzz: reproduce with: $binary $root/$input"
    } >&2
  done
  regressions="$passed/$total"
}

for target in "${targets[@]}"; do
  binary="$root/build-fuzz/bin/$target"
  if [ ! -x "$binary" ]; then
    echo "fuzz: no such target $target (is it in fuzz/CMakeLists.txt?)" >&2
    exit 2
  fi
  corpus="$work/$target/corpus"
  artifacts="$work/$target/artifacts/"
  log="$work/$target/fuzz.log"
  mkdir -p "$corpus" "$artifacts"
  cp -- "fuzz/corpus/$target"/* "$corpus"/
  max_len=$(max_len_of "$target")

  echo
  echo "=== $target: regressions, then ${seconds} s from $(find "$corpus" -type f | wc -l) seeds"
  run_regressions "$target" "$binary"

  status=0
  (cd "$work/$target" && timeout -k 10 $((seconds + grace)) "$binary" -max_total_time="$seconds" \
    -max_len="$max_len" "${limits[@]}" -print_final_stats=1 -artifact_prefix="$artifacts" \
    "$corpus") >"$log" 2>&1 || status=$?
  crash=$(find "$artifacts" -type f | head -n 1)
  # The final stats come only when the run ends normally; otherwise the last status line
  # ("#12345 NEW ...") tells how far it got.
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ -z "$runs" ]; then runs=$(grep -o '^#[0-9]*' "$log" | tail -n 1 | tr -d '#' || true); fi
  speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  line="$target: exit $status, ${runs:-?} runs in ${seconds} s (${speed:-?} exec/s), regressions passed $regressions"

  if [ "$status" -eq 0 ] && [ -z "$crash" ]; then
    tail -n 8 "$log"
    if [ "${regressions%/*}" != "${regressions#*/}" ]; then line="$line: FAILED"; fi
  else
    failed=1
    line="$line: FAILED"
    tail -n 100 "$log"
    if [ "$status" -eq 124 ] || [ "$status" -eq 137 ]; then
      echo "fuzz: $target hung and was killed after $((seconds + grace)) s (the input is lost)" >&2
    else
      echo "fuzz: $target FAILED: $(reason_in "$log" "$status")" >&2
    fi
    echo "fuzz: full log: $log" >&2
    if [ -n "$crash" ]; then
      echo "fuzz: the input that did it: $crash" >&2
      echo "fuzz: reproduce with: $binary $crash" >&2
      echo "fuzz: once fixed, keep it: cp $crash fuzz/regressions/$target/<what-it-is>" >&2
    fi
  fi
  summary+=("$line")
done

echo
echo "=== fuzz summary"
printf '%s\n' "${summary[@]}"
if [ "$failed" -ne 0 ]; then
  echo "fuzz: FAILED; inputs and logs are in $work" >&2
  exit 1
fi
if [ "${OG_FUZZ_KEEP:-}" = 1 ]; then
  echo "fuzz: all passed; corpus and logs kept in $work"
else
  rm -rf "$work"
  echo "fuzz: all passed"
fi
