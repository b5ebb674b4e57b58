// Checks of the PEM files an operator gives the gateway: a certificate chain and its private key,
// a CA bundle. Pure functions over bytes (no files, no clock of their own), so the server's
// reloader and the config loader use the same rules and unit tests need no disk.
#ifndef OLLAMA_GATEWAY_TLS_PEM_H_
#define OLLAMA_GATEWAY_TLS_PEM_H_

#include <ctime>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace og::tls {

// What the gateway reports about a serving (leaf) certificate.
struct CertificateInfo {
  // One-line RFC 2253 subject, e.g. "CN=gateway,O=Example".
  std::string subject;
  // Serial number in upper-case hex, as `openssl x509 -serial` prints it.
  std::string serial_hex;
  // notAfter, seconds since the Unix epoch.
  std::time_t not_after = 0;
};

// Checks that `cert_pem` starts with a PEM certificate, that `key_pem` holds a PEM private key
// matching it, and that the certificate is valid at `now` (not before notBefore, not after
// notAfter). `cert_name` and `key_name` (file paths) name the inputs in messages.
// Returns the leaf's info, or FAILED_PRECONDITION saying which file is wrong and why.
absl::StatusOr<CertificateInfo> CheckKeyPair(std::string_view cert_pem, std::string_view key_pem,
                                             std::time_t now, std::string_view cert_name,
                                             std::string_view key_name);

// Checks that `pem` holds at least one PEM certificate and nothing that fails to parse.
// Returns how many certificates it holds, or FAILED_PRECONDITION naming `name`.
absl::StatusOr<int> CheckCaBundle(std::string_view pem, std::string_view name);

// Reads a whole file. NOT_FOUND names the file and errno's reason.
absl::StatusOr<std::string> ReadFileToString(const std::string& path);

// `t` as an RFC 3339 UTC time ("2026-11-25T18:00:00Z"), for logs: common/time_format.h's
// Rfc3339Seconds, for the callers that know only tls/.
std::string FormatUtc(std::time_t t);

}  // namespace og::tls

#endif  // OLLAMA_GATEWAY_TLS_PEM_H_
