// What the HTTP front door reads of a call (see docs/ollama-api.md and docs/http-api.md): the
// InferenceRequest the shared call path checks and routes, and the backend request that carries
// it. The answers and errors in each API's own shapes are answers.h. Pure: no I/O, so every shape
// is unit-tested.
//
// Every endpoint forwards the caller's JSON as the gateway read and checked it, to the same path
// of the chosen backend: keys spelled as Ollama's decoder reads them and every text redacted in
// place. Ollama's own generate and chat are asked for a stream (the gateway gathers a whole
// answer itself); the compatibility endpoints (/v1/..., compat_api.h) go to Ollama's own
// translation layer as they are.
#ifndef OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_TRANSLATE_H_
#define OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_TRANSLATE_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/frontdoor/http/compat_api.h"
#include "gateway/upstream/ollama_protocol.h"
#include "ollama_gateway/v1/inference.pb.h"

namespace og {

// The model endpoints of the front door.
enum class HttpApi {
  kOllamaGenerate,     // POST /api/generate
  kOllamaChat,         // POST /api/chat
  kOllamaEmbed,        // POST /api/embed
  kOllamaShow,         // POST /api/show
  kOllamaEmbeddings,   // POST /api/embeddings (legacy: one prompt, one vector)
  kOpenAiChat,         // POST /v1/chat/completions
  kOpenAiCompletions,  // POST /v1/completions
  kOpenAiEmbeddings,   // POST /v1/embeddings
  kOpenAiResponses,    // POST /v1/responses
  kAnthropicMessages,  // POST /v1/messages
};

// "POST /api/chat" and so on: the call's name in logs.
std::string_view HttpApiName(HttpApi api);

// The shape of an API's errors: Ollama's {"error": "..."}, OpenAI's {"error": {...}} or
// Anthropic's {"type": "error", "error": {...}}.
enum class ApiShape { kOllama, kOpenAi, kAnthropic };
ApiShape ShapeOf(HttpApi api);
// By path, for answers given before the endpoint is known (/v1/messages... is Anthropic's, the
// rest of /v1/ OpenAI's).
ApiShape ShapeOfPath(std::string_view path);

// The compatibility endpoint `api` is, if it is one.
std::optional<CompatApi> CompatApiOf(HttpApi api);

// One parsed call of the front door.
struct HttpCall {
  HttpApi api = HttpApi::kOllamaGenerate;
  // What security, routing and the access log see: the model, the options the gateway reads and
  // the texts (input_data and system for generate; each message's role and content for chat;
  // each embedding input as a message of role "input"; each text of a compatibility request as
  // a message of role "text"). It is a view of `body`: SyncRequestTexts makes it one again after
  // the texts changed.
  ollama_gateway::v1::InferenceRequest request;
  // The caller's JSON object, with the keys of Ollama's structs spelled as Ollama reads them,
  // as it is forwarded (see HttpUpstreamRequest).
  nlohmann::json body;
  // The caller wants the answer streamed (NDJSON for Ollama, server-sent events for the
  // compatibility endpoints).
  bool stream = false;
  // What the input limits measure: the body's length, every text the model reads
  // (CallerTexts), the messages and the images.
  std::size_t body_bytes = 0;
  std::size_t text_bytes = 0;
  std::size_t messages = 0;
  // Inputs of /api/embed and /v1/embeddings (limits.max_embed_inputs), not counted as messages.
  std::size_t embed_inputs = 0;
  std::size_t images = 0;
  // limits.max_json_depth when the call was parsed; the backend's answers are read with it too.
  int max_depth = 64;
};

// Parses and checks a request body: JSON nested at most `max_depth` levels (limits.max_json_depth),
// an object whose keys are read as Ollama's decoder reads them (case-insensitively; two keys for
// one field are refused). INVALID_ARGUMENT naming the field for a body that is not a JSON object,
// a missing model, or a field of Ollama's native API of the wrong type. The compatibility
// endpoints' fields are left for the backend's own layer to check.
absl::StatusOr<HttpCall> ParseHttpCall(HttpApi api, std::string_view body, int max_depth);

// Every text of `call` that the model reads, in place in its body, for redaction and limits:
// prompt, suffix, system and template (generate); each message's content and thinking and every
// string in its tool calls' arguments (chat); each input (embed); the prompt (legacy
// embeddings); for the compatibility endpoints, what ReadCompatInput finds. The pointers are
// valid until the body changes shape.
std::vector<std::string*> CallerTexts(HttpCall* call);

// Copies the texts of `call->body` into `call->request` (again, after redaction changed them).
void SyncRequestTexts(HttpCall* call);

// The backend request for `call`: its body as it is now, to the endpoint's path (generate and
// chat streamed); its `model` replaced by `model` unless that is empty (a rollout's target).
OllamaRequest HttpUpstreamRequest(const HttpCall& call, std::string_view model = {});

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_TRANSLATE_H_
