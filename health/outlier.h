// Passive outlier detection: a backend that fails live calls several times in a row is ejected
// (kept out of rotation) for a time that grows with each ejection, as Envoy does. Active checks
// run every few seconds; this reacts within a handful of calls, so a backend that answers 500 to
// every generation stops taking traffic before any check notices.
//
// This object only counts and remembers; whether an ejection is allowed (the share of a pool
// already ejected) is the owner's decision, which sees the pools.
#ifndef OLLAMA_GATEWAY_HEALTH_OUTLIER_H_
#define OLLAMA_GATEWAY_HEALTH_OUTLIER_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "common/clock.h"

namespace og::health {

struct OutlierOptions {
  // Failures in a row that call for an ejection; 0 turns detection off.
  int consecutive_failures = 5;
  std::chrono::milliseconds base_ejection_time{30000};
  std::chrono::milliseconds max_ejection_time{300000};
};

// The outlier state of one backend. Counting is lock-free (it runs on every call's completion);
// Eject is called by the owner, serialized by it.
class OutlierDetector {
 public:
  explicit OutlierDetector(const Clock& clock) : clock_(clock) {}

  // A successful answer (any status other than 5xx): the failure streak ends.
  void OnSuccess() {
    if (failures_.load(std::memory_order_relaxed) != 0) {
      failures_.store(0, std::memory_order_relaxed);
    }
  }
  // A failed call; true when the streak reached `threshold` (> 0) and the backend is not
  // ejected already, so the owner should consider ejecting it.
  bool OnFailure(int threshold) {
    const int failures = failures_.fetch_add(1, std::memory_order_relaxed) + 1;
    return threshold > 0 && failures >= threshold && !Ejected();
  }

  // True while an ejection lasts. Lock-free.
  bool Ejected() const {
    return clock_.Now().time_since_epoch().count() < until_.load(std::memory_order_relaxed);
  }

  // Ejects the backend for base * (times ejected), capped at max, and returns that time. The
  // count starts over when the previous ejection ended at least max_ejection_time ago, so a
  // backend that misbehaved long ago is not punished for it. Serialized by the caller.
  std::chrono::milliseconds Eject(const OutlierOptions& options) {
    const Clock::TimePoint now = clock_.Now();
    const Clock::TimePoint last_end{Clock::TimePoint::duration(until_.load())};
    int times = times_.load(std::memory_order_relaxed);
    if (times > 0 && now - last_end >= options.max_ejection_time) times = 0;
    times_.store(++times, std::memory_order_relaxed);
    auto hold = options.base_ejection_time * times;
    hold = std::min<std::chrono::milliseconds>(hold, options.max_ejection_time);
    until_.store((now + hold).time_since_epoch().count(), std::memory_order_relaxed);
    failures_.store(0, std::memory_order_relaxed);
    total_.fetch_add(1, std::memory_order_relaxed);
    return hold;
  }

  // When the current (or last) ejection ends; the epoch when there was none.
  Clock::TimePoint ejected_until() const {
    return Clock::TimePoint(Clock::TimePoint::duration(until_.load(std::memory_order_relaxed)));
  }
  int consecutive_failures() const { return failures_.load(std::memory_order_relaxed); }
  // Ejections so far (for the admin view).
  std::uint64_t total_ejections() const { return total_.load(std::memory_order_relaxed); }
  // The multiplier of the current or last ejection.
  int times_ejected() const { return times_.load(std::memory_order_relaxed); }

 private:
  const Clock& clock_;
  std::atomic<int> failures_{0};
  std::atomic<Clock::TimePoint::rep> until_{0};
  std::atomic<std::uint64_t> total_{0};
  std::atomic<int> times_{0};
};

}  // namespace og::health

#endif  // OLLAMA_GATEWAY_HEALTH_OUTLIER_H_
