// Micro-benchmarks of the security room's per-call costs: verifying an API key against 1 to 1,000
// stored hashes, taking a token (alone and contended), admitting a call of a known identity, and
// redacting a 1 KiB and a 64 KiB prompt with three typical rules. Run: build/bin/security_bench.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "security/api_keys.h"
#include "security/rate_limiter.h"
#include "security/redactor.h"

namespace og::security {
namespace {

// Every call hashes every entry, so where the matching key sits does not matter; the last entry
// is used.
void BM_ApiKeyVerify(benchmark::State& state) {
  const auto count = static_cast<std::size_t>(state.range(0));
  std::vector<ApiKeyStore::Entry> entries;
  std::string last_key;
  for (std::size_t i = 0; i < count; ++i) {
    last_key = GenerateApiKey();
    entries.push_back({absl::StrCat("identity-", i), HashApiKeyWithRandomSalt(last_key)});
  }
  const ApiKeyStore store(std::move(entries));
  for (auto _ : state) benchmark::DoNotOptimize(store.Verify(last_key));
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(count));
}
BENCHMARK(BM_ApiKeyVerify)->Arg(1)->Arg(10)->Arg(100)->Arg(1000);

// A rate no benchmark can exhaust, so every call takes the compare-and-swap path; the time
// includes reading the system clock, as the gateway does on each call.
void BM_TokenBucketTryTake(benchmark::State& state) {
  static TokenBucket bucket(1e9, 1000000);  // shared by the threads of the 2-thread run
  const Clock& clock = SystemClock::Get();
  for (auto _ : state) benchmark::DoNotOptimize(bucket.TryTake(clock.Now()));
}
BENCHMARK(BM_TokenBucketTryTake)->Threads(1)->Threads(2)->UseRealTime();

// 1,000 identities tracked, one of them admitted again and again (a rate and a stream cap set).
void BM_RateLimiterAdmit(benchmark::State& state) {
  RateLimiter limiter(SystemClock::Get());
  RateLimit limit;
  limit.requests_per_second = 1e9;
  limit.burst = 1000000;
  limit.max_concurrent_streams = 1000;
  limiter.Configure(limit, {});
  for (int i = 0; i < 1000; ++i) limiter.Admit(absl::StrCat("identity-", i), false);
  const bool stream = state.range(0) != 0;
  for (auto _ : state) benchmark::DoNotOptimize(limiter.Admit("identity-500", stream));
}
BENCHMARK(BM_RateLimiterAdmit)->ArgName("stream")->Arg(0)->Arg(1);

std::unique_ptr<Redactor> TypicalRedactor() {
  auto redactor = Redactor::Create({
      {"email", R"([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})", "[EMAIL]"},
      {"phone", R"(\b\d{3}[ .-]\d{3}[ .-]\d{4}\b)", "[PHONE]"},
      {"national_id", R"(\b\d{9}\b)", "[ID]"},
  });
  return redactor.ok() ? std::move(*redactor) : nullptr;
}

// English-looking prose of `size` bytes; with `sensitive`, every fourth sentence carries an
// e-mail address, a phone number or a 9-digit ID (about one match per 250 bytes).
std::string Prompt(std::size_t size, bool sensitive) {
  static constexpr const char* kPlain[] = {
      "Please summarize the following meeting notes in three short bullet points. ",
      "The quarterly review covered revenue, hiring plans and the new office layout. ",
      "Action items were assigned to the platform team with a deadline next Friday. ",
  };
  static constexpr const char* kSensitive[] = {
      "Send the draft to maria.lopez@example.com before noon. ",
      "Call the vendor at 415-555-0132 about the invoice. ",
      "Her employee number is 123456789 in the HR system. ",
  };
  std::string text;
  for (std::size_t i = 0; text.size() < size; ++i) {
    text += sensitive && i % 4 == 3 ? kSensitive[(i / 4) % 3] : kPlain[i % 3];
  }
  text.resize(size);
  return text;
}

// The prompt is copied into the string Redact rewrites on every iteration, as the gateway
// redacts the request's own copy; the copy is a few percent of the time at most.
void BM_Redact(benchmark::State& state) {
  const std::unique_ptr<Redactor> redactor = TypicalRedactor();
  if (redactor == nullptr) {
    state.SkipWithError("the typical rules do not compile");
    return;
  }
  const std::string prompt =
      Prompt(static_cast<std::size_t>(state.range(0)), /*sensitive=*/state.range(1) != 0);
  std::string text;
  std::vector<std::size_t> counts;
  for (auto _ : state) {
    text = prompt;
    benchmark::DoNotOptimize(redactor->Redact(&text, &counts));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(prompt.size()));
  std::size_t total = 0;
  for (std::size_t n : counts) total += n;
  state.counters["matches"] = static_cast<double>(total);
}
BENCHMARK(BM_Redact)
    ->ArgNames({"bytes", "sensitive"})
    ->Args({1024, 0})
    ->Args({1024, 1})
    ->Args({65536, 0})
    ->Args({65536, 1});

}  // namespace
}  // namespace og::security

BENCHMARK_MAIN();
