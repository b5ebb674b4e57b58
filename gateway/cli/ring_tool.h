// `ollama-gateway ring`: shows where affinity keys land on the ketama ring a configuration builds
// (every backend healthy), and what share of keys a configuration change would move, so an
// operator sees the cost of a change before applying it.
#ifndef OLLAMA_GATEWAY_GATEWAY_CLI_RING_TOOL_H_
#define OLLAMA_GATEWAY_GATEWAY_CLI_RING_TOOL_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace og {

// Runs the tool. `args` are the words after "ring". Keys are read from `in`, one per line.
// Returns the process exit code: 0 success, 1 invalid config, 2 bad usage.
int RunRingTool(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                std::ostream& err);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_CLI_RING_TOOL_H_
