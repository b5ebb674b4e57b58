#include "gateway/call/security_gate.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "fmt/format.h"
#include "gateway/upstream/json_reading.h"

namespace og {
namespace {

using ollama_gateway::v1::InferenceRequest;

security::ApiKeyStore BuildKeyStore(const AuthConfig& auth) {
  std::vector<security::ApiKeyStore::Entry> entries;
  for (const ApiKeyConfig& key : auth.api_keys) {
    // The loader refused entries that do not parse.
    absl::StatusOr<security::ApiKeyHash> hash = security::ParseApiKeyHash(key.hash);
    if (hash.ok()) entries.push_back({key.identity, *hash});
  }
  return security::ApiKeyStore(std::move(entries));
}

std::optional<security::AuthorizationPolicy> BuildAuthorization(const Config& config) {
  if (!config.authorization.enabled) return std::nullopt;
  std::vector<security::AuthorizationRule> rules;
  for (const AuthorizationRuleConfig& rule : config.authorization.rules) {
    rules.push_back({rule.identities, rule.groups, rule.canonical_models, rule.predict, rule.stream,
                     rule.manage});
  }
  return security::AuthorizationPolicy(std::move(rules), config.auth.groups);
}

// True for a host name as a DNS SAN carries one: dot-separated labels of letters, digits and
// inner hyphens, at most 253 characters, the last label not all digits. The SANs arrive as text
// without their type (gRPC reports them so), so the syntax tells a DNS name from an IP address,
// an e-mail address, a URI or gRPC's "other types of SAN" placeholder.
bool IsDnsName(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  std::size_t start = 0;
  bool last_all_digits = false;
  while (start <= name.size()) {
    std::size_t end = name.find('.', start);
    if (end == std::string_view::npos) end = name.size();
    const std::string_view label = name.substr(start, end - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') {
      return false;
    }
    last_all_digits = true;
    for (char c : label) {
      if (!absl::ascii_isalnum(c) && c != '-') return false;
      if (!absl::ascii_isdigit(c)) last_all_digits = false;
    }
    start = end + 1;
  }
  return !last_all_digits;
}

// The identity a verified certificate gives under `mode`, or "" when it has none.
std::string CertificateIdentity(const tls::PeerIdentity& cert, std::string_view mode) {
  if (mode == "common_name") return cert.common_name;
  if (mode == "subject") return cert.subject;
  for (const std::string& san : cert.sans) {
    if (mode == "spiffe_id" && san.starts_with("spiffe://")) return san;
    if (mode == "dns_san" && IsDnsName(san)) return san;
  }
  return "";
}

security::NetworkIdentities BuildNetworks(const AuthConfig& auth) {
  std::vector<security::NetworkIdentities::Entry> entries;
  for (const NetworkIdentityConfig& network : auth.networks) {
    // The loader refused blocks that do not parse.
    absl::StatusOr<security::Cidr> cidr = security::ParseCidr(network.cidr);
    if (cidr.ok()) entries.push_back({*cidr, network.identity});
  }
  return security::NetworkIdentities(std::move(entries));
}

std::set<std::string, std::less<>> KeyIdentities(const AuthConfig& auth) {
  std::set<std::string, std::less<>> identities;
  for (const ApiKeyConfig& key : auth.api_keys) identities.insert(key.identity);
  return identities;
}

absl::Status OverLimit(std::string_view what, std::size_t value, std::string_view key,
                       std::int64_t limit) {
  return absl::InvalidArgumentError(
      fmt::format("{} ({}) exceeds limits.{} ({})", what, value, key, limit));
}

}  // namespace

security::RateLimit ToRateLimit(const RateLimitConfig& config) {
  security::RateLimit limit;
  limit.requests_per_second = config.requests_per_second;
  limit.burst = static_cast<int>(
      config.burst > 0
          ? config.burst
          : std::max<std::int64_t>(1, std::llround(std::ceil(config.requests_per_second))));
  limit.max_concurrent_streams = static_cast<int>(config.max_concurrent_streams);
  return limit;
}

absl::StatusOr<std::shared_ptr<const SecurityPolicy>> SecurityPolicy::Build(const Config& config) {
  std::unique_ptr<security::Redactor> redactor;
  if (!config.redaction.rules.empty()) {
    std::vector<security::RedactionRule> rules;
    for (const RedactionRuleConfig& rule : config.redaction.rules) {
      rules.push_back({rule.name, rule.pattern, rule.replacement});
    }
    absl::StatusOr<std::unique_ptr<security::Redactor>> built =
        security::Redactor::Create(std::move(rules));
    if (!built.ok()) return built.status();
    redactor = *std::move(built);
  }
  return std::shared_ptr<const SecurityPolicy>(new SecurityPolicy(config, std::move(redactor)));
}

SecurityPolicy::SecurityPolicy(const Config& config, std::unique_ptr<security::Redactor> redactor)
    : auth_required_(config.auth.required),
      unknown_keys_anonymous_(config.auth.unknown_keys == "anonymous"),
      mtls_identity_(config.auth.mtls_identity),
      keys_(BuildKeyStore(config.auth)),
      networks_(BuildNetworks(config.auth)),
      key_identities_(KeyIdentities(config.auth)),
      authorization_(BuildAuthorization(config)),
      redactor_(std::move(redactor)),
      limits_(config.limits) {}

absl::StatusOr<Caller> SecurityPolicy::Authenticate(const CallerCredentials& credentials) const {
  // A gateway that issued no keys has none to check a sent one against: the header is ignored,
  // as Ollama ignores it, since some clients (the OpenAI SDKs) always send one.
  bool unknown_key = false;
  if (credentials.authorization.has_value() && keys_.size() > 0) {
    const std::optional<std::string_view> token = security::BearerToken(*credentials.authorization);
    if (!token) {
      return absl::UnauthenticatedError("the authorization header must read 'Bearer <API key>'");
    }
    if (const std::string* identity = keys_.Verify(*token); identity != nullptr) {
      return Caller{*identity, "api_key"};
    }
    if (!unknown_keys_anonymous_) return absl::UnauthenticatedError("the API key is not valid");
    // A placeholder some clients always send ("ollama"): as if no key came.
    unknown_key = true;
  }
  if (mtls_identity_ != "none" && !credentials.certificate.empty()) {
    std::string identity = CertificateIdentity(credentials.certificate, mtls_identity_);
    if (key_identities_.contains(identity)) {
      return absl::UnauthenticatedError(
          fmt::format("the client certificate names identity '{}', which is an API key's identity; "
                      "certificates and keys cannot share an identity",
                      identity.substr(0, 128)));
    }
    if (!identity.empty()) return Caller{std::move(identity), "mtls"};
  }
  if (!networks_.empty() && !credentials.peer.empty()) {
    if (const std::optional<security::IpAddress> address =
            security::ParsePeerAddress(credentials.peer)) {
      if (const std::string* identity = networks_.Find(*address); identity != nullptr) {
        return Caller{*identity, "network"};
      }
    }
  }
  if (auth_required_) {
    if (unknown_key) return absl::UnauthenticatedError("the API key is not valid");
    return absl::UnauthenticatedError(
        "this gateway requires authentication: send 'authorization: Bearer <API key>' metadata "
        "or a client certificate");
  }
  return Caller{"anonymous", unknown_key ? "unknown_key" : "none"};
}

InputSize InputSizeOf(const InferenceRequest& request) {
  InputSize size;
  size.request_bytes = request.ByteSizeLong();
  size.messages = static_cast<std::size_t>(request.messages_size());
  size.text_bytes = request.input_data().size() + request.system().size() +
                    request.suffix().size() + request.template_().size();
  size.images = static_cast<std::size_t>(request.images_size());
  for (const auto& message : request.messages()) {
    size.text_bytes += message.content().size() + message.thinking().size();
    for (const auto& call : message.tool_calls()) size.text_bytes += call.arguments_json().size();
    size.images += static_cast<std::size_t>(message.images_size());
  }
  return size;
}

absl::Status SecurityPolicy::CheckLimits(const InferenceRequest& request,
                                         const InputSize& size) const {
  const LimitsConfig& l = limits_;
  // Images are what makes a request big: they have their own, larger bound.
  if (size.images > 0) {
    if (size.request_bytes > static_cast<std::size_t>(l.max_image_request_bytes)) {
      return OverLimit("the size in bytes of the request with images", size.request_bytes,
                       "max_image_request_bytes", l.max_image_request_bytes);
    }
  } else if (size.request_bytes > static_cast<std::size_t>(l.max_request_bytes)) {
    return OverLimit("the request's size in bytes", size.request_bytes, "max_request_bytes",
                     l.max_request_bytes);
  }
  if (size.messages > static_cast<std::size_t>(l.max_messages)) {
    return OverLimit("the number of messages", size.messages, "max_messages", l.max_messages);
  }
  if (size.embed_inputs > static_cast<std::size_t>(l.max_embed_inputs)) {
    return OverLimit("the number of embedding inputs", size.embed_inputs, "max_embed_inputs",
                     l.max_embed_inputs);
  }
  if (size.text_bytes > static_cast<std::size_t>(l.max_prompt_bytes)) {
    return OverLimit(
        "the prompt's size in bytes (every text the model reads: prompt, suffix, system, "
        "template, message contents and thinking, tool-call arguments)",
        size.text_bytes, "max_prompt_bytes", l.max_prompt_bytes);
  }
  if (size.images > static_cast<std::size_t>(l.max_images)) {
    return OverLimit("the number of images", size.images, "max_images", l.max_images);
  }
  if (!request.format().empty()) {
    if (absl::Status s = CheckJsonDepth(request.format(), l.max_json_depth, "format"); !s.ok()) {
      return s;
    }
  }
  // The other JSON texts of a gRPC request, before anything parses them.
  for (const auto& tool : request.tools()) {
    if (absl::Status s =
            CheckJsonDepth(tool.parameters_json(), l.max_json_depth, "tools[].parameters_json");
        !s.ok()) {
      return s;
    }
  }
  for (const auto& message : request.messages()) {
    for (const auto& call : message.tool_calls()) {
      if (absl::Status s = CheckJsonDepth(call.arguments_json(), l.max_json_depth,
                                          "messages[].tool_calls[].arguments_json");
          !s.ok()) {
        return s;
      }
    }
  }
  for (const auto& [name, value] : request.extra_options()) {
    if (absl::Status s = CheckJsonDepth(value, l.max_json_depth, "extra_options"); !s.ok()) {
      return s;
    }
  }
  if (request.metadata_size() > l.max_metadata_entries) {
    return OverLimit("the number of metadata entries", request.metadata_size(),
                     "max_metadata_entries", l.max_metadata_entries);
  }
  for (const auto& [key, value] : request.metadata()) {
    if (key.size() > static_cast<std::size_t>(l.max_metadata_key_bytes)) {
      return OverLimit("a metadata key's size in bytes", key.size(), "max_metadata_key_bytes",
                       l.max_metadata_key_bytes);
    }
    if (value.size() > static_cast<std::size_t>(l.max_metadata_value_bytes)) {
      return OverLimit(fmt::format("the size in bytes of metadata entry '{}'", key.substr(0, 64)),
                       value.size(), "max_metadata_value_bytes", l.max_metadata_value_bytes);
    }
  }
  return absl::OkStatus();
}

absl::Status SecurityPolicy::Authorize(const Caller& caller, std::string_view model,
                                       std::string_view canonical_model,
                                       security::Action action) const {
  if (!authorization_ || authorization_->Allows(caller.identity, canonical_model, action)) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(fmt::format("identity '{}' may not use model '{}' for {}",
                                                 caller.identity, model,
                                                 security::ActionName(action)));
}

bool SecurityPolicy::Redact(InferenceRequest* request, Metrics& metrics) const {
  if (redactor_ == nullptr) return false;
  std::vector<std::string*> texts = {request->mutable_input_data(), request->mutable_system(),
                                     request->mutable_suffix()};
  for (auto& message : *request->mutable_messages()) {
    texts.push_back(message.mutable_content());
    texts.push_back(message.mutable_thinking());
  }
  return Redact(texts, metrics);
}

bool SecurityPolicy::Redact(std::span<std::string* const> texts, Metrics& metrics) const {
  if (redactor_ == nullptr) return false;
  std::vector<std::size_t> counts;
  std::vector<std::size_t> total(redactor_->rules().size(), 0);
  bool changed = false;
  for (std::string* text : texts) {
    if (text->empty() || !redactor_->Redact(text, &counts)) continue;
    changed = true;
    for (std::size_t i = 0; i < counts.size(); ++i) total[i] += counts[i];
  }
  for (std::size_t i = 0; i < total.size(); ++i) {
    if (total[i] > 0) metrics.RecordRedactions(redactor_->rules()[i].name, total[i]);
  }
  return changed;
}

SecurityGate::SecurityGate(const Clock& clock, Metrics& metrics)
    : metrics_(metrics), rate_limiter_(clock) {}

absl::Status SecurityGate::Apply(const Config& config) {
  absl::StatusOr<std::shared_ptr<const SecurityPolicy>> policy = SecurityPolicy::Build(config);
  if (!policy.ok()) return policy.status();
  std::map<std::string, security::RateLimit> per_identity;
  for (const auto& [identity, limit] : config.rate_limits.identities) {
    per_identity.emplace(identity, ToRateLimit(limit));
  }
  const security::RateLimit default_limit = ToRateLimit(config.rate_limits.default_limit);
  const bool any_limit =
      default_limit.requests_per_second > 0 || default_limit.max_concurrent_streams > 0 ||
      std::any_of(per_identity.begin(), per_identity.end(), [](const auto& entry) {
        return entry.second.requests_per_second > 0 || entry.second.max_concurrent_streams > 0;
      });
  rate_limiter_.Configure(default_limit, std::move(per_identity));
  rate_limits_on_.store(any_limit, std::memory_order_release);
  std::atomic_store_explicit(&policy_, *std::move(policy), std::memory_order_release);
  return absl::OkStatus();
}

absl::StatusOr<Caller> SecurityGate::Authenticate(const SecurityPolicy& policy,
                                                  std::string_view authorization,
                                                  const tls::PeerIdentity& certificate,
                                                  std::string_view peer,
                                                  std::string_view frontend) {
  CallerCredentials credentials;
  if (!authorization.empty()) credentials.authorization = authorization;
  credentials.certificate = certificate;
  credentials.peer = peer;
  absl::StatusOr<Caller> caller = policy.Authenticate(credentials);
  if (caller.ok()) {
    metrics_.RecordAuthentication(frontend, caller->method, "ok");
  } else {
    metrics_.RecordAuthentication(frontend, authorization.empty() ? "none" : "api_key",
                                  authorization.empty() ? "missing" : "invalid");
  }
  return caller;
}

absl::Status SecurityGate::Admit(const Caller& caller, security::Action action,
                                 std::string_view frontend, security::StreamPermit* permit,
                                 std::chrono::milliseconds* retry_after) {
  // Without any limit configured the limiter (and its lock) stays off the request path.
  if (!rate_limits_on_.load(std::memory_order_acquire)) return absl::OkStatus();
  security::Admission admission =
      rate_limiter_.Admit(caller.identity, action == security::Action::kStream);
  switch (admission.decision) {
    case security::RateDecision::kAllowed:
      *permit = std::move(admission.permit);
      return absl::OkStatus();
    case security::RateDecision::kRateExceeded: {
      metrics_.RecordRateLimited(frontend, "rate");
      // Rounded up, so a caller that waits exactly this long is allowed.
      *retry_after = std::chrono::ceil<std::chrono::milliseconds>(admission.retry_after);
      return absl::ResourceExhaustedError(fmt::format(
          "rate limit exceeded for identity '{}' ({} requests per second, burst {}); retry after "
          "{} ms",
          caller.identity, admission.limit.requests_per_second, admission.limit.burst,
          retry_after->count()));
    }
    case security::RateDecision::kTooManyStreams:
      metrics_.RecordRateLimited(frontend, "streams");
      // No time is known for a stream to end; a second is a polite first pause.
      *retry_after = std::chrono::seconds(1);
      return absl::ResourceExhaustedError(
          fmt::format("identity '{}' already has {} streams in progress, its limit "
                      "(rate_limits max_concurrent_streams); retry when one ends",
                      caller.identity, admission.limit.max_concurrent_streams));
  }
  return absl::OkStatus();
}

}  // namespace og
