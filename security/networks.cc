#include "security/networks.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string>
#include <system_error>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace og::security {
namespace {

// Longer than any textual address (an IPv6 with an embedded IPv4 is 45 characters).
constexpr std::size_t kMaxAddressChars = 64;
constexpr int kIpv4MappedBits = 96;

std::optional<IpAddress> ParseIpv4(std::string_view text) {
  if (text.empty() || text.size() > kMaxAddressChars) return std::nullopt;
  const std::string copy(text);
  in_addr v4;
  if (inet_pton(AF_INET, copy.c_str(), &v4) != 1) return std::nullopt;
  IpAddress address;
  address.bytes[10] = 0xff;
  address.bytes[11] = 0xff;
  std::memcpy(address.bytes.data() + 12, &v4, 4);
  return address;
}

std::optional<IpAddress> ParseIpv6(std::string_view text) {
  if (text.empty() || text.size() > kMaxAddressChars) return std::nullopt;
  const std::string copy(text);
  in6_addr v6;
  if (inet_pton(AF_INET6, copy.c_str(), &v6) != 1) return std::nullopt;
  IpAddress address;
  std::memcpy(address.bytes.data(), &v6, 16);
  return address;
}

// Drops ":PORT" (digits only) from the end of `*text`; false when there is none.
bool StripPort(std::string_view* text) {
  const std::size_t colon = text->rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text->size()) return false;
  const std::string_view port = text->substr(colon + 1);
  if (!std::all_of(port.begin(), port.end(), absl::ascii_isdigit)) return false;
  text->remove_suffix(port.size() + 1);
  return true;
}

// "[v6]:port" or "[v6]" (brackets literal or percent-encoded) to "v6"; nullopt otherwise.
std::optional<std::string_view> Unbracket(std::string_view text) {
  for (const auto& [open, close] : {std::pair<std::string_view, std::string_view>{"[", "]"},
                                    std::pair<std::string_view, std::string_view>{"%5B", "%5D"},
                                    std::pair<std::string_view, std::string_view>{"%5b", "%5d"}}) {
    if (!text.starts_with(open)) continue;
    const std::size_t end = text.find(close, open.size());
    if (end == std::string_view::npos) return std::nullopt;
    const std::string_view rest = text.substr(end + close.size());
    if (!rest.empty() && rest.front() != ':') return std::nullopt;
    return text.substr(open.size(), end - open.size());
  }
  return std::nullopt;
}

}  // namespace

std::optional<IpAddress> ParseIpAddress(std::string_view text) {
  if (text.find(':') != std::string_view::npos) return ParseIpv6(text);
  return ParseIpv4(text);
}

std::optional<IpAddress> ParsePeerAddress(std::string_view peer) {
  if (peer.starts_with("ipv4:") || peer.starts_with("ipv6:")) peer.remove_prefix(5);
  if (std::optional<std::string_view> inside = Unbracket(peer)) return ParseIpv6(*inside);
  if (std::optional<IpAddress> bare = ParseIpAddress(peer)) return bare;
  // "a.b.c.d:port": an IPv4 address has no colon of its own.
  std::string_view host = peer;
  if (!StripPort(&host) || host.find(':') != std::string_view::npos) return std::nullopt;
  return ParseIpv4(host);
}

absl::StatusOr<Cidr> ParseCidr(std::string_view text) {
  const auto bad = [](std::string_view reason) {
    return absl::InvalidArgumentError(std::string(reason));
  };
  const std::size_t slash = text.find('/');
  if (slash == std::string_view::npos) {
    return bad(
        "expected ADDRESS/PREFIX such as 10.0.0.0/8 or fd00::/8 (one address is /32 or "
        "/128)");
  }
  const std::string_view address_text = text.substr(0, slash);
  const std::string_view prefix_text = text.substr(slash + 1);
  const bool v6 = address_text.find(':') != std::string_view::npos;
  const std::optional<IpAddress> address = v6 ? ParseIpv6(address_text) : ParseIpv4(address_text);
  if (!address)
    return bad(v6 ? "not an IPv6 address before '/'" : "not an IPv4 address before '/'");
  const int max_bits = v6 ? 128 : 32;
  int bits = -1;
  const char* end = prefix_text.data() + prefix_text.size();
  const auto [ptr, error] = std::from_chars(prefix_text.data(), end, bits);
  const bool digits = !prefix_text.empty() && prefix_text.size() <= 3 &&
                      std::all_of(prefix_text.begin(), prefix_text.end(), absl::ascii_isdigit);
  if (!digits || error != std::errc() || ptr != end || bits < 0 || bits > max_bits) {
    return bad(absl::StrCat("the prefix length must be an integer from 0 to ", max_bits));
  }
  Cidr cidr;
  cidr.network = *address;
  cidr.prefix_bits = v6 ? bits : kIpv4MappedBits + bits;
  for (int bit = cidr.prefix_bits; bit < 128; ++bit) {
    if ((cidr.network.bytes[bit / 8] >> (7 - bit % 8)) & 1) {
      return bad(
          "bits after the prefix are set (write the block's first address, e.g. "
          "10.0.0.0/8 rather than 10.0.0.1/8)");
    }
  }
  return cidr;
}

bool CidrContains(const Cidr& cidr, const IpAddress& address) {
  const int whole = cidr.prefix_bits / 8;
  if (std::memcmp(cidr.network.bytes.data(), address.bytes.data(), whole) != 0) return false;
  const int rest = cidr.prefix_bits % 8;
  if (rest == 0) return true;
  const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest));
  return (cidr.network.bytes[whole] & mask) == (address.bytes[whole] & mask);
}

NetworkIdentities::NetworkIdentities(std::vector<Entry> entries) : entries_(std::move(entries)) {
  std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) {
    return a.cidr.prefix_bits > b.cidr.prefix_bits;
  });
}

const std::string* NetworkIdentities::Find(const IpAddress& address) const {
  for (const Entry& entry : entries_) {
    if (CidrContains(entry.cidr, address)) return &entry.identity;
  }
  return nullptr;
}

}  // namespace og::security
