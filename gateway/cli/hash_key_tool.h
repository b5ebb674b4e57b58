// `ollama-gateway hash-key`: turns an API key into the auth.api_keys entry that stores it as a
// salted hash, or makes a new random key, so operators never write hashes by hand.
#ifndef OLLAMA_GATEWAY_GATEWAY_CLI_HASH_KEY_TOOL_H_
#define OLLAMA_GATEWAY_GATEWAY_CLI_HASH_KEY_TOOL_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace og {

// Runs the tool. `args` are the words after "hash-key": `--generate` makes a key (printed once)
// instead of reading one line from `in`; `--identity NAME` fills the entry's identity.
// Returns the process exit code: 0 success, 2 bad usage or no key.
int RunHashKey(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
               std::ostream& err);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_CLI_HASH_KEY_TOOL_H_
