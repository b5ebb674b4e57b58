// Micro-benchmarks of the per-line and per-call work of the request path, with the heap
// allocations each makes:
// - og::ParseOllamaChunk, which every NDJSON line a backend streams goes through, for the lines
//   an Ollama stream is made of (a token of /api/generate, its final line with the metrics and
//   the context, a token and the final line of /api/chat);
// - the metric updates of one call, through og::Metrics (series cached per thread) and, as the
//   baseline, through prometheus-cpp's Family::Add as the gateway made them before;
// - the answer of a non-streamed /api/generate call built from its final line, spliced
//   (OllamaAggregate::Body) and, as the baseline, through nlohmann (RebuiltBody).
// Run: build/bin/protocol_bench.
#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>

#include "absl/strings/str_cat.h"
#include "gateway/frontdoor/http/answers.h"
#include "gateway/telemetry/metrics.h"
#include "gateway/upstream/ollama_protocol.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

// Every operator new of the process is counted, per thread, so that a benchmark can report the
// allocations one parse makes (the parse runs on the benchmark's thread). The array and nothrow
// forms of libstdc++ call these; the delete operators only pair with them.
namespace {
thread_local std::uint64_t allocations = 0;
}  // namespace

// Not inlined, neither the delete operators: GCC would see free() called on what operator new
// returned, or operator delete on what malloc() returned, and warn of a mismatch
// (-Wmismatched-new-delete) that is none.
[[gnu::noinline]] void* operator new(std::size_t size) {
  ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new(std::size_t size, std::align_val_t align) {
  ++allocations;
  const auto alignment = static_cast<std::size_t>(align);
  const std::size_t rounded = (size + alignment - 1) / alignment * alignment;
  if (void* p = std::aligned_alloc(alignment, rounded == 0 ? alignment : rounded)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t, std::align_val_t) noexcept {
  std::free(p);
}

namespace og {
namespace {

constexpr char kGenerateToken[] =
    R"({"model":"llama3.2","created_at":"2026-11-29T15:15:56.954879883Z","response":" sky",)"
    R"("done":false})";

constexpr char kChatToken[] =
    R"({"model":"llama3.2","created_at":"2026-11-29T15:15:56.954879883Z",)"
    R"("message":{"role":"assistant","content":" sky"},"done":false})";

constexpr char kChatDone[] =
    R"({"model":"llama3.2","created_at":"2026-11-29T15:15:57.912345678Z",)"
    R"("message":{"role":"assistant","content":""},"done_reason":"stop","done":true,)"
    R"("total_duration":912345678,"load_duration":21034567,"prompt_eval_count":26,)"
    R"("prompt_eval_duration":130456789,"eval_count":40,"eval_duration":760123456})";

// The final line of /api/generate as Ollama sends it: the metrics, and the context (the token ids
// of the prompt and the answer, 26 + 40 here) that a client may send back to continue.
std::string GenerateDone() {
  std::string context;
  std::uint32_t token = 128000;
  for (int i = 0; i < 66; ++i) {
    token = (token * 1103515245u + 12345u) % 128256u;
    absl::StrAppend(&context, i == 0 ? "" : ",", token);
  }
  return absl::StrCat(
      R"({"model":"llama3.2","created_at":"2026-11-29T15:15:57.912345678Z","response":"",)",
      R"("done":true,"done_reason":"stop","context":[)", context,
      R"(],"total_duration":912345678,"load_duration":21034567,"prompt_eval_count":26,)",
      R"("prompt_eval_duration":130456789,"eval_count":40,"eval_duration":760123456})");
}

// Each line into a fresh chunk, as CallPath::OnLine parses it.
void BM_ParseOllamaChunk(benchmark::State& state, const std::string& line,
                         OllamaEndpoint endpoint) {
  OllamaChunk check;
  if (!ParseOllamaChunk(line, endpoint, &check).ok()) {
    state.SkipWithError("the benchmark's line does not parse");
    return;
  }
  const std::uint64_t allocations_before = allocations;
  for (auto _ : state) {
    OllamaChunk chunk;
    benchmark::DoNotOptimize(ParseOllamaChunk(line, endpoint, &chunk));
    benchmark::DoNotOptimize(chunk);
  }
  state.counters["allocs_per_line"] = benchmark::Counter(
      static_cast<double>(allocations - allocations_before), benchmark::Counter::kAvgIterations);
  state.counters["bytes_per_line"] = static_cast<double>(line.size());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * line.size()));
}
BENCHMARK_CAPTURE(BM_ParseOllamaChunk, generate_token, std::string(kGenerateToken),
                  OllamaEndpoint::kGenerate);
BENCHMARK_CAPTURE(BM_ParseOllamaChunk, generate_done, GenerateDone(), OllamaEndpoint::kGenerate);
BENCHMARK_CAPTURE(BM_ParseOllamaChunk, chat_token, std::string(kChatToken), OllamaEndpoint::kChat);
BENCHMARK_CAPTURE(BM_ParseOllamaChunk, chat_done, std::string(kChatDone), OllamaEndpoint::kChat);

// The metric updates of one finished unary call (authorization, one attempt, time to first
// token, prompt and completion tokens, the request and its duration), through og::Metrics.
void BM_CallMetrics(benchmark::State& state) {
  Metrics metrics;
  const auto record = [&metrics] {
    metrics.RecordAuthorization("http", "predict", "allow");
    metrics.RecordAttempt("gpu-a", "ok");
    metrics.RecordTimeToFirstToken("llama3.2:latest", std::chrono::milliseconds(3));
    metrics.RecordTokens("llama3.2:latest", 26, 10);
    metrics.RecordRequest("http", "llama3.2:latest", "gpu-a", "OK", std::chrono::milliseconds(4));
  };
  record();  // the series exist, as they do in a gateway under load
  const std::uint64_t allocations_before = allocations;
  for (auto _ : state) record();
  state.counters["allocs_per_call"] = benchmark::Counter(
      static_cast<double>(allocations - allocations_before), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_CallMetrics);

// The same seven updates through Family::Add, each building its label map and locking its
// family: what og::Metrics did before it cached the series.
void BM_CallMetricsFamilyAdd(benchmark::State& state) {
  prometheus::Registry registry;
  auto& authorizations = prometheus::BuildCounter().Name("a").Register(registry);
  auto& attempts = prometheus::BuildCounter().Name("b").Register(registry);
  auto& ttft = prometheus::BuildHistogram().Name("c").Register(registry);
  auto& tokens = prometheus::BuildCounter().Name("d").Register(registry);
  auto& requests = prometheus::BuildCounter().Name("e").Register(registry);
  auto& duration = prometheus::BuildHistogram().Name("f").Register(registry);
  const prometheus::Histogram::BucketBoundaries buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                           0.5,   1,    2.5,   5,    10,  20};
  const auto s = [](std::string_view v) { return std::string(v); };
  const auto record = [&] {
    authorizations.Add({{"frontend", s("http")}, {"action", s("predict")}, {"decision", "allow"}})
        .Increment();
    attempts.Add({{"backend", s("gpu-a")}, {"outcome", s("ok")}}).Increment();
    ttft.Add({{"model", s("llama3.2:latest")}}, buckets).Observe(0.003);
    tokens.Add({{"model", s("llama3.2:latest")}, {"direction", "prompt"}}).Increment(26);
    tokens.Add({{"model", s("llama3.2:latest")}, {"direction", "completion"}}).Increment(10);
    requests
        .Add({{"frontend", s("http")},
              {"model", s("llama3.2:latest")},
              {"backend", s("gpu-a")},
              {"code", s("OK")}})
        .Increment();
    duration.Add({{"frontend", s("http")}, {"model", s("llama3.2:latest")}}, buckets)
        .Observe(0.004);
  };
  record();
  const std::uint64_t allocations_before = allocations;
  for (auto _ : state) record();
  state.counters["allocs_per_call"] = benchmark::Counter(
      static_cast<double>(allocations - allocations_before), benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_CallMetricsFamilyAdd);

// The answer of a 10-token non-streamed generate, as the unary scenario of compare.py asks for:
// the text gathered, the final line (with its context) as the backend sent it.
void BM_GenerateAnswer(benchmark::State& state, bool spliced) {
  OllamaAggregate aggregate;
  OllamaChunk token;
  token.text = " sky";
  for (int i = 0; i < 10; ++i) aggregate.Add(HttpApi::kOllamaGenerate, token, kGenerateToken);
  OllamaChunk done;
  done.done = true;
  aggregate.Add(HttpApi::kOllamaGenerate, done, GenerateDone());
  const std::uint64_t allocations_before = allocations;
  for (auto _ : state) {
    std::string body = spliced ? aggregate.Body(HttpApi::kOllamaGenerate)
                               : aggregate.RebuiltBody(HttpApi::kOllamaGenerate);
    benchmark::DoNotOptimize(body);
  }
  state.counters["allocs_per_answer"] = benchmark::Counter(
      static_cast<double>(allocations - allocations_before), benchmark::Counter::kAvgIterations);
}
BENCHMARK_CAPTURE(BM_GenerateAnswer, spliced, true);
BENCHMARK_CAPTURE(BM_GenerateAnswer, nlohmann, false);

}  // namespace
}  // namespace og

BENCHMARK_MAIN();
