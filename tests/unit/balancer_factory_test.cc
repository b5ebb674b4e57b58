#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "balancer/factory.h"
#include "balancer/ketama.h"
#include "balancer/least_connections.h"
#include "balancer/round_robin.h"

namespace og::balancer {
namespace {

// Without counters: the pickers built here outlive any FakePool a helper could hold.
std::shared_ptr<const HostSet> TwoHosts() {
  return std::make_shared<const HostSet>(HostSet{{"a", 1}, {"b", 1}});
}

PolicyOptions Options(std::string name, int choice_count = 0, double bounded_load_factor = 0) {
  PolicyOptions options;
  options.name = std::move(name);
  options.choice_count = choice_count;
  options.bounded_load_factor = bounded_load_factor;
  return options;
}

std::string ErrorOf(const PolicyOptions& options) {
  auto picker = MakePicker(options, TwoHosts());
  REQUIRE_FALSE(picker.ok());
  CHECK(picker.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(picker.status().message());
}

TEST_CASE("the known policy names are round_robin, least_connections and ketama", "[balancer]") {
  CHECK(KnownPolicyNames() ==
        std::vector<std::string>{"round_robin", "least_connections", "ketama"});
}

TEST_CASE("MakePicker builds every known policy with its options", "[balancer]") {
  auto rr = MakePicker(Options("round_robin"), TwoHosts());
  REQUIRE(rr.ok());
  CHECK(dynamic_cast<RoundRobinPicker*>(rr->get()) != nullptr);

  auto lc = MakePicker(Options("least_connections", 2), TwoHosts());
  REQUIRE(lc.ok());
  auto* least = dynamic_cast<LeastConnectionsPicker*>(lc->get());
  REQUIRE(least != nullptr);
  CHECK(least->choice_count() == 2);

  auto kt = MakePicker(Options("ketama", 0, 1.25), TwoHosts());
  REQUIRE(kt.ok());
  auto* ketama = dynamic_cast<KetamaPicker*>(kt->get());
  REQUIRE(ketama != nullptr);
  CHECK(ketama->bounded_load_factor() == 1.25);
}

TEST_CASE("MakePicker by name builds every known policy with default options", "[balancer]") {
  for (const std::string& name : KnownPolicyNames()) {
    INFO(name);
    auto picker = MakePicker(name, TwoHosts());
    REQUIRE(picker.ok());
    CHECK((*picker)->Pick(PickContext{"key", nullptr, 1}).has_host());
  }
}

TEST_CASE("MakePicker names an unknown policy", "[balancer]") {
  CHECK(ErrorOf(Options("random")) == "unknown balancer policy 'random'");
  CHECK(ErrorOf(Options("")) == "unknown balancer policy ''");
}

TEST_CASE("MakePicker refuses a choice_count other than 0 or 2", "[balancer]") {
  CHECK(ErrorOf(Options("least_connections", 3)) ==
        "balancer option choice_count must be 0 (compare every host) or 2 (power of two "
        "choices), got 3");
  CHECK(ErrorOf(Options("least_connections", -1)) ==
        "balancer option choice_count must be 0 (compare every host) or 2 (power of two "
        "choices), got -1");
}

TEST_CASE("MakePicker refuses a bounded_load_factor below 1 or not finite", "[balancer]") {
  CHECK(ErrorOf(Options("ketama", 0, 0.5)) ==
        "balancer option bounded_load_factor must be 0 (off) or a finite number >= 1, got 0.5");
  CHECK(ErrorOf(Options("ketama", 0, -2)) ==
        "balancer option bounded_load_factor must be 0 (off) or a finite number >= 1, got -2");
  CHECK(ErrorOf(Options("ketama", 0, std::numeric_limits<double>::infinity()))
            .find("bounded_load_factor must be 0 (off) or a finite number >= 1") !=
        std::string::npos);
  CHECK(ErrorOf(Options("ketama", 0, std::numeric_limits<double>::quiet_NaN()))
            .find("bounded_load_factor must be 0 (off) or a finite number >= 1") !=
        std::string::npos);
  CHECK(MakePicker(Options("ketama", 0, 1.0), TwoHosts()).ok());
}

TEST_CASE("MakePicker refuses an option given to a policy that would ignore it", "[balancer]") {
  CHECK(ErrorOf(Options("ketama", 2)) ==
        "balancer option choice_count applies to least_connections only, not to 'ketama'");
  CHECK(ErrorOf(Options("round_robin", 0, 1.25)) ==
        "balancer option bounded_load_factor applies to ketama only, not to 'round_robin'");
  CHECK(ErrorOf(Options("least_connections", 2, 1.25)) ==
        "balancer option bounded_load_factor applies to ketama only, not to 'least_connections'");
}

TEST_CASE("MakePicker refuses a null host set", "[balancer]") {
  auto picker = MakePicker(Options("ketama"), nullptr);
  REQUIRE_FALSE(picker.ok());
  CHECK(picker.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(picker.status().message()) ==
        "balancer policy 'ketama' needs a host set, got none");
}

TEST_CASE("a host built from name, weight and counter has an empty hash label", "[balancer]") {
  std::atomic<std::int64_t> in_flight{3};
  HostSet hosts;
  hosts.push_back({"a", 2, &in_flight});
  CHECK(hosts[0].name == "a");
  CHECK(hosts[0].weight == 2);
  CHECK(ReadInFlight(hosts[0].in_flight) == 3);
  CHECK(hosts[0].hash_label.empty());
  CHECK(ReadInFlight(nullptr) == 0);
}

}  // namespace
}  // namespace og::balancer
