#include <catch2/catch.hpp>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "balancer/least_connections.h"
#include "balancer/policy.h"
#include "balancer/testing/fake_pool.h"

namespace og::balancer {
namespace {

using testing::FakePool;

// Picks `n` times with random values 0..n-1, counting picks per host name ("-" for none).
std::map<std::string, int> CountPicks(const Picker& picker, const FakePool& pool, int n,
                                      const HostMask* excluded = nullptr) {
  std::map<std::string, int> counts;
  for (int i = 0; i < n; ++i) {
    const PickResult r = picker.Pick(PickContext{{}, excluded, static_cast<std::uint64_t>(i)});
    counts[r.has_host() ? pool.name(r.index) : "-"]++;
  }
  return counts;
}

// Picks `n` times, each pick adding one request in flight on the chosen host (none finish).
std::map<std::string, int> FillUp(const Picker& picker, FakePool& pool, int n) {
  std::map<std::string, std::int64_t> in_flight;
  std::map<std::string, int> counts;
  for (int i = 0; i < n; ++i) {
    const PickResult r = picker.Pick(PickContext{{}, nullptr, static_cast<std::uint64_t>(i)});
    REQUIRE(r.has_host());
    counts[pool.name(r.index)]++;
    pool.SetInFlight(r.index, ++in_flight[pool.name(r.index)]);
  }
  return counts;
}

TEST_CASE("least connections picks the host with the fewest requests in flight", "[balancer]") {
  FakePool pool;
  pool.Add("a").Add("b").Add("c");
  pool.SetInFlight(0, 5);
  pool.SetInFlight(1, 1);
  pool.SetInFlight(2, 3);
  LeastConnectionsPicker picker(pool.hosts());
  CHECK(CountPicks(picker, pool, 100) == std::map<std::string, int>{{"b", 100}});
}

TEST_CASE("least connections steers new requests away from a loaded host until it evens out",
          "[balancer]") {
  FakePool pool;
  pool.Add("a").Add("b").Add("c");
  pool.SetInFlight(0, 10);
  LeastConnectionsPicker picker(pool.hosts());
  CHECK(FillUp(picker, pool, 20) == std::map<std::string, int>{{"b", 10}, {"c", 10}});
}

TEST_CASE("least connections compares load relative to weight", "[balancer]") {
  FakePool pool;
  pool.Add("heavy", 3).Add("light", 1);
  // 2/3 < 1/1: the heavy host is less full although it has more in flight.
  pool.SetInFlight(0, 2);
  pool.SetInFlight(1, 1);
  LeastConnectionsPicker picker(pool.hosts());
  CHECK(CountPicks(picker, pool, 50) == std::map<std::string, int>{{"heavy", 50}});
}

TEST_CASE("least connections fills hosts in proportion to their weights", "[balancer]") {
  FakePool pool;
  pool.Add("heavy", 3).Add("light", 1);
  LeastConnectionsPicker picker(pool.hosts());
  CHECK(FillUp(picker, pool, 40) == std::map<std::string, int>{{"heavy", 30}, {"light", 10}});
}

TEST_CASE("least connections breaks ties with the injected random", "[balancer]") {
  FakePool pool;
  pool.Add("a").Add("b").Add("c").Add("busy");
  pool.SetInFlight(3, 1);
  LeastConnectionsPicker picker(pool.hosts());
  const auto counts = CountPicks(picker, pool, 3000);
  CHECK(counts.count("busy") == 0);
  for (const char* name : {"a", "b", "c"}) {
    INFO(name);
    CHECK(counts.at(name) > 900);
    CHECK(counts.at(name) < 1100);
  }
  // The same random value always gives the same host.
  for (std::uint64_t r : {0ULL, 7ULL, 123456789ULL}) {
    const PickContext context{{}, nullptr, r};
    CHECK(picker.Pick(context).index == picker.Pick(context).index);
  }
}

TEST_CASE("least connections breaks ties in proportion to weight", "[balancer]") {
  FakePool pool;
  pool.Add("heavy", 3).Add("light", 1);
  LeastConnectionsPicker picker(pool.hosts());
  const auto counts = CountPicks(picker, pool, 4000);
  CHECK(counts.at("heavy") > 2800);
  CHECK(counts.at("heavy") < 3200);
}

TEST_CASE("least connections never returns an excluded host, even the least loaded one",
          "[balancer]") {
  FakePool pool;
  pool.Add("a").Add("idle").Add("c");
  pool.SetInFlight(0, 4);
  pool.SetInFlight(2, 2);
  LeastConnectionsPicker picker(pool.hosts());
  HostMask excluded(3);
  excluded.Set(1);
  CHECK(CountPicks(picker, pool, 50, &excluded) == std::map<std::string, int>{{"c", 50}});
}

TEST_CASE("least connections returns no host when every host is excluded or the pool is empty",
          "[balancer]") {
  FakePool pool;
  pool.Add("a").Add("b");
  HostMask all(2);
  all.Set(0);
  all.Set(1);
  for (int choices : {0, 2}) {
    INFO("choice_count " << choices);
    CHECK_FALSE(LeastConnectionsPicker(pool.hosts(), choices).Pick({{}, &all, 1}).has_host());
    CHECK_FALSE(LeastConnectionsPicker(FakePool().hosts(), choices).Pick({}).has_host());
  }
}

TEST_CASE("least connections reads a missing counter as idle and a negative one as zero",
          "[balancer]") {
  auto hosts = std::make_shared<HostSet>();
  hosts->emplace_back("no-counter", 1, nullptr);
  std::atomic<std::int64_t> negative{-5};
  hosts->emplace_back("negative", 1, &negative);
  std::atomic<std::int64_t> one{1};
  hosts->emplace_back("one", 1, &one);
  LeastConnectionsPicker picker(hosts);
  std::set<std::size_t> seen;
  for (std::uint64_t r = 0; r < 200; ++r) seen.insert(picker.Pick({{}, nullptr, r}).index);
  CHECK(seen == std::set<std::size_t>{0, 1});
}

TEST_CASE("power of two choices never returns an excluded host", "[balancer]") {
  FakePool pool;
  for (int i = 0; i < 10; ++i) pool.Add(absl::StrCat("h", i));
  LeastConnectionsPicker picker(pool.hosts(), 2);
  HostMask excluded(10);
  for (std::size_t i : {0, 1, 2, 4, 5, 7, 9}) excluded.Set(i);
  const auto counts = CountPicks(picker, pool, 3000, &excluded);
  std::set<std::string> picked;
  for (const auto& [name, count] : counts) picked.insert(name);
  CHECK(picked == std::set<std::string>{"h3", "h6", "h8"});
}

TEST_CASE("power of two choices takes the less loaded of two distinct hosts", "[balancer]") {
  FakePool pool;
  pool.Add("hot").Add("a").Add("b");
  pool.SetInFlight(0, 100);
  pool.SetInFlight(1, 3);
  pool.SetInFlight(2, 3);
  LeastConnectionsPicker picker(pool.hosts(), 2);
  // Any two distinct hosts include a cooler one than "hot"; sampling one host twice would not.
  const auto counts = CountPicks(picker, pool, 3000);
  CHECK(counts.count("hot") == 0);
  CHECK(counts.at("a") > 1000);
  CHECK(counts.at("b") > 1000);
}

TEST_CASE("power of two choices compares load relative to weight", "[balancer]") {
  FakePool pool;
  pool.Add("heavy", 4).Add("light", 1);
  pool.SetInFlight(0, 3);
  pool.SetInFlight(1, 1);
  LeastConnectionsPicker picker(pool.hosts(), 2);
  CHECK(CountPicks(picker, pool, 100) == std::map<std::string, int>{{"heavy", 100}});
}

TEST_CASE("power of two choices returns the only available host", "[balancer]") {
  FakePool pool;
  for (int i = 0; i < 5; ++i) pool.Add(absl::StrCat("h", i));
  LeastConnectionsPicker picker(pool.hosts(), 2);
  HostMask excluded(5);
  for (std::size_t i : {0, 1, 3, 4}) excluded.Set(i);
  CHECK(CountPicks(picker, pool, 100, &excluded) == std::map<std::string, int>{{"h2", 100}});
  FakePool single;
  single.Add("only");
  CHECK(LeastConnectionsPicker(single.hosts(), 2).Pick({}).index == 0);
}

TEST_CASE("power of two choices reaches every host of a large idle pool", "[balancer]") {
  FakePool pool;
  for (int i = 0; i < 100; ++i) pool.Add(absl::StrCat("h", i));
  LeastConnectionsPicker picker(pool.hosts(), 2);
  const auto counts = CountPicks(picker, pool, 20000);
  CHECK(counts.size() == 100);
  for (const auto& [name, count] : counts) {
    INFO(name);
    CHECK(count > 100);
    CHECK(count < 300);
  }
}

}  // namespace
}  // namespace og::balancer
