// Shared by the TLS tests: a throwaway PKI made in memory with OpenSSL (a CA, certificates it
// issues), written to a private temporary directory for ServingCredentials. Nothing is
// kept: the directory goes when the Pki does.
#ifndef OLLAMA_GATEWAY_TESTS_FAKES_TLS_TESTING_H_
#define OLLAMA_GATEWAY_TESTS_FAKES_TLS_TESTING_H_

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "http/server.h"
#include "tls/openssl_util.h"
#include "tls/server_credentials.h"

namespace og::tls::testing {

using internal::Owned;

inline constexpr long kDay = 24 * 60 * 60;

inline std::string ToPem(X509* cert) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

inline std::string ToPem(EVP_PKEY* key) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

inline std::string ToDer(X509* cert) {
  unsigned char* data = nullptr;
  const int size = i2d_X509(cert, &data);
  Owned<unsigned char> owned(data);
  return std::string(reinterpret_cast<const char*>(data), static_cast<std::size_t>(size));
}

// A private key and its certificate.
struct Identity {
  Owned<EVP_PKEY> key;
  Owned<X509> cert;
  std::string cert_pem() const { return ToPem(cert.get()); }
  std::string key_pem() const { return ToPem(key.get()); }
};

inline void AddExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  REQUIRE(extension != nullptr);
  X509_add_ext(cert, extension, -1);
  X509_EXTENSION_free(extension);
}

// A certificate issued by `issuer` (self-signed when null), valid from a day ago for 30 days.
// `names` are (field, value) pairs in the order they go into the subject; `sans` is in
// OpenSSL's config syntax ("DNS:a,IP:1.2.3.4"), empty for none.
inline Identity Issue(const std::vector<std::pair<const char*, const char*>>& names, long serial,
                      const Identity* issuer, bool is_ca, const char* sans = "") {
  Identity out{Owned<EVP_PKEY>(EVP_EC_gen("P-256")), Owned<X509>(X509_new())};
  X509* cert = out.cert.get();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert), -kDay);
  X509_gmtime_adj(X509_getm_notAfter(cert), 30 * kDay);
  X509_NAME* subject = X509_get_subject_name(cert);
  for (const auto& [field, value] : names) {
    X509_NAME_add_entry_by_txt(subject, field, MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(value), -1, -1, 0);
  }
  X509* issuer_cert = issuer != nullptr ? issuer->cert.get() : cert;
  X509_set_issuer_name(cert, X509_get_subject_name(issuer_cert));
  X509_set_pubkey(cert, out.key.get());
  AddExtension(cert, issuer_cert, NID_basic_constraints,
               is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  if (is_ca) AddExtension(cert, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  if (*sans != '\0') AddExtension(cert, issuer_cert, NID_subject_alt_name, sans);
  X509_sign(cert, issuer != nullptr ? issuer->key.get() : out.key.get(), EVP_sha256());
  return out;
}

inline Identity IssueCa(const char* name) { return Issue({{"CN", name}}, 1, nullptr, true); }

inline std::string SerialHex(X509* cert) {
  Owned<BIGNUM> serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  Owned<char> hex(BN_bn2hex(serial.get()));
  return hex.get();
}

// A certificate for "localhost" and 127.0.0.1 signed by `ca`.
inline Identity IssueServer(const Identity& ca, long serial) {
  return Issue({{"O", "og"}, {"CN", "localhost"}}, serial, &ca, false,
               "DNS:localhost,IP:127.0.0.1");
}

// The operator's files in a private temporary directory, and ServingCredentials over them.
class Pki {
 public:
  // The server's certificate is IssueServer(ca, 0x1001) unless `make_server` issues another.
  explicit Pki(ClientAuth client_auth = ClientAuth::kNone,
               Identity (*make_server)(const Identity& ca) = nullptr)
      : ca_(IssueCa("og test CA")),
        server_(make_server != nullptr ? make_server(ca_) : IssueServer(ca_, 0x1001)) {
    const char* tmpdir = getenv("TMPDIR");
    std::string dir =
        std::string(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp") + "/og-tls-test-XXXXXX";
    REQUIRE(mkdtemp(dir.data()) != nullptr);
    dir_ = dir;
    WriteServer(server_);
    Write("ca.pem", ca_.cert_pem());
    ServerTlsOptions options;
    options.cert_file = dir_ + "/server.crt";
    options.key_file = dir_ + "/server.key";
    if (client_auth != ClientAuth::kNone) options.client_ca_file = dir_ + "/ca.pem";
    options.client_auth = client_auth;
    auto credentials = ServingCredentials::Create(options);
    REQUIRE(credentials.ok());
    credentials_ = *std::move(credentials);
  }
  ~Pki() {
    credentials_.reset();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Replaces the server's certificate and key on disk (not yet reloaded).
  void WriteServer(const Identity& server) {
    Write("server.crt", server.cert_pem());
    Write("server.key", server.key_pem());
  }

  // For ServerOptions::tls: the context being served now.
  http::ServerOptions Options() const {
    http::ServerOptions options;
    options.tls = [credentials = credentials_.get()] { return credentials->https_context(); };
    return options;
  }

  const Identity& ca() const { return ca_; }
  const Identity& server() const { return server_; }
  // The path of `name` in the directory (ca.pem, server.crt, server.key, or one WriteFile wrote).
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }
  // Writes `data` as `name` in the directory and returns its path.
  std::string WriteFile(const std::string& name, const std::string& data) {
    Write(name, data);
    return Path(name);
  }
  ServingCredentials& credentials() { return *credentials_; }

 private:
  void Write(const std::string& name, const std::string& data) {
    std::ofstream(dir_ + "/" + name, std::ios::binary | std::ios::trunc) << data;
  }

  Identity ca_;
  Identity server_;
  std::string dir_;
  std::unique_ptr<ServingCredentials> credentials_;
};

}  // namespace og::tls::testing

#endif  // OLLAMA_GATEWAY_TESTS_FAKES_TLS_TESTING_H_
