#include <catch2/catch.hpp>
#include <set>
#include <string>
#include <vector>

#include "security/api_keys.h"

namespace og::security {
namespace {

constexpr std::array<std::uint8_t, 16> kSalt = {0, 1, 2,  3,  4,  5,  6,  7,
                                                8, 9, 10, 11, 12, 13, 14, 15};

std::string Repeat(char c, std::size_t n) { return std::string(n, c); }

std::string ValidHashText() { return "sha256:" + Repeat('a', 32) + ":" + Repeat('b', 64); }

std::string MessageOf(const absl::StatusOr<ApiKeyHash>& parsed) {
  return std::string(parsed.status().message());
}

bool IsBase64Url(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

// ---- stored form ----

TEST_CASE("a hash formatted and parsed back is the same hash", "[security][api_keys]") {
  const ApiKeyHash hash = HashApiKey("og_some-key", kSalt);
  const auto parsed = ParseApiKeyHash(FormatApiKeyHash(hash));
  REQUIRE(parsed.ok());
  CHECK(parsed->salt == hash.salt);
  CHECK(parsed->digest == hash.digest);
}

TEST_CASE("a hash is formatted as sha256, the salt and the digest in lower-case hex",
          "[security][api_keys]") {
  ApiKeyHash hash;
  hash.salt = kSalt;
  hash.digest.fill(0xAB);
  std::string digest_hex;
  for (int i = 0; i < 32; ++i) digest_hex += "ab";
  CHECK(FormatApiKeyHash(hash) == "sha256:000102030405060708090a0b0c0d0e0f:" + digest_hex);
}

TEST_CASE("a hash in upper-case hex parses like lower case", "[security][api_keys]") {
  const auto upper = ParseApiKeyHash("sha256:" + Repeat('A', 32) + ":" + Repeat('F', 64));
  const auto lower = ParseApiKeyHash("sha256:" + Repeat('a', 32) + ":" + Repeat('f', 64));
  REQUIRE(upper.ok());
  REQUIRE(lower.ok());
  CHECK(upper->salt == lower->salt);
  CHECK(upper->digest == lower->digest);
  CHECK(upper->salt[0] == 0xAA);
  CHECK(upper->digest[31] == 0xFF);
}

TEST_CASE("a hash with another scheme than sha256 is refused", "[security][api_keys]") {
  const auto parsed = ParseApiKeyHash("md5:" + Repeat('a', 32) + ":" + Repeat('b', 64));
  REQUIRE(parsed.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK(MessageOf(parsed) == "API key hash: expected sha256:SALT:DIGEST");
}

TEST_CASE("a hash without its separators is refused", "[security][api_keys]") {
  for (const std::string& text :
       {std::string(), std::string("sha256"), "sha256:" + Repeat('a', 32), Repeat('a', 96)}) {
    INFO(text);
    CHECK(MessageOf(ParseApiKeyHash(text)) == "API key hash: expected sha256:SALT:DIGEST");
  }
}

TEST_CASE("a salt of other than 32 hex digits is refused", "[security][api_keys]") {
  for (std::size_t length : {0, 30, 31, 33, 34}) {
    INFO(length);
    const auto parsed = ParseApiKeyHash("sha256:" + Repeat('a', length) + ":" + Repeat('b', 64));
    CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(MessageOf(parsed) == "API key hash: salt must be 32 hex digits");
  }
}

TEST_CASE("a digest of other than 64 hex digits is refused", "[security][api_keys]") {
  for (std::size_t length : {0, 62, 63, 65, 66}) {
    INFO(length);
    const auto parsed = ParseApiKeyHash("sha256:" + Repeat('a', 32) + ":" + Repeat('b', length));
    CHECK(parsed.status().code() == absl::StatusCode::kInvalidArgument);
    CHECK(MessageOf(parsed) == "API key hash: digest must be 64 hex digits");
  }
}

TEST_CASE("a salt or digest with a character that is not hex is refused", "[security][api_keys]") {
  std::string bad_salt = ValidHashText();
  bad_salt[7 + 5] = 'g';
  CHECK(MessageOf(ParseApiKeyHash(bad_salt)) == "API key hash: salt must be 32 hex digits");

  std::string bad_digest = ValidHashText();
  bad_digest.back() = ' ';
  CHECK(MessageOf(ParseApiKeyHash(bad_digest)) == "API key hash: digest must be 64 hex digits");

  // A third separator lands inside the digest, which then is not hex.
  CHECK(MessageOf(ParseApiKeyHash(ValidHashText() + ":")) ==
        "API key hash: digest must be 64 hex digits");
}

TEST_CASE("a parse error does not echo the text it was given", "[security][api_keys]") {
  const std::string secret = "sha256:" + Repeat('s', 32) + ":" + Repeat('b', 64);
  CHECK(MessageOf(ParseApiKeyHash(secret)).find("sss") == std::string::npos);
}

// ---- hashing ----

TEST_CASE("the digest is SHA-256 of the salt bytes followed by the key bytes",
          "[security][api_keys]") {
  // printf 000102030405060708090a0b0c0d0e0f | xxd -r -p > v; printf og_pinned-test-key >> v;
  // sha256sum v
  const ApiKeyHash hash = HashApiKey("og_pinned-test-key", kSalt);
  CHECK(FormatApiKeyHash(hash) ==
        "sha256:000102030405060708090a0b0c0d0e0f:"
        "332046e54e34619dd24b54522ebc008345007d1d68095931dca4b3624d1fff64");
}

TEST_CASE("hashing with a random salt gives a different salt each time and still verifies",
          "[security][api_keys]") {
  const ApiKeyHash first = HashApiKeyWithRandomSalt("og_key");
  const ApiKeyHash second = HashApiKeyWithRandomSalt("og_key");
  CHECK(first.salt != second.salt);
  CHECK(first.digest != second.digest);
  CHECK(HashApiKey("og_key", first.salt).digest == first.digest);
}

// ---- generation ----

TEST_CASE("a generated key is og_ followed by 43 base64url characters", "[security][api_keys]") {
  const std::string key = GenerateApiKey();
  REQUIRE(key.size() == 3 + 43);
  CHECK(key.substr(0, 3) == "og_");
  for (char c : key.substr(3)) {
    INFO(key);
    CHECK(IsBase64Url(c));
  }
}

TEST_CASE("1,000 generated keys are all different", "[security][api_keys]") {
  std::set<std::string> keys;
  for (int i = 0; i < 1000; ++i) keys.insert(GenerateApiKey());
  CHECK(keys.size() == 1000);
}

// ---- verification ----

ApiKeyStore StoreOf(const std::vector<std::pair<std::string, std::string>>& identity_keys) {
  std::vector<ApiKeyStore::Entry> entries;
  for (const auto& [identity, key] : identity_keys) {
    entries.push_back({identity, HashApiKeyWithRandomSalt(key)});
  }
  return ApiKeyStore(std::move(entries));
}

TEST_CASE("Verify names the identity whose key was presented, among several",
          "[security][api_keys]") {
  const ApiKeyStore store =
      StoreOf({{"alice", "og_alice-key"}, {"bob", "og_bob-key"}, {"carol", "og_carol-key"}});
  REQUIRE(store.size() == 3);
  for (const char* name : {"alice", "bob", "carol"}) {
    const std::string* identity = store.Verify(std::string("og_") + name + "-key");
    REQUIRE(identity != nullptr);
    CHECK(*identity == name);
  }
}

TEST_CASE("Verify names the identity when its key is one of several it has",
          "[security][api_keys]") {
  const ApiKeyStore store = StoreOf({{"alice", "og_old"}, {"bob", "og_bob"}, {"alice", "og_new"}});
  const std::string* identity = store.Verify("og_new");
  REQUIRE(identity != nullptr);
  CHECK(*identity == "alice");
}

TEST_CASE("a key configured for two identities is the first one's", "[security][api_keys]") {
  const ApiKeyStore store =
      StoreOf({{"carol", "og_carol"}, {"alice", "og_shared"}, {"bob", "og_shared"}});
  const std::string* identity = store.Verify("og_shared");
  REQUIRE(identity != nullptr);
  CHECK(*identity == "alice");
}

TEST_CASE("Verify refuses a key that is not configured", "[security][api_keys]") {
  const ApiKeyStore store = StoreOf({{"alice", "og_alice-key"}, {"bob", "og_bob-key"}});
  CHECK(store.Verify("og_mallory-key") == nullptr);
}

TEST_CASE("Verify refuses a prefix of a configured key and the key with more appended",
          "[security][api_keys]") {
  const ApiKeyStore store = StoreOf({{"alice", "og_alice-key"}});
  CHECK(store.Verify("og_alice-ke") == nullptr);
  CHECK(store.Verify("og_alice-key2") == nullptr);
  CHECK(store.Verify("OG_ALICE-KEY") == nullptr);
}

TEST_CASE("Verify refuses the empty string, even when an empty key was hashed",
          "[security][api_keys]") {
  const ApiKeyStore store = StoreOf({{"alice", "og_alice-key"}, {"nobody", ""}});
  CHECK(store.Verify("") == nullptr);
}

TEST_CASE("an empty store verifies nothing", "[security][api_keys]") {
  const ApiKeyStore store(std::vector<ApiKeyStore::Entry>{});
  CHECK(store.size() == 0);
  CHECK(store.Verify("og_anything") == nullptr);
}

TEST_CASE("Verify accepts a hash that was parsed from its stored form", "[security][api_keys]") {
  const std::string key = GenerateApiKey();
  const auto parsed = ParseApiKeyHash(FormatApiKeyHash(HashApiKeyWithRandomSalt(key)));
  REQUIRE(parsed.ok());
  const ApiKeyStore store(std::vector<ApiKeyStore::Entry>{{"svc", *parsed}});
  const std::string* identity = store.Verify(key);
  REQUIRE(identity != nullptr);
  CHECK(*identity == "svc");
}

}  // namespace
}  // namespace og::security
