#include "gateway/telemetry/process_log.h"

#include <memory>
#include <string>

#include "nlohmann/json.hpp"
#include "spdlog/pattern_formatter.h"
#include "spdlog/spdlog.h"

namespace og {
namespace {

// %V is %v with control characters escaped (ControlEscapedMessage).
constexpr const char* kTextPattern = "%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %V";

bool IsControl(char c) { return static_cast<unsigned char>(c) < 0x20 || c == 0x7f; }

void AppendEscaped(std::string_view text, spdlog::memory_buf_t& dest) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t plain_from = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (!IsControl(c)) continue;
    dest.append(text.data() + plain_from, text.data() + i);
    plain_from = i + 1;
    const auto byte = static_cast<unsigned char>(c);
    const char* named = c == '\n' ? "\\n" : c == '\r' ? "\\r" : c == '\t' ? "\\t" : nullptr;
    if (named != nullptr) {
      dest.append(named, named + 2);
      continue;
    }
    const char escape[] = {'\\', 'x', kHex[byte >> 4], kHex[byte & 0xf]};
    dest.append(escape, escape + sizeof(escape));
  }
  dest.append(text.data() + plain_from, text.data() + text.size());
}

// %V: the message with control characters escaped (spdlog's %v writes them raw).
class ControlEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    AppendEscaped(std::string_view(msg.payload.data(), msg.payload.size()), dest);
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<ControlEscapedMessage>();
  }
};

// %j: the message as the body of a JSON string (quotes, backslashes and control characters
// escaped), which spdlog's own %v is not.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const std::string quoted = nlohmann::json(std::string(msg.payload.data(), msg.payload.size()))
                                   .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    dest.append(quoted.data() + 1, quoted.data() + quoted.size() - 1);  // without the quotes
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

}  // namespace

std::string EscapeControlCharacters(std::string_view text) {
  spdlog::memory_buf_t buffer;
  AppendEscaped(text, buffer);
  return std::string(buffer.data(), buffer.size());
}

std::unique_ptr<spdlog::formatter> TextLogFormatter() {
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<ControlEscapedMessage>('V').set_pattern(kTextPattern);
  return formatter;
}

void ConfigureProcessLog(const LoggingConfig& config) {
  spdlog::set_level(spdlog::level::from_str(config.level));
  if (config.format != "json") {
    spdlog::set_formatter(TextLogFormatter());
    return;
  }
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<JsonEscapedMessage>('j').set_pattern(
      R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%j"})");
  spdlog::set_formatter(std::move(formatter));
}

}  // namespace og
