// Wall-clock times as the gateway writes them in JSON (access log, admin views): RFC 3339 in
// UTC with milliseconds, e.g. "2026-11-25T20:15:50.251Z".
#ifndef OLLAMA_GATEWAY_GATEWAY_TIME_FORMAT_H_
#define OLLAMA_GATEWAY_GATEWAY_TIME_FORMAT_H_

#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace og {

inline std::string Rfc3339Millis(std::chrono::system_clock::time_point t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count() % 1000;
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[40];
  const std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%S", &parts);
  std::snprintf(text + n, sizeof text - n, ".%03dZ", static_cast<int>(millis));
  return text;
}

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_TIME_FORMAT_H_
