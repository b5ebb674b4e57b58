// Smooth weighted round-robin, as nginx does it: over any window of sum(weights) consecutive
// picks every host is chosen exactly `weight` times, interleaved rather than in bursts (weights
// 5/1/1 give a a b a c a a, not a a a a a b c).
#ifndef OLLAMA_GATEWAY_BALANCER_ROUND_ROBIN_H_
#define OLLAMA_GATEWAY_BALANCER_ROUND_ROBIN_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "balancer/policy.h"

namespace og::balancer {

// The schedule is computed once, when the picker is built: one full period of nginx's algorithm,
// sum(weights)/gcd(weights) picks long. A pick is then one atomic increment and an array read,
// so request threads never contend on a lock.
//
// Building costs O(period * log(hosts)) amortized, where nginx's own loop is O(period * hosts):
// 1,000 hosts of weights 1..10 (period 5,500) build in ~0.6 ms, of weights 1..1000 (period
// 500,500) in ~50 ms (bench/README.md). A period longer than kMaxSchedulePeriod, which weights of
// at most 1000 reach only with more than 1,048 hosts, is not stored: picks then walk the period
// with a golden-ratio stride instead, which still gives every host exactly `weight` picks per
// period, evenly spread, but not in nginx's order.
class RoundRobinPicker final : public Picker {
 public:
  // Longest period stored as a table (4 MiB of host indices).
  static constexpr std::uint64_t kMaxSchedulePeriod = std::uint64_t{1} << 20;

  explicit RoundRobinPicker(std::shared_ptr<const HostSet> hosts);

  // Returns the next host of the schedule. An excluded host is skipped by moving on along the
  // schedule; after a few steps without luck the first non-excluded host in index order (from the
  // schedule's position) is taken, so a pick costs O(hosts) at worst, never O(period). Returns
  // no host when every host is excluded or the pool is empty. Thread-safe, lock-free, no
  // allocation.
  PickResult Pick(const PickContext& context) const override;

  // Picks per period: sum(weights)/gcd(weights), 0 for an empty pool.
  std::uint64_t period() const { return period_; }
  // One period of the schedule as host indices, in nginx's order. Empty when period() exceeds
  // kMaxSchedulePeriod.
  const std::vector<std::uint32_t>& schedule() const { return schedule_; }

 private:
  std::size_t HostAt(std::uint64_t position) const;
  std::size_t FirstAvailableFrom(std::size_t host, const PickContext& context) const;

  std::shared_ptr<const HostSet> hosts_;
  std::uint64_t period_ = 0;
  std::vector<std::uint32_t> schedule_;
  // Only for periods past kMaxSchedulePeriod: position p of the period belongs to the host whose
  // range [cumulative_[i], cumulative_[i+1]) holds (p * stride_) mod period_.
  std::vector<std::uint64_t> cumulative_;
  std::uint64_t stride_ = 1;
  mutable std::atomic<std::uint64_t> next_{0};
};

}  // namespace og::balancer

#endif  // OLLAMA_GATEWAY_BALANCER_ROUND_ROBIN_H_
