// The running process: builds the rooms from a configuration file (router, upstream client,
// health checks, security, the call core, the two front doors, the admin port), serves until
// SIGINT or SIGTERM, reloads on SIGHUP and on file changes, and drains.
#ifndef OLLAMA_GATEWAY_GATEWAY_PROCESS_SERVE_H_
#define OLLAMA_GATEWAY_GATEWAY_PROCESS_SERVE_H_

#include <string>

namespace og {

inline constexpr const char* kVersion = "0.1.0";

// Exit code of a start-up failure (and of a usage error, in main.cc).
inline constexpr int kExitFailure = 2;

// Loads `config_path`, serves until SIGINT or SIGTERM, drains and returns the exit code: 0 after
// a drain, kExitFailure when the gateway could not start (the reason is logged). Blocks SIGINT,
// SIGTERM and SIGHUP in the calling thread (and so in every thread it starts) to take them
// synchronously. Call once per process.
int Serve(const std::string& config_path);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_PROCESS_SERVE_H_
