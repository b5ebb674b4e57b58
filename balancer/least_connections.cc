#include "balancer/least_connections.h"

#include <algorithm>

namespace og::balancer {
namespace {

// A pick gets one 64-bit random value; SplitMix64 stretches it into as many as the pick needs,
// deterministically, so tests can pin outcomes.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}

  std::uint64_t Next() {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  // Uniform in [0, bound) for bound >= 1 (multiply-shift: no division, bias below 2^-64 * bound).
  std::uint64_t Below(std::uint64_t bound) {
    __extension__ using Wide = unsigned __int128;
    return static_cast<std::uint64_t>((Wide{Next()} * Wide{bound}) >> 64);
  }

 private:
  std::uint64_t state_;
};

// Whether load_a / weight_a < load_b / weight_b. Loads (ReadInFlight) and weights are below
// 2^32, so the products fit.
bool LessLoaded(std::uint64_t load_a, std::uint64_t weight_a, std::uint64_t load_b,
                std::uint64_t weight_b) {
  return load_a * weight_b < load_b * weight_a;
}

// Sampling tries before falling back to a linear probe, which is biased toward hosts that
// follow excluded ones but always terminates.
constexpr int kSampleTries = 4;

}  // namespace

LeastConnectionsPicker::LeastConnectionsPicker(std::shared_ptr<const HostSet> hosts,
                                               int choice_count)
    : hosts_(std::move(hosts)), choice_count_(choice_count == 2 ? 2 : 0) {
  slots_.reserve(hosts_->size());
  for (const Host& h : *hosts_) slots_.push_back(Slot{h.in_flight, std::max(h.weight, 1u)});
}

std::uint64_t LeastConnectionsPicker::Load(std::size_t host) const {
  return ReadInFlight(slots_[host].in_flight);
}

PickResult LeastConnectionsPicker::Pick(const PickContext& context) const {
  if (choice_count_ == 2) return PickOfTwo(context);
  return PickFromAll(context);
}

PickResult LeastConnectionsPicker::PickFromAll(const PickContext& context) const {
  SplitMix64 random(context.random);
  std::size_t best = PickResult::kNone;
  std::uint64_t best_load = 0;
  std::uint64_t best_weight = 1;
  std::uint64_t tied_weight = 0;  // total weight of the hosts tied with `best`
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (context.IsExcluded(i)) continue;
    const std::uint64_t load = Load(i);
    const std::uint64_t weight = slots_[i].weight;
    // load / weight against best_load / best_weight; both products fit (see LessLoaded).
    const std::uint64_t mine = load * best_weight;
    const std::uint64_t theirs = best_load * weight;
    if (best == PickResult::kNone || mine < theirs) {
      best = i;
      best_load = load;
      best_weight = weight;
      tied_weight = weight;
      continue;
    }
    if (mine > theirs) continue;
    // A tie: weighted reservoir sampling keeps each tied host with probability weight / total.
    tied_weight += weight;
    if (random.Below(tied_weight) < weight) {
      best = i;
      best_load = load;
      best_weight = weight;
    }
  }
  return PickResult{best};
}

PickResult LeastConnectionsPicker::PickOfTwo(const PickContext& context) const {
  const std::size_t n = slots_.size();
  SplitMix64 random(context.random);
  // A uniformly random non-excluded host other than `avoid` (kNone for no constraint).
  auto sample = [&](std::size_t avoid) -> std::size_t {
    const std::size_t choices = avoid == PickResult::kNone ? n : n - 1;
    if (choices == 0) return PickResult::kNone;
    for (int t = 0; t < kSampleTries; ++t) {
      std::size_t i = random.Below(choices);
      if (avoid != PickResult::kNone && i >= avoid) ++i;
      if (!context.IsExcluded(i)) return i;
    }
    const std::size_t start = random.Below(n);
    for (std::size_t step = 0; step < n; ++step) {
      const std::size_t i = (start + step) % n;
      if (i != avoid && !context.IsExcluded(i)) return i;
    }
    return PickResult::kNone;
  };
  const std::size_t a = sample(PickResult::kNone);
  if (a == PickResult::kNone) return {};
  const std::size_t b = sample(a);
  if (b == PickResult::kNone) return PickResult{a};

  const std::uint64_t load_a = Load(a);
  const std::uint64_t load_b = Load(b);
  const std::uint64_t weight_a = slots_[a].weight;
  const std::uint64_t weight_b = slots_[b].weight;
  if (LessLoaded(load_a, weight_a, load_b, weight_b)) return PickResult{a};
  if (LessLoaded(load_b, weight_b, load_a, weight_a)) return PickResult{b};
  return PickResult{random.Below(weight_a + weight_b) < weight_a ? a : b};
}

}  // namespace og::balancer
