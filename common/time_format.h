// Wall-clock times as the gateway writes them: RFC 3339 in UTC, with milliseconds in JSON (the
// access log, the admin views: "2026-11-25T20:15:50.251Z") or to the second in messages about
// certificates ("2026-11-25T18:00:00Z").
#ifndef OLLAMA_GATEWAY_COMMON_TIME_FORMAT_H_
#define OLLAMA_GATEWAY_COMMON_TIME_FORMAT_H_

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <ctime>
#include <string>

namespace og {
namespace time_format_internal {

// "YYYY-MM-DDTHH:MM:SS" of `seconds` in UTC into `text`; returns its length.
inline std::size_t DateTime(std::time_t seconds, char (&text)[40]) {
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  return std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
}

}  // namespace time_format_internal

inline std::string Rfc3339Seconds(std::time_t t) {
  char text[40];
  const std::size_t n = time_format_internal::DateTime(t, text);
  std::snprintf(text + n, sizeof text - n, "Z");
  return text;
}

inline std::string Rfc3339Millis(std::chrono::system_clock::time_point t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  char text[40];
  const std::size_t n = time_format_internal::DateTime(seconds, text);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(millis));
  return text;
}

}  // namespace og

#endif  // OLLAMA_GATEWAY_COMMON_TIME_FORMAT_H_
