// Least connections: send each request to the host with the fewest requests in flight relative
// to its weight, so a host of weight 3 is as "full" with 3 requests as a host of weight 1 with 1.
#ifndef OLLAMA_GATEWAY_BALANCER_LEAST_CONNECTIONS_H_
#define OLLAMA_GATEWAY_BALANCER_LEAST_CONNECTIONS_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "balancer/policy.h"

namespace og::balancer {

// Reads each host's `in_flight` counter (relaxed loads; a null counter reads as 0) and compares
// in_flight / weight by cross-multiplication, so no floating point is involved.
//
// Ties (for instance an idle pool, where every host has 0 in flight) go to a random tied host,
// chosen with probability proportional to its weight from PickContext::random: weights still
// shape traffic when requests are short and load rarely builds up, as nginx's least_conn does by
// breaking ties with weighted round-robin. The same `random` always gives the same pick.
//
// choice_count 0 compares every non-excluded host: O(hosts) per pick, one counter read each.
// choice_count 2 is "power of two choices": it samples two distinct non-excluded hosts and takes
// the less loaded relative to weight, O(1) per pick and nearly as good as a full scan on large
// pools. Its sample is uniform, so on an idle pool weights act only through the tie-break.
class LeastConnectionsPicker final : public Picker {
 public:
  // `choice_count` is 0 or 2 (MakePicker checks; any other value is treated as 0).
  explicit LeastConnectionsPicker(std::shared_ptr<const HostSet> hosts, int choice_count = 0);

  // Returns the least loaded non-excluded host, or no host when all are excluded or the pool is
  // empty. Thread-safe, lock-free, no allocation.
  PickResult Pick(const PickContext& context) const override;

  int choice_count() const { return choice_count_; }

 private:
  // What a pick reads of a host, packed so a full scan walks one small array.
  struct Slot {
    const std::atomic<std::int64_t>* in_flight;
    std::uint64_t weight;
  };

  PickResult PickFromAll(const PickContext& context) const;
  PickResult PickOfTwo(const PickContext& context) const;
  std::uint64_t Load(std::size_t host) const;

  std::shared_ptr<const HostSet> hosts_;
  std::vector<Slot> slots_;
  int choice_count_;
};

}  // namespace og::balancer

#endif  // OLLAMA_GATEWAY_BALANCER_LEAST_CONNECTIONS_H_
