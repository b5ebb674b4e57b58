#include "balancer/round_robin.h"

#include <algorithm>
#include <limits>
#include <numeric>

namespace og::balancer {
namespace {

// At step t (1-based) of nginx's algorithm every host's current weight is t * w_i - P * c_i,
// where P is the period and c_i the host's picks so far; the step picks the largest (the lowest
// index on a tie) and subtracts P from it. So each host is a line in t whose intercept drops by
// P when it is picked, and a step asks for the top line at t. A kinetic tournament tree answers
// that without touching every host per step: each node keeps the winner of its subtree at the
// current time and the earliest time that winner can be overtaken, so advancing time only
// revisits subtrees whose winner actually changes.
struct Line {
  std::int64_t intercept;
  std::int64_t slope;
  std::uint32_t host;

  std::int64_t At(std::int64_t t) const { return intercept + slope * t; }
};

// Whether `a` wins over `b` at time t: larger value, lower host index on a tie (nginx scans in
// index order and keeps the first maximum).
bool Beats(const Line& a, const Line& b, std::int64_t t) {
  const std::int64_t va = a.At(t);
  const std::int64_t vb = b.At(t);
  return va > vb || (va == vb && a.host < b.host);
}

constexpr std::int64_t kNever = std::numeric_limits<std::int64_t>::max();

// The first time after `now` at which `loser` beats `winner`, given that it does not at `now`.
std::int64_t OvertakeTime(const Line& winner, const Line& loser) {
  if (loser.slope <= winner.slope) return kNever;
  // winner.At(now) >= loser.At(now) with now >= 0 makes both of these non-negative.
  const std::int64_t gap = winner.intercept - loser.intercept;
  const std::int64_t closing = loser.slope - winner.slope;
  // From then on the loser is ahead when t * closing > gap, or level with the lower index.
  if (loser.host < winner.host) return (gap + closing - 1) / closing;
  return gap / closing + 1;
}

class KineticMax {
 public:
  explicit KineticMax(const std::vector<std::int64_t>& slopes) {
    leaves_ = 1;
    while (leaves_ < slopes.size()) leaves_ *= 2;
    // Padding leaves never win: a huge negative constant, below any real line's value.
    const Line padding{std::numeric_limits<std::int64_t>::min() / 4, 0,
                       std::numeric_limits<std::uint32_t>::max()};
    nodes_.assign(2 * leaves_, Node{padding, kNever});
    for (std::size_t i = 0; i < slopes.size(); ++i) {
      nodes_[leaves_ + i].best = Line{0, slopes[i], static_cast<std::uint32_t>(i)};
    }
    for (std::size_t n = leaves_ - 1; n >= 1; --n) Combine(n);
  }

  // Moves time forward to t (never backward) and returns the top line there.
  const Line& TopAt(std::int64_t t) {
    now_ = t;
    Refresh(1);
    return nodes_[1].best;
  }

  void LowerIntercept(std::uint32_t host, std::int64_t by) {
    std::size_t n = leaves_ + host;
    nodes_[n].best.intercept -= by;
    for (n /= 2; n >= 1; n /= 2) Combine(n);
  }

 private:
  struct Node {
    Line best;
    std::int64_t melt;  // earliest time at which `best` may stop being the subtree's top
  };

  void Combine(std::size_t n) {
    const Node& left = nodes_[2 * n];
    const Node& right = nodes_[2 * n + 1];
    const bool left_wins = Beats(left.best, right.best, now_);
    const Line& winner = left_wins ? left.best : right.best;
    const Line& loser = left_wins ? right.best : left.best;
    nodes_[n].best = winner;
    nodes_[n].melt = std::min({left.melt, right.melt, OvertakeTime(winner, loser)});
  }

  void Refresh(std::size_t n) {
    if (nodes_[n].melt > now_) return;  // leaves never melt, so this stops above them
    Refresh(2 * n);
    Refresh(2 * n + 1);
    Combine(n);
  }

  std::size_t leaves_ = 1;
  std::int64_t now_ = 0;
  std::vector<Node> nodes_;
};

std::vector<std::uint32_t> BuildSchedule(const std::vector<std::int64_t>& weights,
                                         std::int64_t period) {
  KineticMax lines(weights);
  std::vector<std::uint32_t> schedule;
  schedule.reserve(static_cast<std::size_t>(period));
  for (std::int64_t step = 1; step <= period; ++step) {
    const std::uint32_t host = lines.TopAt(step).host;
    schedule.push_back(host);
    lines.LowerIntercept(host, period);
  }
  return schedule;
}

// A step coprime with the period near period / golden ratio: multiples of it visit every
// position once per period and, by the three-distance theorem, spread evenly.
std::uint64_t GoldenStride(std::uint64_t period) {
  std::uint64_t stride = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(static_cast<double>(period) * 0.6180339887498949));
  while (std::gcd(stride, period) != 1) ++stride;
  return stride;
}

// How far along the schedule an excluded host is skipped before falling back to index order.
constexpr std::size_t kMaxScheduleWalk = 16;

}  // namespace

RoundRobinPicker::RoundRobinPicker(std::shared_ptr<const HostSet> hosts)
    : hosts_(std::move(hosts)) {
  const HostSet& set = *hosts_;
  if (set.empty()) return;
  // Dividing by the gcd keeps the period as short as the proportions allow.
  std::uint64_t divisor = 0;
  for (const Host& h : set) divisor = std::gcd(divisor, std::uint64_t{std::max(h.weight, 1u)});
  std::vector<std::int64_t> weights(set.size());
  for (std::size_t i = 0; i < set.size(); ++i) {
    weights[i] = static_cast<std::int64_t>(std::max(set[i].weight, 1u) / divisor);
    period_ += static_cast<std::uint64_t>(weights[i]);
  }
  if (period_ <= kMaxSchedulePeriod) {
    schedule_ = BuildSchedule(weights, static_cast<std::int64_t>(period_));
    return;
  }
  cumulative_.resize(set.size() + 1, 0);
  for (std::size_t i = 0; i < set.size(); ++i) {
    cumulative_[i + 1] = cumulative_[i] + static_cast<std::uint64_t>(weights[i]);
  }
  stride_ = GoldenStride(period_);
}

std::size_t RoundRobinPicker::HostAt(std::uint64_t position) const {
  if (!schedule_.empty()) return schedule_[position % period_];
  // The period is past 2^20 but below 2^64, so the product needs 128 bits.
  __extension__ using Wide = unsigned __int128;
  const auto spot =
      static_cast<std::uint64_t>(Wide{position % period_} * Wide{stride_} % Wide{period_});
  const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), spot);
  return static_cast<std::size_t>(it - cumulative_.begin()) - 1;
}

std::size_t RoundRobinPicker::FirstAvailableFrom(std::size_t host,
                                                 const PickContext& context) const {
  const std::size_t n = hosts_->size();
  for (std::size_t step = 0; step < n; ++step) {
    const std::size_t candidate = (host + step) % n;
    if (!context.IsExcluded(candidate)) return candidate;
  }
  return PickResult::kNone;
}

PickResult RoundRobinPicker::Pick(const PickContext& context) const {
  if (period_ == 0) return {};
  const std::uint64_t start = next_.fetch_add(1, std::memory_order_relaxed);
  const std::size_t first = HostAt(start);
  if (!context.IsExcluded(first)) return PickResult{first};
  // Walking on along the schedule keeps the proportions among the remaining hosts; a short walk
  // suffices unless most hosts are excluded, and then index order bounds the cost.
  const std::uint64_t walk = std::min<std::uint64_t>(period_, kMaxScheduleWalk);
  for (std::uint64_t step = 1; step < walk; ++step) {
    const std::size_t host = HostAt(start + step);
    if (!context.IsExcluded(host)) return PickResult{host};
  }
  return PickResult{FirstAvailableFrom(first, context)};
}

}  // namespace og::balancer
