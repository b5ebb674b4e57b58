#include "gateway/ollama_protocol.h"

#include <nlohmann/json.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gateway/config.h"

namespace og {
namespace {

using Json = nlohmann::json;
using ollama_gateway::v1::InferenceRequest;

Json BuildOptions(const ollama_gateway::v1::GenerationOptions& o) {
  Json options = Json::object();
  if (o.has_num_predict()) options["num_predict"] = o.num_predict();
  if (o.has_temperature()) options["temperature"] = o.temperature();
  if (o.has_top_p()) options["top_p"] = o.top_p();
  if (o.has_top_k()) options["top_k"] = o.top_k();
  if (o.has_seed()) options["seed"] = o.seed();
  if (o.has_num_ctx()) options["num_ctx"] = o.num_ctx();
  if (o.has_repeat_penalty()) options["repeat_penalty"] = o.repeat_penalty();
  if (o.stop_size() > 0)
    options["stop"] = std::vector<std::string>(o.stop().begin(), o.stop().end());
  return options;
}

// keep_alive is a Go duration string, or a number of seconds when it is all digits (with an
// optional minus sign): Ollama accepts both, and "-1" as a string would be refused.
Json KeepAlive(const std::string& text) {
  const std::size_t digits_from = (!text.empty() && text[0] == '-') ? 1 : 0;
  if (text.size() > digits_from &&
      text.find_first_not_of("0123456789", digits_from) == std::string::npos && text.size() < 12) {
    return std::stoll(text);
  }
  return text;
}

Json Format(const std::string& text) {
  if (text == "json") return text;
  Json schema = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  return schema.is_discarded() ? Json(text) : schema;
}

std::int64_t IntField(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

// Backend text quoted in a status message: printable, one line, bounded.
std::string Quote(std::string_view text) {
  std::string out(text.substr(0, 300));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

// True if `line` fails to parse only because it stops too soon (the parser ran out of input in
// the middle of a value): the sign of a stream cut mid-object rather than of a line that was
// never JSON. Only called for lines that already failed to parse, so the exception is cheap.
bool EndsMidValue(std::string_view line) {
  try {
    const Json parsed = Json::parse(line.begin(), line.end());
    return false;
  } catch (const Json::parse_error& e) {
    return e.byte > line.size();
  } catch (const Json::exception&) {
    return false;  // e.g. a number too large for a double: complete, just unusable
  }
}

std::string StringField(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

absl::Status ValidateModelName(const InferenceRequest& request) {
  if (request.model_name().empty()) {
    return absl::InvalidArgumentError("model_name is empty: name the Ollama model to run");
  }
  if (!IsValidModelName(request.model_name())) {
    return absl::InvalidArgumentError(
        absl::StrCat("model_name '", absl::CHexEscape(request.model_name().substr(0, 256)),
                     "' is not a valid Ollama model name ([host/][namespace/]model[:tag])"));
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const InferenceRequest& request) {
  if (absl::Status s = ValidateModelName(request); !s.ok()) return s;
  if (request.messages_size() == 0 && request.input_data().empty()) {
    return absl::InvalidArgumentError(
        "the request has no input: set input_data (a prompt) or messages (a chat)");
  }
  for (int i = 0; i < request.messages_size(); ++i) {
    if (request.messages(i).role().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("messages[", i, "].role is empty"));
    }
  }
  return absl::OkStatus();
}

OllamaRequest BuildOllamaRequest(const InferenceRequest& request) {
  Json body = {{"model", request.model_name()}, {"stream", true}};
  OllamaRequest out;
  if (request.messages_size() > 0) {
    out.endpoint = OllamaEndpoint::kChat;
    out.path = "/api/chat";
    Json messages = Json::array();
    for (const auto& m : request.messages()) {
      Json msg = {{"role", m.role()}, {"content", m.content()}};
      if (m.images_size() > 0) {
        Json images = Json::array();
        for (const auto& img : m.images()) images.push_back(absl::Base64Escape(img));
        msg["images"] = std::move(images);
      }
      messages.push_back(std::move(msg));
    }
    body["messages"] = std::move(messages);
  } else {
    out.endpoint = OllamaEndpoint::kGenerate;
    out.path = "/api/generate";
    body["prompt"] = request.input_data();
    if (!request.system().empty()) body["system"] = request.system();
  }
  if (request.has_options()) {
    Json options = BuildOptions(request.options());
    if (!options.empty()) body["options"] = std::move(options);
  }
  if (!request.keep_alive().empty()) body["keep_alive"] = KeepAlive(request.keep_alive());
  if (!request.format().empty()) body["format"] = Format(request.format());
  // Prompts are arbitrary bytes from the caller: replace invalid UTF-8 rather than fail.
  out.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return out;
}

absl::Status ParseOllamaChunk(std::string_view line, OllamaEndpoint endpoint, OllamaChunk* chunk) {
  *chunk = OllamaChunk{};
  Json j = Json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    const std::string start = absl::CHexEscape(std::string(line.substr(0, 120)));
    if (j.is_discarded() && EndsMidValue(line)) {
      return absl::InternalError(absl::StrCat(
          "backend sent an incomplete JSON object (the line ends mid-value, as a cut stream "
          "does), starting '",
          start, "'"));
    }
    return absl::InternalError(
        absl::StrCat("backend sent a line that is not a JSON object: '", start, "'"));
  }
  chunk->error = StringField(j, "error");
  if (!chunk->error.empty()) return absl::OkStatus();
  if (endpoint == OllamaEndpoint::kChat) {
    auto msg = j.find("message");
    if (msg != j.end() && msg->is_object()) {
      chunk->text = StringField(*msg, "content");
      chunk->thinking = StringField(*msg, "thinking");
    }
  } else {
    chunk->text = StringField(j, "response");
    chunk->thinking = StringField(j, "thinking");
  }
  auto done = j.find("done");
  chunk->done = done != j.end() && done->is_boolean() && done->get<bool>();
  if (chunk->done) {
    chunk->done_reason = StringField(j, "done_reason");
    chunk->prompt_eval_count = IntField(j, "prompt_eval_count");
    chunk->eval_count = IntField(j, "eval_count");
    chunk->total_duration = IntField(j, "total_duration");
    chunk->load_duration = IntField(j, "load_duration");
    chunk->prompt_eval_duration = IntField(j, "prompt_eval_duration");
    chunk->eval_duration = IntField(j, "eval_duration");
  }
  return absl::OkStatus();
}

absl::Status StatusFromOllamaError(long http_status, std::string_view body,
                                   std::string_view backend) {
  std::string message;
  Json j = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded() && j.is_object()) message = StringField(j, "error");
  if (message.empty()) message = std::string(body);
  const std::string text = absl::StrCat("backend '", std::string(backend), "' answered HTTP ",
                                        http_status, message.empty() ? "" : ": ", Quote(message));
  switch (http_status) {
    case 400:
      return absl::InvalidArgumentError(text);
    case 404:
      return absl::NotFoundError(text);
    case 401:
    case 403:
      // Ollama's Host check or an auth proxy in front of it: the gateway's setup is wrong, the
      // caller can do nothing about it.
      return absl::InternalError(text);
    case 429:
      return absl::ResourceExhaustedError(text);
    default:
      if (http_status >= 500) return absl::UnavailableError(text);
      return absl::UnknownError(text);
  }
}

bool IsRetriableHttpStatus(long http_status) {
  return http_status == 502 || http_status == 503 || http_status == 504;
}

}  // namespace og
