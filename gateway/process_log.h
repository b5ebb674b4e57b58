// The gateway's own log on stderr: its level and its format, "text" for people or "json" (one
// object per line: time, level, msg) for log collectors.
#ifndef OLLAMA_GATEWAY_GATEWAY_PROCESS_LOG_H_
#define OLLAMA_GATEWAY_GATEWAY_PROCESS_LOG_H_

#include "gateway/config.h"

namespace og {

// Applies logging.level and logging.format to the default logger. Call at start and on reload.
void ConfigureProcessLog(const LoggingConfig& config);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_PROCESS_LOG_H_
