// Redaction of sensitive text (phone numbers, national IDs, e-mail addresses, ...) in prompts
// before they are forwarded to a model, with RE2 regular expressions (linear time, no
// backtracking, so a rule cannot be made to hang on a crafted prompt).
#ifndef OLLAMA_GATEWAY_SECURITY_REDACTOR_H_
#define OLLAMA_GATEWAY_SECURITY_REDACTOR_H_

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace re2 {
class RE2;
}

namespace og::security {

struct RedactionRule {
  // Names the rule in metrics and logs, [a-z0-9_]+.
  std::string name;
  // RE2 syntax.
  std::string pattern;
  // Replaces each match; RE2 rewrite syntax (\0 whole match, \1 first group, \\ a backslash).
  std::string replacement;
};

// Compiled rules, applied in order. Immutable once built; thread-safe.
class Redactor {
 public:
  // Compiles every rule; INVALID_ARGUMENT names the first rule that fails and RE2's reason
  // (bad pattern, or a replacement naming a group the pattern lacks). A pattern that matches the
  // empty string is refused too (it would insert the replacement between every character).
  static absl::StatusOr<std::unique_ptr<Redactor>> Create(std::vector<RedactionRule> rules);
  ~Redactor();

  // Replaces every match of every rule in `text`. `counts`, sized to the number of rules by the
  // call, receives the matches replaced per rule. Returns true when anything was replaced.
  bool Redact(std::string* text, std::vector<std::size_t>* counts) const;

  const std::vector<RedactionRule>& rules() const { return rules_; }

 private:
  struct Prefilter;
  Redactor(std::vector<RedactionRule> rules, std::vector<std::unique_ptr<re2::RE2>> compiled,
           std::unique_ptr<Prefilter> prefilter);
  std::vector<RedactionRule> rules_;
  std::vector<std::unique_ptr<re2::RE2>> compiled_;
  std::unique_ptr<Prefilter> prefilter_;  // null when the rules could not be combined
};

}  // namespace og::security

#endif  // OLLAMA_GATEWAY_SECURITY_REDACTOR_H_
