#include "tls/pem.h"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/absl_compat.h"
#include "common/time_format.h"
#include "tls/openssl_util.h"

namespace og::tls {
namespace {

using internal::MemoryBio;
using internal::Owned;

// The reason of OpenSSL's first queued error (which is cleared), or `fallback`.
std::string OpenSslReason(std::string_view fallback) {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return std::string(fallback);
  const char* reason = ERR_reason_error_string(code);
  return reason != nullptr ? reason : std::string(fallback);
}

std::string SerialHex(X509* cert) {
  Owned<BIGNUM> serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr));
  if (serial == nullptr) return "";
  Owned<char> hex(BN_bn2hex(serial.get()));
  return hex != nullptr ? std::string(hex.get()) : "";
}

std::time_t ToTime(const ASN1_TIME* time) {
  struct tm parts {};
  if (ASN1_TIME_to_tm(time, &parts) != 1) return 0;
  return timegm(&parts);
}

absl::Status Refuse(std::string_view name, std::string_view reason) {
  return absl::FailedPreconditionError(absl::StrCat("'", AbslView(name), "': ", AbslView(reason)));
}

}  // namespace

absl::StatusOr<CertificateInfo> CheckKeyPair(std::string_view cert_pem, std::string_view key_pem,
                                             std::time_t now, std::string_view cert_name,
                                             std::string_view key_name) {
  ERR_clear_error();
  Owned<BIO> cert_bio = MemoryBio(cert_pem);
  Owned<X509> cert(PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return Refuse(cert_name,
                  absl::StrCat("not a PEM certificate (", OpenSslReason("no PEM data found"), ")"));
  }
  Owned<BIO> key_bio = MemoryBio(key_pem);
  Owned<EVP_PKEY> key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return Refuse(key_name,
                  absl::StrCat("not a PEM private key (", OpenSslReason("no PEM data found"), ")"));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return Refuse(key_name, absl::StrCat("private key does not match the certificate in '",
                                         AbslView(cert_name), "'"));
  }
  CertificateInfo info;
  info.subject = internal::Rfc2253Subject(cert.get());
  info.serial_hex = SerialHex(cert.get());
  info.not_after = ToTime(X509_get0_notAfter(cert.get()));
  const std::time_t not_before = ToTime(X509_get0_notBefore(cert.get()));
  if (now < not_before) {
    return Refuse(cert_name,
                  absl::StrCat("certificate is not valid before ", FormatUtc(not_before)));
  }
  if (now > info.not_after) {
    return Refuse(cert_name, absl::StrCat("certificate expired at ", FormatUtc(info.not_after)));
  }
  return info;
}

absl::StatusOr<int> CheckCaBundle(std::string_view pem, std::string_view name) {
  ERR_clear_error();
  Owned<BIO> bio = MemoryBio(pem);
  int count = 0;
  for (;;) {
    Owned<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert != nullptr) {
      ++count;
      continue;
    }
    // The end of the input reads as "no start line"; anything else is a broken certificate.
    const unsigned long code = ERR_peek_last_error();
    const bool at_end =
        ERR_GET_LIB(code) == ERR_LIB_PEM && ERR_GET_REASON(code) == PEM_R_NO_START_LINE;
    if (code != 0 && !at_end) {
      return Refuse(name, absl::StrCat("certificate ", count + 1, " does not parse (",
                                       OpenSslReason("unknown error"), ")"));
    }
    ERR_clear_error();
    break;
  }
  if (count == 0) return Refuse(name, "no PEM certificate found");
  return count;
}

absl::StatusOr<std::string> ReadFileToString(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read '", path, "': ", std::strerror(errno)));
  }
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string FormatUtc(std::time_t t) { return Rfc3339Seconds(t); }

}  // namespace og::tls
