// The security policy's checks that the hostile-input defences rely on: identities from
// certificates and keys, the input limits over an InputSize, the depth of gRPC's format, and what
// an attempt tells outlier detection.
#include <catch2/catch.hpp>
#include <string>

#include "gateway/call/call_path.h"
#include "gateway/call/security_gate.h"
#include "gateway/config/config.h"
#include "security/api_keys.h"
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

// Alice's key "og_alice", networks for 127.0.0.0/8 and 10.1.0.0/16, and `extra` auth keys.
std::string NetworkAuth(std::string_view extra) {
  return "auth:\n" + std::string(extra) + "  api_keys:\n    - identity: alice\n      hash: \"" +
         security::FormatApiKeyHash(security::HashApiKey("og_alice", {})) +
         "\"\n  networks:\n    - {cidr: 127.0.0.0/8, identity: ollama-cli}\n"
         "    - {cidr: '10.1.0.0/16', identity: lab}\n";
}

// Who a caller is, or "refused: REASON".
std::string WhoIs(const SecurityPolicy& policy, std::optional<std::string_view> authorization,
                  std::string_view peer, tls::PeerIdentity certificate = {}) {
  CallerCredentials credentials;
  credentials.authorization = authorization;
  credentials.peer = peer;
  credentials.certificate = std::move(certificate);
  const absl::StatusOr<Caller> caller = policy.Authenticate(credentials);
  if (!caller.ok()) return "refused: " + std::string(caller.status().message());
  return caller->identity + " by " + std::string(caller->method);
}

TEST_CASE("a caller without a key or certificate gets its network's identity",
          "[security_policy]") {
  const auto policy = PolicyOf(NetworkAuth("  required: true\n"));
  CHECK(WhoIs(*policy, std::nullopt, "127.0.0.1:40000") == "ollama-cli by network");
  CHECK(WhoIs(*policy, std::nullopt, "ipv4:10.1.7.7:40000") == "lab by network");
  CHECK(WhoIs(*policy, std::nullopt, "ipv6:[::ffff:10.1.0.1]:1") == "lab by network");
  CHECK(WhoIs(*policy, std::nullopt, "10.2.0.1:40000")
            .starts_with("refused: this gateway "
                         "requires authentication"));
  CHECK(WhoIs(*policy, std::nullopt, "").starts_with("refused: this gateway requires"));
  // A key or a certificate, when sent, wins; an invalid key is still refused.
  CHECK(WhoIs(*policy, "Bearer og_alice", "127.0.0.1:40000") == "alice by api_key");
  CHECK(WhoIs(*policy, "Bearer og_wrong", "127.0.0.1:40000") ==
        "refused: the API key is not valid");
  CHECK(WhoIs(*policy, "Basic x", "127.0.0.1:40000") ==
        "refused: the authorization header must read 'Bearer <API key>'");
  CHECK(WhoIs(*policy, std::nullopt, "127.0.0.1:40000", Certificate("svc")) == "svc by mtls");
}

TEST_CASE("without networks the source address names nobody", "[security_policy]") {
  const auto policy = PolicyOf("auth:\n  required: false\n");
  CHECK(WhoIs(*policy, std::nullopt, "127.0.0.1:40000") == "anonymous by none");
}

TEST_CASE("unknown_keys: anonymous ignores a key no entry matches", "[security_policy]") {
  const auto refuse = PolicyOf(NetworkAuth(""));
  CHECK(WhoIs(*refuse, "Bearer ollama", "192.0.2.1:1") == "refused: the API key is not valid");
  const auto anonymous = PolicyOf(NetworkAuth("  unknown_keys: anonymous\n"));
  CHECK(WhoIs(*anonymous, "Bearer ollama", "192.0.2.1:1") == "anonymous by unknown_key");
  // Ignored as if not sent: the network still names the caller.
  CHECK(WhoIs(*anonymous, "Bearer ollama", "127.0.0.1:1") == "ollama-cli by network");
  CHECK(WhoIs(*anonymous, "Bearer og_alice", "192.0.2.1:1") == "alice by api_key");
  CHECK(WhoIs(*anonymous, "Basic ollama", "192.0.2.1:1") ==
        "refused: the authorization header must read 'Bearer <API key>'");
  // auth.required admits no anonymous caller, placeholder or not.
  const auto required = PolicyOf(NetworkAuth("  required: true\n  unknown_keys: anonymous\n"));
  CHECK(WhoIs(*required, "Bearer ollama", "192.0.2.1:1") == "refused: the API key is not valid");
  CHECK(WhoIs(*required, "Bearer ollama", "127.0.0.1:1") == "ollama-cli by network");
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

TEST_CASE("a request with images is bounded by max_image_request_bytes", "[security_policy]") {
  const auto policy =
      PolicyOf("limits:\n  max_request_bytes: 1024\n  max_image_request_bytes: 4096\n");
  ollama_gateway::v1::InferenceRequest request;
  InputSize size;
  size.request_bytes = 2000;
  CHECK(policy->CheckLimits(request, size).message() ==
        "the request's size in bytes (2000) exceeds limits.max_request_bytes (1024)");
  size.images = 1;
  CHECK(policy->CheckLimits(request, size).ok());
  size.request_bytes = 4097;
  CHECK(policy->CheckLimits(request, size).message() ==
        "the size in bytes of the request with images (4097) exceeds "
        "limits.max_image_request_bytes (4096)");
  // gRPC: 20 MiB of images in a message pass the defaults.
  const auto defaults = PolicyOf("");
  ollama_gateway::v1::InferenceRequest images;
  images.set_model_name("llava");
  auto* message = images.add_messages();
  message->set_role("user");
  message->set_content("what is this?");
  for (int i = 0; i < 4; ++i) message->add_images(std::string(5 << 20, 'x'));
  CHECK(defaults->CheckLimits(images, InputSizeOf(images)).ok());
}

TEST_CASE("embedding inputs have their own limit, apart from messages", "[security_policy]") {
  const auto policy = PolicyOf("limits:\n  max_messages: 2\n  max_embed_inputs: 3\n");
  ollama_gateway::v1::InferenceRequest request;
  InputSize size;
  size.embed_inputs = 3;
  CHECK(policy->CheckLimits(request, size).ok());
  size.embed_inputs = 4;
  CHECK(policy->CheckLimits(request, size).message() ==
        "the number of embedding inputs (4) exceeds limits.max_embed_inputs (3)");
  CHECK(PolicyOf("")->limits().max_embed_inputs == 2048);
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
