// The vocabulary of active health checks: the three tiers, a tier's timing and thresholds, and
// the rise/fall state machine each (backend, tier) runs. Pure logic, no I/O and no clock.
#ifndef OLLAMA_GATEWAY_HEALTH_TIER_H_
#define OLLAMA_GATEWAY_HEALTH_TIER_H_

#include <chrono>
#include <cstdint>

namespace og::health {

// Tier 1 proves the backend accepts connections, tier 2 that its API answers (and which models
// it has), tier 3 that a model really generates.
enum class Tier : std::uint8_t { kConnect, kApi, kInference };
const char* TierName(Tier tier);

enum class State : std::uint8_t { kUnknown, kHealthy, kUnhealthy };
const char* StateName(State state);

// One tier's timing and thresholds (the configuration's health.connect, .api, .inference).
struct TierOptions {
  // A disabled tier is never checked and always counts as passing.
  bool enabled = true;
  // Time between the starts of two checks of one backend. Each wait is shortened by a random
  // amount in [0, jitter], so checks of many backends spread out and a failure is still noticed
  // within interval * unhealthy_threshold + timeout.
  std::chrono::milliseconds interval{5000};
  // A check not finished within this counts as failed; below interval.
  std::chrono::milliseconds timeout{1000};
  // 0 <= jitter < interval.
  std::chrono::milliseconds jitter{0};
  // 1..100 each.
  int healthy_threshold = 2;
  int unhealthy_threshold = 3;
};

// Rise/fall thresholds of one (backend, tier): `unhealthy_threshold` failures in a row make a
// healthy tier unhealthy, `healthy_threshold` successes in a row make an unhealthy one healthy.
// The first result decides at once: a backend that just appeared is neither kept out for
// several intervals nor trusted before anything is known about it. Not thread-safe.
class Thresholds {
 public:
  // Records one result; returns true when the state changed.
  bool Record(bool ok, int healthy_threshold, int unhealthy_threshold) {
    if (ok) {
      ++successes_;
      failures_ = 0;
    } else {
      ++failures_;
      successes_ = 0;
    }
    const State before = state_;
    if (state_ == State::kUnknown) {
      state_ = ok ? State::kHealthy : State::kUnhealthy;
    } else if (state_ == State::kHealthy && failures_ >= unhealthy_threshold) {
      state_ = State::kUnhealthy;
    } else if (state_ == State::kUnhealthy && successes_ >= healthy_threshold) {
      state_ = State::kHealthy;
    }
    return state_ != before;
  }
  State state() const { return state_; }
  int consecutive_successes() const { return successes_; }
  int consecutive_failures() const { return failures_; }

 private:
  State state_ = State::kUnknown;
  int successes_ = 0;
  int failures_ = 0;
};

}  // namespace og::health

#endif  // OLLAMA_GATEWAY_HEALTH_TIER_H_
