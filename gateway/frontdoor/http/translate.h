// The HTTP front door's translations (see docs/ollama-api.md): what a caller of Ollama's REST
// API or of the OpenAI-compatible endpoints sent, as the InferenceRequest the shared call path
// checks and routes, and the backend request that carries it. The answers and errors in each
// API's own shapes are answers.h. Pure: no I/O, so every shape is unit-tested.
//
// Ollama's own endpoints forward the caller's JSON (every field Ollama knows, tools and images
// included) as the gateway read and checked it: keys spelled as Ollama's decoder reads them,
// `stream` forced on, and every text redacted in place. The OpenAI endpoints are translated to
// /api/chat, /api/generate and /api/embed.
#ifndef OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_TRANSLATE_H_
#define OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_TRANSLATE_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/upstream/ollama_protocol.h"
#include "ollama_gateway/v1/inference.pb.h"

namespace og {

// The model endpoints of the front door.
enum class HttpApi {
  kOllamaGenerate,     // POST /api/generate
  kOllamaChat,         // POST /api/chat
  kOllamaEmbed,        // POST /api/embed
  kOllamaShow,         // POST /api/show
  kOpenAiChat,         // POST /v1/chat/completions
  kOpenAiCompletions,  // POST /v1/completions
  kOpenAiEmbeddings,   // POST /v1/embeddings
};

// "POST /api/chat" and so on: the call's name in logs.
std::string_view HttpApiName(HttpApi api);
bool IsOpenAi(HttpApi api);

// One parsed call of the front door.
struct HttpCall {
  HttpApi api = HttpApi::kOllamaGenerate;
  // What security, routing and the access log see: the model, the options the gateway reads and
  // the texts (input_data and system for generate; each message's role and content for chat;
  // each embedding input as a message of role "input"). For Ollama's own endpoints it is a view
  // of `body`: SyncRequestTexts makes it one again after the texts changed.
  ollama_gateway::v1::InferenceRequest request;
  // The caller's JSON object, with the keys of Ollama's structs spelled as Ollama reads them.
  // Ollama's own endpoints forward it (see HttpUpstreamRequest).
  nlohmann::json body;
  // The caller wants the answer streamed (NDJSON for Ollama, server-sent events for OpenAI).
  bool stream = false;
  // OpenAI: stream_options.include_usage (a last chunk with the usage).
  bool include_usage = false;
  // OpenAI embeddings: encoding_format "base64" (little-endian float32), the openai client's
  // default.
  bool base64_embeddings = false;
  // What the input limits measure: the body's length, every text the model reads (CallerTexts
  // for Ollama's endpoints; `request`'s texts for OpenAI's), and the images.
  std::size_t body_bytes = 0;
  std::size_t text_bytes = 0;
  std::size_t images = 0;
  // limits.max_json_depth when the call was parsed; the backend's answers are read with it too.
  int max_depth = 64;
};

// Parses and checks a request body: JSON nested at most `max_depth` levels (limits.max_json_depth),
// an object whose keys are read as Ollama's decoder reads them (case-insensitively; two keys for
// one field are refused). INVALID_ARGUMENT naming the field for a body that is not a JSON object,
// a missing model, a field of the wrong type, or an OpenAI feature the gateway does not translate
// (n > 1, tools, image URLs that are not data: URLs).
absl::StatusOr<HttpCall> ParseHttpCall(HttpApi api, std::string_view body, int max_depth);

// True for Ollama's own endpoints, whose body is forwarded (OpenAI's are translated).
bool ForwardsBody(HttpApi api);

// Every text of `call` that the model reads, in place in its body, for redaction and limits:
// prompt, suffix, system and template (generate); each message's content and thinking and every
// string in its tool calls' arguments (chat); each input (embed). Empty for OpenAI's endpoints,
// whose texts are in `request`. The pointers are valid until the body changes shape.
std::vector<std::string*> CallerTexts(HttpCall* call);

// Copies the texts of `call->body` into `call->request` (again, after redaction changed them):
// the prompt and system of generate, the messages of Ollama's chat, the inputs of both embedding
// endpoints. The other OpenAI texts are read into `request` by ParseHttpCall alone.
void SyncRequestTexts(HttpCall* call);

// The backend request for `call`. Ollama's endpoints forward the body (streamed); OpenAI's are
// translated from `forwarded` (the request as redaction left it; `call.request` when nothing was
// redacted).
OllamaRequest HttpUpstreamRequest(const HttpCall& call,
                                  const ollama_gateway::v1::InferenceRequest& forwarded);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_TRANSLATE_H_
