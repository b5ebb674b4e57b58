// API keys: how they are stored (salted SHA-256, never in clear), generated and verified.
//
// A stored key reads "sha256:SALT:DIGEST": SALT is 16 random bytes and DIGEST the SHA-256 of
// SALT followed by the key's bytes, both in lower-case hex. API keys are long random tokens
// (GenerateApiKey gives 256 bits), so a fast hash is enough: the salt only keeps two entries of
// the same key from looking alike, and stolen hashes cannot be reversed into usable keys.
#ifndef OLLAMA_GATEWAY_SECURITY_API_KEYS_H_
#define OLLAMA_GATEWAY_SECURITY_API_KEYS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace og::security {

struct ApiKeyHash {
  std::array<std::uint8_t, 16> salt{};
  std::array<std::uint8_t, 32> digest{};
};

// Parses "sha256:SALT:DIGEST" (hex, either case). INVALID_ARGUMENT says what is wrong
// ("expected sha256:SALT:DIGEST", "salt must be 32 hex digits", ...) without echoing the text.
absl::StatusOr<ApiKeyHash> ParseApiKeyHash(std::string_view text);

// The stored form ParseApiKeyHash reads (lower-case hex).
std::string FormatApiKeyHash(const ApiKeyHash& hash);

// The hash of `key` with the given salt, and with 16 fresh random bytes (OpenSSL RAND_bytes).
ApiKeyHash HashApiKey(std::string_view key, const std::array<std::uint8_t, 16>& salt);
ApiKeyHash HashApiKeyWithRandomSalt(std::string_view key);

// A new random key: "og_" followed by 43 base64url characters (32 random bytes).
std::string GenerateApiKey();

// The key of an `Authorization` value "Bearer KEY" (the scheme case-insensitive, RFC 7235; spaces
// around the key dropped), or nullopt for any other value or an empty key. No allocation.
std::optional<std::string_view> BearerToken(std::string_view authorization);

// The configured keys of every identity. Immutable once built; Verify is thread-safe.
class ApiKeyStore {
 public:
  struct Entry {
    std::string identity;
    ApiKeyHash hash;
  };
  explicit ApiKeyStore(std::vector<Entry> entries);

  // The identity whose key `presented` is, or null. Every entry is hashed and compared in
  // constant time (CRYPTO_memcmp), whatever matched, so the time taken tells nothing about which
  // entry or how many bytes matched. Cost: one SHA-256 of the key per entry. A key configured for
  // several identities is the first one's.
  const std::string* Verify(std::string_view presented) const;

  std::size_t size() const { return entries_.size(); }

 private:
  std::vector<Entry> entries_;
};

}  // namespace og::security

#endif  // OLLAMA_GATEWAY_SECURITY_API_KEYS_H_
