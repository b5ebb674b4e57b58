// og::http over TLS with the context of tls::ServingCredentials: real handshakes on loopback from
// a blocking OpenSSL client, with a throwaway PKI per test (tests/unit/tls_testing.h).
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "http/server.h"
#include "tests/fakes/http_testing.h"
#include "tests/fakes/tls_testing.h"
#include "tls/peer_identity.h"
#include "tls/server_credentials.h"

namespace og {
namespace {

using http::Exchange;
using http::ServerOptions;
using http::testing::ConnectLoopback;
using http::testing::TestServer;
using tls::internal::Owned;
using tls::testing::Identity;
using tls::testing::Issue;
using tls::testing::IssueCa;
using tls::testing::IssueServer;
using tls::testing::Pki;
using tls::testing::SerialHex;
using tls::testing::ToDer;
using namespace std::chrono_literals;

constexpr const char* kAliceSans =
    "DNS:alice.example,URI:spiffe://og.test/user/alice,IP:10.0.0.7,IP:2001:db8::7,"
    "email:alice@example.com";

Identity IssueAlice(const Identity& ca) {
  return Issue({{"O", "Example, Inc."}, {"CN", "alice"}}, 0x5EED, &ca, false, kAliceSans);
}

struct ClientOptions {
  int max_version = 0;                 // e.g. TLS1_2_VERSION; 0: no limit
  const Identity* identity = nullptr;  // client certificate to present
  std::string alpn = std::string("\x08http/1.1", 9);
};

// A blocking TLS client on a POSIX socket with a receive timeout. It trusts `ca` and checks that
// the server is "localhost". After a failure, `error()` is OpenSSL's reason, e.g.
// "tlsv1 alert protocol version" for the server's alert.
class TlsClient {
 public:
  TlsClient(std::uint16_t port, const Identity& ca, const ClientOptions& options = {})
      : context_(SSL_CTX_new(TLS_client_method())) {
    SSL_CTX_set_verify(context_.get(), SSL_VERIFY_PEER, nullptr);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(context_.get()), ca.cert.get());
    if (options.max_version != 0)
      SSL_CTX_set_max_proto_version(context_.get(), options.max_version);
    if (options.identity != nullptr) {
      REQUIRE(SSL_CTX_use_certificate(context_.get(), options.identity->cert.get()) == 1);
      REQUIRE(SSL_CTX_use_PrivateKey(context_.get(), options.identity->key.get()) == 1);
    }
    if (!options.alpn.empty()) {
      SSL_CTX_set_alpn_protos(context_.get(),
                              reinterpret_cast<const unsigned char*>(options.alpn.data()),
                              static_cast<unsigned int>(options.alpn.size()));
    }
    fd_ = ConnectLoopback(port);
    ssl_.reset(SSL_new(context_.get()));
    SSL_set_fd(ssl_.get(), fd_);
    SSL_set_tlsext_host_name(ssl_.get(), "localhost");
    SSL_set1_host(ssl_.get(), "localhost");
  }
  ~TlsClient() {
    ssl_.reset();
    ::close(fd_);
  }

  // The handshake. With TLS 1.3 the client finishes before the server has checked the client's
  // certificate, so a refusal of that shows up at the first read instead.
  bool Handshake() {
    ERR_clear_error();
    if (SSL_connect(ssl_.get()) == 1) return true;
    NoteError();
    return false;
  }

  // Sends a GET on the (kept-alive) connection and returns the body of the 200 response, or
  // nothing (see error()).
  std::optional<std::string> Get(const std::string& path) {
    const std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
    ERR_clear_error();
    if (SSL_write(ssl_.get(), request.data(), static_cast<int>(request.size())) <= 0) {
      NoteError();
      return std::nullopt;
    }
    std::string head;
    while (head.find("\r\n\r\n") == std::string::npos) {
      if (!ReadSome(head)) return std::nullopt;
    }
    const std::size_t head_end = head.find("\r\n\r\n") + 4;
    std::string body = head.substr(head_end);
    head.resize(head_end);
    REQUIRE(head.rfind("HTTP/1.1 200 ", 0) == 0);
    const std::size_t length_at = head.find("Content-Length: ");
    REQUIRE(length_at != std::string::npos);
    const std::size_t length = std::stoul(head.substr(length_at + 16));
    while (body.size() < length) {
      if (!ReadSome(body)) return std::nullopt;
    }
    return body;
  }

  // Waits for the server to send something; false with error() once it refuses (an alert) or
  // closes. How a refusal after the client's side of a TLS 1.3 handshake shows. Sending a
  // request first would race the server's close: bytes it never read make its close a reset,
  // which may discard the alert before the client reads it.
  bool AwaitData() {
    std::string ignored;
    ERR_clear_error();
    return ReadSome(ignored);
  }

  std::string server_serial() const {
    Owned<X509> cert(SSL_get1_peer_certificate(ssl_.get()));
    return cert != nullptr ? SerialHex(cert.get()) : "";
  }
  std::string alpn() const {
    const unsigned char* data = nullptr;
    unsigned int size = 0;
    SSL_get0_alpn_selected(ssl_.get(), &data, &size);
    return std::string(reinterpret_cast<const char*>(data), size);
  }
  const std::string& error() const { return error_; }

 private:
  bool ReadSome(std::string& into) {
    char buffer[4096];
    const int n = SSL_read(ssl_.get(), buffer, sizeof(buffer));
    if (n <= 0) {
      NoteError();
      return false;
    }
    into.append(buffer, static_cast<std::size_t>(n));
    return true;
  }
  void NoteError() {
    const unsigned long code = ERR_peek_last_error();
    const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
    error_ = reason != nullptr ? reason : "connection closed without an alert";
    ERR_clear_error();
  }

  struct SslFree {
    void operator()(SSL_CTX* p) const { SSL_CTX_free(p); }
    void operator()(SSL* p) const { SSL_free(p); }
  };
  std::unique_ptr<SSL_CTX, SslFree> context_;
  std::unique_ptr<SSL, SslFree> ssl_;
  int fd_ = -1;
  std::string error_;
};

// Answers with what the request says about its transport and its client certificate.
http::Handler DescribeCaller(std::atomic<int>* calls = nullptr) {
  return [calls](std::shared_ptr<Exchange> exchange) {
    if (calls != nullptr) ++*calls;
    const http::Request& request = exchange->request();
    const tls::PeerIdentity identity = tls::PeerIdentityFromDer(request.peer_certificate_der);
    std::string sans;
    for (const std::string& san : identity.sans) sans += (sans.empty() ? "" : ",") + san;
    exchange->Respond(200, "text/plain",
                      std::string("tls=") + (request.tls ? "1" : "0") +
                          " der=" + std::to_string(request.peer_certificate_der.size()) +
                          "\ncn=" + identity.common_name + "\nsubject=" + identity.subject +
                          "\nsans=" + sans);
  };
}

TEST_CASE("a TLS 1.3 client gets an HTTP answer over TLS with http/1.1 by ALPN", "[http][tls]") {
  Pki pki;
  TestServer server(DescribeCaller(), pki.Options());
  TlsClient client(server.port(), pki.ca());
  REQUIRE(client.Handshake());
  CHECK(client.alpn() == "http/1.1");
  const auto body = client.Get("/");
  REQUIRE(body.has_value());
  CHECK(*body == "tls=1 der=0\ncn=\nsubject=\nsans=");
  // The connection is kept alive over TLS like over TCP.
  CHECK(client.Get("/again") == body);
}

TEST_CASE("a client limited to TLS 1.2 is refused and the server keeps serving", "[http][tls]") {
  Pki pki;
  std::atomic<int> calls{0};
  TestServer server(DescribeCaller(&calls), pki.Options());
  TlsClient old_client(server.port(), pki.ca(), {.max_version = TLS1_2_VERSION});
  CHECK_FALSE(old_client.Handshake());
  CHECK(old_client.error() == "tlsv1 alert protocol version");

  TlsClient client(server.port(), pki.ca());
  REQUIRE(client.Handshake());
  CHECK(client.Get("/").has_value());
  CHECK(calls == 1);
}

TEST_CASE("a client offering only h2 by ALPN is refused", "[http][tls]") {
  Pki pki;
  TestServer server(DescribeCaller(), pki.Options());
  TlsClient client(server.port(), pki.ca(), {.alpn = std::string("\x02h2", 3)});
  CHECK_FALSE(client.Handshake());
  CHECK(client.error() == "tlsv1 alert no application protocol");
}

// Reads from a plain socket until the server closes it; what came before the close.
std::string ReadUntilClosed(int fd) {
  std::string received;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0) return received;
    received.append(buffer, static_cast<std::size_t>(n));
  }
}

TEST_CASE("a plaintext request to the TLS port is closed unanswered and the server keeps serving",
          "[http][tls]") {
  Pki pki;
  std::atomic<int> calls{0};
  TestServer server(DescribeCaller(&calls), pki.Options());
  const int fd = ConnectLoopback(server.port());
  const std::string request = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  const auto start = std::chrono::steady_clock::now();
  const std::string received = ReadUntilClosed(fd);
  ::close(fd);
  // Closed by the failed handshake, not by the 10 s handshake timeout.
  CHECK(std::chrono::steady_clock::now() - start < 5s);
  CHECK(received.find("HTTP/") == std::string::npos);
  CHECK(calls == 0);

  TlsClient client(server.port(), pki.ca());
  REQUIRE(client.Handshake());
  CHECK(client.Get("/").has_value());
  CHECK(calls == 1);
}

TEST_CASE("a client that never completes its handshake is closed after the handshake timeout",
          "[http][tls]") {
  Pki pki;
  ServerOptions options = pki.Options();
  options.handshake_timeout = 200ms;
  TestServer server(DescribeCaller(), options);
  const int fd = ConnectLoopback(server.port());
  const auto start = std::chrono::steady_clock::now();
  CHECK(ReadUntilClosed(fd).empty());
  const auto waited = std::chrono::steady_clock::now() - start;
  ::close(fd);
  CHECK(waited >= 150ms);
  CHECK(waited < 5s);
}

TEST_CASE("with client_auth require a client without a certificate is refused", "[http][tls]") {
  Pki pki(tls::ClientAuth::kRequire);
  std::atomic<int> calls{0};
  TestServer server(DescribeCaller(&calls), pki.Options());
  TlsClient client(server.port(), pki.ca());
  // TLS 1.3: the client's side of the handshake completes; the server's alert comes next.
  client.Handshake();
  CHECK_FALSE(client.AwaitData());
  CHECK(client.error() == "tlsv13 alert certificate required");
  CHECK(calls == 0);
}

TEST_CASE("with client_auth require a certificate from another CA is refused", "[http][tls]") {
  Pki pki(tls::ClientAuth::kRequire);
  std::atomic<int> calls{0};
  TestServer server(DescribeCaller(&calls), pki.Options());
  const Identity other_ca = IssueCa("someone else's CA");
  const Identity mallory = Issue({{"CN", "mallory"}}, 7, &other_ca, false);
  TlsClient client(server.port(), pki.ca(), {.identity = &mallory});
  client.Handshake();
  CHECK_FALSE(client.AwaitData());
  CHECK(client.error() == "tlsv1 alert unknown ca");
  CHECK(calls == 0);
}

TEST_CASE("with client_auth require a CA-signed client certificate reaches the handler",
          "[http][tls]") {
  Pki pki(tls::ClientAuth::kRequire);
  std::mutex mu;
  std::string der_seen;
  TestServer server(
      [&](std::shared_ptr<Exchange> exchange) {
        {
          std::lock_guard<std::mutex> lock(mu);
          der_seen = exchange->request().peer_certificate_der;
        }
        DescribeCaller()(std::move(exchange));
      },
      pki.Options());
  const Identity alice = IssueAlice(pki.ca());
  TlsClient client(server.port(), pki.ca(), {.identity = &alice});
  REQUIRE(client.Handshake());
  const auto body = client.Get("/");
  REQUIRE(body.has_value());
  std::lock_guard<std::mutex> lock(mu);
  CHECK(der_seen == ToDer(alice.cert.get()));
  CHECK(*body == "tls=1 der=" + std::to_string(der_seen.size()) +
                     "\ncn=alice\nsubject=CN=alice,O=Example\\, Inc.\n"
                     "sans=alice.example,spiffe://og.test/user/alice,10.0.0.7,2001:db8::7,"
                     "alice@example.com");
}

TEST_CASE("with client_auth optional a client may come without a certificate", "[http][tls]") {
  Pki pki(tls::ClientAuth::kOptional);
  TestServer server(DescribeCaller(), pki.Options());
  TlsClient anonymous(server.port(), pki.ca());
  REQUIRE(anonymous.Handshake());
  CHECK(anonymous.Get("/") == "tls=1 der=0\ncn=\nsubject=\nsans=");

  const Identity alice = IssueAlice(pki.ca());
  TlsClient client(server.port(), pki.ca(), {.identity = &alice});
  REQUIRE(client.Handshake());
  const auto body = client.Get("/");
  REQUIRE(body.has_value());
  CHECK(body->find("\ncn=alice\n") != std::string::npos);
}

TEST_CASE("after a reload new connections get the new certificate, open ones keep theirs",
          "[http][tls]") {
  Pki pki;
  TestServer server(DescribeCaller(), pki.Options());
  TlsClient before(server.port(), pki.ca());
  REQUIRE(before.Handshake());
  REQUIRE(before.Get("/").has_value());
  CHECK(before.server_serial() == "1001");

  pki.WriteServer(IssueServer(pki.ca(), 0x2002));
  const tls::ReloadResult result = pki.credentials().Reload(/*force=*/false);
  REQUIRE(result.outcome == tls::ReloadResult::Outcome::kReloaded);
  CHECK(result.serving.serial_hex == "2002");

  TlsClient after(server.port(), pki.ca());
  REQUIRE(after.Handshake());
  CHECK(after.server_serial() == "2002");
  CHECK(after.Get("/").has_value());
  // The connection made before the reload goes on with the old certificate.
  CHECK(before.Get("/again").has_value());
  CHECK(before.server_serial() == "1001");
}

TEST_CASE("a plaintext server reports no TLS and no certificate", "[http][tls]") {
  TestServer server(DescribeCaller());
  const int fd = ConnectLoopback(server.port());
  const std::string request = "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  REQUIRE(::send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size()));
  const std::string response = ReadUntilClosed(fd);
  ::close(fd);
  CHECK(response.ends_with("\r\n\r\ntls=0 der=0\ncn=\nsubject=\nsans="));
}

TEST_CASE("an insecure ServingCredentials has no HTTPS context", "[http][tls]") {
  tls::ServerTlsOptions options;
  options.insecure = true;
  auto credentials = tls::ServingCredentials::Create(options);
  REQUIRE(credentials.ok());
  CHECK((*credentials)->https_context() == nullptr);
}

}  // namespace
}  // namespace og
