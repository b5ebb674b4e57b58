#include "gateway/frontdoor/http/answers.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <vector>

#include "common/json_string.h"
#include "fmt/format.h"
#include "gateway/config/values.h"
#include "gateway/frontdoor/http/json_fields.h"
#include "gateway/upstream/json_reading.h"

namespace og {
namespace {

using namespace json_fields;  // NOLINT(build/namespaces): this file's own vocabulary

// Seconds since the epoch of an RFC 3339 time as Ollama writes modified_at
// ("2024-05-01T10:00:00.123456789-07:00"); 0 when it does not parse.
std::int64_t UnixTime(const std::string& text) {
  std::tm tm{};
  int consumed = 0;
  if (std::sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                  &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &consumed) != 6) {
    return 0;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  std::int64_t t = timegm(&tm);
  std::size_t i = static_cast<std::size_t>(consumed);
  while (i < text.size() && (text[i] == '.' || (text[i] >= '0' && text[i] <= '9'))) ++i;
  int oh = 0, om = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-') &&
      std::sscanf(text.c_str() + i + 1, "%2d:%2d", &oh, &om) == 2) {
    const std::int64_t offset = oh * 3600 + om * 60;
    t += text[i] == '+' ? -offset : offset;
  }
  return t;
}

}  // namespace

int HttpStatusFor(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk:
      return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
      return 400;
    case absl::StatusCode::kUnauthenticated:
      return 401;
    case absl::StatusCode::kPermissionDenied:
      return 403;
    case absl::StatusCode::kNotFound:
      return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted:
      return 409;
    case absl::StatusCode::kResourceExhausted:
      return 429;
    case absl::StatusCode::kCancelled:
      return 499;  // nginx's "client closed request"; nobody is left to read it
    case absl::StatusCode::kUnimplemented:
      return 501;
    case absl::StatusCode::kUnavailable:
      return 503;
    case absl::StatusCode::kDeadlineExceeded:
      return 504;
    default:
      return 500;
  }
}

std::string OllamaErrorBody(std::string_view message) {
  return DumpJson(Json{{"error", std::string(message)}});
}

namespace {

// The error `type` OpenAI's and Anthropic's APIs give a status (Anthropic's as Ollama's
// anthropic.NewError chooses them): most are shared.
const char* ErrorType(ApiShape shape, int http_status) {
  const bool anthropic = shape == ApiShape::kAnthropic;
  switch (http_status) {
    case 400:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return anthropic ? "not_found_error" : "invalid_request_error";
    case 413:
      return anthropic ? "request_too_large" : "api_error";
    case 429:
      return "rate_limit_error";
    case 503:
    case 529:
      return anthropic ? "overloaded_error" : "api_error";
    default:
      return "api_error";
  }
}

}  // namespace

Json OpenAiError(int http_status, std::string_view message) {
  Json code = nullptr;
  if (http_status == 401) code = "invalid_api_key";
  if (http_status == 404) code = "model_not_found";
  if (http_status == 429) code = "rate_limit_exceeded";
  return Json{{"error",
               {{"message", std::string(message)},
                {"type", ErrorType(ApiShape::kOpenAi, http_status)},
                {"param", nullptr},
                {"code", std::move(code)}}}};
}

std::string OpenAiErrorBody(int http_status, std::string_view message) {
  return DumpJson(OpenAiError(http_status, message));
}

Json AnthropicError(int http_status, std::string_view message) {
  return Json{{"type", "error"},
              {"error",
               {{"type", ErrorType(ApiShape::kAnthropic, http_status)},
                {"message", std::string(message)}}}};
}

bool CarriesImages(std::string_view path) {
  for (std::string_view images :
       {"/api/generate", "/api/chat", "/v1/chat/completions", "/v1/responses", "/v1/messages"}) {
    if (path == images) return true;
  }
  return false;
}

RequestBodyLimit BodyLimitFor(std::string_view path, const LimitsConfig& limits,
                              std::size_t max_blob_bytes, std::size_t ceiling) {
  RequestBodyLimit limit;
  if (path.starts_with("/api/blobs/")) {
    limit.bytes = max_blob_bytes;
    limit.message =
        fmt::format("the blob is larger than fleet.max_blob_bytes ({} bytes)", limit.bytes);
  } else if (CarriesImages(path)) {
    limit.bytes = static_cast<std::size_t>(limits.max_image_request_bytes);
    limit.message = fmt::format(
        "the request body is larger than limits.max_image_request_bytes ({} bytes)", limit.bytes);
  } else {
    limit.bytes = static_cast<std::size_t>(
        std::max<std::int64_t>(2 * limits.max_request_bytes, std::int64_t{4} << 20));
    limit.message =
        fmt::format("the request body is larger than {} bytes (twice limits.max_request_bytes, {})",
                    limit.bytes, limits.max_request_bytes);
  }
  if (limit.bytes > ceiling) {
    limit.bytes = ceiling;
    limit.message = fmt::format(
        "the request body is larger than {} bytes, the most this gateway reads (twice the larger "
        "of limits.max_request_bytes and limits.max_image_request_bytes, or fleet.max_blob_bytes "
        "for a blob, when it started; a restart applies a higher limit)",
        ceiling);
  }
  return limit;
}

std::string ErrorBody(ApiShape shape, int http_status, std::string_view message) {
  switch (shape) {
    case ApiShape::kOpenAi:
      return DumpJson(OpenAiError(http_status, message));
    case ApiShape::kAnthropic:
      return DumpJson(AnthropicError(http_status, message));
    case ApiShape::kOllama:
      break;
  }
  return OllamaErrorBody(message);
}

std::string StreamErrorEvent(HttpApi api, int http_status, std::string_view message) {
  switch (ShapeOf(api)) {
    case ApiShape::kOllama:
      return OllamaErrorBody(message) + "\n";
    case ApiShape::kAnthropic:
      return "event: error\ndata: " + DumpJson(AnthropicError(http_status, message)) + "\n\n";
    case ApiShape::kOpenAi:
      break;
  }
  if (api == HttpApi::kOpenAiResponses) {
    // The Responses API's error event.
    const Json error = OpenAiError(http_status, message)["error"];
    return "event: error\ndata: " +
           DumpJson(Json{{"type", "error"},
                         {"code", error["code"].is_null() ? Json(error["type"]) : error["code"]},
                         {"message", std::string(message)},
                         {"param", nullptr}}) +
           "\n\n";
  }
  return "data: " + DumpJson(OpenAiError(http_status, message)) + "\n\n";
}

namespace {

// An entry of /v1/models as Ollama writes it (openai.ToModel): `id` as given, `owned_by` the
// name's namespace (the path segment before the model: "library" when there is none).
Json OpenAiModel(const Json& entry, std::string_view id) {
  const std::string_view path = id.substr(0, id.find(':', id.rfind('/') + 1));
  const std::size_t last = path.rfind('/');
  std::string_view owner = "library";
  if (last != std::string_view::npos) {
    const std::size_t before = path.rfind('/', last - 1);
    owner = path.substr(before == std::string_view::npos ? 0 : before + 1,
                        last - (before == std::string_view::npos ? 0 : before + 1));
  }
  return {{"id", std::string(id)},
          {"object", "model"},
          {"created", UnixTime(StringOr(entry, "modified_at"))},
          {"owned_by", std::string(owner)}};
}

bool HasName(const Json& entry) {
  return entry.is_object() && entry.contains("name") && entry["name"].is_string();
}

}  // namespace

std::string OpenAiModels(const Json& tags) {
  Json data = Json::array();
  if (tags.contains("models") && tags["models"].is_array()) {
    for (const Json& m : tags["models"]) {
      if (HasName(m)) data.push_back(OpenAiModel(m, m["name"].get_ref<const std::string&>()));
    }
  }
  // Ollama answers `"data": null` when no model is installed; clients take an empty list
  // better, and the gateway's listing is of the whole fleet.
  return DumpJson(Json{{"object", "list"}, {"data", std::move(data)}});
}

std::optional<std::string> OpenAiModelEntry(const Json& tags, std::string_view id) {
  if (!tags.contains("models") || !tags["models"].is_array()) return std::nullopt;
  const std::string wanted = CanonicalModelName(std::string(id));
  for (const Json& m : tags["models"]) {
    if (!HasName(m)) continue;
    const std::string& name = m["name"].get_ref<const std::string&>();
    if (name == id || CanonicalModelName(name) == wanted) return DumpJson(OpenAiModel(m, id));
  }
  return std::nullopt;
}

void OllamaAggregate::Add(HttpApi api, const OllamaChunk& chunk, std::string_view line) {
  text += chunk.text;
  thinking += chunk.thinking;
  if (chunk.done) final_line.assign(line);
  if (api != HttpApi::kOllamaChat || !chunk.has_tool_calls()) return;
  // ParseOllamaChunk read them from a line within the depth limit.
  const Json calls = ParseJson(chunk.tool_calls_json, max_depth, "tool_calls").value_or(Json());
  if (calls.is_array()) {
    for (const Json& c : calls) tool_calls.push_back(c);
  }
}

namespace {

// One member of a JSON object's top level: its key (without the quotes) and its value, as
// they appear in the object's text.
struct RawMember {
  std::string_view key;
  std::string_view value;
};

constexpr std::size_t kNpos = std::string_view::npos;

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t SkipSpace(std::string_view t, std::size_t i) {
  while (i < t.size() && IsJsonSpace(t[i])) ++i;
  return i;
}

// Past the JSON string that starts at t[i] ('"'), or kNpos.
std::size_t SkipString(std::string_view t, std::size_t i) {
  for (++i; i < t.size(); ++i) {
    if (t[i] == '\\') {
      ++i;
    } else if (t[i] == '"') {
      return i + 1;
    }
  }
  return kNpos;
}

// Past the JSON value that starts at t[i], or kNpos. Nesting is counted, not recursed into.
std::size_t SkipValue(std::string_view t, std::size_t i) {
  if (i >= t.size()) return kNpos;
  if (t[i] == '"') return SkipString(t, i);
  if (t[i] == '{' || t[i] == '[') {
    std::size_t depth = 0;
    while (i < t.size()) {
      const char c = t[i];
      if (c == '"') {
        i = SkipString(t, i);
        if (i == kNpos) return kNpos;
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        return i + 1;
      }
      ++i;
    }
    return kNpos;
  }
  const std::size_t start = i;
  while (i < t.size() && t[i] != ',' && t[i] != '}' && t[i] != ']' && !IsJsonSpace(t[i])) ++i;
  return i > start ? i : kNpos;
}

// The top-level members of the JSON object `t`, in order. False when `t` is not an object, or
// has a key with an escape (which a raw comparison of keys would miss).
bool SplitObject(std::string_view t, std::vector<RawMember>* members) {
  std::size_t i = SkipSpace(t, 0);
  if (i >= t.size() || t[i] != '{') return false;
  i = SkipSpace(t, i + 1);
  if (i < t.size() && t[i] == '}') return true;
  while (i < t.size() && t[i] == '"') {
    const std::size_t key_end = SkipString(t, i);
    if (key_end == kNpos) return false;
    const std::string_view key = t.substr(i + 1, key_end - i - 2);
    if (key.find('\\') != kNpos) return false;
    i = SkipSpace(t, key_end);
    if (i >= t.size() || t[i] != ':') return false;
    i = SkipSpace(t, i + 1);
    const std::size_t value_end = SkipValue(t, i);
    if (value_end == kNpos) return false;
    members->push_back({key, t.substr(i, value_end - i)});
    i = SkipSpace(t, value_end);
    if (i < t.size() && t[i] == '}') return true;
    if (i >= t.size() || t[i] != ',') return false;
    i = SkipSpace(t, i + 1);
  }
  return false;
}

// Writes members as `"key":value`, with the commas between them.
class ObjectWriter {
 public:
  explicit ObjectWriter(std::string& out) : out_(out) { out_ += '{'; }
  std::string& Key(std::string_view key) {
    if (!first_) out_ += ',';
    first_ = false;
    out_ += '"';
    out_.append(key);
    out_ += "\":";
    return out_;
  }
  void End() { out_ += '}'; }

 private:
  std::string& out_;
  bool first_ = true;
};

}  // namespace

std::string OllamaAggregate::Body(HttpApi api) const {
  std::vector<RawMember> members;
  members.reserve(16);  // Ollama's final line has 12 members
  if (!SplitObject(final_line, &members)) return RebuiltBody(api);
  const bool chat = api == HttpApi::kOllamaChat;
  std::string out;
  out.reserve(final_line.size() + text.size() + thinking.size() + 64);
  ObjectWriter top(out);
  bool answered = false;
  const auto answer = [&] {
    answered = true;
    if (!chat) {
      AppendJsonString(top.Key("response"), text);
      if (!thinking.empty()) AppendJsonString(top.Key("thinking"), thinking);
      return;
    }
    // The final line's own message (role and empty content), with the answer in it.
    std::vector<RawMember> fields;
    const auto message = std::find_if(members.begin(), members.end(),
                                      [](const RawMember& m) { return m.key == "message"; });
    if (message != members.end()) SplitObject(message->value, &fields);
    ObjectWriter m(top.Key("message"));
    m.Key("role") += "\"assistant\"";
    AppendJsonString(m.Key("content"), text);
    if (!thinking.empty()) AppendJsonString(m.Key("thinking"), thinking);
    if (!tool_calls.empty()) m.Key("tool_calls") += DumpJson(tool_calls);
    for (const RawMember& f : fields) {
      if (f.key != "role" && f.key != "content" && f.key != "thinking" && f.key != "tool_calls") {
        m.Key(f.key).append(f.value);
      }
    }
    m.End();
  };
  for (const RawMember& member : members) {
    if (chat ? member.key == "message" : member.key == "response") {
      if (!answered) answer();
    } else if (chat || member.key != "thinking") {
      top.Key(member.key).append(member.value);
    }
  }
  if (!answered) answer();
  top.End();
  return out;
}

std::string OllamaAggregate::RebuiltBody(HttpApi api) const {
  // ParseOllamaChunk accepted the line, depth included.
  const Json final_chunk = ParseJson(final_line, max_depth, "the backend's line").value_or(Json());
  Json out = final_chunk.is_object() ? final_chunk : Json::object();
  if (api == HttpApi::kOllamaChat) {
    Json message =
        out.contains("message") && out["message"].is_object() ? out["message"] : Json::object();
    message["role"] = "assistant";
    message["content"] = text;
    if (!thinking.empty()) message["thinking"] = thinking;
    if (!tool_calls.empty()) message["tool_calls"] = tool_calls;
    out["message"] = std::move(message);
  } else {
    out["response"] = text;
    if (!thinking.empty()) out["thinking"] = thinking;
  }
  return DumpJson(out);
}

}  // namespace og
