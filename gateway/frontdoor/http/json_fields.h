// The JSON vocabulary the HTTP front door's translations and answers share: getters that never
// throw on caller or backend JSON (a thrown exception on an upstream loop thread would end the
// process), numbers in the proto's types without undefined conversions, and DumpJson.
#ifndef OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_JSON_FIELDS_H_
#define OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_JSON_FIELDS_H_

#include <algorithm>
#include <cfloat>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "fmt/format.h"

namespace og {

// A JSON answer's text. Answers carry caller and backend text, which may hold invalid UTF-8: it
// is replaced, never thrown.
inline std::string DumpJson(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace json_fields {

using Json = nlohmann::json;

inline absl::Status Invalid(std::string message) {
  return absl::InvalidArgumentError(std::move(message));
}

// JSON numbers in the proto's types without undefined conversions (a caller may send 1e300):
// floats are clamped to float's range, integers out of range (or not whole) are absent.
inline float AsFloat(const Json& v) {
  const double d = v.get<double>();
  if (d != d) return 0.0f;  // NaN cannot come from JSON text, but a backend is not trusted
  return static_cast<float>(std::clamp(d, double{-FLT_MAX}, double{FLT_MAX}));
}

// A member of an object when it has the type asked for, else `fallback`. Unlike json::value(),
// never throws: fields come from callers and backends, and an exception on an upstream loop
// thread would end the process.
inline std::string StringOr(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

// Caller text quoted in an error message: bounded, one line.
inline std::string Quote(std::string_view text) {
  std::string out(text.substr(0, 64));
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  return out;
}

template <typename Int>
std::optional<Int> AsInt(const Json& v) {
  if (v.is_number_unsigned()) {
    const std::uint64_t u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(std::numeric_limits<Int>::max())) return std::nullopt;
    return static_cast<Int>(u);
  }
  if (v.is_number_integer()) {
    const std::int64_t i = v.get<std::int64_t>();
    if (i < std::numeric_limits<Int>::min() || i > std::numeric_limits<Int>::max()) {
      return std::nullopt;
    }
    return static_cast<Int>(i);
  }
  return std::nullopt;
}

// A string field, or an error naming it when it has another type. Absent is fine.
inline absl::Status OptionalString(const Json& body, const char* key, std::string* out) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return absl::OkStatus();
  if (!it->is_string()) return Invalid(fmt::format("{} must be a string", key));
  *out = it->get<std::string>();
  return absl::OkStatus();
}

}  // namespace json_fields
}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_JSON_FIELDS_H_
