// Who is calling, as the TLS handshake proved it: the client certificate's subject and subject
// alternative names, read from gRPC's auth context. For logs now, for authorization later.
#ifndef OLLAMA_GATEWAY_TLS_PEER_IDENTITY_H_
#define OLLAMA_GATEWAY_TLS_PEER_IDENTITY_H_

#include <string>
#include <vector>

namespace grpc {
class AuthContext;
}

namespace og::tls {

struct PeerIdentity {
  // The subject's common name (CN), e.g. "alice"; empty without one.
  std::string common_name;
  // RFC 2253 subject of the client certificate, e.g. "CN=alice,O=Example"; empty without one.
  std::string subject;
  // Subject alternative names (DNS names, IPs, URIs, emails) as gRPC reports them.
  std::vector<std::string> sans;

  bool empty() const { return subject.empty() && sans.empty() && common_name.empty(); }
  // One token for a log line: `"CN=alice,O=Example" san=alice.example,spiffe://x/y`, or "-"
  // when the caller presented no certificate.
  std::string ToLogField() const;
};

// The verified client certificate's identity of a call; empty for plaintext or TLS calls
// without a client certificate.
PeerIdentity PeerIdentityOf(const grpc::AuthContext& auth);

}  // namespace og::tls

#endif  // OLLAMA_GATEWAY_TLS_PEER_IDENTITY_H_
