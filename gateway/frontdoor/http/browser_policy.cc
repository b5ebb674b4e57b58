#include "gateway/frontdoor/http/browser_policy.h"

#include <arpa/inet.h>

#include <array>
#include <cstring>
#include <initializer_list>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "common/absl_compat.h"
#include "security/authorization.h"

namespace og {
namespace {

// Debian's Abseil has its own string_view (common/absl_compat.h): these few wrappers convert once.
bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(AbslView(a), AbslView(b));
}

bool EndsWithIgnoreCase(std::string_view text, std::string_view suffix) {
  return absl::EndsWithIgnoreCase(AbslView(text), AbslView(suffix));
}

std::string ToLower(std::string_view text) { return absl::AsciiStrToLower(AbslView(text)); }

std::string Concat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view part : parts) out.append(part);
  return out;
}

bool ConsumePrefix(std::string_view* text, std::string_view prefix) {
  if (!text->starts_with(prefix)) return false;
  text->remove_prefix(prefix.size());
  return true;
}

bool ConsumeSuffix(std::string_view* text, std::string_view suffix) {
  if (!text->ends_with(suffix)) return false;
  text->remove_suffix(suffix.size());
  return true;
}

std::string_view StripWhitespace(std::string_view text) {
  const absl::string_view stripped = absl::StripAsciiWhitespace(AbslView(text));
  return {stripped.data(), stripped.size()};
}

// Ollama's built-in origins (envconfig.AllowedOrigins): the local names on any port, and the
// schemes of desktop apps (Electron's app://, Tauri), local files and VS Code webviews.
constexpr std::array<std::string_view, 17> kDefaultOrigins = {
    "http://localhost", "https://localhost", "http://localhost:*", "https://localhost:*",
    "http://127.0.0.1", "https://127.0.0.1", "http://127.0.0.1:*", "https://127.0.0.1:*",
    "http://0.0.0.0",   "https://0.0.0.0",   "http://0.0.0.0:*",   "https://0.0.0.0:*",
    "app://*",          "file://*",          "tauri://*",          "vscode-webview://*",
    "vscode-file://*",
};

// The methods and request headers a cross-origin page may use: Ollama's (gin-contrib/cors's
// default methods; the headers of Ollama's clients and of OpenAI's SDKs, which send the
// x-stainless-* telemetry headers from a browser too), plus x-request-id, which the gateway
// takes from the caller to correlate its logs.
constexpr std::array<std::string_view, 7> kAllowedMethods = {
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS",
};
constexpr std::array<std::string_view, 19> kAllowedHeaders = {
    "Authorization",
    "Content-Type",
    "User-Agent",
    "Accept",
    "X-Requested-With",
    "OpenAI-Beta",
    "x-stainless-arch",
    "x-stainless-async",
    "x-stainless-custom-poll-interval",
    "x-stainless-helper-method",
    "x-stainless-lang",
    "x-stainless-os",
    "x-stainless-package-version",
    "x-stainless-poll-helper",
    "x-stainless-retry-count",
    "x-stainless-runtime",
    "x-stainless-runtime-version",
    "x-stainless-timeout",
    "x-request-id",
};

// What a page may read of an answer beyond the CORS-safelisted headers: the gateway's own, and
// Retry-After so that a page can back off from a 429 or 503.
constexpr std::string_view kExposedHeaders =
    "x-request-id, x-gateway-backend, x-gateway-attempts, Retry-After";
// 12 hours, as gin-contrib/cors; browsers cap it lower (Chrome at 2 hours).
constexpr std::string_view kMaxAgeSeconds = "43200";
constexpr std::string_view kPreflightVary =
    "Origin, Access-Control-Request-Method, Access-Control-Request-Headers";

template <std::size_t N>
std::string Join(const std::array<std::string_view, N>& names) {
  std::string joined;
  for (std::string_view name : names) {
    if (!joined.empty()) joined.append(", ");
    joined.append(name);
  }
  return joined;
}

// The values of Access-Control-Allow-Methods and -Headers, joined once for the process.
const std::string& AllowedMethodsValue() {
  static const std::string* const value = new std::string(Join(kAllowedMethods));
  return *value;
}

const std::string& AllowedHeadersValue() {
  static const std::string* const value = new std::string(Join(kAllowedHeaders));
  return *value;
}

// A caller's value quoted into a message, clipped so that a huge header makes no huge answer.
std::string Quoted(std::string_view value) {
  constexpr std::size_t kMax = 200;
  if (value.size() <= kMax) return Concat({"'", value, "'"});
  return Concat({"'", value.substr(0, kMax), "...'"});
}

bool HasWhitespaceOrControl(std::string_view text) {
  for (char c : text) {
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return true;
  }
  return false;
}

bool HasUpper(std::string_view text) {
  for (char c : text) {
    if (absl::ascii_isupper(static_cast<unsigned char>(c))) return true;
  }
  return false;
}

enum class IpKind { kNone, kV4, kV6 };

// `text` (an IP literal candidate, without brackets) parsed into `v4` or `v6`; kNone when it is
// no IP literal. The copy makes the NUL-terminated string inet_pton wants, on the stack.
IpKind ParseIp(std::string_view text, unsigned char v4[4], unsigned char v6[16]) {
  char buffer[64];
  if (text.empty() || text.size() >= sizeof(buffer)) return IpKind::kNone;
  std::memcpy(buffer, text.data(), text.size());
  buffer[text.size()] = '\0';
  if (inet_pton(AF_INET, buffer, v4) == 1) return IpKind::kV4;
  if (inet_pton(AF_INET6, buffer, v6) == 1) return IpKind::kV6;
  return IpKind::kNone;
}

// An IPv6 address carrying an IPv4 one (::ffff:a.b.c.d) is judged as that IPv4 address.
bool IsV4Mapped(const unsigned char v6[16]) {
  for (int i = 0; i < 10; ++i) {
    if (v6[i] != 0) return false;
  }
  return v6[10] == 0xff && v6[11] == 0xff;
}

bool IsV6Loopback(const unsigned char v6[16]) {
  for (int i = 0; i < 15; ++i) {
    if (v6[i] != 0) return false;
  }
  return v6[15] == 1;
}

// Loopback (127.0.0.0/8), private (10/8, 172.16/12, 192.168/16) or unspecified (0.0.0.0), the
// IPv4 literals Ollama lets through the Host check.
bool IsLocalV4(const unsigned char b[4]) {
  if (b[0] == 127 || b[0] == 10) return true;
  if (b[0] == 172 && (b[1] & 0xf0) == 16) return true;
  if (b[0] == 192 && b[1] == 168) return true;
  return b[0] == 0 && b[1] == 0 && b[2] == 0 && b[3] == 0;
}

// ::1, :: and the unique local fc00::/7, and the IPv4-mapped forms of the IPv4 ones.
bool IsLocalV6(const unsigned char b[16]) {
  if (IsV4Mapped(b)) return IsLocalV4(b + 12);
  if ((b[0] & 0xfe) == 0xfc) return true;
  for (int i = 0; i < 15; ++i) {
    if (b[i] != 0) return false;
  }
  return b[15] <= 1;
}

bool IsLocalIpLiteral(std::string_view host) {
  unsigned char v4[4];
  unsigned char v6[16];
  switch (ParseIp(host, v4, v6)) {
    case IpKind::kV4:
      return IsLocalV4(v4);
    case IpKind::kV6:
      return IsLocalV6(v6);
    case IpKind::kNone:
      break;
  }
  return false;
}

// The names that resolve to this machine or stay on the local network (Ollama's allowedHost):
// localhost itself and the special-use domains .localhost (RFC 6761), .local (mDNS) and
// .internal (private use; what Docker and the clouds give their hosts).
bool IsLocalName(std::string_view host) {
  return EqualsIgnoreCase(host, "localhost") || EndsWithIgnoreCase(host, ".localhost") ||
         EndsWithIgnoreCase(host, ".local") || EndsWithIgnoreCase(host, ".internal");
}

// The host part of a Host header: "name", "name:port", "v4:port", "[v6]" or "[v6]:port", and
// also a bare IPv6 literal (more than one ':'), as Go's net.SplitHostPort leaves it to Ollama.
// False for an unclosed '[' or text after the ']' that is no port.
bool HostOfAuthority(std::string_view authority, std::string_view* host) {
  if (authority.starts_with("[")) {
    const std::size_t close = authority.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty() && after.front() != ':') return false;
    *host = authority.substr(1, close - 1);
    return true;
  }
  const std::size_t colon = authority.find(':');
  const bool one_colon =
      colon != std::string_view::npos && authority.find(':', colon + 1) == std::string_view::npos;
  *host = one_colon ? authority.substr(0, colon) : authority;
  return true;
}

// Whether the Origin is the request's own (what gin-contrib/cors leaves alone): such a request
// is not cross-origin, so CORS has nothing to say about it.
bool IsSameOrigin(std::string_view origin, std::string_view host) {
  if (host.empty()) return false;
  return (ConsumePrefix(&origin, "http://") || ConsumePrefix(&origin, "https://")) &&
         EqualsIgnoreCase(origin, host);
}

// What is wrong with an allowed_origins entry, or "" when nothing is.
std::string OriginEntryProblem(std::string_view entry) {
  if (entry.empty()) return "is empty";
  if (entry == "*") return "";
  if (HasWhitespaceOrControl(entry)) return "contains whitespace or a control character";
  const std::size_t separator = entry.find("://");
  if (separator == std::string_view::npos || separator == 0) {
    return "is not an origin: expected scheme://host[:port] (https://app.example.com), optionally "
           "with '*' wildcards (https://*.corp.example), or '*' for any origin";
  }
  const std::string_view scheme = entry.substr(0, separator);
  bool scheme_ok = absl::ascii_isalpha(static_cast<unsigned char>(scheme.front()));
  for (char c : scheme) {
    scheme_ok = scheme_ok && (absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '+' ||
                              c == '-' || c == '.');
  }
  if (!scheme_ok) {
    return Concat({"has the malformed scheme ", Quoted(scheme),
                   ": letters, digits, '+', '-' and '.', starting with a letter"});
  }
  const std::string_view authority = entry.substr(separator + 3);
  const std::size_t slash = authority.find('/');
  if (slash != std::string_view::npos) {
    return slash + 1 == authority.size()
               ? "ends in '/': an origin has no path, drop the trailing '/'"
               : "has a path: an origin is scheme://host[:port] only";
  }
  for (char c : std::string_view("?#@\\")) {
    if (authority.find(c) != std::string_view::npos) {
      return Concat({"contains '", std::string_view(&c, 1),
                     "', which an origin never does (only '*' is a wildcard)"});
    }
  }
  return "";
}

// What is wrong with an allowed_hosts entry, or "" when nothing is.
std::string HostEntryProblem(std::string_view entry) {
  if (entry.empty()) return "is empty";
  if (entry == "*") return "";
  if (HasWhitespaceOrControl(entry)) return "contains whitespace or a control character";
  if (entry.find("://") != std::string_view::npos) {
    return "is a URL: give the host name only (gateway.example)";
  }
  unsigned char v4[4];
  unsigned char v6[16];
  std::string_view bare = entry;
  if (ConsumePrefix(&bare, "[")) {
    if (!ConsumeSuffix(&bare, "]") || ParseIp(bare, v4, v6) != IpKind::kV6) {
      return "is not an IPv6 literal in brackets ([2001:db8::1])";
    }
    return "";
  }
  if (ParseIp(entry, v4, v6) != IpKind::kNone) return "";
  if (entry.find(':') != std::string_view::npos) {
    return "has a port: give the name without it (the check ignores the Host's port)";
  }
  std::string_view name = entry;
  if (ConsumePrefix(&name, "*.") && name.empty()) return "has no domain after '*.'";
  for (char c : name) {
    if (c == '*') return "has a '*' other than a leading '*.' (*.corp.example)";
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_') {
      return Concat({"contains '", std::string_view(&c, 1), "', which a host name never does"});
    }
  }
  return "";
}

std::string LowerWithoutTrailingDot(std::string_view name) {
  if (name.size() > 1) ConsumeSuffix(&name, ".");
  return ToLower(name);
}

BrowserDecision Refusal(std::string message) {
  BrowserDecision decision;
  decision.verdict = BrowserDecision::Verdict::kRefuse;
  decision.status = 403;
  decision.message = std::move(message);
  return decision;
}

template <std::size_t N>
bool Contains(const std::array<std::string_view, N>& list, std::string_view value) {
  for (std::string_view item : list) {
    if (EqualsIgnoreCase(item, value)) return true;
  }
  return false;
}

// The first name in a comma-separated Access-Control-Request-Headers value that is not allowed,
// or "" when all are.
std::string_view FirstHeaderNotAllowed(std::string_view list) {
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    const std::string_view name = StripWhitespace(list.substr(0, comma));
    if (!name.empty() && !Contains(kAllowedHeaders, name)) return name;
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return "";
}

}  // namespace

absl::Status BrowserPolicy::Validate(const BrowserPolicyOptions& options) {
  for (std::size_t i = 0; i < options.allowed_origins.size(); ++i) {
    const std::string problem = OriginEntryProblem(options.allowed_origins[i]);
    if (!problem.empty()) {
      return absl::InvalidArgumentError(Concat({"http.allowed_origins[", std::to_string(i), "]: ",
                                                Quoted(options.allowed_origins[i]), " ", problem}));
    }
  }
  for (std::size_t i = 0; i < options.allowed_hosts.size(); ++i) {
    const std::string problem = HostEntryProblem(options.allowed_hosts[i]);
    if (!problem.empty()) {
      return absl::InvalidArgumentError(Concat({"http.allowed_hosts[", std::to_string(i), "]: ",
                                                Quoted(options.allowed_hosts[i]), " ", problem}));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<BrowserPolicy> BrowserPolicy::Create(BrowserPolicyOptions options) {
  if (absl::Status status = Validate(options); !status.ok()) return status;
  BrowserPolicy policy;
  policy.origin_patterns_.reserve(kDefaultOrigins.size() + options.allowed_origins.size());
  for (std::string_view origin : kDefaultOrigins) policy.origin_patterns_.emplace_back(origin);
  for (const std::string& origin : options.allowed_origins) {
    if (origin == "*") {
      policy.any_origin_ = true;
    } else {
      policy.origin_patterns_.push_back(ToLower(origin));
    }
  }
  policy.loopback_listener_ = options.loopback_listener;
  for (std::string_view host : options.allowed_hosts) {
    if (host == "*") {
      policy.any_host_ = true;
    } else if (ConsumePrefix(&host, "*")) {
      policy.host_suffixes_.push_back(LowerWithoutTrailingDot(host));
    } else {
      ConsumePrefix(&host, "[");
      ConsumeSuffix(&host, "]");
      policy.exact_hosts_.push_back(LowerWithoutTrailingDot(host));
    }
  }
  if (!options.machine_hostname.empty()) {
    policy.exact_hosts_.push_back(LowerWithoutTrailingDot(options.machine_hostname));
  }
  return policy;
}

bool BrowserPolicy::HostAllowed(std::string_view authority) const {
  if (!loopback_listener_ || any_host_) return true;
  std::string_view host;
  if (!HostOfAuthority(authority, &host)) return false;
  // Ollama lets a request without a Host through (HTTP/1.0); a browser always sends one.
  if (host.empty()) return true;
  // "localhost." is the fully qualified spelling of "localhost".
  if (host.size() > 1) ConsumeSuffix(&host, ".");
  if (IsLocalName(host) || IsLocalIpLiteral(host)) return true;
  for (const std::string& exact : exact_hosts_) {
    if (EqualsIgnoreCase(host, exact)) return true;
  }
  for (const std::string& suffix : host_suffixes_) {
    if (host.size() > suffix.size() && EndsWithIgnoreCase(host, suffix)) return true;
  }
  return false;
}

bool BrowserPolicy::OriginAllowed(std::string_view origin) const {
  if (any_origin_) return true;
  // Browsers serialize origins in lower case; only a hand-made header pays for the copy.
  std::string lowered;
  if (HasUpper(origin)) {
    lowered = ToLower(origin);
    origin = lowered;
  }
  for (const std::string& pattern : origin_patterns_) {
    if (security::GlobMatch(pattern, origin)) return true;
  }
  return false;
}

BrowserDecision BrowserPolicy::Check(const BrowserRequest& request) const {
  if (!HostAllowed(request.host)) {
    return Refusal(Concat({"host ", Quoted(request.host),
                           " is not allowed on a loopback listener (the defence against DNS "
                           "rebinding); to allow it, add it to http.allowed_hosts"}));
  }
  if (request.origin.empty() || IsSameOrigin(request.origin, request.host)) return {};
  if (!OriginAllowed(request.origin)) {
    return Refusal(Concat({"origin ", Quoted(request.origin),
                           " is not allowed; to let pages from it call the gateway, add it "
                           "to http.allowed_origins"}));
  }
  BrowserDecision decision;
  decision.headers.reserve(5);
  decision.headers.emplace_back("Access-Control-Allow-Origin", request.origin);
  if (request.method != "OPTIONS") {
    decision.headers.emplace_back("Vary", "Origin");
    decision.headers.emplace_back("Access-Control-Expose-Headers", kExposedHeaders);
    return decision;
  }
  if (!request.request_method.empty() && !Contains(kAllowedMethods, request.request_method)) {
    return Refusal(
        Concat({"the method ", Quoted(request.request_method),
                " is not allowed in a cross-origin request; allowed: ", AllowedMethodsValue()}));
  }
  if (const std::string_view header = FirstHeaderNotAllowed(request.request_headers);
      !header.empty()) {
    return Refusal(
        Concat({"the request header ", Quoted(header),
                " is not allowed in a cross-origin request; allowed: ", AllowedHeadersValue()}));
  }
  decision.verdict = BrowserDecision::Verdict::kPreflight;
  decision.status = 204;
  decision.headers.emplace_back("Access-Control-Allow-Methods", AllowedMethodsValue());
  decision.headers.emplace_back("Access-Control-Allow-Headers", AllowedHeadersValue());
  decision.headers.emplace_back("Access-Control-Max-Age", kMaxAgeSeconds);
  decision.headers.emplace_back("Vary", kPreflightVary);
  return decision;
}

bool IsLoopbackHost(std::string_view host) {
  if (ConsumePrefix(&host, "[")) ConsumeSuffix(&host, "]");
  if (EqualsIgnoreCase(host, "localhost")) return true;
  unsigned char v4[4];
  unsigned char v6[16];
  switch (ParseIp(host, v4, v6)) {
    case IpKind::kV4:
      return v4[0] == 127;
    case IpKind::kV6:
      return IsV6Loopback(v6) || (IsV4Mapped(v6) && v6[12] == 127);
    case IpKind::kNone:
      break;
  }
  return false;
}

}  // namespace og
