// Request bodies of the simulator, parsed with nlohmann-json and validated the way Ollama's Go
// handlers do, with their error messages: `missing request body`, Go decoder messages for
// malformed JSON and wrong field types, `model is required`, `model 'X' not found`, capability
// errors, keep_alive durations. Also the /sim/config knob set.
#ifndef OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_REQUEST_JSON_H_
#define OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_REQUEST_JSON_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "tools/ollama-sim/generation.h"
#include "tools/ollama-sim/models.h"
#include "tools/ollama-sim/wire_json.h"

namespace og::sim {

// JSON types a field may be required to have.
enum class JsonKind { kString, kBool, kNumber, kArray, kObject };

// The HTTP status for a parse result: InvalidArgument 400, NotFound 404, anything else 500.
int HttpStatusOf(const absl::Status& status);

// Parses `body` as one JSON object (trailing data is ignored, as Go's decoder does). Errors
// (InvalidArgument): "missing request body" for an empty body, Go's "invalid character '['
// exceeded max depth" past 10000 levels of nesting (which also bounds the depth of every later
// use of the value), Go's "unexpected EOF" /
// "invalid character 'x' looking for beginning of value" for malformed JSON, and
// "json: cannot unmarshal array into Go value of type <go_type>" for a non-object.
absl::StatusOr<nlohmann::json> ParseRequestBody(std::string_view body, std::string_view go_type);

// Go's unmarshal error if `object[field]` is present, not null and not of `kind`:
// "json: cannot unmarshal number into Go struct field <go_struct>.<field> of type <go_type>".
std::optional<std::string> CheckField(const nlohmann::json& object, std::string_view field,
                                      JsonKind kind, std::string_view go_struct,
                                      std::string_view go_type);

// `object[field]` if it is a string, else "".
std::string StringField(const nlohmann::json& object, std::string_view field);

// True if `object[field]` is the boolean true (null, absent or another type: false, as Go's
// decoder leaves a bool whose JSON is null). nlohmann's value(field, false) would throw on null.
template <typename Json>
bool IsTrue(const Json& object, std::string_view field) {
  if (!object.is_object()) return false;
  const auto it = object.find(field);
  return it != object.end() && it->is_boolean() && it->template get<bool>();
}

// `keep_alive`: absent or null gives nullopt; a number is seconds; a string is a Go duration;
// anything negative means forever (-1ns). A bad value is InvalidArgument.
absl::StatusOr<std::optional<std::chrono::nanoseconds>> ParseKeepAlive(
    const nlohmann::json& object);

// A /api/generate (kGenerate) or /api/chat (kChat) body, validated in Ollama's order. Errors
// carry the status to answer (see HttpStatusOf).
absl::StatusOr<GenerationRequest> ParseGenerationRequest(std::string_view body, ReplyKind kind,
                                                         const Catalog& catalog);

// A validated /api/embed (or legacy /api/embeddings) request.
struct EmbedRequest {
  std::string model_echo;
  const ModelInfo* model = nullptr;
  std::shared_ptr<const Catalog> catalog;  // keeps `model` alive if the catalog is replaced
  bool legacy = false;                     // /api/embeddings: one prompt, {"embedding":[...]}
  std::vector<std::string> inputs;         // empty: only load the model
  int dimensions = 0;                      // 1..kEmbeddingDims truncates; anything else keeps all
  std::optional<std::chrono::nanoseconds> keep_alive;
};

absl::StatusOr<EmbedRequest> ParseEmbedRequest(std::string_view body, bool legacy,
                                               const Catalog& catalog);

// The reply body of an embed request whose model was ready at `loaded`.
std::string EmbedReply(const EmbedRequest& request, std::chrono::steady_clock::time_point start,
                       std::chrono::steady_clock::time_point loaded);

// The knobs a /sim/config body sets (absent ones stay as they are).
struct KnobUpdate {
  std::optional<int> token_delay_ms;
  std::optional<int> tokens;
  std::optional<int> load_delay_ms;
  std::optional<int> fail_status;
  std::optional<int> fail_after_tokens;
  std::optional<int> reset_after_tokens;
  std::optional<bool> hang;
  std::optional<int> api_status;
  std::optional<int> api_delay_ms;
  std::optional<int> ps_delay_ms;
  // Malformed-stream faults of generate/chat (docs/ollama-sim.md, "Run-time knobs").
  std::optional<int> garbage_after_tokens;
  std::optional<int> truncate_after_tokens;
  std::optional<int> huge_line_bytes;
  std::optional<int> close_mid_chunk_after_tokens;
  std::optional<bool> ignore_num_predict;
  // The Content-Type of generate/chat replies; "" restores the normal one.
  std::optional<std::string> content_type;
  // Set when the body names `models`: the override list, or nullopt (JSON null) for --models.
  std::optional<std::optional<std::vector<std::string>>> models;
  // Model management and memory (docs/ollama-sim.md, "Model management").
  std::optional<int> pull_delay_ms;
  std::optional<std::int64_t> memory_bytes;
  std::optional<std::string> digest_salt;
  std::optional<std::vector<std::pair<std::string, std::uint64_t>>> model_sizes;  // (key, bytes)
  std::optional<std::vector<std::string>> pull_fail;  // model names, or "*"
};

// The management and memory knobs of a /sim/config body (memory_bytes, digest_salt,
// model_sizes, pull_fail): nullopt if `key` is none of them, else whether `value` is valid (the
// error names the knob), with `update` filled in.
std::optional<absl::Status> ParseModelKnob(std::string_view key, const nlohmann::json& value,
                                           KnobUpdate& update);

// The largest `huge_line_bytes` and the longest `content_type` a /sim/config body may set.
inline constexpr int kMaxHugeLineBytes = 64 << 20;
inline constexpr std::size_t kMaxContentTypeBytes = 256;

// Parses a /sim/config body (a JSON object). Unknown knobs, wrong types and values out of range
// fail with InvalidArgument naming the knob.
absl::StatusOr<KnobUpdate> ParseKnobs(std::string_view body);

}  // namespace og::sim

#endif  // OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_REQUEST_JSON_H_
