// TLS toward https:// backends, checked before a configuration is used: the files its backends'
// tls sections name, and a warning for each backend whose certificate is not verified.
#ifndef OLLAMA_GATEWAY_GATEWAY_UPSTREAM_BACKEND_TLS_H_
#define OLLAMA_GATEWAY_GATEWAY_UPSTREAM_BACKEND_TLS_H_

#include "absl/status/status.h"
#include "gateway/config/config.h"

namespace og {

// Checks the files named in backends' tls sections (CA bundles parse; client certificate and key
// parse, match and are valid now). The upstream client reads them when it first connects with them
// (and again whenever a file changes), so a broken file would otherwise surface as failing calls.
absl::Status CheckBackendTlsFiles(const Config& config);

// Logs a warning for every HTTPS backend whose certificate is not verified.
void WarnAboutUnverifiedBackends(const Config& config);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_UPSTREAM_BACKEND_TLS_H_
