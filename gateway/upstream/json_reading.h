// How the gateway reads JSON it did not write (callers' bodies, backends' answers): with a bound
// on nesting depth, and with object keys matched the way Ollama's Go decoder matches them.
//
// Depth. nlohmann's parser is iterative, but copying a value and printing it recurse once per
// level, so a 400 KB body of nested `[` would take the process down. Every caller- or
// backend-supplied document is parsed here with a maximum depth (limits.max_json_depth) and
// refused past it before anything copies, prints or walks it; every later recursion is then
// bounded by the limit.
//
// Keys. Go's encoding/json matches an object key to a struct field exactly or, failing that,
// case-insensitively (Unicode simple folding: "Prompt", "PROMPT" and "ſystem", with U+017F,
// are Ollama's `prompt` and `system`). A gateway that read only the exact keys would check one
// field while Ollama used another. CanonicalizeKeys rewrites the keys a struct decoder folds to
// their canonical spelling, so what the gateway checks is what the backend reads, and refuses an
// object with two keys that fold to one field (Ollama would silently take the last).
#ifndef OLLAMA_GATEWAY_GATEWAY_UPSTREAM_JSON_READING_H_
#define OLLAMA_GATEWAY_GATEWAY_UPSTREAM_JSON_READING_H_

#include <cstddef>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace og {

// limits.max_json_depth's default: deeper than any request or answer Ollama's clients send (a
// tool schema is rarely ten levels deep), shallow enough that recursion over it is harmless.
inline constexpr int kDefaultMaxJsonDepth = 64;
// The most limits.max_json_depth may be set to is kMaxJsonDepthCeiling in gateway/config/config.h.

// Parses `text` as one JSON document whose arrays and objects nest at most `max_depth` levels
// (a scalar is depth 0, `[]` depth 1). INVALID_ARGUMENT: "`what` is not valid JSON" or "`what`
// nests deeper than limits.max_json_depth (N)", the latter found before the document is built
// past the limit. `what` names the input in the message ("the request body", "format").
absl::StatusOr<nlohmann::json> ParseJson(std::string_view text, int max_depth,
                                         std::string_view what);

// INVALID_ARGUMENT ("`what` nests deeper than limits.max_json_depth (N)") when `text` is JSON,
// or starts like JSON, whose arrays and objects nest deeper than `max_depth`; OK otherwise, also
// for text that is not JSON at all. Builds nothing. For inputs that are checked here and read
// elsewhere (gRPC's `format` string).
absl::Status CheckJsonDepth(std::string_view text, int max_depth, std::string_view what);

// `key` folded as Go's encoding/json folds it for matching: ASCII letters lower-cased, and
// U+212A (Kelvin sign) and U+017F (long s) read as 'k' and 's'. Other bytes are kept.
std::string FoldKey(std::string_view key);

// Rewrites the keys of `object` (a JSON object; anything else is left alone) that fold to one of
// `fields` (canonical, lower-case spellings) into that spelling. INVALID_ARGUMENT when two keys
// fold to the same field ("`where` has both 'prompt' and 'Prompt', which Ollama reads as one
// field"). Keys that match no field are kept as sent (Ollama ignores them).
absl::Status CanonicalizeKeys(nlohmann::json* object, std::span<const std::string_view> fields,
                              std::string_view where);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_UPSTREAM_JSON_READING_H_
