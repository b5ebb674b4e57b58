#include "gateway/upstream/connection.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <cerrno>

#include "absl/strings/str_cat.h"
#include "tls/protocol_policy.h"

namespace og {

namespace ssl = boost::asio::ssl;
using boost::system::error_code;

namespace {

// How a file stands: a rotated certificate changes it.
std::string FileStamp(const std::string& path) {
  if (path.empty()) return {};
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return absl::StrCat(path, "@missing");
  return absl::StrCat(path, "@", st.st_mtim.tv_sec, ".", st.st_mtim.tv_nsec, ":", st.st_size);
}

std::shared_ptr<ssl::context> Fail(std::string message, std::string* error) {
  *error = std::move(message);
  return nullptr;
}

}  // namespace

std::string TlsContexts::Key(const UpstreamTls* tls) {
  if (tls == nullptr) return "system";
  return absl::StrCat(tls->verify ? "verify|" : "noverify|", tls->ca_file, "|", tls->cert_file, "|",
                      tls->key_file);
}

std::shared_ptr<ssl::context> TlsContexts::Get(const UpstreamTls* tls, const std::string& key,
                                               std::string* error) {
  std::string files;
  if (tls != nullptr) {
    files = absl::StrCat(FileStamp(tls->ca_file), "|", FileStamp(tls->cert_file), "|",
                         FileStamp(tls->key_file));
  }
  auto it = contexts_.find(key);
  if (it != contexts_.end() && it->second.files == files) return it->second.context;
  auto context = std::make_shared<ssl::context>(ssl::context::tls_client);
  // The process's OpenSSL policy makes every new context TLS 1.3-only (for the gRPC listener);
  // backends are allowed TLS 1.2 as well.
  tls::AllowTls12ForBackends(context->native_handle());
  error_code ec;
  const bool verify = tls == nullptr || tls->verify;
  context->set_verify_mode(verify ? ssl::verify_peer : ssl::verify_none, ec);
  if (verify && (tls == nullptr || tls->ca_file.empty())) {
    context->set_default_verify_paths(ec);
    if (ec) return Fail(absl::StrCat("cannot load the system CA store: ", ec.message()), error);
  } else if (verify) {
    context->load_verify_file(tls->ca_file, ec);
    if (ec) {
      return Fail(absl::StrCat("cannot load CA file ", tls->ca_file, ": ", ec.message()), error);
    }
  }
  if (tls != nullptr && !tls->cert_file.empty()) {
    context->use_certificate_chain_file(tls->cert_file, ec);
    if (ec) {
      return Fail(
          absl::StrCat("cannot load client certificate ", tls->cert_file, ": ", ec.message()),
          error);
    }
    context->use_private_key_file(tls->key_file, ssl::context::pem, ec);
    if (ec) {
      return Fail(absl::StrCat("cannot load client key ", tls->key_file, ": ", ec.message()),
                  error);
    }
  }
  // Identities of configurations since replaced are dropped now and then; live connections
  // hold their contexts.
  if (contexts_.size() >= 64 && it == contexts_.end()) contexts_.clear();
  contexts_[key] = Made{std::move(files), context};
  return context;
}

void UpstreamConnection::Close() {
  error_code ignored;
  socket.close(ignored);
}

bool UpstreamConnection::LooksOpen() {
  char byte;
  const ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 0) return false;
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK;
  return tls != nullptr;
}

}  // namespace og
