// The syntax of single configuration values: model names, durations, listening addresses and
// backend URLs. These know nothing of YAML or of the Config types, so the request path, the
// front doors and the tools can check a model name or a duration without the loader; the
// loader (gateway/config/load.cc) prefixes their messages with the key path.
#ifndef OLLAMA_GATEWAY_GATEWAY_CONFIG_VALUES_H_
#define OLLAMA_GATEWAY_GATEWAY_CONFIG_VALUES_H_

#include <chrono>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace og {

// Ollama model names are `[host/][namespace/]model[:tag]`, matched case-insensitively, with the
// tag defaulting to "latest". Returns the lower-cased name with the tag made explicit, so
// "Llama3.2" and "llama3.2:latest" compare equal.
std::string CanonicalModelName(std::string_view name);

// True when `name` is a syntactically valid Ollama model name: 1..256 characters of
// [A-Za-z0-9._:/-], not starting with a separator, at most one ':' (the tag, after the last '/')
// and no empty path segment (nor an empty model or tag around the ':').
bool IsValidModelName(std::string_view name);

// Checks an address to listen on: `host:port` or `[v6]:port`, with a port from 0 to 65535 (0
// lets the system pick a free port at start). The host is a name, an IPv4 address or a
// bracketed IPv6 address; it is not resolved. On failure the INVALID_ARGUMENT message reads
// `invalid address "TEXT": reason`.
absl::Status ValidateListenAddress(std::string_view address);

// Validates `address` as ValidateListenAddress does and splits it: `host` without IPv6
// brackets, `port` 0..65535.
absl::Status ParseListenAddress(std::string_view address, std::string* host, int* port);

// Checks the base URL of an Ollama backend and returns it normalized: scheme `http` or `https`
// (lower-cased), a non-empty host (IPv6 in brackets), an optional port from 1 to 65535 and an
// optional path prefix, with no user credentials, query or fragment; trailing slashes are
// removed. On failure the INVALID_ARGUMENT message reads `invalid URL "TEXT": reason`.
absl::StatusOr<std::string> NormalizeBackendUrl(std::string_view url);

// Parses a duration written as Go does ("250ms", "2s", "1m30s", "1h"); a bare integer is
// milliseconds. Negative values are refused.
// Units are ms, s, m and h; a number may have a fraction ("1.5s"), and a result finer than a
// millisecond is truncated. Garbage, unknown units and overflow are refused with an
// INVALID_ARGUMENT message reading `invalid duration "TEXT": reason`.
absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_CONFIG_VALUES_H_
