// Builds pickers by policy name: the one place that knows every policy. The interface
// (balancer/policy.h) knows none of them, as in Envoy where each policy's factory is apart from
// envoy/upstream/load_balancer.h.
#ifndef OLLAMA_GATEWAY_BALANCER_FACTORY_H_
#define OLLAMA_GATEWAY_BALANCER_FACTORY_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "balancer/policy.h"

namespace og::balancer {

// The policy names MakePicker accepts: {"round_robin", "least_connections", "ketama"}.
const std::vector<std::string>& KnownPolicyNames();

// Builds the picker `options` describe over `hosts`. Fails with INVALID_ARGUMENT naming the
// unknown policy, the option out of range, or the option given to a policy that ignores it; and
// when `hosts` is null.
absl::StatusOr<std::unique_ptr<Picker>> MakePicker(const PolicyOptions& options,
                                                   std::shared_ptr<const HostSet> hosts);

// The same, for a policy with every option at its default.
absl::StatusOr<std::unique_ptr<Picker>> MakePicker(std::string_view policy,
                                                   std::shared_ptr<const HostSet> hosts);

}  // namespace og::balancer

#endif  // OLLAMA_GATEWAY_BALANCER_FACTORY_H_
