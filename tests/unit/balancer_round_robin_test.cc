#include <catch2/catch.hpp>
#include <map>
#include <string>

#include "balancer/factory.h"
#include "balancer/round_robin.h"

namespace og::balancer {
namespace {

std::shared_ptr<const HostSet> Hosts(std::initializer_list<std::pair<const char*, int>> spec) {
  auto hosts = std::make_shared<HostSet>();
  for (const auto& [name, weight] : spec) hosts->push_back({name, std::uint32_t(weight), nullptr});
  return hosts;
}

std::string Sequence(const Picker& picker, const HostSet& hosts, int n,
                     const HostMask* excluded = nullptr) {
  std::string out;
  PickContext ctx{{}, excluded, 0};
  for (int i = 0; i < n; ++i) {
    PickResult r = picker.Pick(ctx);
    out += r.has_host() ? hosts[r.index].name : "-";
  }
  return out;
}

TEST_CASE("smooth round-robin interleaves weights 5/1/1 exactly as nginx does", "[balancer]") {
  auto hosts = Hosts({{"a", 5}, {"b", 1}, {"c", 1}});
  RoundRobinPicker picker(hosts);
  CHECK(Sequence(picker, *hosts, 14) == "aabacaaaabacaa");
}

TEST_CASE("equal weights rotate through every host in order", "[balancer]") {
  auto hosts = Hosts({{"a", 1}, {"b", 1}, {"c", 1}});
  RoundRobinPicker picker(hosts);
  CHECK(Sequence(picker, *hosts, 6) == "abcabc");
}

TEST_CASE("every window of sum(weights) picks gives each host exactly its weight", "[balancer]") {
  auto hosts = Hosts({{"a", 3}, {"b", 2}, {"c", 4}, {"d", 1}});
  RoundRobinPicker picker(hosts);
  const std::string seq = Sequence(picker, *hosts, 100);
  for (std::size_t start = 0; start + 10 <= seq.size(); ++start) {
    std::map<char, int> counts;
    for (std::size_t i = start; i < start + 10; ++i) counts[seq[i]]++;
    INFO("window at " << start << ": " << seq.substr(start, 10));
    CHECK(counts['a'] == 3);
    CHECK(counts['b'] == 2);
    CHECK(counts['c'] == 4);
    CHECK(counts['d'] == 1);
  }
}

TEST_CASE("weights with a common divisor give the same schedule as the reduced weights",
          "[balancer]") {
  auto big = Hosts({{"a", 10}, {"b", 20}});
  auto small = Hosts({{"a", 1}, {"b", 2}});
  CHECK(RoundRobinPicker(big).schedule() == RoundRobinPicker(small).schedule());
  CHECK(RoundRobinPicker(small).schedule().size() == 3);
}

TEST_CASE("excluded hosts are skipped and the others keep rotating", "[balancer]") {
  auto hosts = Hosts({{"a", 1}, {"b", 1}, {"c", 1}});
  RoundRobinPicker picker(hosts);
  HostMask excluded(3);
  excluded.Set(1);
  const std::string seq = Sequence(picker, *hosts, 6, &excluded);
  CHECK(seq.find('b') == std::string::npos);
  CHECK(std::count(seq.begin(), seq.end(), 'a') >= 2);
  CHECK(std::count(seq.begin(), seq.end(), 'c') >= 2);
}

TEST_CASE("given every host excluded, the pick returns no host", "[balancer]") {
  auto hosts = Hosts({{"a", 1}, {"b", 2}});
  RoundRobinPicker picker(hosts);
  HostMask excluded(2);
  excluded.Set(0);
  excluded.Set(1);
  CHECK(Sequence(picker, *hosts, 3, &excluded) == "---");
}

TEST_CASE("an empty pool returns no host", "[balancer]") {
  auto hosts = std::make_shared<HostSet>();
  RoundRobinPicker picker(hosts);
  CHECK_FALSE(picker.Pick(PickContext{}).has_host());
}

TEST_CASE("MakePicker builds round_robin and refuses unknown policies by name", "[balancer]") {
  auto hosts = Hosts({{"a", 1}});
  CHECK(MakePicker("round_robin", hosts).ok());
  auto bad = MakePicker("random", hosts);
  REQUIRE_FALSE(bad.ok());
  CHECK(std::string(bad.status().message()) == "unknown balancer policy 'random'");
}

TEST_CASE("HostMask grows past its inline size", "[balancer]") {
  HostMask mask(4);
  mask.Set(700);
  CHECK(mask.Test(700));
  CHECK_FALSE(mask.Test(699));
  CHECK_FALSE(mask.Test(5000));
}

}  // namespace
}  // namespace og::balancer
