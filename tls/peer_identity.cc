#include "tls/peer_identity.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

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

}  // namespace og::tls
