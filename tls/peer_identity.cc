#include "tls/peer_identity.h"

#include <arpa/inet.h>
#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>
#include <openssl/asn1.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>

#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tls/openssl_util.h"

namespace og::tls {

std::string PeerIdentity::ToLogField() const {
  if (empty()) return "-";
  std::string field = absl::StrCat("\"", subject, "\"");
  if (!sans.empty()) absl::StrAppend(&field, " san=", absl::StrJoin(sans, ","));
  return field;
}

PeerIdentity PeerIdentityOf(const grpc::AuthContext& auth) {
  PeerIdentity identity;
  for (const grpc::string_ref& value : auth.FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME)) {
    identity.subject.assign(value.data(), value.size());
  }
  for (const grpc::string_ref& value : auth.FindPropertyValues(GRPC_X509_CN_PROPERTY_NAME)) {
    identity.common_name.assign(value.data(), value.size());
  }
  for (const grpc::string_ref& value : auth.FindPropertyValues(GRPC_X509_SAN_PROPERTY_NAME)) {
    identity.sans.emplace_back(value.data(), value.size());
  }
  return identity;
}

namespace {

using internal::Owned;

std::string Utf8(const ASN1_STRING* text) {
  unsigned char* utf8 = nullptr;
  const int size = ASN1_STRING_to_UTF8(&utf8, text);
  if (size < 0) return "";
  Owned<unsigned char> owned(utf8);
  return std::string(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(size));
}

// gRPC (ssl_transport_security.cc, ssl_get_x509_common_name) reports the first CN entry.
std::string CommonName(const X509* cert) {
  const X509_NAME* subject = X509_get_subject_name(cert);
  const int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (index < 0) return "";
  return Utf8(X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index)));
}

// One SAN as gRPC 1.51 puts it in the auth context (add_subject_alt_names_properties_to_peer).
// gRPC fails the whole handshake on an IP of neither 4 nor 16 bytes; here, where the handshake
// is already over, that entry is skipped.
std::optional<std::string> SanText(const GENERAL_NAME& name) {
  switch (name.type) {
    case GEN_DNS:
      return Utf8(name.d.dNSName);
    case GEN_EMAIL:
      return Utf8(name.d.rfc822Name);
    case GEN_URI:
      return Utf8(name.d.uniformResourceIdentifier);
    case GEN_IPADD: {
      const ASN1_OCTET_STRING* ip = name.d.iPAddress;
      const int family = ip->length == 4 ? AF_INET : ip->length == 16 ? AF_INET6 : AF_UNSPEC;
      char text[INET6_ADDRSTRLEN];
      if (family == AF_UNSPEC || inet_ntop(family, ip->data, text, sizeof(text)) == nullptr) {
        return std::nullopt;
      }
      return std::string(text);
    }
    default:
      return std::string("other types of SAN");
  }
}

}  // namespace

PeerIdentity PeerIdentityFromDer(std::string_view der) {
  PeerIdentity identity;
  if (der.empty()) return identity;
  const auto* in = reinterpret_cast<const unsigned char*>(der.data());
  Owned<X509> cert(d2i_X509(nullptr, &in, static_cast<long>(der.size())));
  if (cert == nullptr || in != reinterpret_cast<const unsigned char*>(der.data()) + der.size()) {
    return identity;
  }
  identity.subject = internal::Rfc2253Subject(cert.get());
  identity.common_name = CommonName(cert.get());
  Owned<GENERAL_NAMES> sans(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr)));
  const int count = sans == nullptr ? 0 : sk_GENERAL_NAME_num(sans.get());
  for (int i = 0; i < count; ++i) {
    if (auto text = SanText(*sk_GENERAL_NAME_value(sans.get(), i))) {
      identity.sans.push_back(*std::move(text));
    }
  }
  return identity;
}

}  // namespace og::tls
