// Source-address identities: parsing CIDRs and peers as the front doors name them, and which
// block's identity an address gets.
#include <catch2/catch.hpp>
#include <string>

#include "security/networks.h"

namespace og::security {
namespace {

Cidr CidrOf(std::string_view text) {
  absl::StatusOr<Cidr> cidr = ParseCidr(text);
  INFO(text << ": " << (cidr.ok() ? "" : std::string(cidr.status().message())));
  REQUIRE(cidr.ok());
  return *cidr;
}

bool Holds(std::string_view cidr, std::string_view address) {
  const std::optional<IpAddress> parsed = ParseIpAddress(address);
  REQUIRE(parsed.has_value());
  return CidrContains(CidrOf(cidr), *parsed);
}

TEST_CASE("a CIDR holds exactly the addresses under its prefix", "[networks]") {
  const auto [cidr, address, held] = GENERATE(table<std::string, std::string, bool>({
      {"10.0.0.0/8", "10.255.1.2", true},
      {"10.0.0.0/8", "11.0.0.1", false},
      {"192.168.1.0/24", "192.168.1.255", true},
      {"192.168.1.0/24", "192.168.2.0", false},
      {"172.16.0.0/12", "172.31.255.255", true},
      {"172.16.0.0/12", "172.32.0.0", false},
      {"127.0.0.1/32", "127.0.0.1", true},
      {"127.0.0.1/32", "127.0.0.2", false},
      {"0.0.0.0/0", "203.0.113.9", true},
      // An IPv4 block holds the same address seen through a dual-stack socket.
      {"10.0.0.0/8", "::ffff:10.1.2.3", true},
      // IPv4 /0 is every IPv4 address, not every IPv6 one.
      {"0.0.0.0/0", "2001:db8::1", false},
      {"fd00::/8", "fd12:3456::1", true},
      {"fd00::/8", "fe80::1", false},
      {"2001:db8::/33", "2001:db8:7fff::1", true},
      {"2001:db8::/33", "2001:db8:8000::1", false},
      {"::1/128", "::1", true},
      {"::/0", "10.0.0.1", true},
  }));
  INFO(cidr << " " << address);
  CHECK(Holds(cidr, address) == held);
}

TEST_CASE("a CIDR must have a prefix in range and no bits after it", "[networks]") {
  const auto [text, reason] = GENERATE(table<std::string, std::string>({
      {"10.0.0.0",
       "expected ADDRESS/PREFIX such as 10.0.0.0/8 or fd00::/8 (one address is /32 or "
       "/128)"},
      {"10.0.0.0/33", "the prefix length must be an integer from 0 to 32"},
      {"fd00::/129", "the prefix length must be an integer from 0 to 128"},
      {"10.0.0.0/-1", "the prefix length must be an integer from 0 to 32"},
      {"10.0.0.0/", "the prefix length must be an integer from 0 to 32"},
      {"10.0.0.0/8x", "the prefix length must be an integer from 0 to 32"},
      {"10.0.0.256/8", "not an IPv4 address before '/'"},
      {"host/8", "not an IPv4 address before '/'"},
      {"fd00:::1/8", "not an IPv6 address before '/'"},
      {"10.0.0.1/8",
       "bits after the prefix are set (write the block's first address, e.g. "
       "10.0.0.0/8 rather than 10.0.0.1/8)"},
  }));
  INFO(text);
  const absl::StatusOr<Cidr> cidr = ParseCidr(text);
  REQUIRE_FALSE(cidr.ok());
  CHECK(cidr.status().message() == reason);
}

TEST_CASE("peers are read as the HTTP server and gRPC name them", "[networks]") {
  const auto [peer, address] = GENERATE(table<std::string, std::string>({
      {"127.0.0.1:54321", "127.0.0.1"},
      {"[::1]:54321", "::1"},
      {"ipv4:10.1.2.3:50051", "10.1.2.3"},
      {"ipv6:[fd00::7]:50051", "fd00::7"},
      {"ipv6:%5B::1%5D:50051", "::1"},
      {"192.0.2.1", "192.0.2.1"},
      {"2001:db8::1", "2001:db8::1"},
  }));
  INFO(peer);
  const std::optional<IpAddress> parsed = ParsePeerAddress(peer);
  REQUIRE(parsed.has_value());
  CHECK(*parsed == *ParseIpAddress(address));
}

TEST_CASE("peers without an address are not read as one", "[networks]") {
  for (const char* peer : {"", "unix:/run/gateway.sock", "ipv4:", "ipv6:[::1", "[::1]x",
                           "localhost:80", "1.2.3.4:port", "ipv6:[10.0.0.1]:1"}) {
    INFO(peer);
    CHECK_FALSE(ParsePeerAddress(peer).has_value());
  }
}

TEST_CASE("the most specific block names the caller", "[networks]") {
  const NetworkIdentities networks({{CidrOf("10.0.0.0/8"), "lan"},
                                    {CidrOf("10.1.2.0/24"), "ci"},
                                    {CidrOf("10.0.0.0/8"), "shadowed"},
                                    {CidrOf("fd00::/8"), "lan6"}});
  const auto identity_of = [&](std::string_view address) -> std::string {
    const std::string* identity = networks.Find(*ParseIpAddress(address));
    return identity != nullptr ? *identity : "none";
  };
  CHECK(identity_of("10.1.2.3") == "ci");
  CHECK(identity_of("10.9.9.9") == "lan");
  CHECK(identity_of("fd00::1") == "lan6");
  CHECK(identity_of("192.168.0.1") == "none");
  CHECK(NetworkIdentities().empty());
}

}  // namespace
}  // namespace og::security
