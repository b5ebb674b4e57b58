#include "tools/ollama-sim/request_json.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "tools/ollama-sim/schema.h"
#include "tools/ollama-sim/text.h"

namespace og::sim {
namespace {

using nlohmann::json;

bool IsBlank(std::string_view body) {
  return body.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

// Go's name for the JSON type of `value` in unmarshal errors.
std::string_view GoJsonType(const json& value) {
  if (value.is_string()) return "string";
  if (value.is_boolean()) return "bool";
  if (value.is_number()) return "number";
  if (value.is_array()) return "array";
  if (value.is_object()) return "object";
  return "null";
}

bool HasKind(const json& value, JsonKind kind) {
  switch (kind) {
    case JsonKind::kString:
      return value.is_string();
    case JsonKind::kBool:
      return value.is_boolean();
    case JsonKind::kNumber:
      return value.is_number();
    case JsonKind::kArray:
      return value.is_array();
    case JsonKind::kObject:
      return value.is_object();
  }
  return false;
}

absl::Status Invalid(std::string message) { return absl::InvalidArgumentError(message); }

// Runs CheckField for each (field, kind, go type) and returns the first error.
absl::Status CheckFields(
    const json& object, std::string_view go_struct,
    std::initializer_list<std::tuple<std::string_view, JsonKind, std::string_view>> fields) {
  for (const auto& [field, kind, go_type] : fields) {
    if (auto error = CheckField(object, field, kind, go_struct, go_type)) return Invalid(*error);
  }
  return absl::OkStatus();
}

// options.num_predict; other options are accepted and ignored, as Ollama ignores unknown ones.
absl::StatusOr<std::int64_t> NumPredict(const json& object) {
  const auto options = object.find("options");
  if (options == object.end() || !options->is_object()) return -1;
  const auto value = options->find("num_predict");
  if (value == options->end() || value->is_null()) return -1;
  // Ollama answers a wrongly typed option with 500, not 400.
  if (!value->is_number()) {
    return absl::InternalError("option \"num_predict\" must be of type integer");
  }
  return static_cast<std::int64_t>(value->get<double>());
}

// The `content_type` knob: a string that can go in a header line as it is (printable ASCII, no
// CR or LF), or "" for the normal content types.
absl::StatusOr<std::string> ParseContentTypeKnob(const json& value) {
  if (!value.is_string()) {
    return Invalid("knob 'content_type' must be a string (\"\" restores the normal types)");
  }
  const std::string& text = value.get_ref<const std::string&>();
  const bool printable = std::all_of(text.begin(), text.end(),
                                     [](char c) { return c == '\t' || (c >= 0x20 && c < 0x7f); });
  if (text.size() > kMaxContentTypeBytes || !printable) {
    return Invalid(absl::StrCat("knob 'content_type' must be at most ", kMaxContentTypeBytes,
                                " printable ASCII characters"));
  }
  return text;
}

// `think`: absent or null gives nullopt; true is medium, false off; a level string is that level.
// Errors are ThinkValue.UnmarshalJSON's.
absl::StatusOr<std::optional<ThinkLevel>> ParseThink(const json& object) {
  const auto it = object.find("think");
  if (it == object.end() || it->is_null()) return std::optional<ThinkLevel>();
  if (it->is_boolean()) {
    return std::optional<ThinkLevel>(it->get<bool>() ? ThinkLevel::kMedium : ThinkLevel::kOff);
  }
  if (!it->is_string()) {
    return Invalid(
        "think must be a boolean or string (\"high\", \"medium\", \"low\", \"max\", true, or "
        "false)");
  }
  const std::string& level = it->get_ref<const std::string&>();
  if (level == "low") return std::optional<ThinkLevel>(ThinkLevel::kLow);
  if (level == "medium") return std::optional<ThinkLevel>(ThinkLevel::kMedium);
  if (level == "high") return std::optional<ThinkLevel>(ThinkLevel::kHigh);
  if (level == "max") return std::optional<ThinkLevel>(ThinkLevel::kMax);
  std::string quoted;
  AppendJsonString(quoted, level);
  return Invalid(absl::StrCat("invalid think value: ", quoted,
                              " (must be \"high\", \"medium\", \"low\", \"max\", true, or false)"));
}

// `body` again, keeping the order of object keys (nlohmann::json sorts them): schemas are
// walked in the order of their properties, as a model writes them.
nlohmann::ordered_json ParseOrdered(std::string_view body) {
  nlohmann::ordered_json value;
  try {
    std::istringstream in{std::string(body)};
    in >> value;
  } catch (const nlohmann::ordered_json::parse_error&) {
    // ParseRequestBody already accepted the body.
  }
  return value;
}

// `format`: nullopt for none (absent, null or ""), else the pieces of the JSON document the reply
// is. A value that is neither "json" nor an object is the runner's error, a 500 in Ollama.
absl::StatusOr<std::optional<std::vector<std::string>>> ParseFormat(std::string_view body,
                                                                    const json& object,
                                                                    std::uint64_t prompt_hash) {
  const auto it = object.find("format");
  if (it == object.end() || it->is_null() || (it->is_string() && it->get<std::string>().empty())) {
    return std::optional<std::vector<std::string>>();
  }
  if (it->is_string() && it->get<std::string>() == "json") {
    return std::optional<std::vector<std::string>>(JsonPieces(JsonForFormatJson(prompt_hash)));
  }
  if (!it->is_object()) {
    std::string quoted;
    AppendJsonString(quoted, it->dump(-1, ' ', false, json::error_handler_t::replace));
    return absl::InternalError(absl::StrCat("invalid format: ", quoted,
                                            "; expected \"json\" or a valid JSON Schema object"));
  }
  const nlohmann::ordered_json ordered = ParseOrdered(body);
  return std::optional<std::vector<std::string>>(
      JsonPieces(JsonForSchema(ordered.value("format", nlohmann::ordered_json()), prompt_hash)));
}

std::string LowerRole(const json& message) {
  std::string role = StringField(message, "role");
  for (char& c : role) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return role;
}

// Go's decoder refuses JSON nested deeper than 10000 levels ("invalid character '[' exceeded
// max depth"). Checked on the raw bytes before parsing, it also bounds the depth of everything
// the simulator later does with the value (nlohmann copies and dumps recursively).
std::optional<std::string> DepthError(std::string_view body) {
  constexpr int kMaxDepth = 10000;
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) {
        return absl::StrCat("invalid character '", std::string(1, c), "' exceeded max depth");
      }
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return std::nullopt;
}

}  // namespace

int HttpStatusOf(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return 400;
    case absl::StatusCode::kNotFound:
      return 404;
    default:
      return 500;
  }
}

absl::StatusOr<json> ParseRequestBody(std::string_view body, std::string_view go_type) {
  if (IsBlank(body)) return Invalid("missing request body");
  if (auto deep = DepthError(body)) return Invalid(*deep);
  json value;
  try {
    // operator>> reads one value and leaves the rest, like Go's json.Decoder.
    std::istringstream in{std::string(body)};
    in >> value;
  } catch (const json::parse_error& e) {
    if (e.byte > body.size() || e.byte == 0) return Invalid("unexpected EOF");
    const char c = body[e.byte - 1];
    const std::string_view what = e.what();
    std::string_view context = "looking for beginning of value";
    if (what.find("object key") != std::string_view::npos) {
      context = "looking for beginning of object key string";
    } else if (what.find("object separator") != std::string_view::npos) {
      context = "after object key";
    }
    return Invalid(
        absl::StrCat("invalid character '", std::string(1, c), "' ", std::string(context)));
  }
  if (!value.is_object()) {
    return Invalid(absl::StrCat("json: cannot unmarshal ", std::string(GoJsonType(value)),
                                " into Go value of type ", std::string(go_type)));
  }
  return value;
}

std::optional<std::string> CheckField(const json& object, std::string_view field, JsonKind kind,
                                      std::string_view go_struct, std::string_view go_type) {
  const auto it = object.find(field);
  if (it == object.end() || it->is_null() || HasKind(*it, kind)) return std::nullopt;
  return absl::StrCat("json: cannot unmarshal ", std::string(GoJsonType(*it)),
                      " into Go struct field ", std::string(go_struct), ".", std::string(field),
                      " of type ", std::string(go_type));
}

std::string StringField(const json& object, std::string_view field) {
  const auto it = object.find(field);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

absl::StatusOr<std::optional<std::chrono::nanoseconds>> ParseKeepAlive(const json& object) {
  const auto it = object.find("keep_alive");
  if (it == object.end() || it->is_null()) return std::optional<std::chrono::nanoseconds>();
  std::chrono::nanoseconds value{0};
  if (it->is_number()) {
    const double seconds = it->get<double>();
    if (!std::isfinite(seconds) || std::fabs(seconds) > 9e9) {
      return Invalid("invalid keep_alive");
    }
    value = std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9));
  } else if (it->is_string()) {
    auto parsed = ParseGoDuration(it->get<std::string>());
    if (!parsed.ok()) return parsed.status();
    value = *parsed;
  } else {
    return Invalid(absl::StrCat("Unsupported type: '", std::string(GoJsonType(*it)), "'"));
  }
  if (value < std::chrono::nanoseconds(0)) value = std::chrono::nanoseconds(-1);
  return std::optional<std::chrono::nanoseconds>(value);
}

absl::StatusOr<GenerationRequest> ParseGenerationRequest(std::string_view body, ReplyKind kind,
                                                         const Catalog& catalog) {
  const bool chat = kind == ReplyKind::kChat;
  auto parsed = ParseRequestBody(body, chat ? "api.ChatRequest" : "api.GenerateRequest");
  if (!parsed.ok()) return parsed.status();
  const json& object = *parsed;
  GenerationRequest request;
  request.kind = kind;
  if (chat) {
    absl::Status s = CheckFields(object, "ChatRequest",
                                 {{"model", JsonKind::kString, "string"},
                                  {"messages", JsonKind::kArray, "[]api.Message"},
                                  {"stream", JsonKind::kBool, "bool"},
                                  {"tools", JsonKind::kArray, "api.Tools"},
                                  {"options", JsonKind::kObject, "map[string]interface {}"},
                                  {"logprobs", JsonKind::kBool, "bool"},
                                  {"top_logprobs", JsonKind::kNumber, "int"}});
    if (!s.ok()) return s;
  } else {
    absl::Status s = CheckFields(object, "GenerateRequest",
                                 {{"model", JsonKind::kString, "string"},
                                  {"prompt", JsonKind::kString, "string"},
                                  {"suffix", JsonKind::kString, "string"},
                                  {"system", JsonKind::kString, "string"},
                                  {"template", JsonKind::kString, "string"},
                                  {"context", JsonKind::kArray, "[]int"},
                                  {"images", JsonKind::kArray, "[]api.ImageData"},
                                  {"stream", JsonKind::kBool, "bool"},
                                  {"raw", JsonKind::kBool, "bool"},
                                  {"options", JsonKind::kObject, "map[string]interface {}"},
                                  {"logprobs", JsonKind::kBool, "bool"},
                                  {"top_logprobs", JsonKind::kNumber, "int"}});
    if (!s.ok()) return s;
  }
  auto think = ParseThink(object);
  if (!think.ok()) return think.status();
  // Checked before the model is looked up, as Ollama does.
  if (const auto top = object.find("top_logprobs"); top != object.end() && top->is_number()) {
    const double value = top->get<double>();
    if (value < 0 || value > 20) return Invalid("top_logprobs must be between 0 and 20");
    request.top_logprobs = static_cast<int>(value);
  }
  request.logprobs = IsTrue(object, "logprobs");
  request.model_echo = StringField(object, "model");
  if (chat && request.model_echo.empty()) return Invalid("model is required");
  request.model = catalog.Find(request.model_echo);
  if (request.model == nullptr) {
    return absl::NotFoundError(absl::StrCat("model '", request.model_echo, "' not found"));
  }
  if (!chat) {
    request.raw = IsTrue(object, "raw");
    const bool has_context =
        object.contains("context") && object["context"].is_array() && !object["context"].empty();
    if (request.raw && (!StringField(object, "template").empty() ||
                        !StringField(object, "system").empty() || has_context)) {
      return Invalid("raw mode does not support template, system, or context");
    }
  }
  // A thinking model thinks unless told not to; any other model refuses to think.
  ThinkLevel level =
      think->value_or(request.model->thinking ? ThinkLevel::kMedium : ThinkLevel::kOff);
  if (!request.model->thinking && level != ThinkLevel::kOff) {
    return Invalid(absl::StrCat("\"", request.model_echo, "\" does not support thinking"));
  }
  if (request.model->harmony && level == ThinkLevel::kMax) level = ThinkLevel::kHigh;
  if (request.model->embedding_only) {
    return Invalid(
        absl::StrCat("\"", request.model_echo, "\" does not support ", chat ? "chat" : "generate"));
  }
  if (!chat && !StringField(object, "suffix").empty() && !request.model->insert) {
    return Invalid(absl::StrCat(request.model->name.Full(), " does not support insert"));
  }
  const auto tools = object.find("tools");
  const bool has_tools = chat && tools != object.end() && tools->is_array() && !tools->empty();
  if (has_tools && !request.model->tools) {
    // The scheduler's capability error names the model by its full name.
    return Invalid(absl::StrCat(request.model->name.Full(), " does not support tools"));
  }
  auto keep_alive = ParseKeepAlive(object);
  if (!keep_alive.ok()) return keep_alive.status();
  request.keep_alive = *keep_alive;
  auto num_predict = NumPredict(object);
  if (!num_predict.ok()) return num_predict.status();
  request.num_predict = *num_predict;
  const auto stream = object.find("stream");
  request.stream = stream == object.end() || !stream->is_boolean() || stream->get<bool>();

  if (chat) {
    const auto messages = object.find("messages");
    if (messages == object.end() || !messages->is_array() || messages->empty()) {
      request.load_only = true;
      return request;
    }
    for (const json& message : *messages) {
      if (!message.is_object()) {
        return Invalid(absl::StrCat("json: cannot unmarshal ", std::string(GoJsonType(message)),
                                    " into Go struct field ChatRequest.messages of type "
                                    "api.Message"));
      }
      for (const char* field : {"role", "content", "thinking", "tool_name", "tool_call_id"}) {
        if (auto error =
                CheckField(message, field, JsonKind::kString, "ChatRequest.messages", "string")) {
          return Invalid(*error);
        }
      }
      if (auto error = CheckField(message, "tool_calls", JsonKind::kArray, "ChatRequest.messages",
                                  "[]api.ToolCall")) {
        return Invalid(*error);
      }
    }
    if (has_tools) {
      for (const json& tool : *tools) {
        if (!tool.is_object()) {
          return Invalid(absl::StrCat("json: cannot unmarshal ", std::string(GoJsonType(tool)),
                                      " into Go struct field ChatRequest.tools of type api.Tool"));
        }
      }
    }
    // A trailing assistant message is the model's own unfinished turn, which Ollama's templates
    // continue: the reply goes on from it, answering the message before it. Its thinking is
    // over, and it calls no tool.
    const std::string last_role = LowerRole(messages->back());
    if (messages->size() > 1 && last_role == "assistant") {
      request.continue_from = ReplyTokenCount(StringField(messages->back(), "content"));
      request.prompt = StringField((*messages)[messages->size() - 2], "content");
      return request;
    }
    request.prompt = StringField(messages->back(), "content");
    request.thinking_tokens = ThinkingTokenCount(level);
    const std::uint64_t prompt_hash = Fnv1a64(request.prompt);
    if (has_tools && last_role != "tool") {
      // The model calls the first tool; after a tool's result it answers in text.
      const nlohmann::ordered_json ordered = ParseOrdered(body);
      const nlohmann::ordered_json& first = ordered["tools"][0];
      const nlohmann::ordered_json function = first.value("function", nlohmann::ordered_json());
      GenerationRequest::ToolCall call;
      if (function.is_object() && function.contains("name") && function["name"].is_string()) {
        call.name = function["name"].get<std::string>();
      }
      call.id = ToolCallId(call.name, request.prompt);
      call.arguments = ToolArguments(function.is_object()
                                         ? function.value("parameters", nlohmann::ordered_json())
                                         : nlohmann::ordered_json(),
                                     prompt_hash);
      request.tool_call = std::move(call);
      return request;
    }
    auto format = ParseFormat(body, object, prompt_hash);
    if (!format.ok()) return format.status();
    request.format_pieces = *std::move(format);
    // Ollama constrains a thinking model's chat only after its thinking, in a second request.
    request.format_after_thinking = request.format_pieces && request.thinking_tokens > 0;
    return request;
  }
  request.prompt = StringField(object, "prompt");
  request.load_only = request.prompt.empty();
  auto format = ParseFormat(body, object, Fnv1a64(request.prompt));
  if (!format.ok()) return format.status();
  request.format_pieces = *std::move(format);
  // /api/generate has no second pass: the format constrains from the first token, which leaves
  // no room for thinking.
  if (!request.format_pieces) request.thinking_tokens = ThinkingTokenCount(level);
  // A raw prompt that ends with the start of a reply continues that reply.
  if (request.raw) {
    if (const std::size_t start = ReplyStartIn(request.prompt); start != std::string::npos) {
      request.continue_from = ReplyTokenCount(std::string_view(request.prompt).substr(start));
      request.prompt.resize(start);
      request.thinking_tokens = 0;  // the reply being continued is past its thinking
    }
  }
  return request;
}

absl::StatusOr<EmbedRequest> ParseEmbedRequest(std::string_view body, bool legacy,
                                               const Catalog& catalog) {
  auto parsed = ParseRequestBody(body, legacy ? "api.EmbeddingRequest" : "api.EmbedRequest");
  if (!parsed.ok()) return parsed.status();
  const json& object = *parsed;
  const char* go_struct = legacy ? "EmbeddingRequest" : "EmbedRequest";
  absl::Status s = CheckFields(object, go_struct,
                               {{"model", JsonKind::kString, "string"},
                                {"prompt", JsonKind::kString, "string"},
                                {"dimensions", JsonKind::kNumber, "int"},
                                {"options", JsonKind::kObject, "map[string]interface {}"}});
  if (!s.ok()) return s;
  EmbedRequest request;
  request.legacy = legacy;
  request.model_echo = StringField(object, "model");
  if (request.model_echo.empty()) return Invalid("model is required");
  request.model = catalog.Find(request.model_echo);
  if (request.model == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("model \"", request.model_echo, "\" not found, try pulling it first"));
  }
  auto keep_alive = ParseKeepAlive(object);
  if (!keep_alive.ok()) return keep_alive.status();
  request.keep_alive = *keep_alive;
  if (const auto d = object.find("dimensions"); d != object.end() && d->is_number()) {
    request.dimensions = static_cast<int>(d->get<double>());
  }
  if (legacy) {
    const std::string prompt = StringField(object, "prompt");
    if (!prompt.empty()) request.inputs.push_back(prompt);
    return request;
  }
  const auto input = object.find("input");
  if (input == object.end() || input->is_null()) return request;
  if (input->is_string()) {
    if (!input->get_ref<const std::string&>().empty()) {
      request.inputs.push_back(input->get<std::string>());
    }
    return request;
  }
  if (!input->is_array()) return Invalid("invalid input type");
  for (const json& item : *input) {
    if (!item.is_string()) return Invalid("invalid input type");
    request.inputs.push_back(item.get<std::string>());
  }
  return request;
}

std::string EmbedReply(const EmbedRequest& request, std::chrono::steady_clock::time_point start,
                       std::chrono::steady_clock::time_point loaded) {
  using ordered = nlohmann::ordered_json;
  const auto nanos = [](auto d) {
    return std::max<std::int64_t>(1,
                                  std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
  };
  const auto dump = [](const ordered& value) {
    return value.dump(-1, ' ', false, ordered::error_handler_t::replace);
  };
  const int dims = request.dimensions >= 1 && request.dimensions <= kEmbeddingDims
                       ? request.dimensions
                       : kEmbeddingDims;
  if (request.legacy) {
    ordered vector = ordered::array();
    if (!request.inputs.empty()) vector = Embedding(request.inputs.front(), dims);
    return dump(ordered{{"embedding", std::move(vector)}});
  }
  ordered reply = {{"model", request.model_echo}, {"embeddings", ordered::array()}};
  if (request.inputs.empty()) return dump(reply);
  std::int64_t prompt_tokens = 0;
  for (const std::string& input : request.inputs) {
    reply["embeddings"].push_back(Embedding(input, dims));
    prompt_tokens += PromptTokenCount(input);
  }
  reply["total_duration"] = nanos(std::chrono::steady_clock::now() - start);
  reply["load_duration"] = nanos(loaded - start);
  reply["prompt_eval_count"] = prompt_tokens;
  return dump(reply);
}

absl::StatusOr<KnobUpdate> ParseKnobs(std::string_view body) {
  if (auto deep = DepthError(body)) return Invalid(*deep);
  json object;
  try {
    object = json::parse(body);
  } catch (const json::parse_error& e) {
    return Invalid(absl::StrCat("invalid JSON: ", e.what()));
  }
  if (!object.is_object()) return Invalid("the body must be a JSON object of knobs");
  KnobUpdate update;
  struct IntKnob {
    const char* name;
    int min;
    int max;
    std::optional<int> KnobUpdate::*field;
  };
  constexpr int kMaxMs = 24 * 3600 * 1000;
  const IntKnob int_knobs[] = {
      {"token_delay_ms", 0, kMaxMs, &KnobUpdate::token_delay_ms},
      {"tokens", 1, 10'000'000, &KnobUpdate::tokens},
      {"load_delay_ms", 0, kMaxMs, &KnobUpdate::load_delay_ms},
      {"fail_status", 0, 599, &KnobUpdate::fail_status},
      {"fail_after_tokens", 0, 10'000'000, &KnobUpdate::fail_after_tokens},
      {"reset_after_tokens", 0, 10'000'000, &KnobUpdate::reset_after_tokens},
      {"api_status", 0, 599, &KnobUpdate::api_status},
      {"api_delay_ms", 0, kMaxMs, &KnobUpdate::api_delay_ms},
      {"ps_delay_ms", 0, kMaxMs, &KnobUpdate::ps_delay_ms},
      {"garbage_after_tokens", 0, 10'000'000, &KnobUpdate::garbage_after_tokens},
      {"truncate_after_tokens", 0, 10'000'000, &KnobUpdate::truncate_after_tokens},
      {"huge_line_bytes", 0, kMaxHugeLineBytes, &KnobUpdate::huge_line_bytes},
      {"close_mid_chunk_after_tokens", 0, 10'000'000, &KnobUpdate::close_mid_chunk_after_tokens},
      {"pull_delay_ms", 0, kMaxMs, &KnobUpdate::pull_delay_ms},
  };
  for (const auto& [key, value] : object.items()) {
    if (key == "hang" || key == "ignore_num_predict") {
      if (!value.is_boolean()) {
        return Invalid(absl::StrCat("knob '", key, "' must be true or false"));
      }
      (key == "hang" ? update.hang : update.ignore_num_predict) = value.get<bool>();
      continue;
    }
    if (key == "content_type") {
      auto content_type = ParseContentTypeKnob(value);
      if (!content_type.ok()) return content_type.status();
      update.content_type = *std::move(content_type);
      continue;
    }
    if (key == "models") {
      if (value.is_null()) {
        update.models = std::optional<std::vector<std::string>>();
        continue;
      }
      if (!value.is_array())
        return Invalid("knob 'models' must be an array of model names or null");
      std::vector<std::string> names;
      for (const json& element : value) {
        if (!element.is_string() || !ParseModelName(element.get<std::string>()).ok()) {
          return Invalid(
              absl::StrCat("knob 'models' has an invalid model name: ",
                           element.dump(-1, ' ', false, json::error_handler_t::replace)));
        }
        names.push_back(element.get<std::string>());
      }
      update.models = std::move(names);
      continue;
    }
    if (auto status = ParseModelKnob(key, value, update)) {
      if (!status->ok()) return *status;
      continue;
    }
    const IntKnob* knob = nullptr;
    for (const IntKnob& candidate : int_knobs) {
      if (key == candidate.name) knob = &candidate;
    }
    if (knob == nullptr) return Invalid(absl::StrCat("unknown knob '", key, "'"));
    const bool in_range = value.is_number_integer() && value.get<std::int64_t>() >= knob->min &&
                          value.get<std::int64_t>() <= knob->max;
    // fail_status takes error statuses only; api_status any status a server can answer.
    const int lowest_status = key == "fail_status" ? 400 : key == "api_status" ? 100 : 0;
    const bool status_ok = !in_range || value.get<int>() == 0 || value.get<int>() >= lowest_status;
    if (!in_range || !status_ok) {
      std::string hint;
      if (key == "fail_status") hint = " (0, or an error status 400-599)";
      if (key == "api_status") hint = " (0, or a status 100-599)";
      return Invalid(absl::StrCat("knob '", key, "' must be an integer between ", knob->min,
                                  " and ", knob->max, hint));
    }
    update.*(knob->field) = value.get<int>();
  }
  return update;
}

}  // namespace og::sim
