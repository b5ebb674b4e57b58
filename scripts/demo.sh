#!/usr/bin/env bash
# The demo: builds everything, makes a throw-away CA and server certificate with openssl, starts
# three simulated Ollama backends and the gateway (TLS 1.3) with deploy/examples/demo.yaml,
# sends a few Predict calls with gatewayctl and two calls to its Ollama- and OpenAI-compatible
# HTTP front door with curl (printing each answer and the backend that served it), then leaves
# the gateway running until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)"

bin=build/bin
config=deploy/examples/demo.yaml
run_dir=$(mktemp -d /tmp/ollama-gateway-demo.XXXXXX)
pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo stopped; logs were in $run_dir"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 11501 11502 11503 50051 9090; do
  if port_busy "$port"; then
    echo "port $port is already in use: stop whatever listens there (an earlier demo?) and retry" >&2
    exit 1
  fi
done

# The certificates demo.yaml names. Made fresh at every run, never committed.
tls_dir=/tmp/ollama-gateway-demo/tls
mkdir -p "$tls_dir"
chmod 700 "$tls_dir"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 7 \
  -subj "/CN=ollama-gateway demo CA" -keyout "$tls_dir/ca.key" -out "$tls_dir/ca.crt" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=localhost" \
  -keyout "$tls_dir/server.key" -out "$tls_dir/server.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' \
  >"$tls_dir/server.ext"
openssl x509 -req -in "$tls_dir/server.csr" -CA "$tls_dir/ca.crt" -CAkey "$tls_dir/ca.key" \
  -CAcreateserial -days 7 -extfile "$tls_dir/server.ext" -out "$tls_dir/server.crt" 2>/dev/null
tls_flags=(--cacert "$tls_dir/ca.crt")

names=(gpu-a gpu-b gpu-c)
for i in 0 1 2; do
  "$bin/ollama-sim" --port $((11501 + i)) --name "${names[$i]}" --models llama3.2,qwen2.5 \
    --tokens 12 --token-delay-ms 10 --load-delay-ms 300 \
    >"$run_dir/${names[$i]}.out" 2>"$run_dir/${names[$i]}.log" &
  pids+=($!)
done

"$bin/ollama-gateway" --config "$config" >"$run_dir/gateway.out" 2>"$run_dir/gateway.log" &
pids+=($!)
for _ in $(seq 100); do
  grep -q '^listening' "$run_dir/gateway.out" 2>/dev/null && break
  if ! kill -0 "${pids[-1]}" 2>/dev/null; then
    echo "the gateway did not start:" >&2
    cat "$run_dir/gateway.log" >&2
    exit 1
  fi
  sleep 0.1
done
echo "gateway: $(cat "$run_dir/gateway.out")"
echo

prompts=("Why is the sky blue?" "Write a haiku about GPUs." "What is a load balancer?"
         "Name three prime numbers." "Explain consistent hashing." "Say hello.")
models=(llama3.2 llama3.2 qwen2.5 llama3.2 qwen2.5 llama3.2)
for i in "${!prompts[@]}"; do
  answer=$("$bin/gatewayctl" predict "${tls_flags[@]}" --target 127.0.0.1:50051 --model "${models[$i]}" \
             "${prompts[$i]}" 2>"$run_dir/ctl.err") || { cat "$run_dir/ctl.err" >&2; exit 1; }
  printf '> %s (%s)\n  %s\n  %s\n\n' "${prompts[$i]}" "${models[$i]}" "$answer" \
    "$(cat "$run_dir/ctl.err")"
done

# The same gateway through its HTTP front door, as an Ollama or OpenAI client would call it.
ollama_url=https://127.0.0.1:11500
printf '> curl %s/api/generate (Ollama API)\n  ' "$ollama_url"
curl -sS --cacert "$tls_dir/ca.crt" "$ollama_url/api/generate" \
  -d '{"model": "llama3.2", "prompt": "Say hello.", "stream": false}' -D "$run_dir/headers" |
  sed -e 's/.*"response":"\([^"]*\)".*/\1/'
printf '\n  %s\n\n' "$(grep -i '^x-gateway-backend' "$run_dir/headers" | tr -d '\r')"
printf '> curl %s/v1/chat/completions (OpenAI API)\n  ' "$ollama_url"
curl -sS --cacert "$tls_dir/ca.crt" "$ollama_url/v1/chat/completions" \
  -H 'Content-Type: application/json' -D "$run_dir/headers" \
  -d '{"model": "qwen2.5", "messages": [{"role": "user", "content": "What is a GPU?"}]}' |
  sed -e 's/.*"content":"\([^"]*\)".*/\1/'
printf '\n  %s\n\n' "$(grep -i '^x-gateway-backend' "$run_dir/headers" | tr -d '\r')"

echo "Metrics: http://127.0.0.1:9090/metrics   Health: http://127.0.0.1:9090/readyz"
echo "Backends and why each is in or out: curl -s http://127.0.0.1:9090/admin/backends"
echo "Try:     $bin/gatewayctl predict --cacert $tls_dir/ca.crt --target 127.0.0.1:50051 --model llama3.2 'your prompt'"
echo "HTTP:    OLLAMA_HOST=$ollama_url (Ollama clients), base URL $ollama_url/v1 (OpenAI clients); CA: $tls_dir/ca.crt"
echo "TLS:     openssl s_client -connect 127.0.0.1:50051 -tls1_3 -CAfile $tls_dir/ca.crt   (-tls1_2 is refused)"
echo "The gateway keeps running; press Ctrl-C to stop it and the simulators."
wait "${pids[-1]}"
