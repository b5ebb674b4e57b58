// Time as every timed component sees it. Nothing timed calls std::chrono's now() directly: it
// is handed a Clock, so tests drive it with FakeClock in simulated time, without sleeping.
#ifndef OLLAMA_GATEWAY_COMMON_CLOCK_H_
#define OLLAMA_GATEWAY_COMMON_CLOCK_H_

#include <atomic>
#include <chrono>

namespace og {

class Clock {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  // Monotonic time. Thread-safe.
  virtual TimePoint Now() const = 0;
};

// The real monotonic clock.
class SystemClock final : public Clock {
 public:
  TimePoint Now() const override { return std::chrono::steady_clock::now(); }
  // A process-wide instance; it has no state, so sharing it is free.
  static const SystemClock& Get() {
    static const SystemClock clock;
    return clock;
  }
};

// A clock that moves only when told to. Thread-safe.
class FakeClock final : public Clock {
 public:
  TimePoint Now() const override {
    return TimePoint(std::chrono::steady_clock::duration(now_.load(std::memory_order_acquire)));
  }
  void Advance(std::chrono::steady_clock::duration d) {
    now_.fetch_add(d.count(), std::memory_order_acq_rel);
  }

 private:
  // Starts an hour in, so "zero" never looks like a real time.
  std::atomic<std::chrono::steady_clock::rep> now_{
      std::chrono::steady_clock::duration(std::chrono::hours(1)).count()};
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_COMMON_CLOCK_H_
