// Transport credentials for the gateway's gRPC listener and its HTTPS listener, and their reload
// from disk.
//
// The operator's files are never handed to gRPC directly. ServingCredentials checks them
// (PEM parses, key matches certificate, certificate valid now, CA bundle parses) and only then
// publishes a copy into a private directory, as a new generation directory swapped in by one
// atomic symlink rename, so key and certificate always change together. gRPC's
// FileWatcherCertificateProvider watches that directory: new handshakes use the new files,
// established connections keep theirs. A broken file is refused and never reaches gRPC.
//
// The same checked contents also become a boost::asio::ssl::context for og::http (TLS 1.3 only,
// client certificates as for gRPC), rebuilt on every accepted reload and swapped in whole;
// og::http asks for it once per connection, so reloads reach new HTTPS connections at once.
#ifndef OLLAMA_GATEWAY_TLS_SERVER_CREDENTIALS_H_
#define OLLAMA_GATEWAY_TLS_SERVER_CREDENTIALS_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "tls/pem.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace grpc {
class ServerCredentials;
}

namespace og::tls {

// Whether and how callers must present a certificate (mutual TLS).
enum class ClientAuth {
  kNone,      // not asked for
  kOptional,  // asked for; verified against the client CA when presented
  kRequire,   // a certificate signed by the client CA is required
};

struct ServerTlsOptions {
  // Plaintext: no credentials at all. Only when the operator asked for it explicitly.
  bool insecure = false;
  // PEM certificate chain (leaf first) and its private key.
  std::string cert_file;
  std::string key_file;
  // PEM bundle of the CAs that sign client certificates; required unless client_auth is kNone.
  std::string client_ca_file;
  ClientAuth client_auth = ClientAuth::kNone;
};

// The result of one look at the operator's files.
struct ReloadResult {
  enum class Outcome {
    kUnchanged,  // same content as served (or as already refused)
    kReloaded,   // new valid files published; new handshakes use them
    kRefused,    // new files are broken; the previous ones keep serving
  };
  Outcome outcome = Outcome::kUnchanged;
  // Why the files were refused (names the file), empty otherwise.
  std::string message;
  // The serving certificate after this look.
  CertificateInfo serving;
};

// Owns the listener's credentials and the private directory gRPC watches. Thread-safe.
class ServingCredentials {
 public:
  // How often gRPC re-reads the private directory; a reload reaches new handshakes within it.
  static constexpr unsigned kGrpcRefreshSeconds = 1;

  // Checks the files and builds the credentials; FAILED_PRECONDITION or NOT_FOUND name the file
  // at fault. With options.insecure, returns plaintext credentials and Reload() does nothing.
  static absl::StatusOr<std::unique_ptr<ServingCredentials>> Create(ServerTlsOptions options);
  // Stops watching and removes the private directory.
  ~ServingCredentials();
  ServingCredentials(const ServingCredentials&) = delete;
  ServingCredentials& operator=(const ServingCredentials&) = delete;

  // For grpc::ServerBuilder::AddListeningPort.
  std::shared_ptr<grpc::ServerCredentials> credentials() const { return credentials_; }
  // The certificate being served now (empty when insecure).
  CertificateInfo serving() const;

  // The HTTPS context of the files being served now, for og::http::ServerOptions::tls; null
  // when insecure. TLS 1.3 only; asks for, verifies or requires a client certificate signed by
  // the client CA as `client_auth` says (the CA's names are sent as the acceptable issuers);
  // selects "http/1.1" when the client offers ALPN and refuses a client that offers only other
  // protocols. A reload publishes a new context and leaves earlier ones to the connections that
  // hold them. Cheap (a shared_ptr copy under a mutex of its own, never held across file I/O)
  // and safe from any thread.
  std::shared_ptr<boost::asio::ssl::context> https_context() const;

  // Reads the operator's files and publishes them if they changed and are valid. `force`
  // reports a refusal again even when the broken content was already refused (SIGHUP).
  ReloadResult Reload(bool force);

  // Calls Reload(false) every `interval` on a thread of its own and hands each result that is
  // not kUnchanged to `on_change`. Call at most once.
  void WatchFiles(std::chrono::milliseconds interval,
                  std::function<void(const ReloadResult&)> on_change);

 private:
  ServingCredentials() = default;
  struct Contents {
    std::string cert, key, ca;
    bool operator==(const Contents&) const = default;
  };
  absl::StatusOr<Contents> ReadAll() const;
  // What a set of contents becomes once checked: the certificate to report and the HTTPS
  // context built from the same bytes.
  struct Checked {
    CertificateInfo info;
    std::shared_ptr<boost::asio::ssl::context> https;
  };
  absl::StatusOr<Checked> Check(const Contents& contents) const;
  absl::Status Publish(const Contents& contents);

  ServerTlsOptions options_;
  std::shared_ptr<grpc::ServerCredentials> credentials_;
  std::string private_dir_;
  int generation_ = 0;

  mutable std::mutex mu_;  // guards everything below and serializes Reload
  Contents served_;
  Contents refused_;
  CertificateInfo serving_;

  // Apart from mu_, which Reload holds across file writes and fsync: every HTTPS accept reads it.
  mutable std::mutex https_mu_;
  std::shared_ptr<boost::asio::ssl::context> https_context_;

  std::mutex watch_mu_;
  std::condition_variable watch_cv_;
  bool stopping_ = false;
  std::thread watcher_;
};

}  // namespace og::tls

#endif  // OLLAMA_GATEWAY_TLS_SERVER_CREDENTIALS_H_
