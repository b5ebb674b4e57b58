#include "tls/server_credentials.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <fstream>
#include <sstream>

#include <grpcpp/security/server_credentials.h>

#include "absl/strings/str_cat.h"

namespace og::tls {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", what, " file '", path, "'"));
  std::ostringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no PEM data found";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

// Checks that `cert_pem` holds a certificate and `key_pem` the private key that matches it.
absl::Status CheckPair(const ServerTlsOptions& o, const std::string& cert_pem,
                       const std::string& key_pem) {
  BIO* cert_bio = BIO_new_mem_buf(cert_pem.data(), static_cast<int>(cert_pem.size()));
  X509* cert = PEM_read_bio_X509(cert_bio, nullptr, nullptr, nullptr);
  BIO_free(cert_bio);
  if (cert == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("certificate file '", o.cert_file, "' is not a PEM certificate: ",
                     OpenSslError()));
  }
  BIO* key_bio = BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PrivateKey(key_bio, nullptr, nullptr, nullptr);
  BIO_free(key_bio);
  absl::Status status;
  if (key == nullptr) {
    status = absl::FailedPreconditionError(absl::StrCat(
        "key file '", o.key_file, "' is not a PEM private key: ", OpenSslError()));
  } else if (X509_check_private_key(cert, key) != 1) {
    ERR_clear_error();
    status = absl::FailedPreconditionError(absl::StrCat(
        "key file '", o.key_file, "' does not match certificate '", o.cert_file, "'"));
  }
  EVP_PKEY_free(key);
  X509_free(cert);
  return status;
}

}  // namespace

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options) {
  if (options.insecure) return grpc::InsecureServerCredentials();
  auto cert = ReadFile(options.cert_file, "certificate");
  if (!cert.ok()) return cert.status();
  auto key = ReadFile(options.key_file, "key");
  if (!key.ok()) return key.status();
  if (absl::Status s = CheckPair(options, *cert, *key); !s.ok()) return s;

  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  return grpc::SslServerCredentials(ssl);
}

}  // namespace og::tls
