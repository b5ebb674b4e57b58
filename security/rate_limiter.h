// Per-identity rate limits: a request rate with a burst (a token bucket, implemented as GCRA on
// one atomic) and a cap on streams in progress. Time comes from an injected Clock.
#ifndef OLLAMA_GATEWAY_SECURITY_RATE_LIMITER_H_
#define OLLAMA_GATEWAY_SECURITY_RATE_LIMITER_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "common/clock.h"

namespace og::security {

struct RateLimit {
  // Sustained requests per second; 0 means no rate limit.
  double requests_per_second = 0;
  // Requests allowed at once above the sustained rate (the bucket's size), >= 1 when a rate is
  // set.
  int burst = 1;
  // Streams (PredictStream calls) in progress at once; 0 means no cap.
  int max_concurrent_streams = 0;

  bool operator==(const RateLimit&) const = default;
};

// A token bucket of `burst` tokens refilled at `rate` per second, as the generic cell rate
// algorithm: one atomic "theoretical arrival time", updated with compare-and-swap. Thread-safe,
// lock-free.
class TokenBucket {
 public:
  // rate > 0, burst >= 1. The bucket starts full.
  TokenBucket(double rate, int burst);

  // Takes one token at `now`: returns zero when taken, else how long until one is available
  // (nothing is taken then).
  std::chrono::nanoseconds TryTake(Clock::TimePoint now);

 private:
  const std::int64_t interval_ns_;   // 1 / rate
  const std::int64_t tolerance_ns_;  // burst * interval
  std::atomic<std::int64_t> tat_ns_{INT64_MIN};
};

// Why a call was refused.
enum class RateDecision { kAllowed, kRateExceeded, kTooManyStreams };

class RateLimiter;

// Holds one stream place of an identity until destroyed (or Release()d). Movable.
class StreamPermit {
 public:
  StreamPermit() = default;
  StreamPermit(StreamPermit&& other) noexcept;
  StreamPermit& operator=(StreamPermit&& other) noexcept;
  ~StreamPermit() { Release(); }
  void Release();

 private:
  friend class RateLimiter;
  explicit StreamPermit(std::shared_ptr<std::atomic<int>> counter) : counter_(std::move(counter)) {}
  std::shared_ptr<std::atomic<int>> counter_;
};

struct Admission {
  RateDecision decision = RateDecision::kAllowed;
  // kRateExceeded: how long until a request would be allowed.
  std::chrono::nanoseconds retry_after{0};
  // The limit that applied, for the caller's message.
  RateLimit limit;
  // kAllowed for a stream under a stream cap: its place, held until the stream ends.
  StreamPermit permit;
};

// Limits per identity: `per_identity` entries, else the default. Identities are created on first
// use (an mTLS identity need not be in the config); their state (tokens, streams in progress)
// survives Configure() while their limit stays the same, and starts afresh (a full bucket, no
// stream counted) when it changes. Streams admitted under the old state keep their permits, which
// release into that state, not the new one.
//
// Memory is bounded: at most `max_identities` identities without a per-identity entry are
// tracked. Past that, every identity not yet tracked shares one overflow state under the default
// limit (one bucket and one stream count for all of them), so a flood of new names cannot grow
// the maps. Identities with a per-identity entry are always tracked apart (the config bounds
// them), so a flood cannot push them onto the default limit. Thread-safe.
class RateLimiter {
 public:
  explicit RateLimiter(const Clock& clock, std::size_t max_identities = 100000);

  void Configure(RateLimit default_limit, std::map<std::string, RateLimit> per_identity);

  // Decides one call of `identity` now; `stream` calls also take a stream place.
  Admission Admit(std::string_view identity, bool stream);

  // Identities tracked now, each with its own state (for tests and metrics); the shared overflow
  // state counts for none.
  std::size_t tracked_identities() const;

 private:
  struct State;
  std::shared_ptr<State> StateOf(std::string_view identity);

  const Clock& clock_;
  const std::size_t max_identities_;
  mutable std::mutex mu_;  // guards the maps and overflow_, not the states' atomics
  RateLimit default_limit_;
  std::map<std::string, RateLimit, std::less<>> limits_;
  std::map<std::string, std::shared_ptr<State>, std::less<>> states_;
  std::shared_ptr<State> overflow_;  // created on first use past max_identities_
};

}  // namespace og::security

#endif  // OLLAMA_GATEWAY_SECURITY_RATE_LIMITER_H_
