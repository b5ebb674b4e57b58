#include <catch2/catch.hpp>
#include <map>
#include <string>
#include <vector>

#include "security/authorization.h"

namespace og::security {
namespace {

// ---- GlobMatch ----

TEST_CASE("GlobMatch matches these patterns against these names exactly as listed",
          "[security][glob]") {
  struct Row {
    const char* pattern;
    const char* text;
    bool matches;
  };
  const Row rows[] = {
      {"llama3.2:latest", "llama3.2:latest", true},
      {"llama3.2:latest", "llama3.2:1b", false},
      {"llama3.2", "llama3.2:latest", false},  // the whole text, not a prefix
      {"Llama3.2:latest", "llama3.2:latest", false},
      {"*", "llama3.2:latest", true},
      {"*", "", true},
      {"llama3.2:*", "llama3.2:latest", true},
      {"llama3.2:*", "llama3.2:", true},
      {"llama3.2:*", "llama3.1:latest", false},
      {"llama*", "llama3.2:latest", true},                     // '*' runs across ':'
      {"*/llama3*", "registry.example/team/llama3:8b", true},  // and across '/'
      {"*:latest", "qwen2.5:latest", true},
      {"*:latest", "qwen2.5:7b", false},
      {"*a*b*", "xaxxbx", true},
      {"*a*b*", "xbxxax", false},
      {"llama3.?:latest", "llama3.2:latest", true},
      {"llama3.?:latest", "llama3.:latest", false},  // '?' is exactly one character
      {"llama3.?:latest", "llama3.10:latest", false},
      {"???", "abc", true},
      {"???", "ab", false},
      {"?*", "", false},
      {"**", "", true},
      {"a**b", "ab", true},
      {"", "", true},
      {"", "llama3", false},
      {"llama3", "", false},
  };
  for (const Row& row : rows) {
    INFO("pattern \"" << row.pattern << "\" text \"" << row.text << "\"");
    CHECK(GlobMatch(row.pattern, row.text) == row.matches);
  }
}

TEST_CASE("GlobMatch finishes on many stars against a long text that almost matches",
          "[security][glob]") {
  // A recursive matcher tries every way of splitting 10,000 characters among five stars here.
  const std::string text(10000, 'a');
  CHECK_FALSE(GlobMatch("a*a*a*a*a*b", text));
  CHECK(GlobMatch("a*a*a*a*a*a", text));
  CHECK_FALSE(GlobMatch("*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b*", text));
}

TEST_CASE("ActionName names each action as configured", "[security][authorization]") {
  CHECK(ActionName(Action::kPredict) == "predict");
  CHECK(ActionName(Action::kStream) == "stream");
}

// ---- AuthorizationPolicy ----

AuthorizationRule Rule(std::vector<std::string> identities, std::vector<std::string> groups,
                       std::vector<std::string> models) {
  AuthorizationRule rule;
  rule.identities = std::move(identities);
  rule.groups = std::move(groups);
  rule.models = std::move(models);
  return rule;
}

TEST_CASE("a rule naming an identity allows it the rule's models and no others",
          "[security][authorization]") {
  const AuthorizationPolicy policy({Rule({"alice"}, {}, {"llama3.2:*"})}, {});
  CHECK(policy.Allows("alice", "llama3.2:latest", Action::kPredict));
  CHECK(policy.Allows("alice", "llama3.2:latest", Action::kStream));
  CHECK_FALSE(policy.Allows("alice", "qwen2.5:latest", Action::kPredict));
  CHECK_FALSE(policy.Allows("bob", "llama3.2:latest", Action::kPredict));
}

TEST_CASE("a rule naming a group applies to the group's members only",
          "[security][authorization]") {
  const AuthorizationPolicy policy({Rule({}, {"research"}, {"*"})},
                                   {{"research", {"alice", "bob"}}, {"ops", {"carol"}}});
  CHECK(policy.Allows("alice", "llama3.2:latest", Action::kPredict));
  CHECK(policy.Allows("bob", "qwen2.5:7b", Action::kStream));
  CHECK_FALSE(policy.Allows("carol", "llama3.2:latest", Action::kPredict));
  CHECK_FALSE(policy.Allows("dave", "llama3.2:latest", Action::kPredict));
}

TEST_CASE("an identity in several groups gets what any of its groups is granted",
          "[security][authorization]") {
  const AuthorizationPolicy policy({Rule({}, {"ops"}, {"qwen2.5:*"})},
                                   {{"research", {"alice"}}, {"ops", {"alice"}}});
  CHECK(policy.Allows("alice", "qwen2.5:7b", Action::kPredict));
}

TEST_CASE("the identity \"*\" applies to every authenticated identity but not the anonymous one",
          "[security][authorization]") {
  const AuthorizationPolicy policy({Rule({"*"}, {}, {"*"})}, {});
  CHECK(policy.Allows("alice", "llama3.2:latest", Action::kPredict));
  CHECK(policy.Allows("svc-batch", "llama3.2:latest", Action::kStream));
  CHECK_FALSE(policy.Allows("anonymous", "llama3.2:latest", Action::kPredict));
  CHECK_FALSE(policy.Allows("", "llama3.2:latest", Action::kPredict));
}

TEST_CASE("the anonymous caller is allowed only by a rule that names \"anonymous\"",
          "[security][authorization]") {
  const AuthorizationPolicy policy({Rule({"anonymous"}, {}, {"tinyllama:*"})}, {});
  CHECK(policy.Allows("anonymous", "tinyllama:latest", Action::kPredict));
  CHECK_FALSE(policy.Allows("anonymous", "llama3.2:latest", Action::kPredict));
  CHECK_FALSE(policy.Allows("alice", "tinyllama:latest", Action::kPredict));
}

TEST_CASE("a rule that allows only predict denies a stream of the same model",
          "[security][authorization]") {
  AuthorizationRule rule = Rule({"alice"}, {}, {"*"});
  rule.stream = false;
  const AuthorizationPolicy policy({rule}, {});
  CHECK(policy.Allows("alice", "llama3.2:latest", Action::kPredict));
  CHECK_FALSE(policy.Allows("alice", "llama3.2:latest", Action::kStream));
}

TEST_CASE("a rule that allows only streams denies predict of the same model",
          "[security][authorization]") {
  AuthorizationRule rule = Rule({"alice"}, {}, {"*"});
  rule.predict = false;
  const AuthorizationPolicy policy({rule}, {});
  CHECK(policy.Allows("alice", "llama3.2:latest", Action::kStream));
  CHECK_FALSE(policy.Allows("alice", "llama3.2:latest", Action::kPredict));
}

TEST_CASE("rules add up: what one rule denies another can grant", "[security][authorization]") {
  AuthorizationRule predict_everything = Rule({"alice"}, {}, {"*"});
  predict_everything.stream = false;
  const AuthorizationRule stream_llama = Rule({}, {"streamers"}, {"llama3.2:*"});
  const AuthorizationPolicy policy({predict_everything, stream_llama}, {{"streamers", {"alice"}}});
  CHECK(policy.Allows("alice", "qwen2.5:7b", Action::kPredict));
  CHECK(policy.Allows("alice", "llama3.2:latest", Action::kStream));
  CHECK_FALSE(policy.Allows("alice", "qwen2.5:7b", Action::kStream));
}

TEST_CASE("a rule with several model patterns allows a model matching any of them",
          "[security][authorization]") {
  const AuthorizationPolicy policy({Rule({"alice"}, {}, {"llama3.2:*", "qwen2.5:7b"})}, {});
  CHECK(policy.Allows("alice", "qwen2.5:7b", Action::kPredict));
  CHECK(policy.Allows("alice", "llama3.2:1b", Action::kPredict));
  CHECK_FALSE(policy.Allows("alice", "qwen2.5:14b", Action::kPredict));
}

TEST_CASE("without any rule, every call is denied", "[security][authorization]") {
  const AuthorizationPolicy policy({}, {{"admins", {"alice"}}});
  CHECK_FALSE(policy.Allows("alice", "llama3.2:latest", Action::kPredict));
  CHECK_FALSE(policy.Allows("anonymous", "llama3.2:latest", Action::kPredict));
}

TEST_CASE("a rule without models allows nothing", "[security][authorization]") {
  const AuthorizationPolicy policy({Rule({"alice"}, {}, {})}, {});
  CHECK_FALSE(policy.Allows("alice", "llama3.2:latest", Action::kPredict));
}

}  // namespace
}  // namespace og::security
