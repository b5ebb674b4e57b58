#include "tls/server_credentials.h"

#include <fcntl.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "absl/strings/str_cat.h"

namespace og::tls {
namespace {

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
  auto info = self->Check(*contents);
  if (!info.ok()) return info.status();

  const char* tmpdir = getenv("TMPDIR");
  std::string dir = absl::StrCat(tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp",
                                 "/ollama-gateway-tls-XXXXXX");
  if (mkdtemp(dir.data()) == nullptr) return ErrnoError("cannot create", dir);
  self->private_dir_ = dir;
  if (absl::Status s = self->Publish(*contents); !s.ok()) return s;
  self->served_ = *std::move(contents);
  self->serving_ = *info;

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

absl::StatusOr<CertificateInfo> ServingCredentials::Check(const Contents& contents) const {
  auto info = CheckKeyPair(contents.cert, contents.key, std::time(nullptr), options_.cert_file,
                           options_.key_file);
  if (!info.ok()) return info.status();
  if (options_.client_auth != ClientAuth::kNone) {
    auto count = CheckCaBundle(contents.ca, options_.client_ca_file);
    if (!count.ok()) return count.status();
  }
  return info;
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
  auto info = Check(*contents);
  if (!info.ok()) {
    refused_ = *std::move(contents);
    result.outcome = ReloadResult::Outcome::kRefused;
    result.message = std::string(info.status().message());
    return result;
  }
  if (absl::Status s = Publish(*contents); !s.ok()) {
    result.outcome = ReloadResult::Outcome::kRefused;
    result.message = std::string(s.message());
    return result;
  }
  served_ = *std::move(contents);
  refused_ = Contents();
  serving_ = *info;
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
