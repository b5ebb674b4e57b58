#include "security/sha256.h"

#include <openssl/evp.h>

namespace og::security {

const EVP_MD* Sha256() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

void AppendHex(std::span<const std::uint8_t> bytes, std::string& out) {
  constexpr char kDigits[] = "0123456789abcdef";
  for (std::uint8_t byte : bytes) {
    out.push_back(kDigits[byte >> 4]);
    out.push_back(kDigits[byte & 0xf]);
  }
}

std::string Sha256Hex(std::string_view data) {
  std::uint8_t digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  const EVP_MD* md = Sha256();
  if (md == nullptr || EVP_Digest(data.data(), data.size(), digest, &size, md, nullptr) != 1) {
    return "";
  }
  std::string out;
  out.reserve(2 * size);
  AppendHex(std::span<const std::uint8_t>(digest, size), out);
  return out;
}

}  // namespace og::security
