// Authorization: which identities may use which models, for which actions. Pure: no I/O.
#ifndef OLLAMA_GATEWAY_SECURITY_AUTHORIZATION_H_
#define OLLAMA_GATEWAY_SECURITY_AUTHORIZATION_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace og::security {

// What a call asks to do with a model: a whole answer at once (gRPC Predict) or a stream
// (gRPC PredictStream), or to manage it on the fleet's backends (pull, push, create, copy,
// delete, blobs).
enum class Action { kPredict, kStream, kManage };

// "predict", "stream" or "manage".
std::string_view ActionName(Action action);

// Shell-style match of the whole `text`: '*' matches any run of characters (also none, and also
// ':' and '/'), '?' exactly one character; every other character matches itself. Case-sensitive
// (callers lower-case both). Costs at most pattern size times text size, whatever the pattern:
// no backtracking blow-up (a pattern of many stars cannot make it exponential).
bool GlobMatch(std::string_view pattern, std::string_view text);

// One rule: the callers it applies to, and what it allows them.
struct AuthorizationRule {
  // Identity names; "*" is every authenticated identity (not the anonymous caller, who must be
  // named "anonymous" explicitly).
  std::vector<std::string> identities;
  // Group names; a caller in any of them matches.
  std::vector<std::string> groups;
  // Model patterns (GlobMatch) against the canonical model name ("llama3.2:latest").
  std::vector<std::string> models;
  bool predict = true;
  bool stream = true;
  // Managing models is granted only by rules that name it.
  bool manage = false;
};

// Rules are a union of grants: a call is allowed when any rule that applies to its caller
// allows its model and action; otherwise it is denied. Immutable once built; thread-safe.
class AuthorizationPolicy {
 public:
  // `groups` maps a group name to its member identities.
  AuthorizationPolicy(std::vector<AuthorizationRule> rules,
                      std::map<std::string, std::vector<std::string>> groups);

  bool Allows(std::string_view identity, std::string_view canonical_model, Action action) const;

 private:
  std::vector<AuthorizationRule> rules_;
  // identity -> the groups it belongs to
  std::map<std::string, std::vector<std::string>, std::less<>> groups_of_;
};

}  // namespace og::security

#endif  // OLLAMA_GATEWAY_SECURITY_AUTHORIZATION_H_
