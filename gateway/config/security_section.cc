// The security sections: `auth` (API keys, client certificates, groups), `authorization`,
// `rate_limits`, `limits` and `redaction`, and the API keys list that the separate keys file
// holds too (read by ParseApiKeysFile in load.cc).
#include <algorithm>
#include <array>
#include <cmath>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/ascii.h"
#include "fmt/format.h"
#include "gateway/config/config.h"
#include "gateway/config/sections.h"
#include "gateway/config/values.h"
#include "gateway/config/yaml_reader.h"
#include "security/api_keys.h"
#include "security/networks.h"
#include "security/redactor.h"

namespace og::config_internal {
namespace {

constexpr std::array<std::string_view, 7> kAuthKeys = {
    "required", "mtls_identity", "api_keys", "api_keys_file", "groups", "networks", "unknown_keys"};
constexpr std::array<std::string_view, 2> kNetworkKeys = {"cidr", "identity"};
constexpr std::array<std::string_view, 2> kUnknownKeys = {"refuse", "anonymous"};
constexpr std::array<std::string_view, 5> kMtlsIdentities = {"common_name", "subject", "spiffe_id",
                                                             "dns_san", "none"};
constexpr std::array<std::string_view, 2> kApiKeyKeys = {"identity", "hash"};
constexpr std::array<std::string_view, 1> kAuthorizationKeys = {"rules"};
constexpr std::array<std::string_view, 4> kRuleKeys = {"identities", "groups", "models", "actions"};
constexpr std::array<std::string_view, 3> kActions = {"predict", "stream", "manage"};
constexpr std::array<std::string_view, 2> kRateLimitsKeys = {"default", "identities"};
constexpr std::array<std::string_view, 3> kRateLimitKeys = {"requests_per_second", "burst",
                                                            "max_concurrent_streams"};
constexpr std::array<std::string_view, 11> kLimitsKeys = {
    "max_request_bytes",    "max_image_request_bytes", "max_prompt_bytes",
    "max_messages",         "max_embed_inputs",        "max_images",
    "max_metadata_entries", "max_metadata_key_bytes",  "max_metadata_value_bytes",
    "max_header_bytes",     "max_json_depth"};
constexpr std::array<std::string_view, 1> kRedactionKeys = {"rules"};
constexpr std::array<std::string_view, 3> kRedactionRuleKeys = {"name", "pattern", "replacement"};

constexpr std::size_t kMaxIdentityLength = 128;
constexpr double kMaxRequestsPerSecond = 1e6;
constexpr std::int64_t kMaxBurst = 1000000;
constexpr std::int64_t kMaxStreams = 1000000;
constexpr std::int64_t kMaxRequestBytes = std::int64_t{1} << 30;

// Identity and group names: what may appear in logs unquoted.
bool IsValidName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxIdentityLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return absl::ascii_isalnum(c) || c == '_' || c == '.' || c == '-' || c == '@' ||
                  c == ':' || c == '/' || c == '=' || c == ',' || c == ' ';
         });
}

// The identity names a caller can have: not the reserved ones.
bool IsReservedIdentity(std::string_view name) { return name == "anonymous" || name == "*"; }

// Each of `items` must be a scalar accepted by `valid` (described by `what` in errors), and
// none may repeat an earlier one; the accepted ones are appended to `out`.
template <typename Valid>
void ReadStrings(const std::vector<ListItem>& items, std::string_view what, Valid valid,
                 ErrorList* errors, std::vector<std::string>* out) {
  for (const ListItem& item : items) {
    if (!item.value.IsScalar() || !valid(item.value.Scalar())) {
      errors->Add(item.line,
                  fmt::format("{}: must be {}, got {}", item.path, what, Describe(item.value)));
      continue;
    }
    if (std::find(out->begin(), out->end(), item.value.Scalar()) != out->end()) {
      errors->Add(item.line,
                  fmt::format("{}: duplicate {}", item.path, Quoted(item.value.Scalar())));
      continue;
    }
    out->push_back(item.value.Scalar());
  }
}

// The list of scalars at key `name` of `map` (ReadStrings); absent or null: nothing.
template <typename Valid>
void ReadStringList(const MapReader& map, std::string_view name, std::string_view what, Valid valid,
                    std::vector<std::string>* out) {
  ReadStrings(map.List(name, what), what, valid, map.errors(), out);
}

}  // namespace

void ReadApiKeys(const MapReader& map, std::string_view source, std::vector<ApiKeyConfig>* keys) {
  for (const ListItem& item : map.List("api_keys", "keys (identity and hash)")) {
    ApiKeyConfig key;
    key.source = std::string(source);
    key.line = item.line;
    const MapReader entry(item.value, item.path, key.line, kApiKeyKeys, map.errors());
    if (!entry.ok()) continue;
    entry.Require({"identity", "hash"});
    if (entry.String("identity", &key.identity)) {
      if (!IsValidName(key.identity) || IsReservedIdentity(key.identity)) {
        entry.Error(*entry.Find("identity"),
                    fmt::format("must be 1 to {} characters of A-Z a-z 0-9 _ . - @ : / = , and "
                                "space, other than \"anonymous\" and \"*\", got {}",
                                kMaxIdentityLength, Quoted(key.identity)));
      }
    }
    // The hash is a secret's digest: never quoted back.
    if (entry.String("hash", &key.hash)) {
      if (absl::StatusOr<security::ApiKeyHash> hash = security::ParseApiKeyHash(key.hash);
          !hash.ok()) {
        entry.Error(*entry.Find("hash"), fmt::format("{} (make one with `ollama-gateway hash-key`)",
                                                     MessageOf(hash.status())));
      }
    }
    keys->push_back(std::move(key));
  }
}

namespace {

void ReadGroups(const MapReader& map, AuthConfig* auth) {
  for (const MapEntry& group : map.Entries("groups", "group name to a list of identities")) {
    if (!IsValidName(group.name)) {
      map.errors()->Add(group.line,
                        fmt::format("auth.groups: group names must be 1 to {} characters of "
                                    "A-Z a-z 0-9 _ . - @ : / = , and space, got {}",
                                    kMaxIdentityLength, Describe(group.key)));
      continue;
    }
    if (auth->groups.count(group.name) != 0) {
      map.errors()->Add(group.line, fmt::format("{}: duplicate group", group.path));
      continue;
    }
    ReadStrings(ListItems(group.value, group.path, group.line, "an identity name", map.errors()),
                "an identity name", IsValidName, map.errors(), &auth->groups[group.name]);
  }
}

void ReadNetworks(const MapReader& map, AuthConfig* auth) {
  std::vector<std::string> cidrs;  // normalized by ParseCidr, to find repeats
  for (const ListItem& item : map.List("networks", "networks ({cidr, identity})")) {
    NetworkIdentityConfig network;
    network.line = item.line;
    const MapReader entry(item.value, item.path, network.line, kNetworkKeys, map.errors());
    if (!entry.ok()) continue;
    entry.Require({"cidr", "identity"});
    if (entry.String("cidr", &network.cidr)) {
      if (absl::StatusOr<security::Cidr> cidr = security::ParseCidr(network.cidr); !cidr.ok()) {
        entry.Error(*entry.Find("cidr"),
                    fmt::format("must be a CIDR such as 10.0.0.0/8 or fd00::/8, got {} ({})",
                                Quoted(network.cidr), MessageOf(cidr.status())));
      } else {
        std::string key(cidr->network.bytes.begin(), cidr->network.bytes.end());
        key += static_cast<char>(cidr->prefix_bits);
        if (std::find(cidrs.begin(), cidrs.end(), key) != cidrs.end()) {
          entry.Error(*entry.Find("cidr"),
                      fmt::format("duplicate network {}", Quoted(network.cidr)));
        }
        cidrs.push_back(key);
      }
    }
    if (entry.String("identity", &network.identity)) {
      if (!IsValidName(network.identity) || IsReservedIdentity(network.identity)) {
        entry.Error(*entry.Find("identity"),
                    fmt::format("must be 1 to {} characters of A-Z a-z 0-9 _ . - @ : / = , and "
                                "space, other than \"anonymous\" and \"*\", got {}",
                                kMaxIdentityLength, Quoted(network.identity)));
      }
    }
    auth->networks.push_back(std::move(network));
  }
}

void ReadRateLimit(const MapReader& map, RateLimitConfig* limit) {
  map.Number("requests_per_second", 0, kMaxRequestsPerSecond, &limit->requests_per_second);
  map.Integer("burst", 0, kMaxBurst, &limit->burst);
  map.Integer("max_concurrent_streams", 0, kMaxStreams, &limit->max_concurrent_streams);
  if (limit->requests_per_second == 0 && map.Find("burst") != nullptr && limit->burst != 0) {
    map.Error(*map.Find("burst"), "needs requests_per_second (a burst above no rate limit)");
  }
}

void ReadRule(const MapReader& map, const AuthConfig& auth, AuthorizationRuleConfig* rule) {
  ReadStringList(
      map, "identities", "an identity name, \"*\" or \"anonymous\"",
      [](std::string_view name) { return name == "*" || IsValidName(name); }, &rule->identities);
  ReadStringList(map, "groups", "a group name", IsValidName, &rule->groups);
  if (const Field* field = map.Find("groups"); field != nullptr) {
    for (const std::string& group : rule->groups) {
      if (auth.groups.count(group) == 0) {
        map.Error(*field, fmt::format("group {} is not defined in auth.groups", Quoted(group)));
      }
    }
  }
  if (rule->identities.empty() && rule->groups.empty()) {
    map.errors()->Add(map.line(), fmt::format("{}: needs identities or groups (whom the rule "
                                              "applies to)",
                                              map.path()));
  }
  ReadStringList(map, "models", "a model name or pattern such as llama3.2 or qwen2.5:*",
                 IsValidModelPattern, &rule->models);
  if (map.Find("models") == nullptr || rule->models.empty()) {
    const Field* field = map.Find("models");
    map.errors()->Add(field != nullptr ? field->line : map.line(),
                      fmt::format("{}: needs models (names or patterns such as \"llama3*\"; "
                                  "\"*\" for every model)",
                                  map.PathOf("models")));
  }
  for (const std::string& model : rule->models) {
    if (PatternNamesDefaultPrefix(model)) {
      map.Error(*map.Find("models"),
                fmt::format("{} never matches: model names are matched in their shortest form, "
                            "without the default host registry.ollama.ai and namespace library "
                            "(write \"llama3*\" for registry.ollama.ai/library/llama3*)",
                            Quoted(model)));
    }
    rule->canonical_models.push_back(CanonicalModelPattern(model));
  }
  std::vector<std::string> actions;
  ReadStringList(
      map, "actions", "predict, stream or manage",
      [](std::string_view a) {
        return std::find(kActions.begin(), kActions.end(), a) != kActions.end();
      },
      &actions);
  if (map.Find("actions") != nullptr) {
    rule->predict = std::find(actions.begin(), actions.end(), "predict") != actions.end();
    rule->stream = std::find(actions.begin(), actions.end(), "stream") != actions.end();
    rule->manage = std::find(actions.begin(), actions.end(), "manage") != actions.end();
    if (!rule->predict && !rule->stream && !rule->manage &&
        map.Find("actions")->value.IsSequence() && map.Find("actions")->value.size() == 0) {
      map.Error(*map.Find("actions"), "must name at least one of predict, stream, manage");
    }
  }
}

}  // namespace

void ParseAuth(const MapReader& top, AuthConfig* auth) {
  const MapReader map = top.Child("auth", kAuthKeys, &auth->line);
  if (!map.ok()) return;
  map.Bool("required", &auth->required);
  map.OneOf("mtls_identity", kMtlsIdentities, &auth->mtls_identity);
  ReadApiKeys(map, "", &auth->api_keys);
  map.String("api_keys_file", &auth->api_keys_file);
  ReadGroups(map, auth);
  ReadNetworks(map, auth);
  map.OneOf("unknown_keys", kUnknownKeys, &auth->unknown_keys);
}

void ParseAuthorization(const MapReader& top, const AuthConfig& auth,
                        AuthorizationConfig* authorization) {
  if (top.Find("authorization") == nullptr) return;
  authorization->enabled = true;
  const MapReader map = top.Child("authorization", kAuthorizationKeys, &authorization->line);
  if (!map.ok()) return;
  for (const ListItem& item : map.List("rules", "rules")) {
    AuthorizationRuleConfig& rule = authorization->rules.emplace_back();
    rule.line = item.line;
    const MapReader entry(item.value, item.path, rule.line, kRuleKeys, map.errors());
    if (entry.ok()) ReadRule(entry, auth, &rule);
  }
}

void ParseRateLimits(const MapReader& top, RateLimitsConfig* rate_limits) {
  const MapReader map = top.Child("rate_limits", kRateLimitsKeys, &rate_limits->line);
  if (!map.ok()) return;
  const MapReader defaults = map.Child("default", kRateLimitKeys, &rate_limits->default_limit.line);
  if (defaults.ok()) ReadRateLimit(defaults, &rate_limits->default_limit);
  for (const MapEntry& identity : map.Entries("identities", "identity name to its limits")) {
    if (identity.name != "anonymous" && !IsValidName(identity.name)) {
      map.errors()->Add(identity.line,
                        fmt::format("rate_limits.identities: {} is not an identity name",
                                    Describe(identity.key)));
      continue;
    }
    if (rate_limits->identities.count(identity.name) != 0) {
      map.errors()->Add(identity.line, fmt::format("{}: duplicate identity", identity.path));
      continue;
    }
    RateLimitConfig& limit = rate_limits->identities[identity.name];
    limit.line = identity.line;
    const MapReader entry(identity.value, identity.path, identity.line, kRateLimitKeys,
                          map.errors());
    if (entry.ok()) ReadRateLimit(entry, &limit);
  }
}

void ParseLimits(const MapReader& top, LimitsConfig* limits) {
  const MapReader map = top.Child("limits", kLimitsKeys, &limits->line);
  if (!map.ok()) return;
  map.Integer("max_request_bytes", 1024, kMaxRequestBytes, &limits->max_request_bytes);
  map.Integer("max_image_request_bytes", 1024, kMaxRequestBytes, &limits->max_image_request_bytes);
  map.Integer("max_prompt_bytes", 1, kMaxRequestBytes, &limits->max_prompt_bytes);
  map.Integer("max_messages", 1, 1000000, &limits->max_messages);
  map.Integer("max_embed_inputs", 1, 1000000, &limits->max_embed_inputs);
  map.Integer("max_images", 0, 1000, &limits->max_images);
  map.Integer("max_metadata_entries", 0, 10000, &limits->max_metadata_entries);
  map.Integer("max_metadata_key_bytes", 1, 65536, &limits->max_metadata_key_bytes);
  map.Integer("max_metadata_value_bytes", 1, 1 << 20, &limits->max_metadata_value_bytes);
  map.Integer("max_header_bytes", 1024, 1 << 20, &limits->max_header_bytes);
  map.Integer("max_json_depth", 1, kMaxJsonDepthCeiling, &limits->max_json_depth);
}

void ParseRedaction(const MapReader& top, RedactionConfig* redaction) {
  const MapReader map = top.Child("redaction", kRedactionKeys, &redaction->line);
  if (!map.ok()) return;
  std::set<std::string, std::less<>> names;
  for (const ListItem& item : map.List("rules", "rules (name, pattern, replacement)")) {
    RedactionRuleConfig rule;
    rule.line = item.line;
    const MapReader entry(item.value, item.path, rule.line, kRedactionRuleKeys, map.errors());
    if (!entry.ok()) continue;
    entry.Require({"name", "pattern"});
    if (entry.String("name", &rule.name)) {
      const bool valid =
          rule.name.size() <= 64 && std::all_of(rule.name.begin(), rule.name.end(), [](char c) {
            return absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '_';
          });
      if (!valid) {
        entry.Error(
            *entry.Find("name"),
            fmt::format("must be 1 to 64 characters of a-z 0-9 _, got {}", Quoted(rule.name)));
      } else if (!names.insert(rule.name).second) {
        entry.Error(*entry.Find("name"), fmt::format("duplicate rule {}", Quoted(rule.name)));
      }
    }
    // An empty replacement deletes what matches; only a missing key takes the default.
    if (const Field* replacement = entry.Find("replacement"); replacement != nullptr) {
      if (replacement->value.IsScalar()) {
        rule.replacement = replacement->value.Scalar();
      } else {
        entry.Error(*replacement, "must be a string, got " + Describe(replacement->value));
      }
    }
    if (entry.String("pattern", &rule.pattern)) {
      // Compiled alone, so its error lands on its own line.
      auto compiled = security::Redactor::Create(
          {{rule.name.empty() ? "rule" : rule.name, rule.pattern, rule.replacement}});
      if (!compiled.ok()) entry.Error(*entry.Find("pattern"), MessageOf(compiled.status()));
    }
    redaction->rules.push_back(std::move(rule));
  }
}

void ParseBrowserSafety(const MapReader& http_map, HttpConfig* http) {
  // Patterns are matched by the front door (gateway/frontdoor/http/browser_policy.h); here only
  // what can never match an Origin or Host header is refused.
  const auto no_space = [](std::string_view text) {
    return !text.empty() && std::none_of(text.begin(), text.end(), [](char c) {
      return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f;
    });
  };
  ReadStringList(
      http_map, "allowed_origins",
      "an origin such as https://app.example.com (\"*\" wildcards allowed, \"*\" alone for any)",
      [&](std::string_view o) { return no_space(o) && (o == "*" || o.find("://") != o.npos); },
      &http->allowed_origins);
  ReadStringList(
      http_map, "allowed_hosts", "a host name such as gateway.example (\"*\" wildcards allowed)",
      [&](std::string_view h) { return no_space(h) && h.find('/') == h.npos; },
      &http->allowed_hosts);
}

}  // namespace og::config_internal
