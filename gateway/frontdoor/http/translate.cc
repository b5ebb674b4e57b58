#include "gateway/frontdoor/http/translate.h"

#include <algorithm>
#include <limits>
#include <optional>

#include "fmt/format.h"
#include "gateway/frontdoor/http/json_fields.h"
#include "gateway/upstream/json_reading.h"

namespace og {
namespace {

using namespace json_fields;  // NOLINT(build/namespaces): this file's own vocabulary

using ollama_gateway::v1::GenerationOptions;
using ollama_gateway::v1::InferenceRequest;

// The generation options the gateway itself reads (num_predict bounds the answer; the rest is
// for the access log and the OpenAI translation). Ollama's own endpoints forward every option
// as sent.
absl::Status ReadOllamaOptions(const Json& body, GenerationOptions* options) {
  auto it = body.find("options");
  if (it == body.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_object()) return Invalid("options must be an object");
  const Json& o = *it;
  auto number = [&](const char* key) -> const Json* {
    auto f = o.find(key);
    return f != o.end() && f->is_number() ? &*f : nullptr;
  };
  if (const Json* v = number("num_predict")) {
    if (auto n = AsInt<std::int32_t>(*v)) options->set_num_predict(*n);
  }
  if (const Json* v = number("temperature")) options->set_temperature(AsFloat(*v));
  if (const Json* v = number("top_p")) options->set_top_p(AsFloat(*v));
  if (const Json* v = number("top_k")) {
    if (auto n = AsInt<std::int32_t>(*v)) options->set_top_k(*n);
  }
  if (const Json* v = number("seed")) {
    if (auto n = AsInt<std::int64_t>(*v)) options->set_seed(*n);
  }
  if (const Json* v = number("num_ctx")) {
    if (auto n = AsInt<std::int32_t>(*v)) options->set_num_ctx(*n);
  }
  if (const Json* v = number("repeat_penalty")) options->set_repeat_penalty(AsFloat(*v));
  return absl::OkStatus();
}

absl::Status ReadStreamFlags(const Json& body, bool stream_default, HttpCall* call) {
  call->stream = stream_default;
  auto it = body.find("stream");
  if (it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return Invalid("stream must be true or false");
    call->stream = it->get<bool>();
  }
  return absl::OkStatus();
}

// The fields of Ollama's request structs (its api/types.go), which its decoder matches
// case-insensitively (see json_reading.h). `options`, `format` and tool-call arguments are maps
// or raw JSON there, matched exactly, and left alone here.
constexpr std::string_view kGenerateFields[] = {
    "model",  "prompt",   "suffix", "system",   "template",     "context",
    "stream", "raw",      "format", "images",   "keep_alive",   "options",
    "think",  "truncate", "shift",  "logprobs", "top_logprobs", "_debug_render_only"};
constexpr std::string_view kChatFields[] = {"model",
                                            "messages",
                                            "stream",
                                            "format",
                                            "keep_alive",
                                            "tools",
                                            "options",
                                            "think",
                                            "truncate",
                                            "shift",
                                            "logprobs",
                                            "top_logprobs",
                                            "_debug_render_only"};
constexpr std::string_view kMessageFields[] = {"role",       "content",   "thinking",    "images",
                                               "tool_calls", "tool_name", "tool_call_id"};
constexpr std::string_view kToolCallFields[] = {"id", "function"};
constexpr std::string_view kToolFunctionFields[] = {"index", "name", "arguments"};
constexpr std::string_view kEmbedFields[] = {"model",    "input",      "keep_alive",
                                             "truncate", "dimensions", "options"};
constexpr std::string_view kShowFields[] = {"model",    "name",    "system",
                                            "template", "verbose", "options"};
constexpr std::string_view kLegacyEmbeddingsFields[] = {"model", "prompt", "keep_alive", "options"};
// OpenAI's requests: Ollama's own compatibility layer decodes them with the same decoder.
constexpr std::string_view kOpenAiFields[] = {"model",
                                              "messages",
                                              "prompt",
                                              "suffix",
                                              "input",
                                              "stream",
                                              "stream_options",
                                              "max_tokens",
                                              "max_completion_tokens",
                                              "seed",
                                              "stop",
                                              "temperature",
                                              "top_p",
                                              "frequency_penalty",
                                              "presence_penalty",
                                              "response_format",
                                              "tools",
                                              "n",
                                              "encoding_format",
                                              "dimensions",
                                              "user",
                                              "reasoning",
                                              "reasoning_effort",
                                              "logprobs",
                                              "top_logprobs"};
constexpr std::string_view kOpenAiMessageFields[] = {"role",       "content",      "name",
                                                     "tool_calls", "tool_call_id", "reasoning"};
constexpr std::string_view kOpenAiPartFields[] = {"type", "text", "image_url"};
// Ollama's openai.ResponsesRequest and anthropic.MessagesRequest.
constexpr std::string_view kResponsesFields[] = {"model",
                                                 "background",
                                                 "conversation",
                                                 "include",
                                                 "input",
                                                 "instructions",
                                                 "max_output_tokens",
                                                 "reasoning",
                                                 "temperature",
                                                 "text",
                                                 "top_p",
                                                 "truncation",
                                                 "tools",
                                                 "stream",
                                                 "store",
                                                 "previous_response_id"};
constexpr std::string_view kAnthropicFields[] = {
    "model",       "max_tokens", "messages", "system",         "stream",
    "temperature", "top_p",      "top_k",    "stop_sequences", "tools",
    "tool_choice", "thinking",   "metadata", "output_config"};

// The string fields of `object` among `keys` must be strings (or null/absent); an error names
// `where`.key otherwise.
absl::Status StringFields(const Json& object, std::span<const char* const> keys,
                          std::string_view where) {
  for (const char* key : keys) {
    auto it = object.find(key);
    if (it != object.end() && !it->is_null() && !it->is_string()) {
      return Invalid(fmt::format("{}{} must be a string", where, key));
    }
  }
  return absl::OkStatus();
}

// Ollama's `images`: an array of base64 strings; adds their number to `*count`.
absl::Status ReadImages(const Json& object, std::string_view where, std::size_t* count) {
  auto it = object.find("images");
  if (it == object.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return Invalid(fmt::format("{}images must be an array of strings", where));
  for (const Json& image : *it) {
    if (!image.is_string()) {
      return Invalid(fmt::format("{}images must be an array of strings", where));
    }
  }
  *count += it->size();
  return absl::OkStatus();
}

// The inputs of an embedding call: a string or an array of strings.
absl::Status CheckEmbeddingInputs(const Json& body) {
  auto it = body.find("input");
  if (it == body.end() || it->is_null()) return Invalid("input is required");
  if (it->is_string()) return absl::OkStatus();
  if (!it->is_array()) return Invalid("input must be a string or an array of strings");
  for (const Json& text : *it) {
    if (!text.is_string()) {
      return Invalid(
          "input must be a string or an array of strings (token arrays are not supported)");
    }
  }
  return absl::OkStatus();
}

// A chat message's tool calls, with their keys spelled as Ollama reads them.
absl::Status ReadToolCalls(Json* message, const std::string& where) {
  auto it = message->find("tool_calls");
  if (it == message->end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return Invalid(fmt::format("{}.tool_calls must be an array", where));
  for (std::size_t j = 0; j < it->size(); ++j) {
    Json& call = (*it)[j];
    const std::string at = fmt::format("{}.tool_calls[{}]", where, j);
    if (!call.is_object()) return Invalid(at + " must be an object");
    if (absl::Status s = CanonicalizeKeys(&call, kToolCallFields, at); !s.ok()) return s;
    auto function = call.find("function");
    if (function == call.end() || function->is_null()) continue;
    if (!function->is_object()) return Invalid(at + ".function must be an object");
    if (absl::Status s = CanonicalizeKeys(&*function, kToolFunctionFields, at + ".function");
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// /api/chat's messages: keys spelled as Ollama reads them, texts of the right types, images
// counted.
absl::Status ReadOllamaMessages(Json& body, HttpCall* call) {
  auto it = body.find("messages");
  if (it == body.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_array()) return Invalid("messages must be an array");
  static constexpr const char* kTexts[] = {"role", "content", "thinking", "tool_name",
                                           "tool_call_id"};
  for (std::size_t i = 0; i < it->size(); ++i) {
    Json& m = (*it)[i];
    const std::string where = fmt::format("messages[{}]", i);
    if (!m.is_object()) return Invalid(where + " must be an object");
    absl::Status s = CanonicalizeKeys(&m, kMessageFields, where);
    if (s.ok()) s = StringFields(m, kTexts, where + ".");
    if (s.ok()) s = ReadImages(m, where + ".", &call->images);
    if (s.ok()) s = ReadToolCalls(&m, where);
    if (!s.ok()) return s;
    if (StringOr(m, "role").empty()) return Invalid(where + ".role is required");
  }
  return absl::OkStatus();
}

// Every string in a tool call's arguments (any JSON, walked without recursion).
void CollectStrings(Json& root, std::vector<std::string*>* out) {
  std::vector<Json*> pending = {&root};
  while (!pending.empty()) {
    Json* value = pending.back();
    pending.pop_back();
    if (value->is_string()) {
      out->push_back(value->get_ptr<std::string*>());
    } else if (value->is_structured()) {
      for (Json& child : *value) pending.push_back(&child);
    }
  }
}

// An OpenAI request's messages and content parts, with their keys spelled as Ollama's OpenAI
// layer reads them.
absl::Status CanonicalizeOpenAiMessages(Json& body) {
  auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array()) return absl::OkStatus();
  for (std::size_t i = 0; i < messages->size(); ++i) {
    Json& m = (*messages)[i];
    const std::string where = fmt::format("messages[{}]", i);
    if (absl::Status s = CanonicalizeKeys(&m, kOpenAiMessageFields, where); !s.ok()) return s;
    auto content = m.find("content");
    if (content == m.end() || !content->is_array()) continue;
    for (Json& part : *content) {
      if (absl::Status s = CanonicalizeKeys(&part, kOpenAiPartFields, where + ".content");
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

// A compatibility endpoint's texts as the request's messages (role "text"), in the body's order,
// for the access log.
void SetCompatTexts(const std::vector<std::string*>& texts, InferenceRequest* request) {
  request->clear_messages();
  for (const std::string* text : texts) {
    auto* out = request->add_messages();
    out->set_role("text");
    out->set_content(*text);
  }
}

std::string ModelOf(const Json& body, HttpApi api) {
  auto it = body.find("model");
  // /api/show took "name" before "model"; older clients still send it.
  if ((it == body.end() || it->is_null()) && api == HttpApi::kOllamaShow) it = body.find("name");
  return it != body.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

std::string_view HttpApiName(HttpApi api) {
  switch (api) {
    case HttpApi::kOllamaGenerate:
      return "POST /api/generate";
    case HttpApi::kOllamaChat:
      return "POST /api/chat";
    case HttpApi::kOllamaEmbed:
      return "POST /api/embed";
    case HttpApi::kOllamaShow:
      return "POST /api/show";
    case HttpApi::kOllamaEmbeddings:
      return "POST /api/embeddings";
    case HttpApi::kOpenAiChat:
      return "POST /v1/chat/completions";
    case HttpApi::kOpenAiCompletions:
      return "POST /v1/completions";
    case HttpApi::kOpenAiEmbeddings:
      return "POST /v1/embeddings";
    case HttpApi::kOpenAiResponses:
      return "POST /v1/responses";
    case HttpApi::kAnthropicMessages:
      return "POST /v1/messages";
  }
  return "POST";
}

std::optional<CompatApi> CompatApiOf(HttpApi api) {
  switch (api) {
    case HttpApi::kOpenAiChat:
      return CompatApi::kChatCompletions;
    case HttpApi::kOpenAiCompletions:
      return CompatApi::kCompletions;
    case HttpApi::kOpenAiEmbeddings:
      return CompatApi::kEmbeddings;
    case HttpApi::kOpenAiResponses:
      return CompatApi::kResponses;
    case HttpApi::kAnthropicMessages:
      return CompatApi::kMessages;
    default:
      return std::nullopt;
  }
}

ApiShape ShapeOf(HttpApi api) {
  if (api == HttpApi::kAnthropicMessages) return ApiShape::kAnthropic;
  return CompatApiOf(api) ? ApiShape::kOpenAi : ApiShape::kOllama;
}

ApiShape ShapeOfPath(std::string_view path) {
  if (path == "/v1/messages" || path.starts_with("/v1/messages/")) return ApiShape::kAnthropic;
  return path.starts_with("/v1/") ? ApiShape::kOpenAi : ApiShape::kOllama;
}

absl::StatusOr<HttpCall> ParseHttpCall(HttpApi api, std::string_view text, int max_depth) {
  HttpCall call;
  call.api = api;
  call.body_bytes = text.size();
  call.max_depth = max_depth;
  absl::StatusOr<Json> parsed = ParseJson(text, max_depth, "the request body");
  if (!parsed.ok()) return parsed.status();
  call.body = *std::move(parsed);
  if (!call.body.is_object()) return Invalid("the request body must be a JSON object");
  Json& body = call.body;
  absl::Status s;
  switch (api) {
    case HttpApi::kOllamaGenerate: {
      static constexpr const char* kTexts[] = {"prompt", "suffix", "system", "template"};
      if (s = CanonicalizeKeys(&body, kGenerateFields, "the request body"); !s.ok()) return s;
      if (s = StringFields(body, kTexts, ""); !s.ok()) return s;
      if (s = ReadImages(body, "", &call.images); !s.ok()) return s;
      break;
    }
    case HttpApi::kOllamaChat:
      if (s = CanonicalizeKeys(&body, kChatFields, "the request body"); !s.ok()) return s;
      if (s = ReadOllamaMessages(body, &call); !s.ok()) return s;
      break;
    case HttpApi::kOllamaEmbed:
      if (s = CanonicalizeKeys(&body, kEmbedFields, "the request body"); !s.ok()) return s;
      break;
    case HttpApi::kOllamaShow:
      if (s = CanonicalizeKeys(&body, kShowFields, "the request body"); !s.ok()) return s;
      break;
    case HttpApi::kOllamaEmbeddings: {
      static constexpr const char* kTexts[] = {"prompt"};
      if (s = CanonicalizeKeys(&body, kLegacyEmbeddingsFields, "the request body"); !s.ok()) {
        return s;
      }
      if (s = StringFields(body, kTexts, ""); !s.ok()) return s;
      break;
    }
    case HttpApi::kOpenAiChat:
    case HttpApi::kOpenAiCompletions:
    case HttpApi::kOpenAiEmbeddings:
      if (s = CanonicalizeKeys(&body, kOpenAiFields, "the request body"); !s.ok()) return s;
      if (s = CanonicalizeOpenAiMessages(body); !s.ok()) return s;
      break;
    case HttpApi::kOpenAiResponses:
      if (s = CanonicalizeKeys(&body, kResponsesFields, "the request body"); !s.ok()) return s;
      break;
    case HttpApi::kAnthropicMessages:
      if (s = CanonicalizeKeys(&body, kAnthropicFields, "the request body"); !s.ok()) return s;
      break;
  }
  InferenceRequest& request = call.request;
  request.set_model_name(ModelOf(body, api));
  if (request.model_name().empty()) return Invalid("model is required");
  if (const std::optional<CompatApi> compat = CompatApiOf(api)) {
    // Ollama's own layer checks the rest and answers in the API's shape; the gateway reads
    // what its checks and its accounting need.
    if (s = ReadStreamFlags(body, /*stream_default=*/false, &call); !s.ok()) return s;
    // One walk of the body gives the texts, their size and the rest of what the limits measure.
    CompatInput input = ReadCompatInput(*compat, body);
    call.images = input.images;
    call.messages = input.messages;
    call.embed_inputs = input.embed_inputs;
    if (input.max_tokens > 0) {
      request.mutable_options()->set_num_predict(static_cast<std::int32_t>(
          std::min<std::int64_t>(input.max_tokens, std::numeric_limits<std::int32_t>::max())));
    }
    SetCompatTexts(input.texts, &request);
    for (const std::string* text : input.texts) call.text_bytes += text->size();
    return call;
  }
  switch (api) {
    case HttpApi::kOllamaGenerate:
    case HttpApi::kOllamaChat:
      if (s = ReadOllamaOptions(body, request.mutable_options()); !s.ok()) return s;
      if (s = ReadStreamFlags(body, /*stream_default=*/true, &call); !s.ok()) return s;
      // The call path reads it (a thinking model answers a format in a second pass).
      if (auto format = body.find("format"); format != body.end() && !format->is_null()) {
        request.set_format(format->is_string() ? format->get<std::string>() : DumpJson(*format));
      }
      break;
    case HttpApi::kOllamaEmbed:
      if (s = CheckEmbeddingInputs(body); !s.ok()) return s;
      break;
    default:
      break;
  }
  SyncRequestTexts(&call);
  for (const std::string* text : CallerTexts(&call)) call.text_bytes += text->size();
  // Embedding inputs are held as messages of role "input" (SyncRequestTexts), for redaction and
  // the access log; the limits count them apart.
  const auto held = static_cast<std::size_t>(request.messages_size());
  (api == HttpApi::kOllamaEmbed ? call.embed_inputs : call.messages) = held;
  return call;
}

std::vector<std::string*> CallerTexts(HttpCall* call) {
  std::vector<std::string*> texts;
  Json& body = call->body;
  auto add = [&](Json& object, const char* key) {
    auto it = object.find(key);
    if (it != object.end() && it->is_string()) texts.push_back(it->get_ptr<std::string*>());
  };
  if (const std::optional<CompatApi> compat = CompatApiOf(call->api)) {
    return ReadCompatInput(*compat, body).texts;
  }
  switch (call->api) {
    case HttpApi::kOllamaGenerate:
      for (const char* key : {"prompt", "suffix", "system", "template"}) add(body, key);
      break;
    case HttpApi::kOllamaChat: {
      auto messages = body.find("messages");
      if (messages == body.end() || !messages->is_array()) break;
      for (Json& m : *messages) {
        if (!m.is_object()) continue;
        add(m, "content");
        add(m, "thinking");
        auto calls = m.find("tool_calls");
        if (calls == m.end() || !calls->is_array()) continue;
        for (Json& c : *calls) {
          if (!c.is_object() || !c.contains("function") || !c["function"].is_object()) continue;
          Json& function = c["function"];
          if (function.contains("arguments")) CollectStrings(function["arguments"], &texts);
        }
      }
      break;
    }
    case HttpApi::kOllamaEmbed: {
      auto input = body.find("input");
      if (input != body.end() && (input->is_string() || input->is_array())) {
        CollectStrings(*input, &texts);
      }
      break;
    }
    case HttpApi::kOllamaEmbeddings:
      add(body, "prompt");
      break;
    default:
      break;
  }
  return texts;
}

void SyncRequestTexts(HttpCall* call) {
  const Json& body = call->body;
  InferenceRequest& request = call->request;
  switch (call->api) {
    case HttpApi::kOllamaGenerate:
    case HttpApi::kOllamaEmbeddings:
      request.set_input_data(StringOr(body, "prompt"));
      request.set_system(StringOr(body, "system"));
      break;
    case HttpApi::kOllamaChat: {
      request.clear_messages();
      auto messages = body.find("messages");
      if (messages == body.end() || !messages->is_array()) break;
      for (const Json& m : *messages) {
        auto* out = request.add_messages();
        out->set_role(StringOr(m, "role"));
        out->set_content(StringOr(m, "content"));
      }
      break;
    }
    case HttpApi::kOllamaEmbed: {
      // Each input is a message (role "input"), so limits and redaction see each.
      request.clear_messages();
      auto input = body.find("input");
      if (input == body.end()) break;
      const Json one = input->is_string() ? Json::array({*input}) : Json::array();
      for (const Json& text : input->is_string() ? one : *input) {
        if (!text.is_string()) continue;
        auto* out = request.add_messages();
        out->set_role("input");
        out->set_content(text.get<std::string>());
      }
      break;
    }
    case HttpApi::kOllamaShow:
      break;
    default:
      SetCompatTexts(CallerTexts(call), &request);
      break;
  }
}

OllamaRequest HttpUpstreamRequest(const HttpCall& call, std::string_view model) {
  OllamaRequest out;
  switch (call.api) {
    case HttpApi::kOllamaGenerate:
    case HttpApi::kOllamaChat: {
      Json body = call.body;
      if (!model.empty()) body["model"] = model;
      body["stream"] = true;
      const bool chat = call.api == HttpApi::kOllamaChat;
      out.endpoint = chat ? OllamaEndpoint::kChat : OllamaEndpoint::kGenerate;
      out.path = chat ? "/api/chat" : "/api/generate";
      if (auto raw = body.find("raw"); !chat && raw != body.end() && raw->is_boolean()) {
        out.raw = raw->get<bool>();
      }
      out.body = DumpJson(body);
      return out;
    }
    case HttpApi::kOllamaShow: {
      Json body = call.body;
      // Older clients send only "name".
      body["model"] = model.empty() ? call.request.model_name() : std::string(model);
      out.path = "/api/show";
      out.body = DumpJson(body);
      return out;
    }
    case HttpApi::kOllamaEmbed:
      out.path = "/api/embed";
      break;
    case HttpApi::kOllamaEmbeddings:
      out.path = "/api/embeddings";
      break;
    case HttpApi::kOpenAiChat:
      out.path = "/v1/chat/completions";
      break;
    case HttpApi::kOpenAiCompletions:
      out.path = "/v1/completions";
      break;
    case HttpApi::kOpenAiEmbeddings:
      out.path = "/v1/embeddings";
      break;
    case HttpApi::kOpenAiResponses:
      out.path = "/v1/responses";
      break;
    case HttpApi::kAnthropicMessages:
      out.path = "/v1/messages";
      break;
  }
  out.event_stream = CompatApiOf(call.api).has_value() && call.stream;
  if (model.empty()) {
    out.body = DumpJson(call.body);
  } else {
    Json body = call.body;
    body["model"] = model;
    out.body = DumpJson(body);
  }
  return out;
}

}  // namespace og
