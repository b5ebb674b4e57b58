#include "tls/protocol_policy.h"

#include <openssl/conf.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"

namespace og::tls {

std::string Tls13OnlyOpenSslConfig() {
  return R"(# Written and loaded by ollama-gateway at start; see tls/protocol_policy.h.
openssl_conf = og_openssl_init

[og_openssl_init]
ssl_conf = og_ssl_module

[og_ssl_module]
system_default = og_tls_defaults

[og_tls_defaults]
MinProtocol = TLSv1.3
Protocol = -ALL, TLSv1.3
CipherString = DEFAULT:@SECLEVEL=2
)";
}

absl::Status RestrictNewContextsToTls13() {
  const char* tmpdir = getenv("TMPDIR");
  std::string path = absl::StrCat(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp",
                                  "/ollama-gateway-openssl-XXXXXX");
  const int fd = mkstemp(path.data());
  if (fd < 0) {
    return absl::InternalError(
        absl::StrCat("cannot create the OpenSSL policy file: ", std::strerror(errno)));
  }
  const std::string text = Tls13OnlyOpenSslConfig();
  const bool written = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  close(fd);
  absl::Status status;
  OPENSSL_INIT_SETTINGS* settings = OPENSSL_INIT_new();
  if (!written || settings == nullptr) {
    status = absl::InternalError("cannot write the OpenSSL policy file");
  } else {
    OPENSSL_INIT_set_config_filename(settings, path.c_str());
    OPENSSL_INIT_set_config_file_flags(settings, 0);  // a bad file is an error, not skipped
    if (OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, settings) != 1) {
      status = absl::InternalError("OpenSSL refused the TLS 1.3-only configuration");
    }
  }
  if (settings != nullptr) OPENSSL_INIT_free(settings);
  unlink(path.c_str());
  if (!status.ok()) return status;

  // Proof rather than trust: a context created now must refuse TLS 1.2.
  SSL_CTX* probe = SSL_CTX_new(TLS_server_method());
  if (probe == nullptr) return absl::InternalError("cannot create an OpenSSL context");
  const bool tls12_off = (SSL_CTX_get_options(probe) & SSL_OP_NO_TLSv1_2) != 0 &&
                         SSL_CTX_get_min_proto_version(probe) == TLS1_3_VERSION;
  SSL_CTX_free(probe);
  ERR_clear_error();
  if (!tls12_off) {
    return absl::InternalError(
        "OpenSSL did not apply the TLS 1.3-only policy (was OpenSSL initialized earlier?)");
  }
  return absl::OkStatus();
}

void AllowTls12ForBackends(SSL_CTX* context) {
  SSL_CTX_clear_options(context, SSL_OP_NO_TLSv1_2 | SSL_OP_NO_TLSv1_3);
  SSL_CTX_set_min_proto_version(context, TLS1_2_VERSION);
}

}  // namespace og::tls
