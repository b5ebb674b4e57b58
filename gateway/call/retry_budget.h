// The retry budget: retries in progress at once stay below a share of the calls in progress,
// with a floor, so that when backends fail, retries cannot multiply the load on them.
#ifndef OLLAMA_GATEWAY_GATEWAY_CALL_RETRY_BUDGET_H_
#define OLLAMA_GATEWAY_GATEWAY_CALL_RETRY_BUDGET_H_

#include <algorithm>
#include <atomic>

namespace og {

class RetryBudget {
 public:
  static constexpr int kMinRetries = 3;

  // `percent` of the calls in progress, 0..100.
  explicit RetryBudget(int percent) : percent_(percent) {}

  // Takes a place among the retries in progress when fewer than
  // max(kMinRetries, active_calls * percent / 100) are; false when the budget is spent.
  // Thread-safe; never lets more in than the budget, however many threads race.
  bool TryAcquire(int active_calls) {
    const int budget = std::max(kMinRetries, active_calls * percent_ / 100);
    int current = in_progress_.load(std::memory_order_acquire);
    do {
      if (current >= budget) return false;
    } while (!in_progress_.compare_exchange_weak(current, current + 1, std::memory_order_acq_rel));
    return true;
  }
  // Gives back a place taken by TryAcquire.
  void Release() { in_progress_.fetch_sub(1, std::memory_order_acq_rel); }

  int in_progress() const { return in_progress_.load(std::memory_order_acquire); }

 private:
  const int percent_;
  std::atomic<int> in_progress_{0};
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_CALL_RETRY_BUDGET_H_
