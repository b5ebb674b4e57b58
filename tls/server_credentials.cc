#include "tls/server_credentials.h"

#include <fcntl.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/context.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "tls/openssl_util.h"

namespace og::tls {
namespace {

namespace ssl = boost::asio::ssl;

constexpr const char* kCertName = "cert.pem";
constexpr const char* kKeyName = "key.pem";
constexpr const char* kCaName = "ca.pem";
constexpr const char* kCurrent = "current";

absl::Status ErrnoError(const char* what, const std::string& path) {
  return absl::InternalError(absl::StrCat(what, " '", path, "': ", std::strerror(errno)));
}

// Writes a file readable by the owner only (it may be a private key).
absl::Status WritePrivateFile(const std::string& path, const std::string& data) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return ErrnoError("cannot create", path);
  const bool ok =
      write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) && fsync(fd) == 0;
  close(fd);
  return ok ? absl::OkStatus() : ErrnoError("cannot write", path);
}

grpc_ssl_client_certificate_request_type RequestType(ClientAuth auth) {
  switch (auth) {
    case ClientAuth::kNone:
      return GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
    case ClientAuth::kOptional:
      return GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY;
    case ClientAuth::kRequire:
      return GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE;
}

// ALPN: HTTP/1.1 is all og::http speaks. A client that offers ALPN without it (an h2-only client)
// gets the no_application_protocol alert RFC 7301 asks for, rather than a 400 to its preface.
int SelectHttp11(SSL*, const unsigned char** out, unsigned char* out_size, const unsigned char* in,
                 unsigned int in_size, void*) {
  static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_size, kHttp11, sizeof(kHttp11), in, in_size) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_ALERT_FATAL;
  }
  *out = selected;
  return SSL_TLSEXT_ERR_OK;
}

absl::Status Unusable(const std::string& file, const char* what,
                      const boost::system::error_code& ec) {
  return absl::FailedPreconditionError(
      absl::StrCat("'", file, "': cannot serve HTTPS with this ", what, " (", ec.message(), ")"));
}

// The HTTPS context for checked PEM contents (see ServingCredentials::https_context).
absl::StatusOr<std::shared_ptr<ssl::context>> MakeHttpsContext(const std::string& cert,
                                                               const std::string& key,
                                                               const std::string& ca,
                                                               const ServerTlsOptions& options) {
  auto context = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  // Set here rather than left to the process-wide policy (RestrictNewContextsToTls13), so the
  // HTTPS port is TLS 1.3 only wherever the context is made, tests included.
  if (SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION) != 1) {
    return absl::InternalError("OpenSSL refused TLS 1.3 as the minimum version");
  }
  boost::system::error_code ec;
  context->use_certificate_chain(boost::asio::buffer(cert), ec);
  if (ec) return Unusable(options.cert_file, "certificate chain", ec);
  context->use_private_key(boost::asio::buffer(key), ssl::context::pem, ec);
  if (ec) return Unusable(options.key_file, "private key", ec);

  if (options.client_auth == ClientAuth::kNone) {
    context->set_verify_mode(ssl::verify_none);
  } else {
    context->add_certificate_authority(boost::asio::buffer(ca), ec);
    if (ec) return Unusable(options.client_ca_file, "client CA bundle", ec);
    // The CA names go into the CertificateRequest, so a client holding several certificates
    // (a browser, curl with an engine) offers one these CAs signed.
    internal::Owned<BIO> bio = internal::MemoryBio(ca);
    while (internal::Owned<X509> ca_cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
      SSL_CTX_add_client_CA(native, ca_cert.get());
    }
    ERR_clear_error();  // the end of the bundle reads as an error
    context->set_verify_mode(options.client_auth == ClientAuth::kRequire
                                 ? ssl::verify_peer | ssl::verify_fail_if_no_peer_cert
                                 : ssl::verify_peer);
  }
  // With client verification on, OpenSSL fails the handshake of a client that tries to resume a
  // session (SSL_R_SESSION_ID_CONTEXT_UNINITIALIZED) unless the context names its sessions.
  // Resumption stays safe across reloads: every context has its own ticket keys, so a session
  // from before a reload (and its old client CA) cannot be resumed after it.
  static constexpr unsigned char kSessionContext[] = "og-https";
  SSL_CTX_set_session_id_context(native, kSessionContext, sizeof(kSessionContext) - 1);
  SSL_CTX_set_alpn_select_cb(native, SelectHttp11, nullptr);
  return context;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ServingCredentials>> ServingCredentials::Create(
    ServerTlsOptions options) {
  std::unique_ptr<ServingCredentials> self(new ServingCredentials());
  self->options_ = std::move(options);
  if (self->options_.insecure) {
    self->credentials_ = grpc::InsecureServerCredentials();
    return self;
  }
  auto contents = self->ReadAll();
  if (!contents.ok()) return contents.status();
  auto checked = self->Check(*contents);
  if (!checked.ok()) return checked.status();

  const char* tmpdir = getenv("TMPDIR");
  std::string dir = absl::StrCat(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp",
                                 "/ollama-gateway-tls-XXXXXX");
  if (mkdtemp(dir.data()) == nullptr) return ErrnoError("cannot create", dir);
  self->private_dir_ = dir;
  if (absl::Status s = self->Publish(*contents); !s.ok()) return s;
  self->served_ = *std::move(contents);
  self->serving_ = checked->info;
  self->https_context_ = std::move(checked->https);

  const std::string current = absl::StrCat(dir, "/", kCurrent, "/");
  const bool with_ca = self->options_.client_auth != ClientAuth::kNone;
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      current + kKeyName, current + kCertName, with_ca ? current + kCaName : "",
      kGrpcRefreshSeconds);
  grpc::experimental::TlsServerCredentialsOptions tls(provider);
  tls.watch_identity_key_cert_pairs();
  if (with_ca) tls.watch_root_certs();
  tls.set_cert_request_type(RequestType(self->options_.client_auth));
  self->credentials_ = grpc::experimental::TlsServerCredentials(tls);
  if (self->credentials_ == nullptr) {
    return absl::InternalError("gRPC refused the TLS server credentials");
  }
  return self;
}

ServingCredentials::~ServingCredentials() {
  {
    std::lock_guard<std::mutex> lock(watch_mu_);
    stopping_ = true;
  }
  watch_cv_.notify_all();
  if (watcher_.joinable()) watcher_.join();
  if (!private_dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(private_dir_, ignored);
  }
}

CertificateInfo ServingCredentials::serving() const {
  std::lock_guard<std::mutex> lock(mu_);
  return serving_;
}

std::shared_ptr<boost::asio::ssl::context> ServingCredentials::https_context() const {
  std::lock_guard<std::mutex> lock(https_mu_);
  return https_context_;
}

absl::StatusOr<ServingCredentials::Contents> ServingCredentials::ReadAll() const {
  Contents contents;
  auto cert = ReadFileToString(options_.cert_file);
  if (!cert.ok()) return cert.status();
  auto key = ReadFileToString(options_.key_file);
  if (!key.ok()) return key.status();
  contents.cert = *std::move(cert);
  contents.key = *std::move(key);
  if (options_.client_auth != ClientAuth::kNone) {
    auto ca = ReadFileToString(options_.client_ca_file);
    if (!ca.ok()) return ca.status();
    contents.ca = *std::move(ca);
  }
  return contents;
}

absl::StatusOr<ServingCredentials::Checked> ServingCredentials::Check(
    const Contents& contents) const {
  auto info = CheckKeyPair(contents.cert, contents.key, std::time(nullptr), options_.cert_file,
                           options_.key_file);
  if (!info.ok()) return info.status();
  if (options_.client_auth != ClientAuth::kNone) {
    auto count = CheckCaBundle(contents.ca, options_.client_ca_file);
    if (!count.ok()) return count.status();
  }
  auto https = MakeHttpsContext(contents.cert, contents.key, contents.ca, options_);
  if (!https.ok()) return https.status();
  return Checked{*std::move(info), *std::move(https)};
}

// Writes generation N into its own directory, then points `current` at it with one rename, so
// gRPC never reads a key from one generation and a certificate from another. The generation
// before the previous one is removed (the previous one may still be being read).
absl::Status ServingCredentials::Publish(const Contents& contents) {
  const int generation = ++generation_;
  const std::string name = absl::StrCat("gen-", generation);
  const std::string gen_dir = absl::StrCat(private_dir_, "/", name);
  if (mkdir(gen_dir.c_str(), 0700) != 0) return ErrnoError("cannot create", gen_dir);
  for (const auto& [file, data] :
       {std::pair{kCertName, &contents.cert}, std::pair{kKeyName, &contents.key},
        std::pair{kCaName, &contents.ca}}) {
    if (absl::Status s = WritePrivateFile(absl::StrCat(gen_dir, "/", file), *data); !s.ok()) {
      return s;
    }
  }
  const std::string link_tmp = absl::StrCat(private_dir_, "/", kCurrent, ".tmp");
  const std::string link = absl::StrCat(private_dir_, "/", kCurrent);
  unlink(link_tmp.c_str());
  if (symlink(name.c_str(), link_tmp.c_str()) != 0) return ErrnoError("cannot create", link_tmp);
  if (rename(link_tmp.c_str(), link.c_str()) != 0) return ErrnoError("cannot replace", link);
  if (generation > 2) {
    std::error_code ignored;
    std::filesystem::remove_all(absl::StrCat(private_dir_, "/gen-", generation - 2), ignored);
  }
  return absl::OkStatus();
}

ReloadResult ServingCredentials::Reload(bool force) {
  std::lock_guard<std::mutex> lock(mu_);
  ReloadResult result;
  result.serving = serving_;
  if (options_.insecure) return result;
  auto contents = ReadAll();
  if (!contents.ok()) {
    // A file being replaced may be missing for a moment; only a SIGHUP reports it.
    if (force) {
      result.outcome = ReloadResult::Outcome::kRefused;
      result.message = std::string(contents.status().message());
    }
    return result;
  }
  if (*contents == served_) return result;
  if (*contents == refused_ && !force) return result;
  auto checked = Check(*contents);
  if (!checked.ok()) {
    refused_ = *std::move(contents);
    result.outcome = ReloadResult::Outcome::kRefused;
    result.message = std::string(checked.status().message());
    return result;
  }
  if (absl::Status s = Publish(*contents); !s.ok()) {
    result.outcome = ReloadResult::Outcome::kRefused;
    result.message = std::string(s.message());
    return result;
  }
  {
    std::lock_guard<std::mutex> https_lock(https_mu_);
    https_context_ = std::move(checked->https);
  }
  served_ = *std::move(contents);
  refused_ = Contents();
  serving_ = checked->info;
  result.outcome = ReloadResult::Outcome::kReloaded;
  result.serving = serving_;
  return result;
}

void ServingCredentials::WatchFiles(std::chrono::milliseconds interval,
                                    std::function<void(const ReloadResult&)> on_change) {
  if (options_.insecure || interval.count() <= 0) return;
  watcher_ = std::thread([this, interval, on_change = std::move(on_change)] {
    std::unique_lock<std::mutex> lock(watch_mu_);
    while (!watch_cv_.wait_for(lock, interval, [this] { return stopping_; })) {
      lock.unlock();
      const ReloadResult result = Reload(/*force=*/false);
      if (result.outcome != ReloadResult::Outcome::kUnchanged) on_change(result);
      lock.lock();
    }
  });
}

}  // namespace og::tls
