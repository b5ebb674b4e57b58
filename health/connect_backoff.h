// Passive protection against backends that refuse connections: after a connect failure the
// backend is kept out of rotation for a short, growing time, so live traffic stops paying a
// failed attempt (and a retry) on every call to a dead host. A successful exchange clears it.
//
// This is the first, connection-level piece of passive health; active checks and full outlier
// detection build on top of it.
#ifndef OLLAMA_GATEWAY_HEALTH_CONNECT_BACKOFF_H_
#define OLLAMA_GATEWAY_HEALTH_CONNECT_BACKOFF_H_

#include <atomic>
#include <chrono>
#include <cstdint>

#include "common/clock.h"

namespace og::health {

class ConnectBackoff {
 public:
  struct Options {
    std::chrono::milliseconds initial{500};
    std::chrono::milliseconds max{10000};
  };

  ConnectBackoff(const Clock& clock, Options options) : clock_(clock), options_(options) {}
  explicit ConnectBackoff(const Clock& clock) : ConnectBackoff(clock, Options{}) {}

  // True when the backend may be offered traffic now. Thread-safe, lock-free.
  bool Available() const {
    return clock_.Now().time_since_epoch().count() >=
           blocked_until_.load(std::memory_order_relaxed);
  }

  // While held out, lets one call at a time through as a probe (a circuit breaker's
  // half-open state), so a backend that came back is used again at once instead of after the
  // rest of its hold-out. True when the caller holds the probe; it ends with the attempt's
  // OnConnectFailure, OnSuccess or ReleaseProbe. Lock-free.
  bool TryAcquireProbe() {
    bool expected = false;
    return probe_in_flight_.compare_exchange_strong(expected, true, std::memory_order_acq_rel);
  }
  void ReleaseProbe() { probe_in_flight_.store(false, std::memory_order_release); }

  // Records a failed connect: the backend is held out for initial * 2^(failures-1), capped.
  // Returns the hold-out time applied.
  std::chrono::milliseconds OnConnectFailure() {
    const std::uint32_t failures = failures_.fetch_add(1, std::memory_order_relaxed) + 1;
    std::chrono::milliseconds hold = options_.initial;
    for (std::uint32_t i = 1; i < failures && hold < options_.max; ++i) hold *= 2;
    if (hold > options_.max) hold = options_.max;
    const auto until = clock_.Now() + hold;
    blocked_until_.store(until.time_since_epoch().count(), std::memory_order_relaxed);
    ReleaseProbe();
    return hold;
  }

  // Records a successful exchange with the backend: it is available again at once.
  void OnSuccess() {
    if (failures_.load(std::memory_order_relaxed) == 0) return;  // the common case: no writes
    ReleaseProbe();
    failures_.store(0, std::memory_order_relaxed);
    blocked_until_.store(0, std::memory_order_relaxed);
  }

  std::uint32_t consecutive_failures() const { return failures_.load(std::memory_order_relaxed); }

 private:
  const Clock& clock_;
  const Options options_;
  std::atomic<std::uint32_t> failures_{0};
  std::atomic<Clock::TimePoint::rep> blocked_until_{0};
  std::atomic<bool> probe_in_flight_{false};
};

}  // namespace og::health

#endif  // OLLAMA_GATEWAY_HEALTH_CONNECT_BACKOFF_H_
