// The simulator's constrained output: the JSON document a reply with `format` (Ollama's
// structured outputs) consists of, the arguments of a tool call built from the tool's parameter
// schema, and the token-sized pieces such a document is streamed in. Everything is a pure,
// deterministic function of the schema and the prompt's hash, so tests can recompute it
// (docs/ollama-sim.md, "Constrained output" and "Tool calls").
#ifndef OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_SCHEMA_H_
#define OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_SCHEMA_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace og::sim {

// Objects nested deeper than this are written as {} (a schema is attacker-controlled input; the
// walk keeps its own stack and never recurses).
inline constexpr int kMaxSchemaDepth = 16;

// A compact JSON document that follows `schema`:
// - `$ref` ("#/..." JSON pointers into `schema`), `anyOf`, `oneOf` and `allOf` are followed to
//   their first alternative (at most 8 hops; then the value is null);
// - `const` gives its value, a non-empty `enum` its first value;
// - by `type` (the first one that is not "null" when it is an array; "object" when absent but
//   `properties` is there, else null): string -> the next word, number and integer -> 1,
//   boolean -> true, array -> [], null -> null, object -> its `required` properties (every
//   property when none is required), in the order of `properties`, then any required name
//   `properties` lacks (as null);
// - the k-th string written (k = 1, 2, ...) is kWords[(prompt_hash + k) % 32].
// A schema that is not an object (`true`, `{}`-less values) gives null.
std::string JsonForSchema(const nlohmann::ordered_json& schema, std::uint64_t prompt_hash);

// format "json": {"response":WORD1}, WORD1 as for JsonForSchema.
std::string JsonForFormatJson(std::uint64_t prompt_hash);

// The arguments of a call to a tool with `parameters`: JsonForSchema, or {} when that is not an
// object (no parameters, or a schema that is not an object's).
std::string ToolArguments(const nlohmann::ordered_json& parameters, std::uint64_t prompt_hash);

// "call_" + 8 characters of [a-z0-9]: base 36 digits of Fnv1a64(tool + "#" + prompt), least
// significant first ('a'..'z' are 0..25, '0'..'9' 26..35), the shape of Ollama's random ids.
std::string ToolCallId(std::string_view tool, std::string_view prompt);

// Splits a JSON document into token-sized pieces whose concatenation is `doc`: each string
// literal, each scalar (number, true, false, null) and each run of punctuation and whitespace
// ({ } [ ] : , and blanks) is one piece. `{"a":1}` -> `{`, `"a"`, `:`, `1`, `}`.
std::vector<std::string> JsonPieces(std::string_view doc);

}  // namespace og::sim

#endif  // OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_SCHEMA_H_
