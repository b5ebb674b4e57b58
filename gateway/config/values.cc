// The syntax of single configuration values (values.h): durations, addresses, backend URLs and
// model names. These know nothing of YAML; load.cc prefixes their messages with the key path.
#include "gateway/config/values.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <system_error>

#include "absl/strings/ascii.h"
#include "fmt/format.h"

namespace og {
namespace {

constexpr std::size_t kMaxModelNameLength = 256;
// Fraction digits beyond this cannot change a result counted in milliseconds, and stopping here
// keeps `fraction * unit` inside int64 for the largest unit (an hour).
constexpr int kMaxFractionDigits = 9;

bool IsDigits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), absl::ascii_isdigit);
}

// Parses a decimal port; `min_port` is 0 for listening (pick a free port) and 1 for backends.
// Returns why the port is refused, or "" when it is fine.
std::string CheckPort(std::string_view port, int min_port) {
  int value = -1;
  const char* end = port.data() + port.size();
  const auto [ptr, error] = std::from_chars(port.data(), end, value);
  const bool parsed = IsDigits(port) && error == std::errc() && ptr == end;
  if (!parsed || value < min_port || value > 65535) {
    return fmt::format("port must be an integer from {} to 65535, got {:?}", min_port, port);
  }
  return "";
}

// A host as written before ":port": a DNS name, an IPv4 address or a bracketed IPv6 address.
// Names are not resolved here; the upstream client and the listener do that. Returns why the
// host is refused, or "".
std::string CheckHost(std::string_view host) {
  if (host.empty()) return "missing host";
  if (host.front() == '[') {
    const std::string inside(host.substr(1, host.size() - 2));
    in6_addr address;
    if (host.back() != ']' || inet_pton(AF_INET6, inside.c_str(), &address) != 1) {
      return fmt::format("invalid IPv6 address {:?}", host);
    }
    return "";
  }
  if (host.find(':') != std::string_view::npos) {
    return "an IPv6 host must be in brackets, as in [::1]:50051";
  }
  const bool name_chars = std::all_of(host.begin(), host.end(), [](char c) {
    return absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_';
  });
  if (!name_chars) return fmt::format("invalid host {:?}", host);
  // Digits and dots only is meant as an IPv4 address; catch "10.0.0.256" here rather than at
  // the first connect.
  const bool looks_ipv4 = std::all_of(host.begin(), host.end(),
                                      [](char c) { return absl::ascii_isdigit(c) || c == '.'; });
  in_addr address;
  if (looks_ipv4 && inet_pton(AF_INET, std::string(host).c_str(), &address) != 1) {
    return fmt::format("invalid IPv4 address {:?}", host);
  }
  return "";
}

// Splits "host:port" or "[v6]:port" at the port's colon. Returns false when there is no port.
bool SplitHostPort(std::string_view text, std::string_view* host, std::string_view* port) {
  std::size_t colon;
  if (!text.empty() && text.front() == '[') {
    const std::size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      *host = text;
      return false;
    }
    colon = close + 1;
  } else {
    colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      *host = text;
      return false;
    }
  }
  *host = text.substr(0, colon);
  *port = text.substr(colon + 1);
  return true;
}

bool HasSpaceOrControl(std::string_view text) {
  return std::any_of(text.begin(), text.end(), [](char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte == 0x7f;
  });
}

absl::Status BadUrl(std::string_view url, std::string_view reason) {
  return absl::InvalidArgumentError(fmt::format("invalid URL {:?}: {}", url, reason));
}

absl::Status BadDuration(std::string_view text, std::string_view reason) {
  return absl::InvalidArgumentError(fmt::format("invalid duration {:?}: {}", text, reason));
}

// Milliseconds per unit, or 0 for an unknown unit.
std::int64_t UnitMilliseconds(std::string_view unit) {
  if (unit == "ms") return 1;
  if (unit == "s") return 1000;
  if (unit == "m") return 60'000;
  if (unit == "h") return 3'600'000;
  return 0;
}

// Consumes one "<digits>[.<digits>]<unit>" term of a duration from the front of `rest` and
// stores it in milliseconds. Returns why the term is refused, or "".
std::string ParseDurationTerm(std::string_view* rest, std::int64_t* milliseconds) {
  const std::string_view text = *rest;
  std::size_t i = 0;
  std::int64_t whole = 0;
  bool overflow = false;
  for (; i < text.size() && absl::ascii_isdigit(text[i]); ++i) {
    overflow |= __builtin_mul_overflow(whole, 10, &whole) ||
                __builtin_add_overflow(whole, text[i] - '0', &whole);
  }
  const std::size_t whole_digits = i;
  std::int64_t fraction = 0;
  std::int64_t scale = 1;
  std::size_t fraction_digits = 0;
  if (i < text.size() && text[i] == '.') {
    for (++i; i < text.size() && absl::ascii_isdigit(text[i]); ++i, ++fraction_digits) {
      if (fraction_digits < kMaxFractionDigits) {
        fraction = fraction * 10 + (text[i] - '0');
        scale *= 10;
      }
    }
  }
  if (whole_digits + fraction_digits == 0) {
    return "expected numbers with units (ms, s, m, h), as in 250ms, 2s, 1m30s or 1h";
  }
  std::size_t unit_end = i;
  while (unit_end < text.size() && !absl::ascii_isdigit(text[unit_end]) && text[unit_end] != '.') {
    ++unit_end;
  }
  const std::string_view unit = text.substr(i, unit_end - i);
  if (unit.empty()) return fmt::format("missing unit after {} (ms, s, m or h)", text.substr(0, i));
  const std::int64_t unit_ms = UnitMilliseconds(unit);
  if (unit_ms == 0) return fmt::format("unknown unit {:?} (valid: ms, s, m, h)", unit);
  overflow |= __builtin_mul_overflow(whole, unit_ms, milliseconds) ||
              __builtin_add_overflow(*milliseconds, fraction * unit_ms / scale, milliseconds);
  if (overflow) return "too large";
  rest->remove_prefix(unit_end);
  return "";
}

bool IsModelSeparator(char c) { return c == '.' || c == '_' || c == ':' || c == '/' || c == '-'; }

}  // namespace

absl::Status ValidateListenAddress(std::string_view address) {
  auto fail = [address](std::string_view reason) {
    return absl::InvalidArgumentError(fmt::format("invalid address {:?}: {}", address, reason));
  };
  std::string_view host;
  std::string_view port;
  if (!SplitHostPort(address, &host, &port)) {
    if (!host.empty() && host.front() == '[' && host.find(']') == std::string_view::npos) {
      return fail("missing ']' after the IPv6 address");
    }
    return fail("missing port (expected host:port or [ipv6]:port)");
  }
  if (host.empty()) return fail("missing host (0.0.0.0 listens on every IPv4 address)");
  if (std::string reason = CheckHost(host); !reason.empty()) return fail(reason);
  if (std::string reason = CheckPort(port, 0); !reason.empty()) return fail(reason);
  return absl::OkStatus();
}

absl::Status ParseListenAddress(std::string_view address, std::string* host, int* port) {
  if (absl::Status status = ValidateListenAddress(address); !status.ok()) return status;
  std::string_view host_part;
  std::string_view port_part;
  SplitHostPort(address, &host_part, &port_part);
  if (host_part.size() >= 2 && host_part.front() == '[') {
    host_part = host_part.substr(1, host_part.size() - 2);
  }
  *host = std::string(host_part);
  *port = 0;
  std::from_chars(port_part.data(), port_part.data() + port_part.size(), *port);
  return absl::OkStatus();
}

absl::StatusOr<std::string> NormalizeBackendUrl(std::string_view url) {
  if (HasSpaceOrControl(url)) return BadUrl(url, "must not contain spaces or control characters");
  const std::size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) {
    return BadUrl(url, "must start with http:// or https://");
  }
  const std::string scheme = absl::AsciiStrToLower(std::string(url.substr(0, scheme_end)));
  if (scheme != "http" && scheme != "https") {
    return BadUrl(url, fmt::format("scheme must be http or https, got {:?}", scheme));
  }
  const std::string_view rest = url.substr(scheme_end + 3);
  if (rest.find('?') != std::string_view::npos) return BadUrl(url, "must not have a query (?...)");
  if (rest.find('#') != std::string_view::npos) {
    return BadUrl(url, "must not have a fragment (#...)");
  }
  const std::size_t path_start = std::min(rest.find('/'), rest.size());
  const std::string_view authority = rest.substr(0, path_start);
  std::string_view path = rest.substr(path_start);
  if (authority.find('@') != std::string_view::npos) {
    return BadUrl(url, "must not contain user credentials (user@host)");
  }
  std::string_view host;
  std::string_view port;
  if (SplitHostPort(authority, &host, &port)) {
    if (std::string reason = CheckPort(port, 1); !reason.empty()) return BadUrl(url, reason);
  }
  if (std::string reason = CheckHost(host); !reason.empty()) return BadUrl(url, reason);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  return fmt::format("{}://{}{}", scheme, authority, path);
}

absl::StatusOr<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  if (text.empty()) return BadDuration(text, "empty");
  if (text.front() == '-') return BadDuration(text, "must not be negative");
  if (IsDigits(text)) {
    std::int64_t value = 0;
    const char* end = text.data() + text.size();
    const auto [ptr, error] = std::from_chars(text.data(), end, value);
    if (error != std::errc() || ptr != end) return BadDuration(text, "too large");
    return std::chrono::milliseconds(value);
  }
  std::int64_t total = 0;
  for (std::string_view rest = text; !rest.empty();) {
    std::int64_t term = 0;
    if (std::string reason = ParseDurationTerm(&rest, &term); !reason.empty()) {
      return BadDuration(text, reason);
    }
    if (__builtin_add_overflow(total, term, &total)) return BadDuration(text, "too large");
  }
  return std::chrono::milliseconds(total);
}

std::string CanonicalModelName(std::string_view name) {
  std::string canonical = absl::AsciiStrToLower(std::string(name));
  const std::size_t last_slash = canonical.rfind('/');
  const std::size_t model_start = last_slash == std::string::npos ? 0 : last_slash + 1;
  if (canonical.find(':', model_start) == std::string::npos) canonical += ":latest";
  return canonical;
}

bool IsValidModelName(std::string_view name) {
  if (name.empty() || name.size() > kMaxModelNameLength) return false;
  const bool allowed_chars = std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(c) || IsModelSeparator(c);
  });
  if (!allowed_chars || IsModelSeparator(name.front())) return false;
  if (std::count(name.begin(), name.end(), ':') > 1) return false;
  const std::size_t colon = name.find(':');
  const std::size_t last_slash = name.rfind('/');
  if (colon != std::string_view::npos) {
    const bool tag_after_path = last_slash == std::string_view::npos || colon > last_slash + 1;
    if (!tag_after_path || colon + 1 == name.size()) return false;
  }
  // Empty segments: "a//b" or a trailing '/' (a leading one is a separator, refused above).
  return name.find("//") == std::string_view::npos && name.back() != '/';
}

}  // namespace og
