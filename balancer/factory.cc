#include "balancer/factory.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "balancer/ketama.h"
#include "balancer/least_connections.h"
#include "balancer/round_robin.h"

namespace og::balancer {
namespace {

// Abseil 20220623's StrCat takes absl::string_view, which is not std::string_view here.
std::string Quoted(std::string_view text) { return absl::StrCat("'", std::string(text), "'"); }

absl::Status CheckOptions(const PolicyOptions& options) {
  const std::string& name = options.name;
  if (options.choice_count != 0) {
    if (name != "least_connections") {
      return absl::InvalidArgumentError(absl::StrCat(
          "balancer option choice_count applies to least_connections only, not to ", Quoted(name)));
    }
    if (options.choice_count != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat("balancer option choice_count must be 0 (compare every host) or 2 (power "
                       "of two choices), got ",
                       options.choice_count));
    }
  }
  if (options.bounded_load_factor != 0) {
    if (name != "ketama") {
      return absl::InvalidArgumentError(absl::StrCat(
          "balancer option bounded_load_factor applies to ketama only, not to ", Quoted(name)));
    }
    // Below 1 the caps add up to less than the load itself: every host would be "over".
    if (!std::isfinite(options.bounded_load_factor) || options.bounded_load_factor < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("balancer option bounded_load_factor must be 0 (off) or a finite number "
                       ">= 1, got ",
                       options.bounded_load_factor));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<std::string>& KnownPolicyNames() {
  static const auto* const kNames =
      new std::vector<std::string>{"round_robin", "least_connections", "ketama"};
  return *kNames;
}

absl::StatusOr<std::unique_ptr<Picker>> MakePicker(const PolicyOptions& options,
                                                   std::shared_ptr<const HostSet> hosts) {
  const std::string& name = options.name;
  const std::vector<std::string>& known = KnownPolicyNames();
  if (std::find(known.begin(), known.end(), name) == known.end()) {
    return absl::InvalidArgumentError(absl::StrCat("unknown balancer policy ", Quoted(name)));
  }
  if (absl::Status status = CheckOptions(options); !status.ok()) return status;
  if (hosts == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("balancer policy ", Quoted(name), " needs a host set, got none"));
  }
  if (name == "least_connections") {
    return std::make_unique<LeastConnectionsPicker>(std::move(hosts), options.choice_count);
  }
  if (name == "ketama") {
    return std::make_unique<KetamaPicker>(std::move(hosts), options.bounded_load_factor);
  }
  return std::make_unique<RoundRobinPicker>(std::move(hosts));
}

absl::StatusOr<std::unique_ptr<Picker>> MakePicker(std::string_view policy,
                                                   std::shared_ptr<const HostSet> hosts) {
  PolicyOptions options;
  options.name = std::string(policy);
  return MakePicker(options, std::move(hosts));
}

}  // namespace og::balancer
