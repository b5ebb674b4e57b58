// The helpers every /v1 endpoint shares, and the endpoints that generate nothing:
// /v1/embeddings and /v1/models (openai/openai.go, middleware/openai.go).
#include "tools/ollama-sim/compat.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "tools/ollama-sim/text.h"

namespace og::sim {

using ordered = nlohmann::ordered_json;

namespace {

// Go's encoding/json also escapes <, > and & (as \u003c, \u003e, \u0026) and U+2028/U+2029;
// nlohmann writes them as they are. Outside strings a JSON text has none of them, so they are
// rewritten wherever they occur.
std::string GoEscaped(std::string text) {
  if (text.find_first_of("<>&\xe2") == std::string::npos) return text;
  std::string out;
  out.reserve(text.size() + 16);
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '<') {
      out += "\\u003c";
    } else if (c == '>') {
      out += "\\u003e";
    } else if (c == '&') {
      out += "\\u0026";
    } else if (c == '\xe2' && i + 2 < text.size() && text[i + 1] == '\x80' &&
               (text[i + 2] == '\xa8' || text[i + 2] == '\xa9')) {
      out += text[i + 2] == '\xa8' ? "\\u2028" : "\\u2029";
      i += 2;
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string DumpJson(const ordered& value) {
  return GoEscaped(value.dump(-1, ' ', false, ordered::error_handler_t::replace));
}

std::string DumpJson(const nlohmann::json& value) {
  return GoEscaped(value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

ordered GoFloat(double value) {
  if (value == static_cast<double>(static_cast<std::int64_t>(value)) && std::abs(value) < 1e15) {
    return static_cast<std::int64_t>(value);
  }
  return value;
}

std::int64_t UnixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string OpenAIErrorJson(int status, std::string_view message) {
  const char* type = status == 400   ? "invalid_request_error"
                     : status == 404 ? "not_found_error"
                                     : "api_error";
  return DumpJson(ordered{{"error",
                           {{"message", std::string(message)},
                            {"type", type},
                            {"param", nullptr},
                            {"code", nullptr}}}});
}

bool ThinkFromEffort(std::string_view effort, ordered& think, std::string& error) {
  if (effort.empty()) {
    think = ordered();
  } else if (effort == "none") {
    think = false;
  } else if (effort == "minimal") {
    think = "low";
  } else if (effort == "low" || effort == "medium" || effort == "high" || effort == "max") {
    think = std::string(effort);
  } else if (effort == "xhigh" || effort == "ultra") {
    think = "max";
  } else {
    std::string quoted;
    AppendJsonString(quoted, effort);
    error = absl::StrCat("invalid reasoning value: ", quoted,
                         " (must be \"minimal\", \"low\", \"medium\", \"high\", \"xhigh\", "
                         "\"ultra\", \"max\", or \"none\")");
    return false;
  }
  return true;
}

CompatRequest Refuse(int status, std::string body) {
  CompatRequest request;
  request.error_status = status;
  request.error_body = std::move(body);
  return request;
}

CompatRequest RefuseOpenAI(int status, std::string_view message) {
  return Refuse(status, OpenAIErrorJson(status, message));
}

bool ParseCompatBody(std::string_view body, std::string_view go_type, ordered& out,
                     std::string& error) {
  auto checked = ParseRequestBody(body, go_type);
  if (!checked.ok()) {
    error = std::string(checked.status().message());
    return false;
  }
  // Parsed again, keeping the client's key order (schemas, arguments); nlohmann::json sorts.
  try {
    std::istringstream in{std::string(body)};
    in >> out;
  } catch (const ordered::parse_error&) {
    error = "unexpected EOF";
    return false;
  }
  return true;
}

std::optional<std::string> CheckCompatFields(
    const ordered& request, std::string_view go_struct,
    std::initializer_list<std::tuple<const char*, JsonKind, const char*>> fields) {
  const nlohmann::json plain = nlohmann::json::parse(request.dump());
  for (const auto& [field, kind, go_type] : fields) {
    if (auto error = CheckField(plain, field, kind, go_struct, go_type)) return error;
  }
  return std::nullopt;
}

std::optional<std::string> CheckObjectElements(const ordered& request, const char* field,
                                               std::string_view go_struct,
                                               std::string_view go_type) {
  const auto it = request.find(field);
  if (it == request.end() || !it->is_array()) return std::nullopt;
  for (const ordered& element : *it) {
    if (element.is_object() || element.is_null()) continue;
    std::string type = GoTypeName(element);
    // Go names JSON types in unmarshal errors: string, number, bool, array.
    if (element.is_number()) type = "number";
    if (element.is_array()) type = "array";
    return absl::StrCat("json: cannot unmarshal ", type, " into Go struct field ",
                        std::string(go_struct), ".", field, " of type ", std::string(go_type));
  }
  return std::nullopt;
}

std::string JsonString(const ordered& object, std::string_view key) {
  if (!object.is_object()) return "";
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::string LowerAscii(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

std::string GoTypeName(const ordered& value) {
  if (value.is_null()) return "<nil>";
  if (value.is_string()) return "string";
  if (value.is_boolean()) return "bool";
  if (value.is_number()) return "float64";
  if (value.is_array()) return "[]interface {}";
  return "map[string]interface {}";
}

namespace {

CompatRequest TranslateEmbeddingsUnguarded(std::string_view body, std::string& encoding) {
  ordered request;
  std::string error;
  if (!ParseCompatBody(body, "openai.EmbedRequest", request, error)) {
    return RefuseOpenAI(400, error);
  }
  if (auto e = CheckCompatFields(request, "EmbedRequest",
                                 {{"model", JsonKind::kString, "string"},
                                  {"dimensions", JsonKind::kNumber, "int"},
                                  {"encoding_format", JsonKind::kString, "string"}})) {
    return RefuseOpenAI(400, *e);
  }
  encoding = JsonString(request, "encoding_format");
  const std::string lower = LowerAscii(encoding);
  if (!encoding.empty() && lower != "float" && lower != "base64") {
    return RefuseOpenAI(400, absl::StrCat("Invalid value for 'encoding_format' = ", encoding,
                                          ". Supported values: ['float', 'base64']."));
  }
  encoding = lower;
  ordered input = request.value("input", ordered());
  if (input.is_string() && input.get<std::string>().empty()) input = ordered::array({""});
  if (input.is_null() || (input.is_array() && input.empty())) {
    return RefuseOpenAI(400, "invalid input");
  }
  ordered native = {{"model", JsonString(request, "model")}, {"input", std::move(input)}};
  if (request.contains("dimensions")) native["dimensions"] = request["dimensions"];
  CompatRequest translated;
  translated.native_body = DumpJson(native);
  return translated;
}

}  // namespace

CompatRequest TranslateEmbeddings(std::string_view body, std::string& encoding) {
  // The checks above follow Go's binding for the usual mistakes; any other shape they let
  // through (an element of the wrong type deep inside) is refused, never a 500.
  try {
    return TranslateEmbeddingsUnguarded(body, encoding);
  } catch (const nlohmann::json::exception& e) {
    return RefuseOpenAI(400, e.what());
  }
}

std::string OpenAIEmbeddingList(const EmbedRequest& request, std::string_view encoding) {
  const int dims = request.dimensions >= 1 && request.dimensions <= kEmbeddingDims
                       ? request.dimensions
                       : kEmbeddingDims;
  ordered data = ordered::array();
  std::int64_t prompt_tokens = 0;
  for (std::size_t i = 0; i < request.inputs.size(); ++i) {
    const std::vector<double> vector = Embedding(request.inputs[i], dims);
    ordered embedding;
    if (encoding == "base64") {
      std::string bytes;
      for (double value : vector) {
        const float f = static_cast<float>(value);
        std::uint32_t bits;
        std::memcpy(&bits, &f, sizeof bits);
        for (int b = 0; b < 4; ++b) bytes += static_cast<char>((bits >> (8 * b)) & 0xff);
      }
      embedding = absl::Base64Escape(bytes);
    } else {
      // Ollama's vectors are float32, written as Go writes a float32 (its shortest form): that
      // form, read back as a double, dumps the same way.
      embedding = ordered::array();
      for (double value : vector) {
        std::array<char, 32> digits;
        auto [end, ec] =
            std::to_chars(digits.data(), digits.data() + digits.size(), static_cast<float>(value));
        embedding.push_back(std::strtod(std::string(digits.data(), end).c_str(), nullptr));
      }
    }
    data.push_back({{"object", "embedding"}, {"embedding", std::move(embedding)}, {"index", i}});
    prompt_tokens += PromptTokenCount(request.inputs[i]);
  }
  return DumpJson(ordered{
             {"object", "list"},
             {"data", std::move(data)},
             {"model", request.model_echo},
             {"usage", {{"prompt_tokens", prompt_tokens}, {"total_tokens", prompt_tokens}}}}) +
         "\n";
}

std::string OpenAIModelList(const Catalog& catalog, std::int64_t created) {
  ordered data;  // null without models, as Go's nil slice
  for (const ModelInfo& model : catalog.models()) {
    data.push_back({{"id", model.display},
                    {"object", "model"},
                    {"created", created},
                    {"owned_by", model.name.name_space}});
  }
  return DumpJson(ordered{{"object", "list"}, {"data", std::move(data)}}) + "\n";
}

std::string OpenAIModel(std::string_view id, std::int64_t created) {
  auto name = ParseModelName(id);
  return DumpJson(ordered{{"id", std::string(id)},
                          {"object", "model"},
                          {"created", created},
                          {"owned_by", name.ok() ? name->name_space : std::string("library")}}) +
         "\n";
}

}  // namespace og::sim
