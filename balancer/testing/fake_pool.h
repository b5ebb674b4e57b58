// Test-only: a pool of fake hosts with in-flight counters a test can set, for unit tests and
// benchmarks of the balancer policies. Header-only; not part of og_balancer.
#ifndef OLLAMA_GATEWAY_BALANCER_TESTING_FAKE_POOL_H_
#define OLLAMA_GATEWAY_BALANCER_TESTING_FAKE_POOL_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <string>

#include "balancer/policy.h"

namespace og::balancer::testing {

// Plays the gateway's long-lived backend state: each host's counter lives here, at a stable
// address, and hosts() hands out HostSet snapshots pointing at them. Not thread-safe to modify.
class FakePool {
 public:
  FakePool() = default;
  // Moving keeps the counters where they are (a deque hands over its blocks), so host sets
  // taken before the move stay valid.
  FakePool(FakePool&&) = default;
  FakePool& operator=(FakePool&&) = default;
  FakePool(const FakePool&) = delete;
  FakePool& operator=(const FakePool&) = delete;

  // Adds a host; its ketama label is `hash_label`, or its name when empty.
  FakePool& Add(std::string name, std::uint32_t weight = 1, std::string hash_label = {}) {
    in_flight_.emplace_back(0);
    hosts_.emplace_back(std::move(name), weight, &in_flight_.back(), std::move(hash_label));
    return *this;
  }

  void SetInFlight(std::size_t host, std::int64_t count) {
    in_flight_[host].store(count, std::memory_order_relaxed);
  }

  // A snapshot of the hosts added so far, in the order added.
  std::shared_ptr<const HostSet> hosts() const { return std::make_shared<const HostSet>(hosts_); }

  const std::string& name(std::size_t host) const { return hosts_[host].name; }
  std::size_t size() const { return hosts_.size(); }

 private:
  std::deque<std::atomic<std::int64_t>> in_flight_;  // a deque never moves its elements
  HostSet hosts_;
};

}  // namespace og::balancer::testing

#endif  // OLLAMA_GATEWAY_BALANCER_TESTING_FAKE_POOL_H_
