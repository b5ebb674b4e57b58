// Who is calling, as the TLS handshake proved it: the client certificate's subject and subject
// alternative names, read from gRPC's auth context or, for the HTTP port, parsed from the
// certificate itself. Both paths give the same fields for the same certificate, so logs and
// authorization rules need not care which port a caller used.
#ifndef OLLAMA_GATEWAY_TLS_PEER_IDENTITY_H_
#define OLLAMA_GATEWAY_TLS_PEER_IDENTITY_H_

#include <string>
#include <string_view>
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

// The identity of a DER-encoded certificate (og::http::Request::peer_certificate_der), with the
// fields exactly as PeerIdentityOf reports them for the same certificate on the gRPC port:
// the first CN, the RFC 2253 subject, and every SAN in certificate order (DNS names, emails and
// URIs as UTF-8, IP addresses as inet_ntop prints them, and "other types of SAN" for kinds
// gRPC does not decode). Empty for empty or unparsable input (or trailing bytes after the
// certificate). Does not verify anything: pass only a certificate a handshake verified.
PeerIdentity PeerIdentityFromDer(std::string_view der);

}  // namespace og::tls

#endif  // OLLAMA_GATEWAY_TLS_PEER_IDENTITY_H_
