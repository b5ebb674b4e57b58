// The gateway's own log on stderr: its level and its format, "text" for people or "json" (one
// object per line: time, level, msg) for log collectors.
//
// Messages carry text a caller chose (model names, request ids, backend errors), so neither
// format lets it through raw: JSON escapes it, and text writes control characters as escapes
// (\n, \r, \t, \xNN), so a caller cannot forge a log line or send a terminal escape sequence.
#ifndef OLLAMA_GATEWAY_GATEWAY_TELEMETRY_PROCESS_LOG_H_
#define OLLAMA_GATEWAY_GATEWAY_TELEMETRY_PROCESS_LOG_H_

#include <memory>
#include <string>
#include <string_view>

#include "gateway/config/config.h"

namespace spdlog {
class formatter;
}

namespace og {

// Applies logging.level and logging.format to the default logger. Call at start and on reload.
void ConfigureProcessLog(const LoggingConfig& config);

// The formatter of the text format: time, level, then the message with its control
// characters escaped.
std::unique_ptr<spdlog::formatter> TextLogFormatter();

// `text` with bytes below 0x20 and 0x7f (DEL) written as \n, \r, \t or \xNN; other bytes as
// they are.
std::string EscapeControlCharacters(std::string_view text);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_TELEMETRY_PROCESS_LOG_H_
