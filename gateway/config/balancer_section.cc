// The `balancer` section: the default policy, per-model pool overrides, and the hash key
// sources and ring labels of consistent hashing.
#include "gateway/config/balancer_section.h"

#include <map>
#include <set>

#include "balancer/factory.h"
#include "gateway/config/config.h"
#include "gateway/config/sections.h"
#include "gateway/config/values.h"
#include "gateway/config/yaml_reader.h"

namespace og {
namespace config_internal {
namespace {

constexpr std::array<std::string_view, 5> kBalancerKeys = {
    "policy", "choice_count", "bounded_load_factor", "hash_key", "pools"};
constexpr std::array<std::string_view, 5> kPoolKeys = {"model", "policy", "choice_count",
                                                       "bounded_load_factor", "hash_key"};
constexpr double kMaxBoundedLoadFactor = 100;

// Reads the policy keys of `map` over `policy` (which holds what is inherited) and checks that
// every option set applies to the policy in force.
void ReadPolicy(const MapReader& map, PolicyConfig* policy) {
  std::string name;
  if (map.OneOf("policy", KnownPolicies(), &name) && name != policy->policy) {
    // A pool that switches policy inherits none of the other policy's options.
    *policy = PolicyConfig{};
    policy->policy = name;
  }
  auto only_for = [&](std::string_view key, std::string_view wanted) {
    const Field* field = map.Find(key);
    if (field == nullptr || policy->policy == wanted) return true;
    map.Error(*field, fmt::format("only applies to policy {} (the policy here is {})", wanted,
                                  policy->policy));
    return false;
  };
  std::int64_t choices = 0;
  if (only_for("choice_count", "least_connections") &&
      map.Integer("choice_count", 0, 2, &choices)) {
    if (choices == 1) {
      map.Error(*map.Find("choice_count"),
                "must be 0 (compare every backend) or 2 (power of two choices), got 1");
    } else {
      policy->choice_count = static_cast<int>(choices);
    }
  }
  double factor = 0;
  if (only_for("bounded_load_factor", "ketama") &&
      map.Number("bounded_load_factor", 0, kMaxBoundedLoadFactor, &factor)) {
    if (factor != 0 && factor <= 1) {
      map.Error(*map.Find("bounded_load_factor"),
                fmt::format("must be 0 (off) or above 1 (e.g. 1.25), got {}", factor));
    } else {
      policy->bounded_load_factor = factor;
    }
  }
  std::string source;
  if (only_for("hash_key", "ketama") && map.String("hash_key", &source)) {
    absl::StatusOr<HashKeySource> parsed = ParseHashKeySource(source);
    if (parsed.ok()) {
      policy->hash_key = *parsed;
    } else {
      map.Error(*map.Find("hash_key"), MessageOf(parsed.status()));
    }
  }
}

void ReadPools(const MapReader& balancer_map, const std::vector<BackendConfig>& backends,
               BalancerConfig* balancer) {
  const PolicyConfig defaults{balancer->policy, balancer->choice_count,
                              balancer->bounded_load_factor, balancer->hash_key};
  std::map<std::string, int, std::less<>> first_lines;
  for (const ListItem& item : balancer_map.List("pools", "per-model pools")) {
    const MapReader map(item.value, item.path, item.line, kPoolKeys, balancer_map.errors());
    if (!map.ok()) continue;
    PoolConfig pool;
    pool.line = item.line;
    pool.policy = defaults;
    if (map.Find("model") == nullptr) {
      map.errors()->Add(item.line, fmt::format("{}: missing required field 'model'", item.path));
      continue;
    }
    if (!map.String("model", &pool.model)) continue;
    const Field& model_field = *map.Find("model");
    if (const absl::Status valid = ParseModelName(pool.model).status(); !valid.ok()) {
      map.Error(model_field, fmt::format("must be a model name such as llama3.2 or qwen2.5:7b, "
                                         "got {} ({})",
                                         Quoted(pool.model), MessageOf(valid)));
      continue;
    }
    pool.canonical_model = CanonicalModelName(pool.model);
    const auto [first, inserted] = first_lines.emplace(pool.canonical_model, model_field.line);
    if (!inserted) {
      map.Error(model_field, fmt::format("a pool for {} is already configured at line {}",
                                         Quoted(pool.model), first->second));
      continue;
    }
    if (!ModelIsServed(backends, pool.canonical_model)) {
      map.Error(model_field, fmt::format("no backend serves {} (add it to a backend's models)",
                                         Quoted(pool.model)));
    }
    ReadPolicy(map, &pool.policy);
    balancer->pools.push_back(std::move(pool));
  }
}

// Two backends with one ring label would share ring points: keys would land on whichever sorts
// first. Only pools that hash care, but a duplicate label is a mistake either way once any does.
void CheckHashLabels(const MapReader& top, const std::vector<BackendConfig>& backends,
                     const BalancerConfig& balancer) {
  bool any_ketama = balancer.policy == "ketama";
  for (const PoolConfig& p : balancer.pools) any_ketama |= p.policy.policy == "ketama";
  if (!any_ketama) return;
  std::map<std::string, std::size_t> first;
  for (std::size_t i = 0; i < backends.size(); ++i) {
    if (backends[i].url.empty() && backends[i].hash_id.empty()) continue;  // already an error
    const std::string label = HashLabel(backends[i]);
    const auto [it, inserted] = first.emplace(label, i);
    if (!inserted) {
      top.errors()->Add(backends[i].line,
                        fmt::format("backends[{}]: ketama label {} is also backends[{}]'s (give "
                                    "one of them a distinct hash_id)",
                                    i, Quoted(label), it->second));
    }
  }
}

}  // namespace

bool ModelIsServed(const std::vector<BackendConfig>& backends, std::string_view canonical) {
  for (const BackendConfig& b : backends) {
    if (b.canonical_models.empty()) return true;  // serves every model
    for (const std::string& m : b.canonical_models) {
      if (m == canonical) return true;
    }
  }
  return false;
}

void ParseBalancer(const MapReader& top, const std::vector<BackendConfig>& backends,
                   BalancerConfig* balancer) {
  const MapReader map = top.Child("balancer", kBalancerKeys, &balancer->line);
  if (!map.ok()) return;
  PolicyConfig defaults;
  ReadPolicy(map, &defaults);
  balancer->policy = defaults.policy;
  balancer->choice_count = defaults.choice_count;
  balancer->bounded_load_factor = defaults.bounded_load_factor;
  balancer->hash_key = defaults.hash_key;
  ReadPools(map, backends, balancer);
  CheckHashLabels(top, backends, *balancer);
}

}  // namespace config_internal

const std::vector<std::string>& KnownPolicies() { return balancer::KnownPolicyNames(); }

PolicyConfig BalancerConfig::ForModel(std::string_view canonical_model) const {
  for (const PoolConfig& pool : pools) {
    if (pool.canonical_model == canonical_model) return pool.policy;
  }
  return PolicyConfig{policy, choice_count, bounded_load_factor, hash_key};
}

absl::StatusOr<HashKeySource> ParseHashKeySource(std::string_view text) {
  HashKeySource source;
  if (text == "hash_key") return source;
  if (text == "model") {
    source.kind = HashKeySource::Kind::kModel;
    return source;
  }
  const std::size_t colon = text.find(':');
  const std::string_view kind = text.substr(0, colon);
  const std::string_view name = colon == std::string_view::npos ? "" : text.substr(colon + 1);
  const bool metadata = kind == "metadata";
  if ((metadata || kind == "header") && !name.empty()) {
    // gRPC header names are lower-case token characters; metadata keys are free-form.
    const bool valid_header = std::all_of(name.begin(), name.end(), [](char c) {
      return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '_' || c == '.';
    });
    if (!metadata && !valid_header) {
      return absl::InvalidArgumentError(fmt::format(
          "invalid hash key source {}: a header name is lower-case letters, digits, '-', '_' "
          "and '.'",
          config_internal::Quoted(text)));
    }
    source.kind = metadata ? HashKeySource::Kind::kMetadata : HashKeySource::Kind::kHeader;
    source.name = std::string(name);
    return source;
  }
  return absl::InvalidArgumentError(fmt::format(
      "invalid hash key source {}: expected hash_key, model, metadata:NAME or header:NAME",
      config_internal::Quoted(text)));
}

std::string HashKeySourceText(const HashKeySource& source) {
  switch (source.kind) {
    case HashKeySource::Kind::kRequestField:
      return "hash_key";
    case HashKeySource::Kind::kModel:
      return "model";
    case HashKeySource::Kind::kMetadata:
      return "metadata:" + source.name;
    case HashKeySource::Kind::kHeader:
      return "header:" + source.name;
  }
  return "hash_key";
}

std::string HashLabel(const BackendConfig& backend) {
  if (!backend.hash_id.empty()) return backend.hash_id;
  // url is normalized: scheme://host[:port][/prefix]
  const std::size_t scheme_end = backend.url.find("://");
  if (scheme_end == std::string::npos) return backend.url;
  const std::string_view scheme(backend.url.data(), scheme_end);
  std::string_view rest = std::string_view(backend.url).substr(scheme_end + 3);
  rest = rest.substr(0, rest.find('/'));
  const std::size_t bracket = rest.rfind(']');
  const std::size_t colon = rest.rfind(':');
  const bool has_port =
      colon != std::string_view::npos && (bracket == std::string_view::npos || colon > bracket);
  if (has_port) return std::string(rest);
  return fmt::format("{}:{}", rest, scheme == "https" ? 443 : 80);
}

}  // namespace og
