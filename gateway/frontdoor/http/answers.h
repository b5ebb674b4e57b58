// The HTTP front door's answers (see docs/ollama-api.md): errors in each API's shape, the
// aggregate of a non-streamed Ollama call, and /v1/models. Pure: no I/O, so every
// shape is unit-tested.
#ifndef OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_ANSWERS_H_
#define OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_ANSWERS_H_

#include <ctime>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/config/config.h"
#include "gateway/frontdoor/http/json_fields.h"
#include "gateway/frontdoor/http/translate.h"
#include "gateway/upstream/ollama_protocol.h"

namespace og {

// Errors. The HTTP status for a call's status code, and the bodies: Ollama's
// {"error": "..."}, OpenAI's {"error": {"message", "type", "param", "code"}} and Anthropic's
// {"type": "error", "error": {"type", "message"}}.
int HttpStatusFor(absl::StatusCode code);
std::string OllamaErrorBody(std::string_view message);
nlohmann::json OpenAiError(int http_status, std::string_view message);
std::string OpenAiErrorBody(int http_status, std::string_view message);
nlohmann::json AnthropicError(int http_status, std::string_view message);
std::string ErrorBody(ApiShape shape, int http_status, std::string_view message);
// An error that ends a stream whose headers went out, as each API streams one: an NDJSON
// {"error"} line (Ollama), a `data: {"error": ...}` event (chat and completions), an `error`
// event (Responses, Anthropic's Messages).
std::string StreamErrorEvent(HttpApi api, int http_status, std::string_view message);

// The body limit of a request to `path` and the error message for a body over it. The endpoints
// that carry images (/api/generate, /api/chat, /v1/chat/completions, /v1/responses,
// /v1/messages) take limits.max_image_request_bytes; the others twice limits.max_request_bytes
// (at least 4 MiB; between the two the call's own check answers 400 naming max_request_bytes,
// and a reload may raise it). Neither exceeds `ceiling`, the server's bound fixed at start,
// which the message then names. A blob (/api/blobs/...) takes `max_blob_bytes`
// (fleet.max_blob_bytes).
struct RequestBodyLimit {
  std::size_t bytes = 0;
  std::string message;
};
RequestBodyLimit BodyLimitFor(std::string_view path, const LimitsConfig& limits,
                              std::size_t max_blob_bytes, std::size_t ceiling);
// True for the paths whose bodies may carry images (BodyLimitFor).
bool CarriesImages(std::string_view path);

// /v1/models from a merged /api/tags answer ({"models": [...]}), and /v1/models/{id}: the entry
// of the model named `id` (exactly, or as its canonical name), if the listing has it.
std::string OpenAiModels(const nlohmann::json& tags);
std::optional<std::string> OpenAiModelEntry(const nlohmann::json& tags, std::string_view id);

// The whole answer of a non-streamed Ollama call, built from the chunks: the final chunk's
// object with `response` (generate) or `message` (chat) holding the concatenated text,
// thinking and tool calls.
struct OllamaAggregate {
  std::string text;
  std::string thinking;
  nlohmann::json tool_calls = nlohmann::json::array();
  std::string final_line;  // the done line, as the backend sent it
  int max_depth = 64;      // limits.max_json_depth
  // Adds one backend line; the tool calls come from the chunk ParseOllamaChunk read from it.
  void Add(HttpApi api, const OllamaChunk& chunk, std::string_view line);
  // The final line with the answer spliced in: its members are copied as they came, in their
  // order, and `response` (with `thinking` after it) or `message` written in their place, so the
  // line (whose `context` may hold thousands of numbers) is not parsed into a DOM again. Texts
  // are escaped as Ollama escapes them. A final line the splice cannot read (keys with escapes)
  // is rebuilt through nlohmann instead.
  std::string Body(HttpApi api) const;
  // The same through nlohmann: the final line parsed, the answer set in it, dumped (keys in
  // alphabetical order). Body's fallback; protocol_bench compares the two.
  std::string RebuiltBody(HttpApi api) const;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_ANSWERS_H_
