// SHA-256 as the gateway uses it: API key hashes (api_keys.h) and the access log's digest of
// each call's input. The algorithm is fetched from OpenSSL once, not on every digest.
#ifndef OLLAMA_GATEWAY_SECURITY_SHA256_H_
#define OLLAMA_GATEWAY_SECURITY_SHA256_H_

#include <openssl/types.h>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace og::security {

// OpenSSL's SHA-256. SHA256() and EVP_sha256() fetch the algorithm from the provider store on
// every call (OpenSSL 3), which costs about three times the digest of a short key; this one is
// fetched once, shared by every thread (an EVP_MD is immutable) and deliberately never freed.
// Null only when OpenSSL has no SHA-256 at all.
const EVP_MD* Sha256();

// Appends `bytes` to `out` in lower-case hex, two digits a byte.
void AppendHex(std::span<const std::uint8_t> bytes, std::string& out);

// The SHA-256 of `data` in lower-case hex (64 digits); empty if OpenSSL cannot run the digest.
std::string Sha256Hex(std::string_view data);

}  // namespace og::security

#endif  // OLLAMA_GATEWAY_SECURITY_SHA256_H_
