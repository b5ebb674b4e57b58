// Loading the gateway configuration: the YAML text or file into a Config (gateway/config/config.h),
// every key and value checked.
//
// Loading never throws. Errors name the file, the line and the reason, one per line, in the
// form `FILE:LINE: reason`, so `ollama-gateway --check-config FILE` can print them as they are
// and a running gateway can log why a reload was refused while it keeps its last good config.
#ifndef OLLAMA_GATEWAY_GATEWAY_CONFIG_LOAD_H_
#define OLLAMA_GATEWAY_GATEWAY_CONFIG_LOAD_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gateway/config/config.h"

namespace og {

// Parses and validates YAML text. `source_name` is used as FILE in error messages.
// On failure the status is INVALID_ARGUMENT and its message holds every error found, one per
// line, each `FILE:LINE: reason`, ordered by line. In load.cc.
absl::StatusOr<Config> ParseConfig(std::string_view yaml, std::string_view source_name);

// Reads `path` and calls ParseConfig, then reads auth.api_keys_file (relative to the config
// file's directory) into auth.api_keys. A file that cannot be read gives `PATH:0: reason`; errors
// in the keys file name that file. In file.cc.
absl::StatusOr<Config> LoadConfigFile(const std::string& path);

// Parses an API keys file (a map with one key, `api_keys`, a list as in auth.api_keys) and
// appends its entries to auth->api_keys. Errors read `SOURCE:LINE: reason`. In load.cc.
absl::Status ParseApiKeysFile(std::string_view yaml, std::string_view source_name,
                              AuthConfig* auth);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_CONFIG_LOAD_H_
