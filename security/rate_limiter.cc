#include "security/rate_limiter.h"

#include <algorithm>
#include <cmath>
#include <optional>

namespace og::security {
namespace {

// Interval and tolerance are clamped here (about 36 years) so that neither they nor a theoretical
// arrival time (at most now + tolerance + interval) can overflow 64 bits, whatever the config.
constexpr std::int64_t kMaxSpanNs = std::int64_t{1} << 60;

std::int64_t IntervalNs(double rate) {
  if (!(rate > 0)) return kMaxSpanNs;  // also NaN: a bucket that never refills
  const double interval = 1e9 / rate;
  if (interval >= static_cast<double>(kMaxSpanNs)) return kMaxSpanNs;
  return std::max<std::int64_t>(1, std::llround(interval));
}

std::int64_t ToleranceNs(std::int64_t interval_ns, int burst) {
  const std::int64_t tokens = std::max(burst, 1);
  if (interval_ns > kMaxSpanNs / tokens) return kMaxSpanNs;
  return interval_ns * tokens;
}

std::int64_t Nanoseconds(Clock::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

}  // namespace

TokenBucket::TokenBucket(double rate, int burst)
    : interval_ns_(IntervalNs(rate)), tolerance_ns_(ToleranceNs(interval_ns_, burst)) {}

std::chrono::nanoseconds TokenBucket::TryTake(Clock::TimePoint now) {
  const std::int64_t now_ns = Nanoseconds(now);
  // Relaxed is enough: the arrival time publishes no other data, and compare-and-swap on one
  // atomic already orders every taker in its modification order.
  std::int64_t tat = tat_ns_.load(std::memory_order_relaxed);
  while (true) {
    // An idle bucket's arrival time lies in the past; starting from `now` instead is what keeps
    // it from banking more than `burst` tokens.
    const std::int64_t next = std::max(tat, now_ns) + interval_ns_;
    const std::int64_t excess = next - now_ns - tolerance_ns_;
    if (excess > 0) return std::chrono::nanoseconds(excess);
    if (tat_ns_.compare_exchange_weak(tat, next, std::memory_order_relaxed)) {
      return std::chrono::nanoseconds(0);
    }
  }
}

StreamPermit::StreamPermit(StreamPermit&& other) noexcept : counter_(std::move(other.counter_)) {}

StreamPermit& StreamPermit::operator=(StreamPermit&& other) noexcept {
  if (this != &other) {
    Release();
    counter_ = std::move(other.counter_);
  }
  return *this;
}

void StreamPermit::Release() {
  if (counter_ == nullptr) return;
  counter_->fetch_sub(1, std::memory_order_acq_rel);
  counter_.reset();
}

struct RateLimiter::State {
  explicit State(const RateLimit& applied) : limit(applied) {
    // A zero rate means "no rate limit", not a bucket that never refills.
    if (limit.requests_per_second > 0) bucket.emplace(limit.requests_per_second, limit.burst);
    if (limit.max_concurrent_streams > 0) streams = std::make_shared<std::atomic<int>>(0);
  }

  // A place under the cap, or false. A CAS loop rather than add-then-undo, so a caller that is
  // refused never makes the count look higher to the others for a moment.
  bool TakeStreamPlace() {
    int in_progress = streams->load(std::memory_order_acquire);
    while (in_progress < limit.max_concurrent_streams) {
      if (streams->compare_exchange_weak(in_progress, in_progress + 1, std::memory_order_acq_rel)) {
        return true;
      }
    }
    return false;
  }

  const RateLimit limit;
  std::optional<TokenBucket> bucket;
  // Shared with the permits, so one can release its place after this state (or the limiter) is
  // gone.
  std::shared_ptr<std::atomic<int>> streams;
};

RateLimiter::RateLimiter(const Clock& clock, std::size_t max_identities)
    : clock_(clock), max_identities_(max_identities) {}

void RateLimiter::Configure(RateLimit default_limit,
                            std::map<std::string, RateLimit> per_identity) {
  std::lock_guard<std::mutex> lock(mu_);
  default_limit_ = default_limit;
  limits_.clear();
  for (const auto& [identity, limit] : per_identity) limits_.emplace(identity, limit);

  // A state whose limit changed is dropped; the identity's next call creates a fresh one.
  for (auto it = states_.begin(); it != states_.end();) {
    const auto own = limits_.find(it->first);
    const RateLimit& limit = own == limits_.end() ? default_limit_ : own->second;
    it = it->second->limit == limit ? std::next(it) : states_.erase(it);
  }
  if (overflow_ != nullptr && overflow_->limit != default_limit_) overflow_.reset();
}

std::shared_ptr<RateLimiter::State> RateLimiter::StateOf(std::string_view identity) {
  std::lock_guard<std::mutex> lock(mu_);
  if (const auto it = states_.find(identity); it != states_.end()) return it->second;
  const auto own = limits_.find(identity);
  if (own == limits_.end() && states_.size() >= max_identities_) {
    if (overflow_ == nullptr) overflow_ = std::make_shared<State>(default_limit_);
    return overflow_;
  }
  auto state = std::make_shared<State>(own == limits_.end() ? default_limit_ : own->second);
  states_.emplace(std::string(identity), state);
  return state;
}

Admission RateLimiter::Admit(std::string_view identity, bool stream) {
  const std::shared_ptr<State> state = StateOf(identity);
  Admission admission;
  admission.limit = state->limit;
  // The stream place comes first because it can be given back: a call refused for its rate
  // leaves the stream count as it was, while a token once taken stays taken.
  if (stream && state->streams != nullptr) {
    if (!state->TakeStreamPlace()) {
      admission.decision = RateDecision::kTooManyStreams;
      return admission;
    }
    admission.permit = StreamPermit(state->streams);
  }
  if (state->bucket.has_value()) {
    const std::chrono::nanoseconds wait = state->bucket->TryTake(clock_.Now());
    if (wait > std::chrono::nanoseconds::zero()) {
      admission.permit.Release();
      admission.decision = RateDecision::kRateExceeded;
      admission.retry_after = wait;
    }
  }
  return admission;
}

std::size_t RateLimiter::tracked_identities() const {
  std::lock_guard<std::mutex> lock(mu_);
  return states_.size();
}

}  // namespace og::security
