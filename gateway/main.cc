// ollama-gateway: the command line. Runs the gateway (process/serve.h), checks a configuration
// file, or runs a subcommand (cli/: ring, hash-key).
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "gateway/cli/hash_key_tool.h"
#include "gateway/cli/ring_tool.h"
#include "gateway/config/load.h"
#include "gateway/process/serve.h"
#include "spdlog/sinks/stdout_color_sinks.h"
#include "spdlog/spdlog.h"

namespace og {
namespace {

constexpr const char* kUsage = R"(usage:
  ollama-gateway --config FILE         run the gateway
  ollama-gateway --check-config FILE   validate FILE; print FILE:LINE: reason per error
  ollama-gateway ring --config FILE [--model M] < keys
                                       where keys land on the ketama ring (KEY<TAB>BACKEND)
  ollama-gateway ring --config OLD --compare NEW [--model M] < keys
                                       how many keys a config change would move
  ollama-gateway hash-key [--generate]
                                       reads an API key on stdin (or makes one) and prints the
                                       auth.api_keys entry that stores it as a salted hash
  ollama-gateway --version
Signals: SIGHUP reloads the config file and the TLS files; SIGINT or SIGTERM stop the gateway.
)";

// Exit codes: 0 success, 1 invalid config (--check-config), 2 usage or start-up failure
// (kExitFailure, process/serve.h).
constexpr int kExitBadConfig = 1;

int CheckConfig(const std::string& path) {
  auto config = LoadConfigFile(path);
  if (!config.ok()) {
    std::cerr << config.status().message() << "\n";
    return kExitBadConfig;
  }
  std::cout << path << ": OK (" << config->backends.size() << " backends, policy "
            << config->balancer.policy << ")\n";
  return 0;
}

}  // namespace
}  // namespace og

int main(int argc, char** argv) {
  // Logs go to stderr; stdout carries only the machine-readable "listening" line.
  spdlog::set_default_logger(spdlog::stderr_color_mt("gateway"));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  if (argc == 2 && (std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0)) {
    std::cout << og::kUsage;
    return 0;
  }
  if (argc == 2 && std::strcmp(argv[1], "--version") == 0) {
    std::cout << "ollama-gateway " << og::kVersion << "\n";
    return 0;
  }
  if (argc >= 2 && std::strcmp(argv[1], "ring") == 0) {
    return og::RunRingTool(std::vector<std::string>(argv + 2, argv + argc), std::cin, std::cout,
                           std::cerr);
  }
  if (argc >= 2 && std::strcmp(argv[1], "hash-key") == 0) {
    return og::RunHashKey(std::vector<std::string>(argv + 2, argv + argc), std::cin, std::cout,
                          std::cerr);
  }
  if (argc == 3 && std::strcmp(argv[1], "--check-config") == 0) return og::CheckConfig(argv[2]);
  if (argc == 3 && std::strcmp(argv[1], "--config") == 0) return og::Serve(argv[2]);
  std::cerr << og::kUsage;
  return og::kExitFailure;
}
