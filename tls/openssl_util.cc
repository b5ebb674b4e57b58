#include "tls/openssl_util.h"

namespace og::tls::internal {

std::string Rfc2253Subject(const X509* cert) {
  Owned<BIO> out(BIO_new(BIO_s_mem()));
  if (out == nullptr) return "";
  X509_NAME_print_ex(out.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  if (size <= 0) return "";
  return std::string(data, static_cast<std::size_t>(size));
}

}  // namespace og::tls::internal
