// Every NDJSON line a backend streams goes through ParseOllamaChunk, so it is one of the gateway's
// hottest functions: with nlohmann's DOM (a std::map per object, a heap allocation per key and
// per long string) it took ~18% of the gateway's CPU under load. It parses with simdjson's DOM
// API instead, which validates the whole line as nlohmann did (unlike simdjson's On-Demand API,
// which validates only what it reads and would accept a broken line) and, with a parser kept per
// thread, allocates nothing once warm (bench/protocol_bench.cc measures the time and the
// allocations per line). The other JSON here (request bodies, error bodies) is not hot, and stays
// with nlohmann.
#include "gateway/upstream/ollama_protocol.h"

#include <simdjson.h>

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gateway/config/config.h"
#include "gateway/config/values.h"
#include "gateway/upstream/json_reading.h"
#include "gateway/upstream/line_parser.h"

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

// A JSON text of the caller's (a format's schema; tool parameters, tool-call arguments and extra
// options, which ValidateRequest found to be JSON), sent as a string when it is not JSON. Its
// depth was checked against limits.max_json_depth with the request's other limits; the ceiling
// here only keeps the copy and the dump that follow bounded whatever the caller.
Json CallerJson(const std::string& text) {
  absl::StatusOr<Json> value = ParseJson(text, kMaxJsonDepthCeiling, "a JSON field");
  return value.ok() ? *std::move(value) : Json(text);
}

// The caller's `format`: "json", or a JSON schema.
Json Format(const std::string& text) { return text == "json" ? Json(text) : CallerJson(text); }

// The GenerationOptions fields, which extra_options may not name again.
constexpr std::string_view kTypedOptions[] = {
    "num_predict", "temperature", "top_p", "top_k", "seed", "stop", "num_ctx", "repeat_penalty"};

absl::Status CheckJsonField(const std::string& text, bool object, const std::string& field) {
  absl::StatusOr<Json> value = ParseJson(text, kMaxJsonDepthCeiling, field);
  if (!value.ok()) return absl::InvalidArgumentError(std::string(value.status().message()));
  if (object && !value->is_object()) {
    return absl::InvalidArgumentError(absl::StrCat(field, " must be a JSON object"));
  }
  return absl::OkStatus();
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

// Reading a chunk is written once for two DOMs: simdjson's, which parses every line, and
// nlohmann's, for the few lines simdjson refuses that nlohmann accepts (see ParseOllamaChunk).
// These overloads are all that the reading needs of a DOM; a value of the wrong type reads as
// absent.

std::string_view StringOrEmpty(simdjson::dom::element value) {
  std::string_view text;
  return value.get_string().get(text) == simdjson::SUCCESS ? text : std::string_view();
}
std::string_view StringOrEmpty(const Json& value) {
  return value.is_string() ? std::string_view(value.get_ref<const std::string&>())
                           : std::string_view();
}

bool IsTrue(simdjson::dom::element value) {
  bool flag = false;
  return value.get_bool().get(flag) == simdjson::SUCCESS && flag;
}
bool IsTrue(const Json& value) { return value.is_boolean() && value.get<bool>(); }

// Integers as nlohmann's get<std::int64_t>() read them, which the gateway did before simdjson:
// one above INT64_MAX wraps to a negative value, a float (1.0, 1e3, or an integer beyond 64 bits,
// which nlohmann stores as a float) is absent. Ollama sends non-negative int64 values.
bool IsNonEmptyArray(simdjson::dom::element value) {
  simdjson::dom::array array;
  return value.get_array().get(array) == simdjson::SUCCESS && array.size() > 0;
}

bool IsNonEmptyArray(const Json& value) { return value.is_array() && !value.empty(); }

std::int64_t IntOrZero(simdjson::dom::element value) {
  std::int64_t signed_value = 0;
  std::uint64_t unsigned_value = 0;
  switch (value.type()) {
    case simdjson::dom::element_type::INT64:
      return value.get_int64().get(signed_value) == simdjson::SUCCESS ? signed_value : 0;
    case simdjson::dom::element_type::UINT64:  // only for values above INT64_MAX
      return value.get_uint64().get(unsigned_value) == simdjson::SUCCESS
                 ? static_cast<std::int64_t>(unsigned_value)
                 : 0;
    default:
      return 0;
  }
}
std::int64_t IntOrZero(const Json& value) {
  return value.is_number_integer() ? value.get<std::int64_t>() : 0;
}

// Calls visit(key, value) for each member of `value`, for none when it is not an object. simdjson
// gives them all in document order, nlohmann (a std::map) the last value of each key in key order.
template <typename Visit>
void ForEachMember(simdjson::dom::element value, Visit visit) {
  simdjson::dom::object object;
  if (value.get_object().get(object) != simdjson::SUCCESS) return;
  for (const simdjson::dom::key_value_pair member : object) visit(member.key, member.value);
}
// A value as JSON text (minified), for the few fields passed on as they came (tool calls).
std::string JsonText(simdjson::dom::element value) { return simdjson::minify(value); }
std::string JsonText(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

template <typename Visit>
void ForEachMember(const Json& value, Visit visit) {
  if (!value.is_object()) return;
  for (auto it = value.begin(); it != value.end(); ++it) {
    visit(std::string_view(it.key()), it.value());
  }
}

std::string StringField(const Json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() ? std::string(StringOrEmpty(*it)) : std::string();
}

std::int64_t* MetricNamed(std::string_view key, OllamaChunk* chunk) {
  if (key == "prompt_eval_count") return &chunk->prompt_eval_count;
  if (key == "eval_count") return &chunk->eval_count;
  if (key == "total_duration") return &chunk->total_duration;
  if (key == "load_duration") return &chunk->load_duration;
  if (key == "prompt_eval_duration") return &chunk->prompt_eval_duration;
  if (key == "eval_duration") return &chunk->eval_duration;
  return nullptr;
}

// Reads a JSON object (of either DOM) into the reset `chunk`, in one pass over its members: a key
// given twice counts with its last value, as nlohmann's std::map kept it. Then what the header
// promises: an error line carries nothing else, only a done line a done reason and metrics.
template <typename Value>
void ReadChunk(const Value& object, OllamaEndpoint endpoint, OllamaChunk* chunk) {
  const bool chat = endpoint == OllamaEndpoint::kChat;
  ForEachMember(object, [&](std::string_view key, const auto& value) {
    if (key == "error") {
      chunk->error = StringOrEmpty(value);
    } else if (key == "status") {
      chunk->error_status = IntOrZero(value);
    } else if (key == "tool_calls") {
      chunk->tool_calls_json = IsNonEmptyArray(value) ? JsonText(value) : std::string();
    } else if (key == "logprobs") {
      chunk->logprobs_json = IsNonEmptyArray(value) ? JsonText(value) : std::string();
    } else if (key == "done") {
      chunk->done = IsTrue(value);
    } else if (key == "done_reason") {
      chunk->done_reason = StringOrEmpty(value);
    } else if (chat && key == "message") {
      // A later `message` replaces an earlier one whole, not field by field.
      chunk->text.clear();
      chunk->thinking.clear();
      ForEachMember(value, [&](std::string_view field, const auto& field_value) {
        if (field == "content") chunk->text = StringOrEmpty(field_value);
        if (field == "thinking") chunk->thinking = StringOrEmpty(field_value);
        if (field == "tool_calls") {
          chunk->tool_calls_json =
              IsNonEmptyArray(field_value) ? JsonText(field_value) : std::string();
        }
      });
    } else if (!chat && key == "response") {
      chunk->text = StringOrEmpty(value);
    } else if (!chat && key == "thinking") {
      chunk->thinking = StringOrEmpty(value);
    } else if (std::int64_t* metric = MetricNamed(key, chunk)) {
      *metric = IntOrZero(value);
    }
  });
  if (!chunk->error.empty()) {
    std::string error = std::move(chunk->error);
    const std::int64_t status = chunk->error_status;
    *chunk = OllamaChunk{};
    chunk->error = std::move(error);
    chunk->error_status = status;
  } else {
    chunk->error_status = 0;
  }
  if (chunk->error.empty() && !chunk->done) {
    chunk->done_reason.clear();
    for (std::int64_t* metric :
         {&chunk->prompt_eval_count, &chunk->eval_count, &chunk->total_duration,
          &chunk->load_duration, &chunk->prompt_eval_duration, &chunk->eval_duration}) {
      *metric = 0;
    }
  }
}

}  // namespace

absl::Status ValidateModelName(const InferenceRequest& request) {
  if (request.model_name().empty()) {
    return absl::InvalidArgumentError("model_name is empty: name the Ollama model to run");
  }
  if (const absl::Status valid = ParseModelName(request.model_name()).status(); !valid.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("model_name '", absl::CHexEscape(request.model_name().substr(0, 256)),
                     "' is not a valid Ollama model name ([host/][namespace/]model[:tag]): ",
                     std::string(valid.message())));
  }
  return absl::OkStatus();
}

absl::Status ValidateRequest(const InferenceRequest& request) {
  if (absl::Status s = ValidateModelName(request); !s.ok()) return s;
  // No input at all only loads the model (or, with keep_alive "0", unloads it), as on Ollama.
  for (int i = 0; i < request.messages_size(); ++i) {
    const auto& m = request.messages(i);
    if (m.role().empty()) {
      return absl::InvalidArgumentError(absl::StrCat("messages[", i, "].role is empty"));
    }
    for (int j = 0; j < m.tool_calls_size(); ++j) {
      const std::string at = absl::StrCat("messages[", i, "].tool_calls[", j, "]");
      if (m.tool_calls(j).name().empty()) {
        return absl::InvalidArgumentError(at + ".name is empty");
      }
      if (m.tool_calls(j).arguments_json().empty()) continue;
      if (absl::Status s =
              CheckJsonField(m.tool_calls(j).arguments_json(), true, at + ".arguments_json");
          !s.ok()) {
        return s;
      }
    }
  }
  for (int i = 0; i < request.tools_size(); ++i) {
    const std::string at = absl::StrCat("tools[", i, "]");
    if (request.tools(i).name().empty()) return absl::InvalidArgumentError(at + ".name is empty");
    if (request.tools(i).parameters_json().empty()) continue;
    if (absl::Status s =
            CheckJsonField(request.tools(i).parameters_json(), true, at + ".parameters_json");
        !s.ok()) {
      return s;
    }
  }
  if (request.top_logprobs() < 0 || request.top_logprobs() > 20) {
    return absl::InvalidArgumentError(
        absl::StrCat("top_logprobs is ", request.top_logprobs(), "; it must be 0 to 20"));
  }
  if (request.tools_size() > 0 && request.messages_size() == 0) {
    return absl::InvalidArgumentError(
        "tools need messages: a tool-calling call is a chat (Ollama's /api/generate takes none)");
  }
  if (request.think().value_case() == ollama_gateway::v1::Think::kLevel &&
      request.think().level().empty()) {
    return absl::InvalidArgumentError(
        "think.level is empty: \"low\", \"medium\" or \"high\" (or set think.enabled)");
  }
  for (const auto& [name, value] : request.extra_options()) {
    if (std::find(std::begin(kTypedOptions), std::end(kTypedOptions), name) !=
        std::end(kTypedOptions)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "extra_options names '", name, "', which is a field of options: set it there"));
    }
    if (absl::Status s = CheckJsonField(value, false, absl::StrCat("extra_options['", name, "']"));
        !s.ok()) {
      return s;
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
      if (!m.thinking().empty()) msg["thinking"] = m.thinking();
      if (m.tool_calls_size() > 0) {
        Json calls = Json::array();
        for (const auto& call : m.tool_calls()) {
          Json function = {{"index", call.index()}, {"name", call.name()}};
          function["arguments"] =
              call.arguments_json().empty() ? Json::object() : CallerJson(call.arguments_json());
          Json c = {{"function", std::move(function)}};
          if (!call.id().empty()) c["id"] = call.id();
          calls.push_back(std::move(c));
        }
        msg["tool_calls"] = std::move(calls);
      }
      if (!m.tool_name().empty()) msg["tool_name"] = m.tool_name();
      if (!m.tool_call_id().empty()) msg["tool_call_id"] = m.tool_call_id();
      messages.push_back(std::move(msg));
    }
    body["messages"] = std::move(messages);
    if (request.tools_size() > 0) {
      Json tools = Json::array();
      for (const auto& tool : request.tools()) {
        Json function = {{"name", tool.name()}};
        if (!tool.description().empty()) function["description"] = tool.description();
        if (!tool.parameters_json().empty()) {
          function["parameters"] = CallerJson(tool.parameters_json());
        }
        tools.push_back({{"type", "function"}, {"function", std::move(function)}});
      }
      body["tools"] = std::move(tools);
    }
  } else {
    out.endpoint = OllamaEndpoint::kGenerate;
    out.path = "/api/generate";
    body["prompt"] = request.input_data();
    if (!request.system().empty()) body["system"] = request.system();
    if (!request.suffix().empty()) body["suffix"] = request.suffix();
    if (!request.template_().empty()) body["template"] = request.template_();
    if (request.raw()) body["raw"] = out.raw = true;
    if (request.context_size() > 0) {
      body["context"] =
          std::vector<std::int64_t>(request.context().begin(), request.context().end());
    }
    if (request.images_size() > 0) {
      Json images = Json::array();
      for (const auto& img : request.images()) images.push_back(absl::Base64Escape(img));
      body["images"] = std::move(images);
    }
  }
  if (request.logprobs()) {
    body["logprobs"] = true;
    if (request.top_logprobs() > 0) body["top_logprobs"] = request.top_logprobs();
  }
  switch (request.think().value_case()) {
    case ollama_gateway::v1::Think::kEnabled:
      body["think"] = request.think().enabled();
      break;
    case ollama_gateway::v1::Think::kLevel:
      body["think"] = request.think().level();
      break;
    case ollama_gateway::v1::Think::VALUE_NOT_SET:
      break;
  }
  if (request.has_options() || request.extra_options_size() > 0) {
    Json options = BuildOptions(request.options());
    for (const auto& [name, value] : request.extra_options()) options[name] = CallerJson(value);
    if (!options.empty()) body["options"] = std::move(options);
  }
  if (!request.keep_alive().empty()) body["keep_alive"] = KeepAlive(request.keep_alive());
  if (!request.format().empty()) body["format"] = Format(request.format());
  // Prompts are arbitrary bytes from the caller: replace invalid UTF-8 rather than fail.
  out.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return out;
}

absl::Status ParseOllamaChunk(std::string_view line, OllamaEndpoint endpoint, OllamaChunk* chunk,
                              int max_depth) {
  *chunk = OllamaChunk{};
  // simdjson counts levels as we do for an object at the root (the only kind of line accepted);
  // a line it finds too deep goes to the exact check below all the same.
  std::optional<simdjson::dom::parser> own_parser;
  simdjson::dom::parser* parser = LineParser(line.size(), max_depth, &own_parser);
  if (parser == nullptr) {
    return absl::ResourceExhaustedError("cannot allocate a JSON parser for the backend's line");
  }
  simdjson::dom::element root;
  // simdjson reads up to SIMDJSON_PADDING bytes past its input's end, and a line is a view into
  // the middle of a stream buffer: the parser copies it into a padded buffer of its own first.
  const simdjson::error_code parsed =
      parser->parse(line.data(), line.size(), /*realloc_if_needed=*/true).get(root);
  if (parsed == simdjson::SUCCESS && root.is_object()) {
    ReadChunk(root, endpoint, chunk);
    return absl::OkStatus();
  }
  const auto too_deep = [&] {
    return absl::InternalError(
        absl::StrCat("backend sent a line that nests deeper than "
                     "limits.max_json_depth (",
                     max_depth, ")"));
  };
  // The lines simdjson refuses that nlohmann accepts (integers beyond 64 bits, which nlohmann
  // reads as floats; a leading UTF-8 byte order mark; a NUL byte after the object, where
  // nlohmann stops reading) are read from nlohmann's DOM, so that the gateway accepts exactly the
  // lines it did before simdjson, and with the same depth limit. A healthy Ollama sends none of
  // them, nor any of the others that end up here: a failure's message, in the words it always
  // had. (A line simdjson found too deep is checked here too, level by level.)
  absl::StatusOr<Json> read = ParseJson(line, max_depth, "the backend's line");
  if (read.ok() && read->is_object()) {
    ReadChunk(*read, endpoint, chunk);
    return absl::OkStatus();
  }
  if (!read.ok() && absl::StrContains(read.status().message(), "max_json_depth")) {
    return too_deep();
  }
  const std::string start = absl::CHexEscape(std::string(line.substr(0, 120)));
  if (!read.ok() && EndsMidValue(line)) {
    return absl::InternalError(absl::StrCat(
        "backend sent an incomplete JSON object (the line ends mid-value, as a cut stream "
        "does), starting '",
        start, "'"));
  }
  return absl::InternalError(
      absl::StrCat("backend sent a line that is not a JSON object: '", start, "'"));
}

std::vector<std::int64_t> ContextOf(std::string_view final_line, int max_depth) {
  std::vector<std::int64_t> context;
  std::optional<simdjson::dom::parser> own_parser;
  simdjson::dom::parser* parser = LineParser(final_line.size(), max_depth, &own_parser);
  simdjson::dom::element root;
  simdjson::dom::array array;
  if (parser == nullptr ||
      parser->parse(final_line.data(), final_line.size(), /*realloc_if_needed=*/true).get(root) !=
          simdjson::SUCCESS ||
      root["context"].get_array().get(array) != simdjson::SUCCESS) {
    return context;
  }
  context.reserve(array.size());
  for (simdjson::dom::element x : array) context.push_back(IntOrZero(x));
  return context;
}

std::string OllamaErrorMessage(std::string_view body) {
  std::string message;
  Json j = Json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (!j.is_discarded() && j.is_object()) {
    message = StringField(j, "error");
    // Ollama's compatibility endpoints answer in their APIs' shapes: OpenAI's
    // {"error": {"message": ...}} and Anthropic's {"type": "error", "error": {"message": ...}}.
    if (auto error = j.find("error"); message.empty() && error != j.end() && error->is_object()) {
      message = StringField(*error, "message");
    }
  }
  if (message.empty()) message = std::string(body);
  return message;
}

absl::Status StatusFromOllamaError(long http_status, std::string_view body,
                                   std::string_view backend) {
  const std::string message = OllamaErrorMessage(body);
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

ModelRefusal ModelRefusalOf(long http_status, std::string_view body) {
  if (http_status != 404 && http_status != 500) return ModelRefusal::kNone;
  // The body is an error answer of at most a few KiB (the upstream client keeps no more); its
  // words are looked for wherever its JSON shape puts them.
  const std::string lower = absl::AsciiStrToLower(std::string(body));
  if (http_status == 404) {
    return absl::StrContains(lower, "model") && absl::StrContains(lower, "not found")
               ? ModelRefusal::kNotFound
               : ModelRefusal::kNone;
  }
  for (const char* words : {"requires more system memory", "out of memory", "out-of-memory",
                            "cudamalloc failed", "unable to allocate", "insufficient memory"}) {
    if (absl::StrContains(lower, words)) return ModelRefusal::kOutOfMemory;
  }
  return ModelRefusal::kNone;
}

std::string_view ModelRefusalName(ModelRefusal refusal) {
  switch (refusal) {
    case ModelRefusal::kNotFound:
      return "model_not_found";
    case ModelRefusal::kOutOfMemory:
      return "out_of_memory";
    case ModelRefusal::kNone:
      break;
  }
  return "none";
}

bool IsRequestFaultError(const OllamaChunk& chunk) {
  if (chunk.error_status >= 400 && chunk.error_status < 500) return true;
  // Ollama's words for a prompt the model cannot take (llm/llama_server.go), which some
  // versions send without a status.
  const std::string lower = absl::AsciiStrToLower(chunk.error);
  return absl::StrContains(lower, "context length") ||
         absl::StrContains(lower, "exceeds the available context");
}

absl::StatusOr<std::string> ContinuationBody(OllamaEndpoint endpoint, std::string_view body_text,
                                             std::string_view text, std::string_view thinking,
                                             std::int64_t tokens) {
  // The body is the gateway's own or a caller's document it already read and checked, so it
  // parses; the depth ceiling only bounds the work whatever it holds.
  absl::StatusOr<Json> read = ParseJson(body_text, kMaxJsonDepthCeiling, "the request");
  if (!read.ok() || !read->is_object()) {
    return absl::FailedPreconditionError("the request body is not a JSON object");
  }
  Json& body = *read;
  if (auto format = body.find("format");
      format != body.end() && !format->is_null() &&
      !(format->is_string() && format->get<std::string>().empty())) {
    return absl::FailedPreconditionError(
        "the answer is constrained by `format`, which a continuation would restart");
  }
  if (auto options = body.find("options"); options != body.end() && options->is_object()) {
    if (auto limit = options->find("num_predict");
        limit != options->end() && limit->is_number_integer() && limit->get<std::int64_t>() > 0) {
      const std::int64_t left = limit->get<std::int64_t>() - tokens;
      if (left <= 0) {
        return absl::FailedPreconditionError("the answer had reached options.num_predict");
      }
      *limit = left;
    }
  }
  if (endpoint == OllamaEndpoint::kChat) {
    auto messages = body.find("messages");
    if (messages == body.end() || !messages->is_array()) {
      return absl::FailedPreconditionError("the chat request has no messages");
    }
    Json turn = {{"role", "assistant"}, {"content", std::string(text)}};
    if (!thinking.empty()) turn["thinking"] = std::string(thinking);
    messages->push_back(std::move(turn));
  } else {
    auto raw = body.find("raw");
    if (raw == body.end() || !raw->is_boolean() || !raw->get<bool>()) {
      return absl::FailedPreconditionError(
          "a templated generate (without \"raw\": true) cannot be continued");
    }
    auto prompt = body.find("prompt");
    std::string continued =
        prompt != body.end() && prompt->is_string() ? prompt->get<std::string>() : std::string();
    continued.append(text);
    body["prompt"] = std::move(continued);
  }
  return body.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string ContinuedFinalLine(std::string_view line, std::int64_t carried_tokens,
                               int continuations) {
  absl::StatusOr<Json> read = ParseJson(line, kMaxJsonDepthCeiling, "the backend's line");
  if (!read.ok() || !read->is_object()) return std::string(line);
  Json& chunk = *read;
  std::int64_t eval_count = 0;
  if (auto it = chunk.find("eval_count"); it != chunk.end() && it->is_number_integer()) {
    eval_count = it->get<std::int64_t>();
  }
  chunk["eval_count"] = eval_count + carried_tokens;
  chunk["x-gateway-continued"] = continuations;
  return chunk.dump(-1, ' ', false, Json::error_handler_t::replace);
}

bool RenameModelField(std::string_view line, std::string_view from, std::string_view to,
                      std::string* out) {
  constexpr std::string_view kKey = "\"model\"";
  auto skip_space = [&line](std::size_t i) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    return i;
  };
  for (std::size_t at = line.find(kKey); at != std::string_view::npos;
       at = line.find(kKey, at + 1)) {
    std::size_t i = skip_space(at + kKey.size());
    if (i >= line.size() || line[i] != ':') continue;
    i = skip_space(i + 1);
    if (i >= line.size() || line[i] != '"') return false;
    const std::size_t value = i + 1;
    if (line.substr(value, from.size()) != from || value + from.size() >= line.size() ||
        line[value + from.size()] != '"') {
      return false;
    }
    out->clear();
    out->reserve(line.size() - from.size() + to.size());
    out->append(line.substr(0, value));
    out->append(to);
    out->append(line.substr(value + from.size()));
    return true;
  }
  return false;
}

}  // namespace og
