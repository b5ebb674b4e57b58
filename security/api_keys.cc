#include "security/api_keys.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <memory>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "security/sha256.h"

namespace og::security {
namespace {

constexpr std::string_view kScheme = "sha256";

struct MdContextFree {
  void operator()(EVP_MD_CTX* context) const { EVP_MD_CTX_free(context); }
};
using MdContext = std::unique_ptr<EVP_MD_CTX, MdContextFree>;

// SHA-256 of salt || key into `digest`; false only when OpenSSL cannot run the digest at all.
bool Digest(EVP_MD_CTX* context, const std::array<std::uint8_t, 16>& salt, std::string_view key,
            std::array<std::uint8_t, 32>& digest) {
  const EVP_MD* md = Sha256();
  unsigned int length = 0;
  return md != nullptr && context != nullptr && EVP_DigestInit_ex2(context, md, nullptr) == 1 &&
         EVP_DigestUpdate(context, salt.data(), salt.size()) == 1 &&
         EVP_DigestUpdate(context, key.data(), key.size()) == 1 &&
         EVP_DigestFinal_ex(context, digest.data(), &length) == 1 && length == digest.size();
}

// These functions cannot report an error, and a key or salt that is not random (or a hash that is
// not the key's) is worse than stopping: a broken CSPRNG or digest is not something to run on.
[[noreturn]] void Die(const char* what) {
  std::fprintf(stderr, "security: OpenSSL cannot %s; stopping\n", what);
  std::abort();
}

void RandomBytes(std::uint8_t* out, std::size_t size) {
  if (RAND_bytes(out, static_cast<int>(size)) != 1) Die("produce random bytes");
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Exactly 2 * N hex digits into `out`; false on any other length or a non-hex character.
template <std::size_t N>
bool ParseHex(std::string_view hex, std::array<std::uint8_t, N>& out) {
  if (hex.size() != 2 * N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    const int high = HexValue(hex[2 * i]);
    const int low = HexValue(hex[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    out[i] = static_cast<std::uint8_t>(high << 4 | low);
  }
  return true;
}

}  // namespace

absl::StatusOr<ApiKeyHash> ParseApiKeyHash(std::string_view text) {
  const std::size_t first = text.find(':');
  const std::size_t second = first == std::string_view::npos ? first : text.find(':', first + 1);
  if (second == std::string_view::npos || text.substr(0, first) != kScheme) {
    return absl::InvalidArgumentError("API key hash: expected sha256:SALT:DIGEST");
  }
  ApiKeyHash hash;
  if (!ParseHex(text.substr(first + 1, second - first - 1), hash.salt)) {
    return absl::InvalidArgumentError("API key hash: salt must be 32 hex digits");
  }
  if (!ParseHex(text.substr(second + 1), hash.digest)) {
    return absl::InvalidArgumentError("API key hash: digest must be 64 hex digits");
  }
  return hash;
}

std::string FormatApiKeyHash(const ApiKeyHash& hash) {
  std::string out;
  out.reserve(kScheme.size() + 2 + 2 * hash.salt.size() + 2 * hash.digest.size());
  out.append(kScheme);
  out.push_back(':');
  AppendHex(hash.salt, out);
  out.push_back(':');
  AppendHex(hash.digest, out);
  return out;
}

ApiKeyHash HashApiKey(std::string_view key, const std::array<std::uint8_t, 16>& salt) {
  ApiKeyHash hash;
  hash.salt = salt;
  MdContext context(EVP_MD_CTX_new());
  if (!Digest(context.get(), salt, key, hash.digest)) Die("compute SHA-256");
  return hash;
}

ApiKeyHash HashApiKeyWithRandomSalt(std::string_view key) {
  std::array<std::uint8_t, 16> salt;
  RandomBytes(salt.data(), salt.size());
  return HashApiKey(key, salt);
}

std::string GenerateApiKey() {
  std::array<std::uint8_t, 32> bytes;
  RandomBytes(bytes.data(), bytes.size());
  // absl's web-safe alphabet is base64url and leaves the padding out: 32 bytes give 43 characters.
  return "og_" + absl::WebSafeBase64Escape(
                     absl::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

ApiKeyStore::ApiKeyStore(std::vector<Entry> entries) : entries_(std::move(entries)) {}

const std::string* ApiKeyStore::Verify(std::string_view presented) const {
  // No key is empty; saying so early tells an attacker nothing they did not send.
  if (presented.empty() || entries_.empty()) return nullptr;
  MdContext context(EVP_MD_CTX_new());
  // The loop never exits early and picks the match without a branch on secret data, so every
  // call hashes and compares every entry whether a key matched, and which one.
  std::size_t found = entries_.size();
  std::size_t have = 0;  // all ones once an entry matched
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    const ApiKeyHash& stored = entries_[i].hash;
    std::array<std::uint8_t, 32> digest;
    // A digest that fails to run matches nothing: fail closed.
    const bool computed = Digest(context.get(), stored.salt, presented, digest);
    const std::size_t equal =
        static_cast<std::size_t>(computed) &
        static_cast<std::size_t>(CRYPTO_memcmp(digest.data(), stored.digest.data(), 32) == 0);
    const std::size_t take = (std::size_t{0} - equal) & ~have;
    found = (found & ~take) | (i & take);
    have |= take;
  }
  return have != 0 ? &entries_[found].identity : nullptr;
}

std::optional<std::string_view> BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(absl::string_view(authorization.data(), kScheme.size()),
                              absl::string_view(kScheme.data(), kScheme.size()))) {
    return std::nullopt;
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  if (token.empty()) return std::nullopt;
  return token;
}

}  // namespace og::security
