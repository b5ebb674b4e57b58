// The process's TLS protocol policy: TLS 1.3 only for the gRPC listener, TLS 1.2 and newer for
// the HTTPS client toward backends.
//
// Debian's gRPC 1.51 has no setting for the minimum TLS version of a server (it pins TLS 1.2 as
// its minimum). It links the system OpenSSL 3, which applies the `system_default` section of
// its configuration to every SSL_CTX created in the process, after which gRPC only raises the
// minimum, and a `Protocol` line there disables versions through SSL_OP_NO_* options that
// gRPC's minimum does not touch. So the gateway loads its own OpenSSL configuration, from a
// private temporary file, before anything initializes OpenSSL: every new context then refuses
// TLS 1.2 and older. The upstream client shares that OpenSSL, so AllowTls12ForBackends() undoes the
// policy on each of its own contexts (backends often speak only TLS 1.2).
#ifndef OLLAMA_GATEWAY_TLS_PROTOCOL_POLICY_H_
#define OLLAMA_GATEWAY_TLS_PROTOCOL_POLICY_H_

#include <openssl/ssl.h>

#include <string>

#include "absl/status/status.h"

namespace og::tls {

// The OpenSSL configuration text the gateway loads: system_default with TLS 1.3 as the minimum
// and TLS 1.2 and older disabled, and Debian's cipher security level 2.
std::string Tls13OnlyOpenSslConfig();

// Loads Tls13OnlyOpenSslConfig() as the process's OpenSSL configuration, in place of the
// system's /etc/ssl/openssl.cnf and whatever OPENSSL_CONF names. Must run before anything else
// initializes OpenSSL (gRPC, the upstream client), that is first in main(), and only once. Then
// proves the policy took hold by creating a server context and checking TLS 1.2 is off;
// INTERNAL if not. Not thread-safe.
absl::Status RestrictNewContextsToTls13();

// For the upstream client: lets one client context (toward a backend) offer
// TLS 1.2 and 1.3 again. Leaves TLS 1.1 and older off.
void AllowTls12ForBackends(SSL_CTX* context);

}  // namespace og::tls

#endif  // OLLAMA_GATEWAY_TLS_PROTOCOL_POLICY_H_
