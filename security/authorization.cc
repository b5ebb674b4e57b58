#include "security/authorization.h"

#include <algorithm>
#include <utility>

namespace og::security {
namespace {

constexpr std::string_view kAnonymous = "anonymous";
constexpr std::string_view kEveryAuthenticated = "*";

bool Contains(const std::vector<std::string>& names, std::string_view name) {
  return std::find(names.begin(), names.end(), name) != names.end();
}

}  // namespace

std::string_view ActionName(Action action) {
  switch (action) {
    case Action::kPredict:
      return "predict";
    case Action::kStream:
      return "stream";
    case Action::kManage:
      return "manage";
  }
  return "unknown";
}

bool GlobMatch(std::string_view pattern, std::string_view text) {
  std::size_t p = 0;
  std::size_t t = 0;
  // Where to resume after the last '*' seen: the pattern just past it, and the text position
  // that star has grown to. With only '*' and '?', retrying from the last star alone is enough:
  // an earlier star could only absorb text the last one can absorb as well, so no choice is ever
  // revisited further back and the cost stays at most pattern size times text size.
  std::size_t star = std::string_view::npos;
  std::size_t star_text = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = ++p;
      star_text = t;
    } else if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star;
      t = ++star_text;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

AuthorizationPolicy::AuthorizationPolicy(std::vector<AuthorizationRule> rules,
                                         std::map<std::string, std::vector<std::string>> groups)
    : rules_(std::move(rules)) {
  for (const auto& [group, members] : groups) {
    for (const std::string& member : members) groups_of_[member].push_back(group);
  }
}

bool AuthorizationPolicy::Allows(std::string_view identity, std::string_view canonical_model,
                                 Action action) const {
  const auto membership = groups_of_.find(identity);
  const std::vector<std::string>* my_groups =
      membership == groups_of_.end() ? nullptr : &membership->second;
  // An empty identity is a caller bug; it must not pass for an authenticated one.
  const bool authenticated = !identity.empty() && identity != kAnonymous;

  for (const AuthorizationRule& rule : rules_) {
    const bool grants = action == Action::kPredict  ? rule.predict
                        : action == Action::kStream ? rule.stream
                                                    : rule.manage;
    if (!grants) continue;
    const bool applies =
        Contains(rule.identities, identity) ||
        (authenticated && Contains(rule.identities, kEveryAuthenticated)) ||
        (my_groups != nullptr &&
         std::any_of(rule.groups.begin(), rule.groups.end(),
                     [&](const std::string& group) { return Contains(*my_groups, group); }));
    if (!applies) continue;
    for (const std::string& pattern : rule.models) {
      if (GlobMatch(pattern, canonical_model)) return true;
    }
  }
  return false;
}

}  // namespace og::security
