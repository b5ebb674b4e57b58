#include "security/redactor.h"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace og::security {
namespace {

// Per rule, for its compiled programs and DFA caches together. A DFA that fills its share flushes
// and, if that keeps happening, RE2 falls back to its NFA: slower on that rule, never more memory.
// Typical PII patterns compile to a few kilobytes.
constexpr std::int64_t kMaxMemPerRule = std::int64_t{4} << 20;
// The combined set gets the budget of this many rules at most; past that, a set too large for it
// is simply not used.
constexpr std::size_t kMaxRulesInPrefilterBudget = 8;

// Whether `re` can match the empty string anywhere in some text. An empty match depends only on
// the empty-width assertions true at its position (^ $ \A \z \b \B, by line or by text), and
// those see only the characters on either side: none, a newline, a word character or another
// character. Trying the empty match between each of those pairs covers every text.
bool MatchesEmpty(const re2::RE2& re) {
  static constexpr std::string_view kSides[] = {"", "\n", "a", " "};
  for (std::string_view before : kSides) {
    for (std::string_view after : kSides) {
      std::string text(before);
      text.append(after);
      if (re.Match(text, before.size(), before.size(), re2::RE2::ANCHOR_BOTH, nullptr, 0)) {
        return true;
      }
    }
  }
  return false;
}

// absl::string_view: Debian's Abseil does not alias it to std::string_view, and StrCat needs it.
absl::Status RuleError(const RedactionRule& rule, absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat("redaction rule \"", rule.name, "\": ", reason));
}

}  // namespace

// All the rules as one RE2::Set: a single pass over the text tells whether any rule matches, so
// a prompt without anything to redact (the common case) is read once instead of once per rule.
struct Redactor::Prefilter {
  explicit Prefilter(const re2::RE2::Options& options) : set(options, re2::RE2::UNANCHORED) {}

  // Null when the set cannot be built (its combined program too large for its memory budget,
  // say): Redact then runs every rule, which is slower but redacts the same.
  static std::unique_ptr<Prefilter> Build(const std::vector<RedactionRule>& rules,
                                          re2::RE2::Options options) {
    if (rules.empty()) return nullptr;
    const std::size_t budget_rules = std::min(rules.size(), kMaxRulesInPrefilterBudget);
    options.set_max_mem(kMaxMemPerRule * static_cast<std::int64_t>(budget_rules));
    auto prefilter = std::make_unique<Prefilter>(options);
    for (const RedactionRule& rule : rules) {
      if (prefilter->set.Add(rule.pattern, nullptr) < 0) return nullptr;
    }
    if (!prefilter->set.Compile()) return nullptr;
    return prefilter;
  }

  re2::RE2::Set set;
};

absl::StatusOr<std::unique_ptr<Redactor>> Redactor::Create(std::vector<RedactionRule> rules) {
  re2::RE2::Options options;
  // A bad pattern is reported in the returned status; RE2's own logging would say it twice.
  options.set_log_errors(false);
  options.set_max_mem(kMaxMemPerRule);

  std::vector<std::unique_ptr<re2::RE2>> compiled;
  compiled.reserve(rules.size());
  for (const RedactionRule& rule : rules) {
    auto re = std::make_unique<re2::RE2>(rule.pattern, options);
    if (!re->ok()) return RuleError(rule, absl::StrCat("invalid pattern: ", re->error()));
    std::string rewrite_error;
    if (!re->CheckRewriteString(rule.replacement, &rewrite_error)) {
      return RuleError(rule, absl::StrCat("invalid replacement: ", rewrite_error));
    }
    if (MatchesEmpty(*re)) {
      return RuleError(rule, "pattern matches the empty string");
    }
    compiled.push_back(std::move(re));
  }
  std::unique_ptr<Prefilter> prefilter = Prefilter::Build(rules, options);
  return std::unique_ptr<Redactor>(
      new Redactor(std::move(rules), std::move(compiled), std::move(prefilter)));
}

Redactor::Redactor(std::vector<RedactionRule> rules,
                   std::vector<std::unique_ptr<re2::RE2>> compiled,
                   std::unique_ptr<Prefilter> prefilter)
    : rules_(std::move(rules)), compiled_(std::move(compiled)), prefilter_(std::move(prefilter)) {}

Redactor::~Redactor() = default;

bool Redactor::Redact(std::string* text, std::vector<std::size_t>* counts) const {
  if (counts != nullptr) counts->assign(compiled_.size(), 0);
  if (prefilter_ != nullptr) {
    // No rule matches the text as given, so none can match after another's replacement either.
    // A set that failed (its DFA out of memory) proves nothing: every rule runs then.
    re2::RE2::Set::ErrorInfo error{re2::RE2::Set::kNoError};
    if (!prefilter_->set.Match(*text, nullptr, &error) && error.kind == re2::RE2::Set::kNoError) {
      return false;
    }
  }
  bool replaced = false;
  for (std::size_t i = 0; i < compiled_.size(); ++i) {
    const int n = re2::RE2::GlobalReplace(text, *compiled_[i], rules_[i].replacement);
    if (n <= 0) continue;
    replaced = true;
    if (counts != nullptr) (*counts)[i] = static_cast<std::size_t>(n);
  }
  return replaced;
}

}  // namespace og::security
