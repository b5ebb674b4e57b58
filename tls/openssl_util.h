// Internal to og_tls: owning pointers for OpenSSL objects and the one way this library prints a
// certificate's subject, shared by the PEM checks and the peer identity so both report the same
// text for the same certificate.
#ifndef OLLAMA_GATEWAY_TLS_OPENSSL_UTIL_H_
#define OLLAMA_GATEWAY_TLS_OPENSSL_UTIL_H_

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>
#include <string_view>

namespace og::tls::internal {

struct OpenSslDeleter {
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(char* p) const { OPENSSL_free(p); }
  void operator()(unsigned char* p) const { OPENSSL_free(p); }
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
template <typename T>
using Owned = std::unique_ptr<T, OpenSslDeleter>;

// A read-only memory BIO over `data`, which must outlive it.
inline Owned<BIO> MemoryBio(std::string_view data) {
  return Owned<BIO>(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// The subject as one RFC 2253 line ("CN=alice,O=Example"), printed exactly as gRPC prints the
// x509_subject of its auth context (X509_NAME_print_ex with XN_FLAG_RFC2253).
std::string Rfc2253Subject(const X509* cert);

}  // namespace og::tls::internal

#endif  // OLLAMA_GATEWAY_TLS_OPENSSL_UTIL_H_
