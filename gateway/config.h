// Gateway configuration: the typed form of the YAML file an operator writes, its loader and its
// validation. Every key is documented with its default in docs/configuration.md.
//
// Loading never throws. Errors name the file, the line and the reason, one per line, in the
// form `FILE:LINE: reason`, so `ollama-gateway --check-config FILE` can print them as they are
// and a running gateway can log why a reload was refused while it keeps its last good config.
#ifndef OLLAMA_GATEWAY_GATEWAY_CONFIG_H_
#define OLLAMA_GATEWAY_GATEWAY_CONFIG_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace og {

// Where the gRPC service listens and how callers are authenticated at the transport.
struct ListenConfig {
  // host:port; an IPv6 host is written in brackets ("[::1]:50051").
  std::string address = "0.0.0.0:50051";
  // Plaintext gRPC. Must be set explicitly; the gateway logs a warning at start.
  bool insecure = false;
  // PEM files of the serving certificate chain and its private key; required unless insecure.
  std::string cert_file;
  std::string key_file;
  int line = 0;
};

// The admin HTTP endpoint (/metrics, /healthz, /readyz). Loopback by default.
struct AdminConfig {
  std::string address = "127.0.0.1:9090";
  // false turns the admin endpoint off.
  bool enabled = true;
  int line = 0;
};

// The load-balancing policy applied to every model pool unless a later setting overrides it.
struct BalancerConfig {
  // One of KnownPolicies().
  std::string policy = "round_robin";
  int line = 0;
};

// The HTTP client toward Ollama backends.
struct UpstreamConfig {
  // Event-loop threads; 0 means one per CPU core.
  int threads = 0;
  // TCP (and TLS) connect timeout to a backend.
  std::chrono::milliseconds connect_timeout{2000};
  // Upper bound on a whole backend request when the caller sets no deadline. Ollama sends no
  // byte until the first token is ready (queue wait + model load + prompt evaluation), so this
  // must cover a cold model load; 0 means no bound.
  std::chrono::milliseconds request_timeout{std::chrono::minutes(10)};
  // Longest NDJSON line accepted from a backend before the call fails.
  std::uint64_t max_line_bytes = 8u << 20;
  int line = 0;
};

struct BackendConfig {
  // Unique name, [A-Za-z0-9_.-]+; used in metrics, logs and the x-gateway-backend trailer.
  std::string name;
  // Base URL of the Ollama server: http://host:port or https://host:port, optionally with a
  // path prefix (no query or fragment). Stored without a trailing slash.
  std::string url;
  // Relative share of traffic, 1..1000.
  std::uint32_t weight = 1;
  // Models this backend serves, as configured (canonical form in canonical_models). Empty means
  // the backend is offered every model.
  std::vector<std::string> models;
  // CanonicalModelName() of each entry of models, in the same order.
  std::vector<std::string> canonical_models;
  int line = 0;
};

struct LoggingConfig {
  // trace, debug, info, warn, error, critical or off.
  std::string level = "info";
  int line = 0;
};

struct Config {
  // The path the configuration was loaded from (or the source name given to ParseConfig).
  std::string source;
  ListenConfig listen;
  AdminConfig admin;
  BalancerConfig balancer;
  UpstreamConfig upstream;
  std::vector<BackendConfig> backends;
  LoggingConfig logging;
};

// The policy names the balancer accepts, in the order they are documented.
const std::vector<std::string>& KnownPolicies();

// Parses and validates YAML text. `source_name` is used as FILE in error messages.
// On failure the status is INVALID_ARGUMENT and its message holds every error found, one per
// line, each `FILE:LINE: reason`, ordered by line.
absl::StatusOr<Config> ParseConfig(std::string_view yaml, std::string_view source_name);

// Reads `path` and calls ParseConfig. A file that cannot be read gives `PATH:0: reason`.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// Ollama model names are `[host/][namespace/]model[:tag]`, matched case-insensitively, with the
// tag defaulting to "latest". Returns the lower-cased name with the tag made explicit, so
// "Llama3.2" and "llama3.2:latest" compare equal.
std::string CanonicalModelName(std::string_view name);

// True when `name` is a syntactically valid Ollama model name: 1..256 characters of
// [A-Za-z0-9._:/-], not starting with a separator, at most one ':' (the tag, after the last '/')
// and no empty path segment.
bool IsValidModelName(std::string_view name);

// Parses a duration written as Go does ("250ms", "2s", "1m30s", "1h"); a bare integer is
// milliseconds. Negative values are refused.
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_CONFIG_H_
