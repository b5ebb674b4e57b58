// Source-address identities: CIDR blocks (IPv4 and IPv6) mapped to identity names, for callers
// that cannot send a key (the ollama CLI, tools with a fixed placeholder). The weakest way to
// authenticate: a source address can be spoofed on a network the gateway does not trust, and NAT
// or a proxy merges many callers into one address. Pure: no I/O, no resolution.
#ifndef OLLAMA_GATEWAY_SECURITY_NETWORKS_H_
#define OLLAMA_GATEWAY_SECURITY_NETWORKS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace og::security {

// An IP address as 16 bytes: IPv6 as it is, IPv4 as its IPv4-mapped IPv6 form
// (::ffff:a.b.c.d), so an IPv4 block also matches an IPv4 caller seen through a dual-stack
// socket.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};
  bool operator==(const IpAddress&) const = default;
};

// A dotted IPv4 or a textual IPv6 address (no brackets, no zone, no port); nullopt otherwise.
std::optional<IpAddress> ParseIpAddress(std::string_view text);

// The address of a peer as the front doors name it: the HTTP server's "1.2.3.4:5678" and
// "[::1]:5678", gRPC's "ipv4:1.2.3.4:5678" and "ipv6:[::1]:5678" (brackets also
// percent-encoded, "ipv6:%5B::1%5D:5678"), or a bare address. nullopt for anything else (gRPC's
// "unix:..." peers have no address).
std::optional<IpAddress> ParsePeerAddress(std::string_view peer);

// A block of addresses: `prefix_bits` leading bits of `network` (in the 16-byte form, so an
// IPv4 /8 is 104 bits).
struct Cidr {
  IpAddress network;
  int prefix_bits = 0;
};

// Parses "10.0.0.0/8" or "fd00::/8". The prefix is required (a single address is /32 or /128)
// and the bits after it must be zero, so a typo such as "10.0.0.1/8" is refused rather than
// read as a wider block. INVALID_ARGUMENT says which rule the text breaks (without quoting it:
// the caller names the text).
absl::StatusOr<Cidr> ParseCidr(std::string_view text);

bool CidrContains(const Cidr& cidr, const IpAddress& address);

// Blocks and the identity each gives. Immutable once built; thread-safe.
class NetworkIdentities {
 public:
  struct Entry {
    Cidr cidr;
    std::string identity;
  };

  NetworkIdentities() = default;
  explicit NetworkIdentities(std::vector<Entry> entries);

  // The identity of the most specific block (the longest prefix) holding `address`; of two
  // equally specific ones, the first given. nullptr when none holds it.
  const std::string* Find(const IpAddress& address) const;

  bool empty() const { return entries_.empty(); }

 private:
  std::vector<Entry> entries_;  // most specific first (stable)
};

}  // namespace og::security

#endif  // OLLAMA_GATEWAY_SECURITY_NETWORKS_H_
