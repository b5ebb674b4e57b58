// What a call must pass before it is routed: authentication (API key or client certificate),
// input limits, authorization for its model and action, its caller's rate limits, and the
// redaction of its prompt. The rules come from the config's security sections and are swapped
// as one immutable policy on reload; the rate limiter's state outlives reloads.
//
// Protocol-neutral: a front door hands over the caller's credentials and the request as an
// InferenceRequest, and turns the statuses returned into its own errors.
#ifndef OLLAMA_GATEWAY_GATEWAY_CALL_SECURITY_GATE_H_
#define OLLAMA_GATEWAY_GATEWAY_CALL_SECURITY_GATE_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "gateway/config/config.h"
#include "gateway/telemetry/metrics.h"
#include "ollama_gateway/v1/inference.pb.h"
#include "security/api_keys.h"
#include "security/authorization.h"
#include "security/networks.h"
#include "security/rate_limiter.h"
#include "security/redactor.h"
#include "tls/peer_identity.h"

namespace og {

// What a caller presented.
struct CallerCredentials {
  // The `authorization` header's value, when one was sent.
  std::optional<std::string_view> authorization;
  // The verified client certificate; empty without one.
  tls::PeerIdentity certificate;
  // The caller's source address as its front door names it (security::ParsePeerAddress: HTTP's
  // "1.2.3.4:port" or "[::1]:port", gRPC's "ipv4:..." or "ipv6:..."); "" when unknown. Read
  // only for auth.networks.
  std::string_view peer;
};

// Who a call runs as.
struct Caller {
  // The authenticated identity, or "anonymous".
  std::string identity;
  // How it was established: "api_key", "mtls", "network" (auth.networks), "none" (anonymous)
  // or "unknown_key" (anonymous after a key no entry matches, with auth.unknown_keys:
  // anonymous).
  std::string_view method = "none";
};

// What the input limits measure of a call. A front door fills it from what its caller sent:
// gRPC from the request message (InputSizeOf), the HTTP front door from the body it read.
struct InputSize {
  // The request's size on the wire: a gRPC message's serialized size, an HTTP body's length.
  std::size_t request_bytes = 0;
  std::size_t messages = 0;
  // An embedding call's inputs (limits.max_embed_inputs); they are not messages.
  std::size_t embed_inputs = 0;
  // Every text the model reads, added up (prompt, system, message contents, ...).
  std::size_t text_bytes = 0;
  std::size_t images = 0;
};

// A gRPC request's InputSize: its serialized size, input_data, system and every message's
// content, and the messages' images.
InputSize InputSizeOf(const ollama_gateway::v1::InferenceRequest& request);

// The security sections of one config, ready for the request path. Immutable; thread-safe.
class SecurityPolicy {
 public:
  // Fails only on a redaction rule that does not compile (the config loader has already
  // refused those, with their line).
  static absl::StatusOr<std::shared_ptr<const SecurityPolicy>> Build(const Config& config);

  // Who the caller is, trying in turn:
  //   1. An API key, when sent and keys are configured (without any key configured a sent one
  //      is ignored, as Ollama ignores it). A malformed header is refused; an unknown key is
  //      refused, unless auth.unknown_keys is "anonymous": then it is ignored as if not sent.
  //   2. A verified client certificate (auth.mtls_identity).
  //   3. The source address (auth.networks), when neither gave an identity.
  //   4. "anonymous", unless auth.required.
  // UNAUTHENTICATED says what was wrong, never echoing the key (an ignored unknown key that
  // ends refused by auth.required is "not valid", as with unknown_keys: refuse). Identities from
  // certificates and from keys share one namespace and never collide: a certificate whose
  // identity is also an API key's identity is refused, so a certificate (perhaps from a CA that
  // signs for many) can never act as a key's holder.
  absl::StatusOr<Caller> Authenticate(const CallerCredentials& credentials) const;

  // INVALID_ARGUMENT naming the limits.* key a request exceeds: `size` against the size limits
  // (its request_bytes against max_image_request_bytes when it carries images, else against
  // max_request_bytes), `request`'s metadata against the metadata limits and its `format`
  // against max_json_depth.
  absl::Status CheckLimits(const ollama_gateway::v1::InferenceRequest& request,
                           const InputSize& size) const;

  // PERMISSION_DENIED naming the identity, the model and the action, unless a rule allows it
  // (always allowed without an authorization section).
  absl::Status Authorize(const Caller& caller, std::string_view model,
                         std::string_view canonical_model, security::Action action) const;

  // Redacts input_data, system and every message's content of `request` in place; counts
  // matches per rule in `metrics`. False when nothing matched (or there are no rules).
  bool Redact(ollama_gateway::v1::InferenceRequest* request, Metrics& metrics) const;
  // The same for any texts (a front door that forwards its caller's own document redacts every
  // text of it in place).
  bool Redact(std::span<std::string* const> texts, Metrics& metrics) const;
  bool redacts() const { return redactor_ != nullptr; }

  const LimitsConfig& limits() const { return limits_; }

 private:
  SecurityPolicy(const Config& config, std::unique_ptr<security::Redactor> redactor);

  const bool auth_required_;
  const bool unknown_keys_anonymous_;
  const std::string mtls_identity_;
  const security::ApiKeyStore keys_;
  const security::NetworkIdentities networks_;
  // The identities API keys authenticate, which no certificate may claim (see Authenticate).
  const std::set<std::string, std::less<>> key_identities_;
  const std::optional<security::AuthorizationPolicy> authorization_;
  const std::unique_ptr<security::Redactor> redactor_;
  const LimitsConfig limits_;
};

class SecurityGate {
 public:
  SecurityGate(const Clock& clock, Metrics& metrics);

  // Builds the policy of `config` and publishes it; configures the rate limiter. On failure
  // the running policy stays.
  absl::Status Apply(const Config& config);

  // `policy`'s Authenticate for a caller that sent `authorization` (its Authorization header
  // or metadata, "" when none) and `certificate` from `peer` (CallerCredentials::peer: the
  // HTTP request's remote or gRPC's peer string), counted in gateway_auth_total under
  // `frontend`. Every front door authenticates through here.
  absl::StatusOr<Caller> Authenticate(const SecurityPolicy& policy, std::string_view authorization,
                                      const tls::PeerIdentity& certificate, std::string_view peer,
                                      std::string_view frontend);

  std::shared_ptr<const SecurityPolicy> policy() const {
    return std::atomic_load_explicit(&policy_, std::memory_order_acquire);
  }

  // The caller's rate limit and, for a stream, its stream cap. RESOURCE_EXHAUSTED says which
  // limit, and `*retry_after` is set to when a call would be allowed (for the stream cap, a
  // hint: one second). A stream keeps `*permit` until it ends. `frontend` labels the metric.
  absl::Status Admit(const Caller& caller, security::Action action, std::string_view frontend,
                     security::StreamPermit* permit, std::chrono::milliseconds* retry_after);

 private:
  Metrics& metrics_;
  security::RateLimiter rate_limiter_;
  // Some identity has a rate or stream limit.
  std::atomic<bool> rate_limits_on_{false};
  std::shared_ptr<const SecurityPolicy> policy_;
};

// The config's rate limit in the limiter's terms: a burst of 0 becomes the rate rounded up.
security::RateLimit ToRateLimit(const RateLimitConfig& config);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_CALL_SECURITY_GATE_H_
