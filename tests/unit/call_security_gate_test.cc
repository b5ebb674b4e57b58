// The security policy's checks that the hostile-input defences rely on: identities from
// certificates and keys, the input limits over an InputSize, the depth of gRPC's format, and what
// an attempt tells outlier detection.
#include <catch2/catch.hpp>
#include <string>

#include "gateway/call/call_path.h"
#include "gateway/call/security_gate.h"
#include "gateway/config/config.h"
#include "tests/fakes/config_testing.h"

namespace og {
namespace {

// "og-test-key-alice" hashed for the identity alice (ollama-gateway hash-key).
constexpr const char* kAliceKey =
    "auth:\n  api_keys:\n    - identity: alice\n      hash: "
    "\"sha256:0123456789abcdef0123456789abcdef:"
    "41c6fb2f4d70d4e5cdb1b31d63f1ab0c5bd3b8c1a3b7e7a0b4b52d1bd6f2a3c1\"\n";

std::shared_ptr<const SecurityPolicy> PolicyOf(const std::string& sections) {
  const Config config = testing::Valid(testing::With(sections));
  absl::StatusOr<std::shared_ptr<const SecurityPolicy>> policy = SecurityPolicy::Build(config);
  REQUIRE(policy.ok());
  return *policy;
}

tls::PeerIdentity Certificate(std::string common_name, std::vector<std::string> sans = {}) {
  tls::PeerIdentity cert;
  cert.common_name = common_name;
  cert.subject = "CN=" + common_name;
  cert.sans = std::move(sans);
  return cert;
}

TEST_CASE("a certificate naming an API key's identity is refused", "[security_policy]") {
  const auto policy = PolicyOf(kAliceKey);
  CallerCredentials credentials;
  credentials.certificate = Certificate("alice");
  const absl::StatusOr<Caller> caller = policy->Authenticate(credentials);
  REQUIRE_FALSE(caller.ok());
  CHECK(caller.status().code() == absl::StatusCode::kUnauthenticated);
  CHECK(caller.status().message() ==
        "the client certificate names identity 'alice', which is an API key's identity; "
        "certificates and keys cannot share an identity");
  credentials.certificate = Certificate("bob");
  REQUIRE(policy->Authenticate(credentials).ok());
  CHECK(policy->Authenticate(credentials)->identity == "bob");
}

TEST_CASE("dns_san takes only host names from the certificate's SANs", "[security_policy]") {
  const auto policy = PolicyOf("auth:\n  mtls_identity: dns_san\n");
  const auto identity_of = [&](std::vector<std::string> sans) -> std::string {
    CallerCredentials credentials;
    credentials.certificate = Certificate("cn", std::move(sans));
    absl::StatusOr<Caller> caller = policy->Authenticate(credentials);
    return caller.ok() ? caller->identity : "refused";
  };
  CHECK(identity_of({"other types of SAN", "10.0.0.7", "::1", "bob@example.com", "spiffe://corp/x",
                     "svc-a.corp.example"}) == "svc-a.corp.example");
  // Nothing that is a host name: the certificate does not authenticate (anonymous is allowed).
  CHECK(identity_of({"other types of SAN", "192.168.1.1", "-bad-.example", "a..b"}) == "anonymous");
  CHECK(identity_of({"worker-7"}) == "worker-7");
}

TEST_CASE("the limits measure the InputSize a front door gives", "[security_policy]") {
  const auto policy = PolicyOf("limits:\n  max_prompt_bytes: 10\n  max_images: 1\n");
  ollama_gateway::v1::InferenceRequest request;
  InputSize size;
  size.request_bytes = 100;
  size.text_bytes = 11;
  CHECK(policy->CheckLimits(request, size).message() ==
        "the prompt's size in bytes (every text the model reads: prompt, suffix, system, "
        "template, message contents and thinking, tool-call arguments) (11) exceeds "
        "limits.max_prompt_bytes (10)");
  size.text_bytes = 10;
  size.images = 2;
  CHECK(policy->CheckLimits(request, size).message() ==
        "the number of images (2) exceeds limits.max_images (1)");
  size.images = 1;
  CHECK(policy->CheckLimits(request, size).ok());
  // A gRPC request measures itself, images included.
  auto* message = request.add_messages();
  message->set_content("0123456789");
  message->add_images("a");
  message->add_images("b");
  CHECK(InputSizeOf(request).images == 2);
  CHECK(InputSizeOf(request).text_bytes == 10);
}

TEST_CASE("gRPC's format is checked against the depth limit", "[security_policy]") {
  const auto policy = PolicyOf("limits:\n  max_json_depth: 8\n");
  ollama_gateway::v1::InferenceRequest request;
  request.set_format(std::string(9, '[') + std::string(9, ']'));
  CHECK(policy->CheckLimits(request, InputSizeOf(request)).message() ==
        "format nests deeper than limits.max_json_depth (8)");
  request.set_format(std::string(8, '[') + std::string(8, ']'));
  CHECK(policy->CheckLimits(request, InputSizeOf(request)).ok());
  request.set_format("json");
  CHECK(policy->CheckLimits(request, InputSizeOf(request)).ok());
  // Not JSON at all: sent to the backend as a string, which is Ollama's business.
  request.set_format("[[[[[[[[[[ not json");
  CHECK(policy->CheckLimits(request, InputSizeOf(request)).message() ==
        "format nests deeper than limits.max_json_depth (8)");
  request.set_format("{oops");
  CHECK(policy->CheckLimits(request, InputSizeOf(request)).ok());
}

TEST_CASE("manage is granted only by a rule that names it", "[security_policy]") {
  const auto policy = PolicyOf(
      "authorization:\n  rules:\n    - identities: [ops]\n      models: ['*']\n"
      "      actions: [manage]\n    - identities: ['*']\n      models: ['llama3*']\n");
  const Caller ops{"ops", "api_key"};
  const Caller alice{"alice", "api_key"};
  const auto allows = [&](const Caller& caller, security::Action action) {
    return policy->Authorize(caller, "llama3.2", "llama3.2:latest", action).ok();
  };
  CHECK(allows(ops, security::Action::kManage));
  // ops is also '*', which grants predict and stream on llama3* (but never manage).
  CHECK(allows(ops, security::Action::kPredict));
  CHECK_FALSE(allows(alice, security::Action::kManage));
  CHECK(allows(alice, security::Action::kStream));
  CHECK(policy->Authorize(alice, "llama3.2", "llama3.2:latest", security::Action::kManage)
            .message() == "identity 'alice' may not use model 'llama3.2' for manage");
}

UpstreamResult ResultOf(UpstreamOutcome outcome, long http_status = 0) {
  UpstreamResult result;
  result.outcome = outcome;
  result.http_status = http_status;
  return result;
}

TEST_CASE("only what is the backend's fault counts toward outlier detection", "[outlier]") {
  using Outcome = Router::Outcome;
  const AttemptFacts complete{.done = true};
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kOk), complete) == Outcome::kSuccess);
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kOk), AttemptFacts{}) == Outcome::kFailure);
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kOk), AttemptFacts{.parses_chunks = false}) ==
        Outcome::kSuccess);
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kHttpError, 500), {}) == Outcome::kFailure);
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kConnectFailed), {}) == Outcome::kFailure);
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kTransportError), {}) == Outcome::kFailure);
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kFirstByteTimeout), {}) == Outcome::kFailure);
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kTimeout), {}) == Outcome::kFailure);
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kAborted),
                        AttemptFacts{.stopped = true, .backend_fault = true}) == Outcome::kFailure);
}

TEST_CASE("a caller's doing never counts against a backend", "[outlier]") {
  using Outcome = Router::Outcome;
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kHttpError, 503), {}) == Outcome::kNeutral);
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kHttpError, 404), {}) == Outcome::kSuccess);
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kHttpError, 400), {}) == Outcome::kSuccess);
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kLineTooLong), {}) == Outcome::kNeutral);
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kTimeout),
                        AttemptFacts{.paused_for_caller = true}) == Outcome::kNeutral);
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kTimeout),
                        AttemptFacts{.deadline_passed = true}) == Outcome::kNeutral);
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kAborted), AttemptFacts{.stopped = true}) ==
        Outcome::kNeutral);
  CHECK(ClassifyAttempt(ResultOf(UpstreamOutcome::kAborted), {}) == Outcome::kNeutral);
}

}  // namespace
}  // namespace og
