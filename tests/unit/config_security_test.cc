// The security sections (auth, authorization, rate_limits, limits, redaction) and the API keys
// file: defaults, every key, and errors at their line.
#include <catch2/catch.hpp>
#include <string>

#include "gateway/config/load.h"
#include "security/api_keys.h"
#include "tests/fakes/config_testing.h"

namespace og {
namespace {

using testing::ErrorsOf;
using testing::Valid;
using testing::With;

std::string AHash() { return security::FormatApiKeyHash(security::HashApiKey("og_secret", {})); }

TEST_CASE("without security sections every caller is anonymous and unlimited", "[config]") {
  const Config config = Valid(testing::kTwoBackends);
  CHECK_FALSE(config.auth.required);
  CHECK(config.auth.mtls_identity == "common_name");
  CHECK(config.auth.api_keys.empty());
  CHECK_FALSE(config.authorization.enabled);
  CHECK(config.rate_limits.default_limit.requests_per_second == 0);
  CHECK(config.limits.max_request_bytes == 4 << 20);
  CHECK(config.limits.max_prompt_bytes == 1 << 20);
  CHECK(config.redaction.rules.empty());
}

TEST_CASE("every security key is read", "[config]") {
  const Config config = Valid(With(R"(auth:
  required: true
  mtls_identity: spiffe_id
  api_keys:
    - identity: ci-bot
      hash: ")" + AHash() + R"("
  groups:
    research: [alice, ci-bot]
authorization:
  rules:
    - identities: [alice]
      groups: [research]
      models: [Llama3.2, "qwen2.5:*"]
      actions: [stream]
rate_limits:
  default: {requests_per_second: 2.5, burst: 5, max_concurrent_streams: 3}
  identities:
    ci-bot: {requests_per_second: 100}
limits:
  max_request_bytes: 2048
  max_prompt_bytes: 1000
  max_messages: 10
  max_images: 2
  max_metadata_entries: 4
  max_metadata_key_bytes: 32
  max_metadata_value_bytes: 64
  max_header_bytes: 4096
redaction:
  rules:
    - name: email
      pattern: '\S+@\S+'
      replacement: "[EMAIL]"
    - name: strip
      pattern: 'secret'
      replacement: ""
)"));
  CHECK(config.auth.required);
  CHECK(config.auth.mtls_identity == "spiffe_id");
  REQUIRE(config.auth.api_keys.size() == 1);
  CHECK(config.auth.api_keys[0].identity == "ci-bot");
  CHECK(config.auth.api_keys[0].line == 13);
  CHECK(config.auth.groups.at("research") == std::vector<std::string>{"alice", "ci-bot"});
  REQUIRE(config.authorization.enabled);
  REQUIRE(config.authorization.rules.size() == 1);
  const AuthorizationRuleConfig& rule = config.authorization.rules[0];
  CHECK(rule.canonical_models == std::vector<std::string>{"llama3.2:latest", "qwen2.5:*"});
  CHECK_FALSE(rule.predict);
  CHECK(rule.stream);
  CHECK(config.rate_limits.default_limit.requests_per_second == 2.5);
  CHECK(config.rate_limits.default_limit.burst == 5);
  CHECK(config.rate_limits.default_limit.max_concurrent_streams == 3);
  CHECK(config.rate_limits.identities.at("ci-bot").requests_per_second == 100);
  CHECK(config.limits.max_request_bytes == 2048);
  CHECK(config.limits.max_header_bytes == 4096);
  REQUIRE(config.redaction.rules.size() == 2);
  CHECK(config.redaction.rules[0].replacement == "[EMAIL]");
  CHECK(config.redaction.rules[1].replacement.empty());
}

TEST_CASE("a bad API key entry is refused at its line without quoting the hash", "[config]") {
  const std::string errors =
      ErrorsOf(With("auth:\n  api_keys:\n    - identity: anonymous\n      hash: sha256:abcd:ef\n"
                    "    - hash: x\n"));
  CHECK(errors.find("test.yaml:11: auth.api_keys[0].identity: must be 1 to 128 characters") !=
        std::string::npos);
  CHECK(errors.find("test.yaml:12: auth.api_keys[0].hash: ") != std::string::npos);
  CHECK(errors.find("ollama-gateway hash-key") != std::string::npos);
  CHECK(errors.find("abcd") == std::string::npos);
  CHECK(errors.find("test.yaml:13: auth.api_keys[1]: missing required field 'identity'") !=
        std::string::npos);
}

TEST_CASE("an authorization rule names a defined group, someone and some models", "[config]") {
  CHECK(ErrorsOf(With("authorization:\n  rules:\n    - groups: [ops]\n      models: ['*']\n")) ==
        "test.yaml:11: authorization.rules[0].groups: group \"ops\" is not defined in "
        "auth.groups");
  CHECK(ErrorsOf(With("authorization:\n  rules:\n    - models: ['*']\n")) ==
        "test.yaml:11: authorization.rules[0]: needs identities or groups (whom the rule "
        "applies to)");
  CHECK(ErrorsOf(With("authorization:\n  rules:\n    - identities: ['*']\n")) ==
        "test.yaml:11: authorization.rules[0].models: needs models (names or patterns such as "
        "\"llama3*\"; \"*\" for every model)");
  CHECK(ErrorsOf(With("authorization:\n  rules:\n    - identities: ['*']\n      models: ['*']\n"
                      "      actions: [delete]\n")) ==
        "test.yaml:13: authorization.rules[0].actions[0]: must be predict, stream or manage, got "
        "\"delete\"");
  CHECK(ErrorsOf(With("authorization:\n  rules:\n    - identities: ['*']\n      models: ['*']\n"
                      "      actions: []\n")) ==
        "test.yaml:13: authorization.rules[0].actions: must name at least one of predict, "
        "stream, manage");
}

TEST_CASE("a pattern that writes the default namespace out is refused", "[config]") {
  CHECK(ErrorsOf(With("authorization:\n  rules:\n    - identities: ['*']\n      models: "
                      "['library/*']\n")) ==
        "test.yaml:12: authorization.rules[0].models: \"library/*\" never matches: model names "
        "are matched in their shortest form, without the default host registry.ollama.ai and "
        "namespace library (write \"llama3*\" for registry.ollama.ai/library/llama3*)");
  const Config config =
      Valid(With("authorization:\n  rules:\n    - identities: ['*']\n"
                 "      models: [registry.ollama.ai/library/llama3.2, "
                 "'registry.corp:5000/team/*']\n"));
  CHECK(config.authorization.rules[0].canonical_models ==
        std::vector<std::string>{"llama3.2:latest", "registry.corp:5000/team/*"});
}

TEST_CASE("auth.networks maps blocks to identities, refused at their line", "[config]") {
  const Config config = Valid(With(R"(auth:
  unknown_keys: anonymous
  networks:
    - {cidr: 10.0.0.0/8, identity: ollama-cli}
    - cidr: "fd00::/8"
      identity: lab
)"));
  CHECK(config.auth.unknown_keys == "anonymous");
  REQUIRE(config.auth.networks.size() == 2);
  CHECK(config.auth.networks[0].cidr == "10.0.0.0/8");
  CHECK(config.auth.networks[0].identity == "ollama-cli");
  CHECK(config.auth.networks[1].line == 13);
  CHECK(Valid(testing::kTwoBackends).auth.unknown_keys == "refuse");
  CHECK(Valid(testing::kTwoBackends).auth.networks.empty());

  const std::string errors = ErrorsOf(With(R"(auth:
  unknown_keys: allow
  networks:
    - {cidr: 10.0.0.1/8, identity: a}
    - {cidr: 10.0.0.0/8, identity: anonymous}
    - {cidr: 10.0.0.0/8, identity: b}
    - {identity: c}
    - {cidr: 300.0.0.0/8, identity: d, extra: 1}
)"));
  CHECK(errors.find("test.yaml:10: auth.unknown_keys: must be one of refuse, anonymous, got "
                    "\"allow\"") != std::string::npos);
  CHECK(errors.find("test.yaml:12: auth.networks[0].cidr: must be a CIDR such as 10.0.0.0/8 or "
                    "fd00::/8, got \"10.0.0.1/8\" (bits after the prefix are set") !=
        std::string::npos);
  CHECK(errors.find("test.yaml:13: auth.networks[1].identity: must be 1 to 128 characters") !=
        std::string::npos);
  CHECK(errors.find("test.yaml:14: auth.networks[2].cidr: duplicate network \"10.0.0.0/8\"") !=
        std::string::npos);
  CHECK(errors.find("test.yaml:15: auth.networks[3]: missing required field 'cidr'") !=
        std::string::npos);
  CHECK(errors.find("test.yaml:16: unknown field 'extra' in auth.networks[4]") !=
        std::string::npos);
}

TEST_CASE("the image and embedding limits have defaults and bounds", "[config]") {
  const Config config = Valid(testing::kTwoBackends);
  CHECK(config.limits.max_image_request_bytes == 64 << 20);
  CHECK(config.limits.max_embed_inputs == 2048);
  const Config set =
      Valid(With("limits:\n  max_image_request_bytes: 1048576\n  max_embed_inputs: 10\n"));
  CHECK(set.limits.max_image_request_bytes == 1 << 20);
  CHECK(set.limits.max_embed_inputs == 10);
  CHECK(ErrorsOf(With("limits:\n  max_embed_inputs: 0\n")) ==
        "test.yaml:10: limits.max_embed_inputs: must be an integer from 1 to 1000000, got \"0\"");
}

TEST_CASE("a rule grants manage only when its actions name it", "[config]") {
  const Config config = Valid(With(R"(authorization:
  rules:
    - identities: [ops]
      models: ["*"]
      actions: [manage]
    - identities: [alice]
      models: ["*"]
)"));
  REQUIRE(config.authorization.rules.size() == 2);
  const AuthorizationRuleConfig& ops = config.authorization.rules[0];
  CHECK(ops.manage);
  CHECK_FALSE(ops.predict);
  CHECK_FALSE(ops.stream);
  const AuthorizationRuleConfig& alice = config.authorization.rules[1];
  CHECK_FALSE(alice.manage);
  CHECK(alice.predict);
  CHECK(alice.stream);
}

TEST_CASE("rate limits and input limits are bounded", "[config]") {
  CHECK(ErrorsOf(With("rate_limits:\n  default: {burst: 3}\n")) ==
        "test.yaml:10: rate_limits.default.burst: needs requests_per_second (a burst above no "
        "rate limit)");
  CHECK(ErrorsOf(With("rate_limits:\n  default: {requests_per_second: -1}\n")) ==
        "test.yaml:10: rate_limits.default.requests_per_second: must be a number from 0 to "
        "1000000, got \"-1\"");
  CHECK(ErrorsOf(With("limits:\n  max_request_bytes: 10\n")) ==
        "test.yaml:10: limits.max_request_bytes: must be an integer from 1024 to 1073741824, "
        "got \"10\"");
}

TEST_CASE("a redaction rule must compile and be named once", "[config]") {
  const std::string errors =
      ErrorsOf(With("redaction:\n  rules:\n    - name: a\n      pattern: '(x'\n    - name: a\n"
                    "      pattern: 'x*'\n    - name: Bad-Name\n      pattern: y\n"));
  CHECK(errors.find("test.yaml:12: redaction.rules[0].pattern: ") != std::string::npos);
  CHECK(errors.find("test.yaml:13: redaction.rules[1].name: duplicate rule \"a\"") !=
        std::string::npos);
  CHECK(errors.find("test.yaml:14: redaction.rules[1].pattern: ") != std::string::npos);
  CHECK(errors.find("test.yaml:15: redaction.rules[2].name: must be 1 to 64 characters") !=
        std::string::npos);
}

TEST_CASE("an API keys file adds its entries and names itself in errors", "[config]") {
  AuthConfig auth;
  REQUIRE(ParseApiKeysFile("api_keys:\n  - identity: svc\n    hash: \"" + AHash() + "\"\n",
                           "keys.yaml", &auth)
              .ok());
  REQUIRE(auth.api_keys.size() == 1);
  CHECK(auth.api_keys[0].source == "keys.yaml");
  CHECK(auth.api_keys[0].line == 2);
  const absl::Status bad = ParseApiKeysFile("keys:\n  - x\n", "keys.yaml", &auth);
  CHECK(std::string(bad.message()).starts_with("keys.yaml:1: unknown field 'keys' at top level"));
}

}  // namespace
}  // namespace og
