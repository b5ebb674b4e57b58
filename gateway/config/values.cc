// The syntax of single configuration values (values.h): durations, addresses, backend URLs and
// model names. These know nothing of YAML; load.cc prefixes their messages with the key path.
#include "gateway/config/values.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "fmt/format.h"

namespace og {
namespace {

// The longest name whose parts can all be valid: "https://", a 350-character host, and a
// namespace, model and tag of 80 each with their separators.
constexpr std::size_t kMaxModelNameLength = 8 + 350 + 1 + 80 + 1 + 80 + 1 + 80;
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

constexpr std::string_view kDefaultHost = "registry.ollama.ai";
constexpr std::string_view kDefaultNamespace = "library";
constexpr std::string_view kDefaultTag = "latest";

enum class PartKind { kHost, kNamespace, kModel, kTag };

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return absl::ascii_tolower(x) == absl::ascii_tolower(y);
         });
}

// The parts of a name as written: nullopt for a part not written (it takes its default), an
// empty view for one a separator promised and that is missing (always invalid).
struct NameParts {
  std::string_view scheme;
  std::optional<std::string_view> host;
  std::optional<std::string_view> name_space;
  std::optional<std::string_view> model;
  std::optional<std::string_view> tag;
};

// Cuts `*rest` at its last `separator`: the part after it is returned (empty when nothing
// follows) and `*rest` keeps what precedes; nullopt, and `*rest` unchanged, without one.
std::optional<std::string_view> CutLast(std::string_view* rest, char separator) {
  const std::size_t at = rest->rfind(separator);
  if (at == std::string_view::npos) return std::nullopt;
  const std::string_view after = rest->substr(at + 1);
  *rest = rest->substr(0, at);
  return after;
}

// Ollama's ParseNameBare: the tag goes first, since '/' cannot occur in a tag, so a ':' after
// the last '/' starts the tag and one before it belongs to the host (a port).
NameParts SplitModelName(std::string_view name) {
  NameParts parts;
  std::string_view rest = name;
  const std::size_t colon = rest.rfind(':');
  const std::size_t slash = rest.rfind('/');
  if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
    parts.tag = CutLast(&rest, ':');
  }
  parts.model = CutLast(&rest, '/');
  if (!parts.model.has_value()) {
    parts.model = rest;
    return parts;
  }
  parts.name_space = CutLast(&rest, '/');
  if (!parts.name_space.has_value()) {
    parts.name_space = rest;
    return parts;
  }
  if (const std::size_t scheme_end = rest.find("://"); scheme_end != std::string_view::npos) {
    parts.scheme = rest.substr(0, scheme_end);
    rest.remove_prefix(scheme_end + 3);
  }
  parts.host = rest;
  return parts;
}

std::string_view PartName(PartKind kind) {
  switch (kind) {
    case PartKind::kHost:
      return "host";
    case PartKind::kNamespace:
      return "namespace";
    case PartKind::kModel:
      return "model";
    case PartKind::kTag:
      return "tag";
  }
  return "part";
}

std::size_t MaxPartLength(PartKind kind) { return kind == PartKind::kHost ? 350 : 80; }

// Ollama's isValidPart.
bool IsValidPart(PartKind kind, std::string_view part) {
  if (part.empty() || part.size() > MaxPartLength(kind)) return false;
  const auto word = [](char c) { return absl::ascii_isalnum(c) || c == '_'; };
  if (!word(part.front())) return false;
  return std::all_of(part.begin() + 1, part.end(), [&](char c) {
    if (word(c) || c == '-') return true;
    if (c == '.') return kind != PartKind::kNamespace;
    return c == ':' && kind == PartKind::kHost;
  });
}

absl::Status BadPart(PartKind kind, std::string_view part) {
  if (part.empty()) {
    return absl::InvalidArgumentError(
        fmt::format("the {} of the model name is missing (a separator with nothing beside it)",
                    PartName(kind)));
  }
  std::string_view allowed = "letters, digits, '_', '-' and '.'";
  if (kind == PartKind::kNamespace) allowed = "letters, digits, '_' and '-'";
  if (kind == PartKind::kHost) allowed = "letters, digits, '_', '-', '.' and ':'";
  return absl::InvalidArgumentError(fmt::format(
      "the {} {:?} of the model name must be 1 to {} characters of {}, starting with a letter, a "
      "digit or '_'",
      PartName(kind), part.substr(0, 80), MaxPartLength(kind), allowed));
}

// What DisplayShortest writes before the model: nothing for the default host and namespace,
// the namespace alone under the default host, else both. Case-insensitive, as Ollama's.
std::string ShortestPrefix(std::string_view host, std::string_view name_space) {
  if (!EqualsIgnoreCase(host, kDefaultHost)) {
    return fmt::format("{}/{}/", host, name_space);
  }
  if (!EqualsIgnoreCase(name_space, kDefaultNamespace)) return fmt::format("{}/", name_space);
  return "";
}

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

absl::StatusOr<ModelName> ParseModelName(std::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("the model name is empty");
  if (name.size() > kMaxModelNameLength) {
    return absl::InvalidArgumentError(
        fmt::format("the model name is longer than {} characters", kMaxModelNameLength));
  }
  if (name.find('@') != std::string_view::npos) {
    return absl::InvalidArgumentError(
        "a model name cannot carry a digest (name@digest): Ollama addresses models by name and "
        "tag only");
  }
  const NameParts parts = SplitModelName(name);
  if (!parts.scheme.empty() && !EqualsIgnoreCase(parts.scheme, "http") &&
      !EqualsIgnoreCase(parts.scheme, "https")) {
    return absl::InvalidArgumentError(fmt::format(
        "the scheme {:?} of the model name must be http or https", parts.scheme.substr(0, 16)));
  }
  for (const auto& [kind, part] :
       {std::pair{PartKind::kHost, parts.host}, std::pair{PartKind::kNamespace, parts.name_space},
        std::pair{PartKind::kModel, parts.model}, std::pair{PartKind::kTag, parts.tag}}) {
    if (part.has_value() && !IsValidPart(kind, *part)) return BadPart(kind, *part);
  }
  ModelName out;
  out.host = std::string(parts.host.value_or(kDefaultHost));
  out.name_space = std::string(parts.name_space.value_or(kDefaultNamespace));
  out.model = std::string(*parts.model);
  out.tag = std::string(parts.tag.value_or(kDefaultTag));
  return out;
}

bool IsValidModelName(std::string_view name) { return ParseModelName(name).ok(); }

std::string CanonicalModelName(std::string_view name) {
  absl::StatusOr<ModelName> parsed = ParseModelName(name);
  if (!parsed.ok()) {
    std::string lower = absl::AsciiStrToLower(std::string(name));
    const std::size_t last_slash = lower.rfind('/');
    const std::size_t model_start = last_slash == std::string::npos ? 0 : last_slash + 1;
    if (lower.find(':', model_start) == std::string::npos) lower += ":latest";
    return lower;
  }
  std::string canonical = ShortestPrefix(parsed->host, parsed->name_space);
  canonical += parsed->model;
  canonical += ':';
  canonical += parsed->tag;
  absl::AsciiStrToLower(&canonical);
  return canonical;
}

bool IsValidModelPattern(std::string_view pattern) {
  if (pattern.find_first_of("*?") == std::string_view::npos) return IsValidModelName(pattern);
  return !pattern.empty() && pattern.size() <= kMaxModelNameLength &&
         std::all_of(pattern.begin(), pattern.end(), [](char c) {
           return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-' || c == ':' ||
                  c == '/' || c == '*' || c == '?';
         });
}

std::string CanonicalModelPattern(std::string_view pattern) {
  if (pattern.find_first_of("*?") == std::string_view::npos) return CanonicalModelName(pattern);
  return absl::AsciiStrToLower(std::string(pattern));
}

bool PatternNamesDefaultPrefix(std::string_view pattern) {
  if (pattern.find_first_of("*?") == std::string_view::npos) return false;
  const std::string lower = absl::AsciiStrToLower(std::string(pattern));
  for (std::string_view prefix : {"registry.ollama.ai/", "http://registry.ollama.ai/",
                                  "https://registry.ollama.ai/", "library/"}) {
    if (lower.starts_with(prefix)) return true;
  }
  return false;
}

}  // namespace og
