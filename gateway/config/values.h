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

// A model name split as Ollama splits it (types/model/name.go: ParseName), with Ollama's
// defaults for the parts not written: host "registry.ollama.ai", namespace "library", tag
// "latest". The parts are as written (not lower-cased).
struct ModelName {
  std::string host;
  std::string name_space;
  std::string model;
  std::string tag;
};

// Parses `name` as Ollama does: `[[scheme://]host/][namespace/]model[:tag]`, the tag after the
// last ':' that follows the last '/', then the model, namespace and host from the right at '/'.
// Each part starts with a letter, digit or '_' and continues with those and '-'; the model and
// tag may also hold '.', the host '.' and ':' (a port). Host 1..350 characters, the others
// 1..80. A separator with nothing on one side is refused (`m:`, `/m`, `a//m`). The scheme, when
// written, must be http or https (Ollama uses it only to pull from a registry). A digest
// (`m@sha256:...`) is refused: Ollama dropped addressing models by digest and refuses such
// names itself. INVALID_ARGUMENT names the part at fault, without quoting the whole name.
absl::StatusOr<ModelName> ParseModelName(std::string_view name);

// True when ParseModelName accepts `name`.
bool IsValidModelName(std::string_view name);

// The name Ollama shows for `name` (Name.DisplayShortest), lower-cased, since Ollama compares
// names case-insensitively: the default host and namespace are left out and the tag is always
// written, so "Llama3.2", "llama3.2:latest" and "registry.ollama.ai/library/llama3.2:latest" all
// give "llama3.2:latest", "library/mistral" gives "mistral:latest" and
// "Registry.Corp:5000/Team/M" gives "registry.corp:5000/team/m:latest". Call it on valid names;
// an invalid one is only lower-cased, with ":latest" added when it has no tag.
std::string CanonicalModelName(std::string_view name);

// True for an authorization pattern: a model name (IsValidModelName) when it has no wildcard,
// else at most 601 characters of a name's characters and the wildcards '*' and '?'.
bool IsValidModelPattern(std::string_view pattern);

// The form of `pattern` that matches canonical names: a name without wildcards is
// CanonicalModelName() ("llama3.2" grants "llama3.2:latest" only); a pattern with wildcards is
// only lower-cased. A wildcard pattern is not rewritten like a name, since dropping a default
// namespace in front of a '*' would widen it: "library/*" must not become "*".
std::string CanonicalModelPattern(std::string_view pattern);

// True when a wildcard pattern can never match a canonical name because it writes the default
// host or namespace out ("registry.ollama.ai/..." or "library/..."), which canonical names leave
// out.
bool PatternNamesDefaultPrefix(std::string_view pattern);

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
