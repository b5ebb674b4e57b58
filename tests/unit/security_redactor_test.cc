#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "security/redactor.h"

namespace og::security {
namespace {

using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

std::vector<RedactionRule> TypicalRules() {
  return {
      {"email", R"([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})", "[EMAIL]"},
      {"phone", R"(\b\d{3}[ .-]\d{3}[ .-]\d{4}\b)", "[PHONE]"},
      {"national_id", R"(\b\d{3}-\d{2}-\d{4}\b)", "[ID]"},
  };
}

std::unique_ptr<Redactor> Build(std::vector<RedactionRule> rules) {
  auto redactor = Redactor::Create(std::move(rules));
  REQUIRE(redactor.ok());
  return std::move(*redactor);
}

std::string ErrorOf(std::vector<RedactionRule> rules) {
  const auto redactor = Redactor::Create(std::move(rules));
  REQUIRE_FALSE(redactor.ok());
  CHECK(redactor.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(redactor.status().message());
}

TEST_CASE("every e-mail address, phone number and ID in a prompt is replaced and counted per rule",
          "[security][redactor]") {
  const auto redactor = Build(TypicalRules());
  std::string text =
      "Mail jane.doe@example.com or j.smith+ops@corp.example.org, call 555-123-4567 or "
      "555.987.6543. My ID is 123-45-6789.";
  std::vector<std::size_t> counts;
  CHECK(redactor->Redact(&text, &counts));
  CHECK(text == "Mail [EMAIL] or [EMAIL], call [PHONE] or [PHONE]. My ID is [ID].");
  CHECK(counts == std::vector<std::size_t>{2, 2, 1});
}

TEST_CASE("a text with nothing to redact is left as it was and Redact returns false",
          "[security][redactor]") {
  const auto redactor = Build(TypicalRules());
  const std::string original = "Summarize the release notes of version 1.2.3 in 50 words.";
  std::string text = original;
  std::vector<std::size_t> counts = {9, 9, 9, 9, 9};
  CHECK_FALSE(redactor->Redact(&text, &counts));
  CHECK(text == original);
  CHECK(counts == std::vector<std::size_t>{0, 0, 0});
}

TEST_CASE("a replacement can keep groups of the match", "[security][redactor]") {
  const auto redactor = Build({
      {"card", R"(\b(\d{4})[ -]?(\d{4})[ -]?(\d{4})[ -]?(\d{4})\b)", R"(****-****-****-\4)"},
      {"email", R"(\b[a-z]+@([a-z.]+)\b)", R"(<someone@\1>)"},
  });
  std::string text = "card 4111 1111 1111 1234, mail bob@example.com";
  std::vector<std::size_t> counts;
  CHECK(redactor->Redact(&text, &counts));
  CHECK(text == "card ****-****-****-1234, mail <someone@example.com>");
  CHECK(counts == std::vector<std::size_t>{1, 1});
}

TEST_CASE("a replacement can use the whole match and a literal backslash", "[security][redactor]") {
  const auto redactor = Build({{"secret", R"(sk-[a-z0-9]{6})", R"([\\\0])"}});
  std::string text = "key sk-abc123 here";
  std::vector<std::size_t> counts;
  CHECK(redactor->Redact(&text, &counts));
  CHECK(text == R"(key [\sk-abc123] here)");
}

TEST_CASE("rules apply in order, each to the text the ones before it left",
          "[security][redactor]") {
  const auto redactor = Build({{"first", "alpha", "beta"}, {"second", "beta", "gamma"}});
  std::string text = "alpha beta";
  std::vector<std::size_t> counts;
  CHECK(redactor->Redact(&text, &counts));
  CHECK(text == "gamma gamma");
  CHECK(counts == std::vector<std::size_t>{1, 2});
}

TEST_CASE("Redact accepts no counts vector", "[security][redactor]") {
  const auto redactor = Build(TypicalRules());
  std::string text = "mail a@b.io";
  CHECK(redactor->Redact(&text, nullptr));
  CHECK(text == "mail [EMAIL]");
}

TEST_CASE("rules() returns the rules as given", "[security][redactor]") {
  const auto redactor = Build(TypicalRules());
  REQUIRE(redactor->rules().size() == 3);
  CHECK(redactor->rules()[2].name == "national_id");
  CHECK(redactor->rules()[2].replacement == "[ID]");
}

TEST_CASE("a pattern RE2 cannot compile is refused with the rule's name and RE2's reason",
          "[security][redactor]") {
  const std::string message = ErrorOf({{"email", "[a-z]+@", "x"}, {"broken", "(unclosed", "x"}});
  CHECK_THAT(message, StartsWith("redaction rule \"broken\": invalid pattern: "));
  CHECK_THAT(message, Contains("missing )"));
}

TEST_CASE("the first failing rule is the one named", "[security][redactor]") {
  const std::string message = ErrorOf({{"one", "(", "x"}, {"two", "[", "x"}});
  CHECK_THAT(message, StartsWith("redaction rule \"one\": "));
}

TEST_CASE("a pattern that can match the empty string is refused", "[security][redactor]") {
  for (const char* pattern : {"x*", "a?", "(?:abc)?", "", "\\b", "\\B", "^", "$", "(?m)^", "(?m)$",
                              "\\A", "\\z", "x*|y", "(?m)^\\s*$"}) {
    INFO(pattern);
    CHECK(ErrorOf({{"bad", pattern, "x"}}) ==
          "redaction rule \"bad\": pattern matches the empty string");
  }
}

TEST_CASE("a pattern with anchors and boundaries around text is accepted", "[security][redactor]") {
  for (const char* pattern : {"\\bfoo\\b", "^foo", "foo$", "(?m)^foo$", "\\Bfoo", "x+", "a|bc"}) {
    INFO(pattern);
    CHECK(Redactor::Create({{"ok", pattern, "x"}}).ok());
  }
}

TEST_CASE("a replacement naming a group the pattern lacks is refused", "[security][redactor]") {
  const std::string message = ErrorOf({{"card", R"((\d{4})-(\d{4}))", R"(\1-\3)"}});
  CHECK_THAT(message, StartsWith("redaction rule \"card\": invalid replacement: "));
}

TEST_CASE("a replacement with a backslash before a letter is refused", "[security][redactor]") {
  const std::string message = ErrorOf({{"tab", "secret", R"(\t)"}});
  CHECK_THAT(message, StartsWith("redaction rule \"tab\": invalid replacement: "));
}

TEST_CASE("a redactor without rules changes nothing", "[security][redactor]") {
  const auto redactor = Build({});
  std::string text = "mail a@b.io";
  std::vector<std::size_t> counts = {1};
  CHECK_FALSE(redactor->Redact(&text, &counts));
  CHECK(text == "mail a@b.io");
  CHECK(counts.empty());
}

}  // namespace
}  // namespace og::security
