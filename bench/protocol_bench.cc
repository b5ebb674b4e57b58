// Micro-benchmark of og::ParseOllamaChunk, which every NDJSON line a backend streams goes through:
// the cost of one line, and how many heap allocations it makes, for the lines an Ollama stream is
// made of (a token of /api/generate, its final line with the metrics and the context, a token and
// the final line of /api/chat). Run: build/bin/protocol_bench.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <string>

#include "absl/strings/str_cat.h"
#include "gateway/upstream/ollama_protocol.h"

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

}  // namespace
}  // namespace og

BENCHMARK_MAIN();
