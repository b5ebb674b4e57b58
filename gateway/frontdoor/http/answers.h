// The HTTP front door's answers (see docs/ollama-api.md): errors, OpenAI's streamed chunks and
// whole answers built from Ollama's chunks, server-sent events, the aggregate of a non-streamed
// Ollama call, and the merged model listings. Pure: no I/O, so every shape is unit-tested.
#ifndef OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_ANSWERS_H_
#define OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_ANSWERS_H_

#include <ctime>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/frontdoor/http/json_fields.h"
#include "gateway/frontdoor/http/translate.h"
#include "gateway/upstream/ollama_protocol.h"

namespace og {

// Errors. The HTTP status for a call's status code, and the bodies: Ollama's
// {"error": "..."} and OpenAI's {"error": {"message", "type", "param", "code"}}.
int HttpStatusFor(absl::StatusCode code);
std::string OllamaErrorBody(std::string_view message);
nlohmann::json OpenAiError(int http_status, std::string_view message);
std::string OpenAiErrorBody(int http_status, std::string_view message);

// What an answer needs besides its chunks, for the OpenAI shapes.
struct OpenAiAnswer {
  std::string id;  // "chatcmpl-..." or "cmpl-..."
  std::string model;
  std::time_t created = 0;
};

// OpenAI's finish_reason for Ollama's done_reason: "length" stays, everything else is "stop".
std::string_view FinishReason(std::string_view done_reason);

// One server-sent event: "data: <json>\n\n".
std::string SseEvent(const nlohmann::json& data);
inline constexpr std::string_view kSseDone = "data: [DONE]\n\n";

// OpenAI streaming chunks. `chunk` is one Ollama chunk; the first chunk of a chat carries the
// assistant role. The done chunk carries finish_reason.
nlohmann::json OpenAiChatChunk(const OpenAiAnswer& answer, const OllamaChunk& chunk, bool first);
nlohmann::json OpenAiCompletionChunk(const OpenAiAnswer& answer, const OllamaChunk& chunk);
// The usage-only last chunk of a stream with include_usage.
nlohmann::json OpenAiUsageChunk(const OpenAiAnswer& answer, HttpApi api, const OllamaChunk& done);
// Whole answers: `text` is the concatenated output, `done` the final chunk.
nlohmann::json OpenAiChatCompletion(const OpenAiAnswer& answer, std::string_view text,
                                    std::string_view reasoning, const OllamaChunk& done);
nlohmann::json OpenAiTextCompletion(const OpenAiAnswer& answer, std::string_view text,
                                    const OllamaChunk& done);

// /v1/embeddings from Ollama's /api/embed answer (read with call.max_depth). INTERNAL when the
// backend's answer has no embeddings array.
absl::StatusOr<std::string> OpenAiEmbeddings(const HttpCall& call, std::string_view ollama_body);

// /v1/models from a merged /api/tags answer ({"models": [...]}).
std::string OpenAiModels(const nlohmann::json& tags);

// The whole answer of a non-streamed Ollama call, built from the chunks: the final chunk's
// object with `response` (generate) or `message` (chat) holding the concatenated text,
// thinking and tool calls.
struct OllamaAggregate {
  std::string text;
  std::string thinking;
  nlohmann::json tool_calls = nlohmann::json::array();
  std::string final_line;  // the done line, as the backend sent it
  int max_depth = 64;      // limits.max_json_depth
  // Adds one backend line. Tool calls are looked for only in lines that mention them.
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

// Merges /api/tags or /api/ps answers of several backends: one entry per model name, the first
// seen, in name order. A body that is not JSON, or nests deeper than `max_depth`, is skipped.
nlohmann::json MergeModelLists(const std::vector<std::string>& bodies, int max_depth);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_ANSWERS_H_
