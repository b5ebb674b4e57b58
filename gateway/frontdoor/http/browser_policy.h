// Browser safety for the HTTP front door, with the rules Ollama's own server applies, so a page
// that works against Ollama works against the gateway and a page refused by Ollama is refused
// here:
//
//   - The Origin allow-list (CORS). A request without an Origin header is not a browser's
//     cross-origin request (curl, the SDKs, server-side callers) and passes. A browser's request
//     passes when its origin is allowed: always the local ones (http and https on localhost,
//     127.0.0.1 and 0.0.0.0, any port) and those of desktop apps and editors (app://, file://,
//     tauri://, vscode-webview://, vscode-file://), plus the operator's http.allowed_origins
//     (Ollama's OLLAMA_ORIGINS). The answer then carries the CORS headers; a preflight (OPTIONS)
//     is answered 204 by the front door itself.
//   - The Host check against DNS rebinding. On a loopback listener only local host names pass
//     (localhost, *.localhost, *.local, *.internal, loopback and private IP literals, this
//     machine's name and http.allowed_hosts): a page whose name rebinds to 127.0.0.1 still sends
//     its own name as Host and is refused. A listener on any other address accepts every Host,
//     as Ollama's does: callers reach it by whatever name the network gives it.
//
// Pure: no I/O, no HTTP library, no config parsing. The front door hands over the few header
// values it needs and adds what it gets back to its answer.
#ifndef OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_BROWSER_POLICY_H_
#define OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_BROWSER_POLICY_H_

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace og {

// What the operator configures, beyond Ollama's built-in rules (which always apply).
struct BrowserPolicyOptions {
  // Extra allowed origins (http.allowed_origins), as OLLAMA_ORIGINS: an exact origin
  // ("https://app.example.com", "chrome-extension://abcdef"), one with '*' wildcards, each
  // matching any run of characters ("https://*.corp.example", "http://intranet:*"), or "*" for
  // any origin. scheme://host[:port] only: no path, not even a trailing '/'. Case-insensitive.
  std::vector<std::string> allowed_origins = {};
  // Extra Host names that pass on a loopback listener (http.allowed_hosts): a name
  // ("gateway.example"), "*.suffix" for any name under a domain (not the domain itself), an IP
  // literal, or "*" for any Host. Without a port: the check ignores the Host's port.
  std::vector<std::string> allowed_hosts = {};
  // Whether the listener is bound to a loopback address (see IsLoopbackHost). Only then is the
  // Host checked.
  bool loopback_listener = true;
  // This machine's host name (the caller reads it with gethostname()), which passes the Host
  // check as Ollama lets its os.Hostname() pass. Empty: no such name.
  std::string machine_hostname = {};
};

// The header values of one request that the policy looks at. Each is "" when the header is
// absent. Borrowed: the policy keeps none of them.
struct BrowserRequest {
  std::string_view method = {};  // "GET", "POST", "OPTIONS", ...
  std::string_view origin = {};  // Origin
  std::string_view host = {};    // Host (or HTTP/2's :authority), with or without a port
  // Access-Control-Request-Method and Access-Control-Request-Headers, sent with a preflight.
  std::string_view request_method = {};
  std::string_view request_headers = {};
};

// What the front door does with one request.
struct BrowserDecision {
  enum class Verdict {
    // Serve the request as usual, adding `headers` (none unless the request is cross-origin)
    // to whatever answer it gets, errors included, or the browser hides that answer.
    kServe,
    // A CORS preflight from an allowed origin: answer `status` (204) now, with `headers` and no
    // body, and do not route it.
    kPreflight,
    // Answer `status` (403) with `message` as the error, without routing the request. The
    // message says why and which config key would allow it, for the operator reading it in
    // the browser's network tab.
    kRefuse,
  };
  Verdict verdict = Verdict::kServe;
  // 204 for kPreflight, 403 for kRefuse, 0 for kServe (the route decides).
  int status = 0;
  std::string message = {};
  // Response headers to add, in order (the same shape as http::Headers).
  std::vector<std::pair<std::string, std::string>> headers = {};
};

// The browser rules of one config. Immutable once built: Check may be called from any number
// of threads at once.
class BrowserPolicy {
 public:
  // OK, or INVALID_ARGUMENT naming the first entry at fault by its config key and index
  // ("http.allowed_origins[2]: 'https://app.example/' ..."), saying what is wrong with it. For
  // the config loader, which refuses the file before anything is built from it.
  static absl::Status Validate(const BrowserPolicyOptions& options);

  // Validates `options` as Validate does and builds the policy; the patterns are prepared here,
  // once, so that Check does no parsing beyond the request's own headers.
  static absl::StatusOr<BrowserPolicy> Create(BrowserPolicyOptions options);

  // The decision for one request, in this order:
  //   1. On a loopback listener, a Host that is not local is refused (403, naming
  //      http.allowed_hosts). An absent Host passes, as in Ollama.
  //   2. Without an Origin, or with the request's own origin (http:// or https:// followed by
  //      its Host), the request is served with no headers added.
  //   3. An origin that is not allowed is refused (403, naming http.allowed_origins).
  //   4. OPTIONS from an allowed origin is a preflight: kPreflight with Access-Control-Allow-
  //      Origin (the origin echoed), Access-Control-Allow-Methods, Access-Control-Allow-Headers,
  //      Access-Control-Max-Age and Vary. It is refused (403) instead when it asks for a method
  //      or a header the gateway does not allow, saying which, since the browser would fail the
  //      call anyway and says less about why.
  //   5. Any other request from an allowed origin is served with Access-Control-Allow-Origin
  //      (the origin echoed), Vary: Origin and Access-Control-Expose-Headers (x-request-id,
  //      x-gateway-backend, x-gateway-attempts, Retry-After).
  // Allocates nothing in cases 1 (passing) and 2.
  BrowserDecision Check(const BrowserRequest& request) const;

 private:
  BrowserPolicy() = default;

  bool HostAllowed(std::string_view host) const;
  bool OriginAllowed(std::string_view origin) const;

  // Lower-case glob patterns: Ollama's defaults, then the options'.
  std::vector<std::string> origin_patterns_;
  bool any_origin_ = false;
  bool loopback_listener_ = true;
  bool any_host_ = false;
  // allowed_hosts and machine_hostname, lower-case, without brackets around IPv6.
  std::vector<std::string> exact_hosts_;
  // The "*.suffix" entries of allowed_hosts as ".suffix", lower-case.
  std::vector<std::string> host_suffixes_;
};

// Whether a listener bound to `host` (an address or name without port or brackets, as
// ParseListenAddress returns it) only accepts local connections: 127.0.0.0/8, ::1, an
// IPv4-mapped loopback address, or "localhost". For BrowserPolicyOptions::loopback_listener.
bool IsLoopbackHost(std::string_view host);

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_HTTP_BROWSER_POLICY_H_
