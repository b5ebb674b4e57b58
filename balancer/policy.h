// The load-balancing interface: what a policy sees of the backends and of a request, and what a
// pick returns. Policies are pure: no I/O, no clocks, no threads, no gRPC.
//
// A Picker is built from an immutable HostSet when the pool's membership or weights change, and is
// then shared by every request thread: Pick() is const, lock-free and does not allocate.
#ifndef OLLAMA_GATEWAY_BALANCER_POLICY_H_
#define OLLAMA_GATEWAY_BALANCER_POLICY_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/status/statusor.h"

namespace og::balancer {

// A backend as a policy sees it.
//
// Built with a constructor rather than as an aggregate so that `{name, weight, &in_flight}` keeps
// compiling, warning-free, as fields are added.
struct Host {
  Host() = default;
  Host(std::string name, std::uint32_t weight, const std::atomic<std::int64_t>* in_flight = nullptr,
       std::string hash_label = {})
      : name(std::move(name)),
        weight(weight),
        in_flight(in_flight),
        hash_label(std::move(hash_label)) {}

  std::string name;
  // Relative share of picks, >= 1.
  std::uint32_t weight = 1;
  // Requests now in flight on this backend. Owned and written by the backend's long-lived state
  // (which outlives every picker built over it); policies only read it, with relaxed loads. May
  // be null in tests of policies that do not look at load; a null counter reads as 0.
  const std::atomic<std::int64_t>* in_flight = nullptr;
  // The host's label on a ketama ring: the backend's `host:port`, or a configured hash_id so a
  // backend keeps its ring position when its address changes. Empty means `name`.
  std::string hash_label;
};

// A host's in-flight count as policies read it: a relaxed load, 0 for a null counter, clamped to
// [0, 2^32 - 1] so that products with 32-bit weights fit in 64 bits.
inline std::uint64_t ReadInFlight(const std::atomic<std::int64_t>* counter) {
  if (counter == nullptr) return 0;
  const std::int64_t value = counter->load(std::memory_order_relaxed);
  constexpr std::int64_t kMax = std::numeric_limits<std::uint32_t>::max();
  return static_cast<std::uint64_t>(value < 0 ? 0 : value > kMax ? kMax : value);
}

// The hosts of one pool, in a fixed order: a pick returns an index into it.
using HostSet = std::vector<Host>;

// A set of host indices, stored inline for pools of up to 256 hosts.
class HostMask {
 public:
  HostMask() = default;
  explicit HostMask(std::size_t hosts) : words_((hosts + 63) / 64, 0) {}
  void Set(std::size_t i) {
    if (i / 64 >= words_.size()) words_.resize(i / 64 + 1, 0);
    words_[i / 64] |= std::uint64_t{1} << (i % 64);
  }
  bool Test(std::size_t i) const {
    return i / 64 < words_.size() && (words_[i / 64] >> (i % 64)) & 1;
  }

 private:
  absl::InlinedVector<std::uint64_t, 4> words_;
};

// What a pick knows about the request.
struct PickContext {
  // The affinity key for hashing policies (empty when the request has none).
  std::string_view hash_key;
  // Hosts that must not be returned: already tried for this call, or not available now.
  const HostMask* excluded = nullptr;
  // Caller-provided randomness for tie-breaks, so picks are reproducible in tests.
  std::uint64_t random = 0;

  bool IsExcluded(std::size_t i) const { return excluded != nullptr && excluded->Test(i); }
};

// The outcome of a pick: a host, or none (every host excluded, or an empty pool).
struct PickResult {
  static constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t index = kNone;

  bool has_host() const { return index != kNone; }
};

// A policy instance over one HostSet.
class Picker {
 public:
  virtual ~Picker() = default;
  // Chooses a host for one request. Thread-safe; never blocks or allocates.
  virtual PickResult Pick(const PickContext& context) const = 0;
};

// Which policy to build over a pool, and its options. An option left at its default is off; an
// option set for a policy it does not apply to is an error (it would silently do nothing).
struct PolicyOptions {
  // One of KnownPolicyNames().
  std::string name = "round_robin";
  // least_connections only: 0 compares every host; 2 samples two distinct hosts and takes the
  // less loaded (power of two choices), for large pools.
  int choice_count = 0;
  // ketama only: 0 is off; a finite value >= 1 (e.g. 1.25) caps a host at that multiple of the
  // mean in-flight count, spilling its keys onward along the ring.
  double bounded_load_factor = 0;
};

}  // namespace og::balancer

#endif  // OLLAMA_GATEWAY_BALANCER_POLICY_H_
