// Internal to the config loader: the readers of the sections, each defined in its
// *_section.cc, that load.cc calls in order. Not part of the gateway's public interface.
#ifndef OLLAMA_GATEWAY_GATEWAY_CONFIG_SECTIONS_H_
#define OLLAMA_GATEWAY_GATEWAY_CONFIG_SECTIONS_H_

#include <string_view>
#include <vector>

#include "gateway/config/config.h"
#include "gateway/config/yaml_reader.h"

namespace og::config_internal {

// Reads the `balancer` section (defaults and per-model pools) and checks it against the backends
// (pool models must be served; ketama labels must be unique). In balancer_section.cc.
void ParseBalancer(const MapReader& top, const std::vector<BackendConfig>& backends,
                   BalancerConfig* balancer);

// True when some backend may serve `canonical`: it lists it in its models, or lists none (and
// so serves every model). In balancer_section.cc.
bool ModelIsServed(const std::vector<BackendConfig>& backends, std::string_view canonical);

// Reads the `health` section (the three tiers of active checks, discovery and the panic
// threshold) and checks its probe models against the backends. In health_section.cc.
void ParseHealth(const MapReader& top, const std::vector<BackendConfig>& backends,
                 HealthConfig* health);

// Reads the `outlier_detection` section. In health_section.cc.
void ParseOutlierDetection(const MapReader& top, OutlierDetectionConfig* outlier_detection);

// The security sections, in security_section.cc: `auth` (API keys, certificate identities,
// groups), `authorization` (its rules' groups must be in auth.groups), `rate_limits`, `limits`
// and `redaction` (every pattern compiled, so a bad one is refused at its line).
void ParseAuth(const MapReader& top, AuthConfig* auth);
void ParseAuthorization(const MapReader& top, const AuthConfig& auth,
                        AuthorizationConfig* authorization);
void ParseRateLimits(const MapReader& top, RateLimitsConfig* rate_limits);
void ParseLimits(const MapReader& top, LimitsConfig* limits);
void ParseRedaction(const MapReader& top, RedactionConfig* redaction);
// Reads the `rollouts` section; targets must name configured backends that serve their model.
// In rollouts_section.cc.
void ParseRollouts(const MapReader& top, const std::vector<BackendConfig>& backends,
                   const BalancerConfig& balancer, RolloutsConfig* rollouts);
// The browser-safety keys of the `http` section (allowed_origins, allowed_hosts).
void ParseBrowserSafety(const MapReader& http_map, HttpConfig* http);
// The `api_keys` list of `map` (auth, or the top level of an API keys file) appended to `keys`,
// each entry's source set to `source` ("" for the config file itself).
void ReadApiKeys(const MapReader& map, std::string_view source, std::vector<ApiKeyConfig>* keys);

}  // namespace og::config_internal

#endif  // OLLAMA_GATEWAY_GATEWAY_CONFIG_SECTIONS_H_
