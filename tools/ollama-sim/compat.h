// Ollama's /v1 compatibility layer, as the simulator serves it (docs/ollama-sim.md, "The /v1
// endpoints"): each endpoint's request is translated into the native /api/chat or /api/generate
// body Ollama's middleware builds (openai/openai.go, openai/responses.go,
// anthropic/anthropic.go), the native handler's validation and generation run unchanged, and a
// ReplyAdapter writes the reply in the endpoint's shape.
//
// Replies built here go through nlohmann::ordered_json in the field order of Ollama's Go
// structs (Go maps, as in the Responses stream events, sort their keys: those use
// nlohmann::json).
#ifndef OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_COMPAT_H_
#define OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_COMPAT_H_

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

#include "tools/ollama-sim/models.h"
#include "tools/ollama-sim/reply_adapter.h"
#include "tools/ollama-sim/request_json.h"
#include "tools/ollama-sim/wire_json.h"

namespace og::sim {

// A /v1 request translated, or refused by the compatibility layer itself.
struct CompatRequest {
  // Not 0: the layer refused the request; answer this status with `error_body` (in the API's
  // error shape, application/json; charset=utf-8, as gin's AbortWithStatusJSON writes it).
  int error_status = 0;
  std::string error_body;
  ReplyKind kind = ReplyKind::kChat;
  std::string native_body;  // the /api/chat or /api/generate body
  std::unique_ptr<ReplyAdapter> adapter;
};

// The translators of the generating endpoints. The catalog is only used where Ollama's layer
// depends on the model (Anthropic's relaxed thinking).
CompatRequest TranslateChatCompletion(std::string_view body);
CompatRequest TranslateCompletion(std::string_view body);
CompatRequest TranslateResponses(std::string_view body);
CompatRequest TranslateAnthropicMessages(std::string_view body, const Catalog& catalog);

// /v1/embeddings (EmbeddingsMiddleware): the native /api/embed body in `native_body`, or a
// refusal; `encoding` gets the encoding_format ("", "float" or "base64", any case).
CompatRequest TranslateEmbeddings(std::string_view body, std::string& encoding);
// The EmbeddingList reply: {"object":"list","data":[{"object":"embedding","embedding":..,
// "index":i}],"model","usage":{"prompt_tokens","total_tokens"}}; base64 is little-endian
// float32.
std::string OpenAIEmbeddingList(const EmbedRequest& request, std::string_view encoding);
// GET /v1/models: {"object":"list","data":[{"id","object":"model","created","owned_by"}]}
// (data null without models); `created` is the models' modified time.
std::string OpenAIModelList(const Catalog& catalog, std::int64_t created);
// GET /v1/models/{id}: the one object, `id` as asked.
std::string OpenAIModel(std::string_view id, std::int64_t created);

// Helpers of the translators.

// A refusal of the compatibility layer: `status` with `body`.
CompatRequest Refuse(int status, std::string body);
// A refusal with OpenAI's error object.
CompatRequest RefuseOpenAI(int status, std::string_view message);
// Parses `body` as gin's binding of the Go struct `go_type` would (ParseRequestBody's errors),
// keeping the key order of objects. False with `error` set on failure.
bool ParseCompatBody(std::string_view body, std::string_view go_type, nlohmann::ordered_json& out,
                     std::string& error);
// The first Go unmarshal error of `fields` (name, kind, Go type) of `go_struct`, if any.
std::optional<std::string> CheckCompatFields(
    const nlohmann::ordered_json& request, std::string_view go_struct,
    std::initializer_list<std::tuple<const char*, JsonKind, const char*>> fields);
// Go's error for an element of the array `request[field]` that is not an object:
// "json: cannot unmarshal string into Go struct field <go_struct>.<field> of type <go_type>".
std::optional<std::string> CheckObjectElements(const nlohmann::ordered_json& request,
                                               const char* field, std::string_view go_struct,
                                               std::string_view go_type);
// `object[key]` if it is a string, else "" (also for a non-object).
std::string JsonString(const nlohmann::ordered_json& object, std::string_view key);
std::string LowerAscii(std::string text);
// Go's %T of a JSON value decoded into `any` ("<nil>", "string", "float64", ...).
std::string GoTypeName(const nlohmann::ordered_json& value);

// OpenAI's error object: {"error":{"message","type","param":null,"code":null}}, the type
// invalid_request_error (400), not_found_error (404) or api_error.
std::string OpenAIErrorJson(int status, std::string_view message);

// Anthropic's: {"type":"error","error":{"type","message"},"request_id":"req_<24 hex>"}.
std::string AnthropicErrorJson(int status, std::string_view message);

// A compact dump (invalid UTF-8 replaced).
std::string DumpJson(const nlohmann::ordered_json& value);
std::string DumpJson(const nlohmann::json& value);

// A float64 as Go writes it: integral values without a fraction (1, not 1.0).
nlohmann::ordered_json GoFloat(double value);

// Seconds since the Unix epoch, as the `created` fields carry them.
std::int64_t UnixNow();

// The `think` value of an OpenAI reasoning effort (thinkFromReasoningEffort): "" leaves it
// unset (null), "none" false, "minimal" low, "xhigh"/"ultra" max; another value is an error.
// Returns false with `error` set for an invalid effort.
bool ThinkFromEffort(std::string_view effort, nlohmann::ordered_json& think, std::string& error);

}  // namespace og::sim

#endif  // OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_COMPAT_H_
