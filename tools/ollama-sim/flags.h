// Command-line flags of ollama-sim (`--flag value`). docs/ollama-sim.md documents each one.
#ifndef OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_FLAGS_H_
#define OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_FLAGS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace og::sim {

// Everything the simulator is started with.
struct SimOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 11434;  // 0 picks a free port
  std::vector<std::string> models = {"llama3.2"};
  int tokens = 20;         // tokens per generation (>= 1)
  int token_delay_ms = 0;  // time per generated token
  int load_delay_ms = 0;   // time to load a model that is not loaded
  int parallel = 0;        // decode slots per model; 0 = unlimited
  int max_queue = 512;     // requests that may wait for a load (>= 1)
  std::chrono::nanoseconds keep_alive = std::chrono::minutes(5);  // negative = forever
  std::string name = "ollama-sim";
  std::string version = "0.33.0";  // the Ollama version the simulator follows
  int threads = 1;                 // io_context threads
  int pull_delay_ms = 100;         // the time a pull or push takes
  std::int64_t memory_bytes = 0;   // memory for models; 0 = unlimited
  std::string digest_salt;         // mixed into every digest; "" = digests of names alone
  std::vector<std::pair<std::string, std::uint64_t>> model_sizes;  // (model key, bytes)
  std::size_t max_body_bytes = 16 << 20;  // largest request body (413 past it)
  bool help = false;                      // --help: print Usage() and exit 0
};

// Parses argv[1..]. Fails with InvalidArgument naming the flag for an unknown flag, a missing
// value or a value out of range.
absl::StatusOr<SimOptions> ParseFlags(const std::vector<std::string>& args);

// The --help text.
std::string Usage();

}  // namespace og::sim

#endif  // OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_FLAGS_H_
