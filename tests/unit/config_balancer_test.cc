// The balancer section: policies, their options, per-model pools, hash keys and ring labels.
#include <catch2/catch.hpp>
#include <string>

#include "gateway/config/balancer_section.h"
#include "tests/fakes/config_testing.h"

namespace og {
namespace {

using testing::ErrorsOf;
using testing::Valid;
using testing::With;

TEST_CASE("every known policy is accepted with its own options", "[config]") {
  Config c = Valid(With("balancer: {policy: least_connections, choice_count: 2}\n"));
  CHECK(c.balancer.policy == "least_connections");
  CHECK(c.balancer.choice_count == 2);
  c =
      Valid(With("balancer:\n  policy: ketama\n  bounded_load_factor: 1.25\n"
                 "  hash_key: metadata:session-id\n"));
  CHECK(c.balancer.bounded_load_factor == Approx(1.25));
  CHECK(c.balancer.hash_key.kind == HashKeySource::Kind::kMetadata);
  CHECK(c.balancer.hash_key.name == "session-id");
}

TEST_CASE("an option of another policy is refused naming the policy in force", "[config]") {
  CHECK(ErrorsOf(With("balancer: {policy: round_robin, choice_count: 2}\n")) ==
        "test.yaml:9: balancer.choice_count: only applies to policy least_connections (the "
        "policy here is round_robin)");
  CHECK(ErrorsOf(With("balancer:\n  policy: least_connections\n  hash_key: model\n")) ==
        "test.yaml:11: balancer.hash_key: only applies to policy ketama (the policy here is "
        "least_connections)");
}

TEST_CASE("choice_count is 0 or 2", "[config]") {
  CHECK(ErrorsOf(With("balancer: {policy: least_connections, choice_count: 1}\n")) ==
        "test.yaml:9: balancer.choice_count: must be 0 (compare every backend) or 2 (power of "
        "two choices), got 1");
  CHECK(ErrorsOf(With("balancer: {policy: least_connections, choice_count: 3}\n")) ==
        "test.yaml:9: balancer.choice_count: must be an integer from 0 to 2, got \"3\"");
}

TEST_CASE("bounded_load_factor is 0 or above 1", "[config]") {
  CHECK(ErrorsOf(With("balancer: {policy: ketama, bounded_load_factor: 0.5}\n")) ==
        "test.yaml:9: balancer.bounded_load_factor: must be 0 (off) or above 1 (e.g. 1.25), got "
        "0.5");
  CHECK(ErrorsOf(With("balancer: {policy: ketama, bounded_load_factor: lots}\n")) ==
        "test.yaml:9: balancer.bounded_load_factor: must be a number from 0 to 100, got \"lots\"");
  CHECK(Valid(With("balancer: {policy: ketama, bounded_load_factor: 2}\n"))
            .balancer.bounded_load_factor == 2);
}

TEST_CASE("hash key sources parse, and a bad one is refused with the accepted forms", "[config]") {
  CHECK(ParseHashKeySource("hash_key")->kind == HashKeySource::Kind::kRequestField);
  CHECK(ParseHashKeySource("model")->kind == HashKeySource::Kind::kModel);
  CHECK(ParseHashKeySource("header:x-user-id")->name == "x-user-id");
  CHECK(ParseHashKeySource("metadata:Session ID")->name == "Session ID");
  for (const char* text : {"hash_key", "model", "metadata:s", "header:x-s"}) {
    CHECK(HashKeySourceText(*ParseHashKeySource(text)) == text);
  }
  CHECK(ErrorsOf(With("balancer: {policy: ketama, hash_key: \"cookie:sid\"}\n")) ==
        "test.yaml:9: balancer.hash_key: invalid hash key source \"cookie:sid\": expected "
        "hash_key, model, metadata:NAME or header:NAME");
  CHECK(ErrorsOf(With("balancer: {policy: ketama, hash_key: \"header:X-User\"}\n")) ==
        "test.yaml:9: balancer.hash_key: invalid hash key source \"header:X-User\": a header "
        "name is lower-case letters, digits, '-', '_' and '.'");
  CHECK_FALSE(ParseHashKeySource("metadata:").ok());
}

TEST_CASE("a pool overrides the defaults for its model only", "[config]") {
  Config c = Valid(With(R"(balancer:
  policy: least_connections
  choice_count: 2
  pools:
    - model: Llama3.2
      policy: ketama
      hash_key: header:x-session
    - model: qwen2.5
      choice_count: 0
)"));
  REQUIRE(c.balancer.pools.size() == 2);
  CHECK(c.balancer.pools[0].line == 13);
  PolicyConfig llama = c.balancer.ForModel("llama3.2:latest");
  CHECK(llama.policy == "ketama");
  CHECK(llama.choice_count == 0);  // not inherited across a policy switch
  CHECK(llama.hash_key.kind == HashKeySource::Kind::kHeader);
  PolicyConfig qwen = c.balancer.ForModel("qwen2.5:latest");
  CHECK(qwen.policy == "least_connections");
  CHECK(qwen.choice_count == 0);
  CHECK(c.balancer.ForModel("mistral:latest").choice_count == 2);
}

TEST_CASE("a pool for a model no backend serves, or a second pool for a model, is refused",
          "[config]") {
  CHECK(ErrorsOf(With("balancer:\n  pools:\n    - model: mistral\n")) ==
        "test.yaml:11: balancer.pools[0].model: no backend serves \"mistral\" (add it to a "
        "backend's models)");
  CHECK(
      ErrorsOf(With("balancer:\n  pools:\n    - model: qwen2.5\n    - model: QWEN2.5:latest\n")) ==
      "test.yaml:12: balancer.pools[1].model: a pool for \"QWEN2.5:latest\" is already "
      "configured at line 11");
  CHECK(ErrorsOf(With("balancer:\n  pools:\n    - policy: ketama\n")) ==
        "test.yaml:11: balancer.pools[0]: missing required field 'model'");
  CHECK(ErrorsOf(With("balancer:\n  pools:\n    - model: qwen2.5\n      polcy: ketama\n")) ==
        "test.yaml:12: unknown field 'polcy' in balancer.pools[0] (valid: model, policy, "
        "choice_count, bounded_load_factor, hash_key); did you mean 'policy'?");
}

TEST_CASE("ring labels are host:port with the default port, or the hash_id", "[config]") {
  BackendConfig b;
  b.url = "http://gpu1.internal";
  CHECK(HashLabel(b) == "gpu1.internal:80");
  b.url = "https://gpu1.internal/ollama";
  CHECK(HashLabel(b) == "gpu1.internal:443");
  b.url = "http://[fd00::1]:11434";
  CHECK(HashLabel(b) == "[fd00::1]:11434");
  b.hash_id = "rack1-slot3";
  CHECK(HashLabel(b) == "rack1-slot3");
}

TEST_CASE("two backends with one ring label are refused when a pool hashes", "[config]") {
  const std::string same_host = R"(listen: {address: "127.0.0.1:0", insecure: true}
backends:
  - {name: a, url: "http://10.0.0.1:11434"}
  - {name: b, url: "http://10.0.0.1:11434/"}
  - {name: c, url: "http://10.0.0.3:11434", hash_id: "10.0.0.1:11434"}
)";
  CHECK(Valid(same_host).backends.size() == 3);  // round-robin does not care
  CHECK(ErrorsOf(same_host + "balancer: {policy: ketama}\n") ==
        "test.yaml:4: backends[1]: ketama label \"10.0.0.1:11434\" is also backends[0]'s (give "
        "one of them a distinct hash_id)\n"
        "test.yaml:5: backends[2]: ketama label \"10.0.0.1:11434\" is also backends[0]'s (give "
        "one of them a distinct hash_id)");
}

}  // namespace
}  // namespace og
