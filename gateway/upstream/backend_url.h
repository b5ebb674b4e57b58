// An absolute http:// or https:// URL of a request to a backend, split into what the upstream
// client needs: where to connect, what to send as Host and as the request target, and the
// origin that keys its keep-alive pool. Pure: no I/O.
#ifndef OLLAMA_GATEWAY_GATEWAY_UPSTREAM_BACKEND_URL_H_
#define OLLAMA_GATEWAY_GATEWAY_UPSTREAM_BACKEND_URL_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace og {

struct BackendUrl {
  bool tls = false;       // https://
  std::string host;       // a name or an address, IPv6 without its brackets
  std::string port;       // given, or 80 / 443
  std::string authority;  // for the Host header: host[:port] as written
  std::string origin;     // scheme://host:port, the port always spelled out
  std::string target;     // path and query, "/" at least
};

// Splits `url`; INVALID_ARGUMENT naming the URL and the fault for anything else than
// http(s)://host[:port][/path][?query] (no user info, no fragment, a port of 1 to 65535).
absl::StatusOr<BackendUrl> ParseBackendUrl(std::string_view url);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_UPSTREAM_BACKEND_URL_H_
