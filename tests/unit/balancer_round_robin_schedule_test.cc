// The fast schedule construction of RoundRobinPicker against nginx's own loop, and the long-period
// fallback.
#include <catch2/catch.hpp>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "balancer/policy.h"
#include "balancer/round_robin.h"
#include "balancer/testing/fake_pool.h"

namespace og::balancer {
namespace {

using testing::FakePool;

// nginx's smooth weighted round-robin, step by step, O(hosts) per pick, over the weights reduced
// by their gcd: the reference the picker must reproduce exactly.
std::vector<std::uint32_t> NaiveSchedule(std::vector<std::int64_t> weights) {
  std::int64_t divisor = 0;
  for (std::int64_t w : weights) divisor = std::gcd(divisor, w);
  std::int64_t total = 0;
  for (std::int64_t& w : weights) total += (w /= divisor);
  std::vector<std::int64_t> current(weights.size(), 0);
  std::vector<std::uint32_t> schedule;
  for (std::int64_t step = 0; step < total; ++step) {
    std::size_t best = 0;
    for (std::size_t i = 0; i < weights.size(); ++i) {
      current[i] += weights[i];
      if (current[i] > current[best]) best = i;
    }
    current[best] -= total;
    schedule.push_back(static_cast<std::uint32_t>(best));
  }
  return schedule;
}

std::shared_ptr<const HostSet> HostsWithWeights(const std::vector<std::int64_t>& weights) {
  auto hosts = std::make_shared<HostSet>();
  for (std::size_t i = 0; i < weights.size(); ++i) {
    hosts->emplace_back(absl::StrCat("h", i), static_cast<std::uint32_t>(weights[i]));
  }
  return hosts;
}

TEST_CASE("the schedule equals nginx's step-by-step result on random small pools", "[balancer]") {
  std::mt19937 random(20240611);
  for (int trial = 0; trial < 2000; ++trial) {
    const std::size_t hosts = 1 + random() % 12;
    const std::int64_t max_weight = 1 + random() % (trial % 2 == 0 ? 5 : 40);
    std::vector<std::int64_t> weights(hosts);
    for (std::int64_t& w : weights) w = 1 + static_cast<std::int64_t>(random() % max_weight);
    RoundRobinPicker picker(HostsWithWeights(weights));
    INFO("trial " << trial << ", " << hosts << " hosts");
    REQUIRE(picker.schedule() == NaiveSchedule(weights));
  }
}

TEST_CASE("the schedule equals nginx's on pools with many equal weights and a few heavy hosts",
          "[balancer]") {
  // Equal slopes never overtake one another, so ties are decided by index alone: the case a
  // kinetic structure is most likely to get wrong.
  std::vector<std::int64_t> weights(64, 3);
  weights[5] = 50;
  weights[40] = 51;
  weights[63] = 7;
  RoundRobinPicker picker(HostsWithWeights(weights));
  CHECK(picker.schedule() == NaiveSchedule(weights));
}

TEST_CASE("the schedule of 1,000 hosts with weights 1..10 equals nginx's", "[balancer]") {
  std::vector<std::int64_t> weights(1000);
  for (std::size_t i = 0; i < weights.size(); ++i)
    weights[i] = 1 + static_cast<std::int64_t>(i % 10);
  RoundRobinPicker picker(HostsWithWeights(weights));
  CHECK(picker.period() == 5500);
  CHECK(picker.schedule() == NaiveSchedule(weights));
}

TEST_CASE("a single host makes a one-entry schedule", "[balancer]") {
  RoundRobinPicker picker(HostsWithWeights({7}));
  CHECK(picker.schedule() == std::vector<std::uint32_t>{0});
  CHECK(picker.Pick(PickContext{}).index == 0);
}

TEST_CASE(
    "a period past the table limit is not stored, yet each host gets exactly its weight "
    "per period",
    "[balancer]") {
  // Coprime weights, so the gcd cannot shorten the period below the limit.
  const std::int64_t heavy = 786433;
  const std::int64_t light = 262144;
  RoundRobinPicker picker(HostsWithWeights({heavy, light}));
  REQUIRE(picker.period() == RoundRobinPicker::kMaxSchedulePeriod + 1);
  CHECK(picker.schedule().empty());

  std::int64_t heavy_picks = 0;
  std::int64_t window_heavy = 0;
  std::int64_t worst_window_error = 0;
  for (std::uint64_t i = 0; i < picker.period(); ++i) {
    const bool is_heavy = picker.Pick(PickContext{}).index == 0;
    heavy_picks += is_heavy;
    window_heavy += is_heavy;
    if ((i + 1) % 1000 == 0) {
      // 3/4 of 1000 expected; the golden-ratio stride keeps every window close to it.
      worst_window_error = std::max(worst_window_error, std::abs(window_heavy - 750));
      window_heavy = 0;
    }
  }
  CHECK(heavy_picks == heavy);
  CHECK(worst_window_error <= 5);
}

TEST_CASE("given all but one host excluded, a long schedule still finds that host at once",
          "[balancer]") {
  FakePool pool;
  for (int i = 0; i < 200; ++i) pool.Add(absl::StrCat("h", i), i == 150 ? 1 : 1000);
  RoundRobinPicker picker(pool.hosts());
  HostMask excluded(200);
  for (std::size_t i = 0; i < 200; ++i) {
    if (i != 150) excluded.Set(i);
  }
  const PickContext context{{}, &excluded, 0};
  for (int i = 0; i < 50; ++i) CHECK(picker.Pick(context).index == 150);
}

TEST_CASE("an excluded host is passed over to the next host of the schedule", "[balancer]") {
  FakePool pool;
  pool.Add("a", 2).Add("b", 1).Add("c", 1);
  RoundRobinPicker picker(pool.hosts());
  HostMask excluded(3);
  excluded.Set(0);
  const PickContext context{{}, &excluded, 0};
  REQUIRE(picker.schedule() == std::vector<std::uint32_t>{0, 1, 2, 0});
  // Positions 0 and 3 hold "a": the first goes to "b" after it, the last wraps past the next
  // period's "a" to its "b".
  std::string seq;
  for (int i = 0; i < 8; ++i) seq += pool.name(picker.Pick(context).index);
  CHECK(seq == "bbcbbbcb");
}

}  // namespace
}  // namespace og::balancer
