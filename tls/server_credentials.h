// Transport credentials for the gateway's gRPC listener.
#ifndef OLLAMA_GATEWAY_TLS_SERVER_CREDENTIALS_H_
#define OLLAMA_GATEWAY_TLS_SERVER_CREDENTIALS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace grpc {
class ServerCredentials;
}

namespace og::tls {

struct ServerTlsOptions {
  // Plaintext: no credentials at all. Only when the operator asked for it explicitly.
  bool insecure = false;
  // PEM certificate chain (leaf first) and its private key.
  std::string cert_file;
  std::string key_file;
};

// Reads and checks the certificate and key (they parse as PEM and the key matches the leaf
// certificate) and returns credentials for grpc::ServerBuilder::AddListeningPort.
// Errors name the file at fault and why (FAILED_PRECONDITION or NOT_FOUND).
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> MakeServerCredentials(
    const ServerTlsOptions& options);

}  // namespace og::tls

#endif  // OLLAMA_GATEWAY_TLS_SERVER_CREDENTIALS_H_
