#include "gateway/frontdoor/http/translate.h"

#include <algorithm>
#include <bit>
#include <cfloat>
#include <cstdio>
#include <cstring>
#include <limits>
#include <map>
#include <optional>

#include "absl/strings/escaping.h"
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

// OpenAI's sampling fields, shared by chat and completions.
absl::Status ReadOpenAiOptions(const Json& body, GenerationOptions* options) {
  auto number = [&](const char* key, const Json** out) -> absl::Status {
    *out = nullptr;
    auto f = body.find(key);
    if (f == body.end() || f->is_null()) return absl::OkStatus();
    if (!f->is_number()) return Invalid(fmt::format("{} must be a number", key));
    *out = &*f;
    return absl::OkStatus();
  };
  const Json* v = nullptr;
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    if (absl::Status s = number(key, &v); !s.ok()) return s;
    if (v != nullptr && !options->has_num_predict()) {
      const std::optional<std::int32_t> n = AsInt<std::int32_t>(*v);
      if (!n || *n < 1) return Invalid(fmt::format("{} must be a positive integer", key));
      options->set_num_predict(*n);
    }
  }
  if (absl::Status s = number("temperature", &v); !s.ok()) return s;
  if (v != nullptr) options->set_temperature(AsFloat(*v));
  if (absl::Status s = number("top_p", &v); !s.ok()) return s;
  if (v != nullptr) options->set_top_p(AsFloat(*v));
  if (absl::Status s = number("seed", &v); !s.ok()) return s;
  if (v != nullptr) {
    const std::optional<std::int64_t> seed = AsInt<std::int64_t>(*v);
    if (!seed) return Invalid("seed must be an integer");
    options->set_seed(*seed);
  }
  auto stop = body.find("stop");
  if (stop != body.end() && !stop->is_null()) {
    if (stop->is_string()) {
      options->add_stop(stop->get<std::string>());
    } else if (stop->is_array()) {
      for (const Json& s : *stop) {
        if (!s.is_string()) return Invalid("stop must be a string or an array of strings");
        options->add_stop(s.get<std::string>());
      }
    } else {
      return Invalid("stop must be a string or an array of strings");
    }
  }
  return absl::OkStatus();
}

absl::Status ReadStreamFlags(const Json& body, bool stream_default, HttpCall* call) {
  call->stream = stream_default;
  auto it = body.find("stream");
  if (it != body.end() && !it->is_null()) {
    if (!it->is_boolean()) return Invalid("stream must be true or false");
    call->stream = it->get<bool>();
  }
  auto options = body.find("stream_options");
  if (options != body.end() && options->is_object()) {
    auto usage = options->find("include_usage");
    call->include_usage = usage != options->end() && usage->is_boolean() && usage->get<bool>();
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

// An OpenAI message's content: a string, or parts of type text and image_url (data: URLs
// only; the gateway does not fetch images for backends).
absl::Status ReadOpenAiContent(const Json& content, std::size_t i,
                               ollama_gateway::v1::ChatMessage* out) {
  if (content.is_null()) return absl::OkStatus();
  if (content.is_string()) {
    out->set_content(content.get<std::string>());
    return absl::OkStatus();
  }
  if (!content.is_array()) {
    return Invalid(fmt::format("messages[{}].content must be a string or an array of parts", i));
  }
  std::string text;
  for (const Json& part : content) {
    const std::string type =
        part.is_object() && part.contains("type") && part["type"].is_string() ? part["type"] : "";
    if (type == "text" && part.contains("text") && part["text"].is_string()) {
      text += part["text"].get<std::string>();
      continue;
    }
    if (type == "image_url") {
      const Json& image = part.contains("image_url") ? part["image_url"] : Json();
      const Json& url_json = image.is_object() && image.contains("url") ? image["url"] : image;
      const std::string url = url_json.is_string() ? url_json.get<std::string>() : "";
      const std::size_t comma = url.find(',');
      std::string bytes;
      if (url.rfind("data:", 0) != 0 || comma == std::string::npos ||
          url.substr(0, comma).find(";base64") == std::string::npos ||
          !absl::Base64Unescape(url.substr(comma + 1), &bytes)) {
        return Invalid(fmt::format(
            "messages[{}].content: image_url must be a data: URL with base64 data (the gateway "
            "does not fetch images)",
            i));
      }
      out->add_images(std::move(bytes));
      continue;
    }
    return Invalid(fmt::format("messages[{}].content: parts must be of type text or image_url", i));
  }
  out->set_content(text);
  return absl::OkStatus();
}

absl::Status ReadOpenAiChat(const Json& body, HttpCall* call) {
  auto it = body.find("messages");
  if (it == body.end() || !it->is_array() || it->empty()) {
    return Invalid("messages is required: a non-empty array");
  }
  for (std::size_t i = 0; i < it->size(); ++i) {
    const Json& m = (*it)[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return Invalid(fmt::format("messages[{}] must be an object with a role", i));
    }
    auto* out = call->request.add_messages();
    // OpenAI's "developer" role is its newer name for the system prompt.
    const std::string role = m["role"];
    out->set_role(role == "developer" ? "system" : role);
    if (absl::Status s = ReadOpenAiContent(m.contains("content") ? m["content"] : Json(), i, out);
        !s.ok()) {
      return s;
    }
  }
  auto tools = body.find("tools");
  if (tools != body.end() && tools->is_array() && !tools->empty()) {
    return Invalid(
        "tools are not translated on /v1/chat/completions; use /api/chat, which forwards them "
        "to Ollama as sent");
  }
  auto format = body.find("response_format");
  if (format != body.end() && format->is_object()) {
    const std::string type = StringOr(*format, "type");
    if (type == "json_object") {
      call->request.set_format("json");
    } else if (type == "json_schema") {
      auto schema = format->find("json_schema");
      if (schema != format->end() && schema->is_object() && schema->contains("schema")) {
        call->request.set_format(DumpJson((*schema)["schema"]));
      }
    } else if (type != "text" && !type.empty()) {
      return Invalid(fmt::format("response_format.type '{}' is not supported", Quote(type)));
    }
  }
  return absl::OkStatus();
}

absl::Status ReadOpenAiPrompt(const Json& body, InferenceRequest* request) {
  auto it = body.find("prompt");
  const Json* prompt = it != body.end() ? &*it : nullptr;
  if (prompt != nullptr && prompt->is_array() && prompt->size() == 1) prompt = &prompt->front();
  if (prompt == nullptr || !prompt->is_string()) {
    return Invalid("prompt is required: a string (or an array of exactly one string)");
  }
  request->set_input_data(prompt->get<std::string>());
  return absl::OkStatus();
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
    case HttpApi::kOpenAiChat:
      return "POST /v1/chat/completions";
    case HttpApi::kOpenAiCompletions:
      return "POST /v1/completions";
    case HttpApi::kOpenAiEmbeddings:
      return "POST /v1/embeddings";
  }
  return "POST";
}

bool IsOpenAi(HttpApi api) {
  return api == HttpApi::kOpenAiChat || api == HttpApi::kOpenAiCompletions ||
         api == HttpApi::kOpenAiEmbeddings;
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
    case HttpApi::kOpenAiChat:
    case HttpApi::kOpenAiCompletions:
    case HttpApi::kOpenAiEmbeddings:
      if (s = CanonicalizeKeys(&body, kOpenAiFields, "the request body"); !s.ok()) return s;
      if (s = CanonicalizeOpenAiMessages(body); !s.ok()) return s;
      break;
  }
  InferenceRequest& request = call.request;
  request.set_model_name(ModelOf(body, api));
  if (request.model_name().empty()) return Invalid("model is required");
  switch (api) {
    case HttpApi::kOllamaGenerate:
    case HttpApi::kOllamaChat:
      if (s = ReadOllamaOptions(body, request.mutable_options()); !s.ok()) return s;
      if (s = ReadStreamFlags(body, /*stream_default=*/true, &call); !s.ok()) return s;
      break;
    case HttpApi::kOllamaEmbed:
    case HttpApi::kOpenAiEmbeddings:
      if (s = CheckEmbeddingInputs(body); !s.ok()) return s;
      if (api == HttpApi::kOpenAiEmbeddings) {
        std::string encoding = "float";
        if (s = OptionalString(body, "encoding_format", &encoding); !s.ok()) return s;
        if (encoding != "float" && encoding != "base64") {
          return Invalid("encoding_format must be \"float\" or \"base64\"");
        }
        call.base64_embeddings = encoding == "base64";
      }
      break;
    case HttpApi::kOllamaShow:
      break;
    case HttpApi::kOpenAiChat:
    case HttpApi::kOpenAiCompletions: {
      auto n = body.find("n");
      if (n != body.end() && !n->is_null() && AsInt<std::int64_t>(*n) != 1) {
        return Invalid("n must be 1: the gateway returns one choice per call");
      }
      if (s = ReadOpenAiOptions(body, request.mutable_options()); !s.ok()) return s;
      if (s = ReadStreamFlags(body, /*stream_default=*/false, &call); !s.ok()) return s;
      s = api == HttpApi::kOpenAiChat ? ReadOpenAiChat(body, &call)
                                      : ReadOpenAiPrompt(body, &request);
      if (!s.ok()) return s;
      break;
    }
  }
  SyncRequestTexts(&call);
  if (ForwardsBody(api)) {
    for (const std::string* text : CallerTexts(&call)) call.text_bytes += text->size();
  } else {
    call.text_bytes = request.input_data().size() + request.system().size();
    for (const auto& m : request.messages()) {
      call.text_bytes += m.content().size();
      call.images += static_cast<std::size_t>(m.images_size());
    }
  }
  return call;
}

bool ForwardsBody(HttpApi api) {
  return api == HttpApi::kOllamaGenerate || api == HttpApi::kOllamaChat ||
         api == HttpApi::kOllamaEmbed || api == HttpApi::kOllamaShow;
}

std::vector<std::string*> CallerTexts(HttpCall* call) {
  std::vector<std::string*> texts;
  Json& body = call->body;
  auto add = [&](Json& object, const char* key) {
    auto it = object.find(key);
    if (it != object.end() && it->is_string()) texts.push_back(it->get_ptr<std::string*>());
  };
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
    case HttpApi::kOllamaEmbed:
    case HttpApi::kOpenAiEmbeddings: {
      // Each input is a message (role "input"), so limits and redaction see each. (OpenAI's
      // are translated from these messages.)
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
    default:
      break;
  }
}

OllamaRequest HttpUpstreamRequest(const HttpCall& call, const InferenceRequest& forwarded) {
  OllamaRequest out;
  Json body;
  switch (call.api) {
    case HttpApi::kOpenAiChat:
    case HttpApi::kOpenAiCompletions:
      return BuildOllamaRequest(forwarded);
    case HttpApi::kOpenAiEmbeddings: {
      body = {{"model", forwarded.model_name()}};
      Json inputs = Json::array();
      for (const auto& m : forwarded.messages()) inputs.push_back(m.content());
      body["input"] = std::move(inputs);
      if (auto d = call.body.find("dimensions"); d != call.body.end() && d->is_number_integer()) {
        body["dimensions"] = *d;
      }
      out.path = "/api/embed";
      break;
    }
    case HttpApi::kOllamaGenerate:
      body = call.body;
      body["stream"] = true;
      out.endpoint = OllamaEndpoint::kGenerate;
      out.path = "/api/generate";
      if (auto raw = body.find("raw"); raw != body.end() && raw->is_boolean()) {
        out.raw = raw->get<bool>();
      }
      break;
    case HttpApi::kOllamaChat:
      body = call.body;
      body["stream"] = true;
      out.endpoint = OllamaEndpoint::kChat;
      out.path = "/api/chat";
      break;
    case HttpApi::kOllamaEmbed:
      body = call.body;
      out.path = "/api/embed";
      break;
    case HttpApi::kOllamaShow:
      body = call.body;
      body["model"] = forwarded.model_name();  // older clients send only "name"
      out.path = "/api/show";
      break;
  }
  out.body = DumpJson(body);
  return out;
}

}  // namespace og
