#include "gateway/upstream/backend_url.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"

namespace og {
namespace {

absl::Status Bad(std::string_view url, std::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat("invalid backend URL '",
                                                 absl::string_view(url.data(), url.size()),
                                                 "': ", absl::string_view(why.data(), why.size())));
}

bool IsPort(std::string_view text) {
  if (text.empty() || text.size() > 5) return false;
  if (!std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  const int port = std::stoi(std::string(text));
  return port >= 1 && port <= 65535;
}

}  // namespace

absl::StatusOr<BackendUrl> ParseBackendUrl(std::string_view url) {
  BackendUrl out;
  std::string_view rest = url;
  if (rest.substr(0, 7) == "http://") {
    rest.remove_prefix(7);
  } else if (rest.substr(0, 8) == "https://") {
    out.tls = true;
    rest.remove_prefix(8);
  } else {
    return Bad(url, "expected http:// or https://");
  }
  const std::size_t authority_end = rest.find_first_of("/?#");
  const std::string_view authority = rest.substr(0, authority_end);
  std::string_view target =
      authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);
  if (target.find('#') != std::string_view::npos) return Bad(url, "a fragment is not sent");
  if (authority.find('@') != std::string_view::npos) return Bad(url, "user info is not supported");
  std::string_view host = authority;
  std::string_view port;
  if (!host.empty() && host.front() == '[') {
    const std::size_t close = host.find(']');
    if (close == std::string_view::npos) return Bad(url, "missing ']' after the IPv6 address");
    const std::string_view after = host.substr(close + 1);
    if (!after.empty() && after.front() != ':') return Bad(url, "junk after the IPv6 address");
    if (!after.empty()) port = after.substr(1);
    host = host.substr(1, close - 1);
  } else if (const std::size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    port = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  if (host.empty()) return Bad(url, "missing host");
  if (!port.empty() && !IsPort(port)) return Bad(url, "the port must be a number from 1 to 65535");
  const std::string_view default_port = out.tls ? "443" : "80";
  out.host.assign(host.data(), host.size());
  out.port.assign(port.empty() ? default_port.data() : port.data(),
                  port.empty() ? default_port.size() : port.size());
  out.authority.assign(authority.data(), authority.size());
  const bool v6 = out.host.find(':') != std::string::npos;
  out.origin = absl::StrCat(out.tls ? "https://" : "http://", v6 ? "[" : "", out.host,
                            v6 ? "]" : "", ":", out.port);
  if (target.empty()) {
    out.target = "/";
  } else if (target.front() == '?') {
    out.target = absl::StrCat("/", absl::string_view(target.data(), target.size()));
  } else {
    out.target.assign(target.data(), target.size());
  }
  return out;
}

}  // namespace og
