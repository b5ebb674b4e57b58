// The running configuration as JSON, for GET /admin/config: every key with the value in force
// (defaults included), so an operator sees what the gateway really uses. Private key paths are
// redacted; the file never holds key material itself (keys are referenced by path).
#ifndef OLLAMA_GATEWAY_GATEWAY_ADMIN_CONFIG_VIEW_H_
#define OLLAMA_GATEWAY_GATEWAY_ADMIN_CONFIG_VIEW_H_

#include <string>

#include "gateway/config/config.h"

namespace og {

std::string ConfigJson(const Config& config);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_ADMIN_CONFIG_VIEW_H_
