// The balancer section's vocabulary outside the loader: the policy names it accepts, the text
// form of a hash key source, and a backend's label on a ketama ring. Defined in
// balancer_section.cc, which reads the section.
#ifndef OLLAMA_GATEWAY_GATEWAY_CONFIG_BALANCER_SECTION_H_
#define OLLAMA_GATEWAY_GATEWAY_CONFIG_BALANCER_SECTION_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "gateway/config/config.h"

namespace og {

// The policy names the balancer accepts (balancer::KnownPolicyNames()), in documented order.
const std::vector<std::string>& KnownPolicies();

// Parses "hash_key", "model", "metadata:NAME" or "header:NAME". INVALID_ARGUMENT says why not.
absl::StatusOr<HashKeySource> ParseHashKeySource(std::string_view text);
// The text form ParseHashKeySource reads.
std::string HashKeySourceText(const HashKeySource& source);

// The backend's label on a ketama ring: hash_id if set, else host:port of its URL (the port made
// explicit: 80 for http, 443 for https when the URL has none).
std::string HashLabel(const BackendConfig& backend);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_CONFIG_BALANCER_SECTION_H_
