#include "gateway/cli/hash_key_tool.h"

#include <istream>
#include <ostream>
#include <string>

#include "security/api_keys.h"

namespace og {
namespace {

constexpr const char* kUsage =
    "usage: ollama-gateway hash-key [--generate] [--identity NAME] < key\n";

}  // namespace

int RunHashKey(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
               std::ostream& err) {
  bool generate = false;
  std::string identity = "CHANGE-ME";
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--generate") {
      generate = true;
    } else if (args[i] == "--identity" && i + 1 < args.size()) {
      identity = args[++i];
    } else {
      err << kUsage;
      return 2;
    }
  }
  std::string key;
  if (generate) {
    key = security::GenerateApiKey();
  } else {
    std::getline(in, key);
    while (!key.empty() && (key.back() == '\r' || key.back() == ' ')) key.pop_back();
    if (key.empty()) {
      err << "hash-key: no key on standard input (or use --generate)\n" << kUsage;
      return 2;
    }
  }
  if (generate) {
    out << "# The new API key. It is shown only now: hand it to its caller, who sends\n"
        << "# 'authorization: Bearer <key>'.\n"
        << key << "\n";
  }
  out << "# Add to auth.api_keys (or to the auth.api_keys_file):\n"
      << "- identity: " << identity << "\n"
      << "  hash: \"" << security::FormatApiKeyHash(security::HashApiKeyWithRandomSalt(key))
      << "\"\n";
  return 0;
}

}  // namespace og
