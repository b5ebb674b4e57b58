// The upstream client's connections: keep-alive reuse and its limits (a backend that closed an
// idle connection, one that answers "Connection: close"), bodies read to the close, interim 1xx
// answers, the connect-only probe, and HTTPS backends (verification of the CA and the host name,
// client certificates). Scripted raw-socket backends on loopback count the connections they
// accept; the TLS cases use og::http's server with a throwaway PKI.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/upstream/backend_url.h"
#include "gateway/upstream/upstream_client.h"
#include "tests/fakes/http_testing.h"
#include "tests/fakes/tls_testing.h"
#include "tests/fakes/upstream_recorder.h"

namespace og {
namespace {

using namespace std::chrono_literals;

// A backend that reads each request (head and Content-Length body) and answers what `script`
// returns for (connection number, request number on that connection), both from 0. An empty
// answer closes the connection unanswered; an answer ending in "\n#close" is sent (without that
// marker) and the connection closed after it.
class RawBackend {
 public:
  using Script = std::function<std::string(int connection, int request)>;
  explicit RawBackend(Script script) : script_(std::move(script)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(listen(fd_, 64) == 0);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { Accept(); });
  }
  ~RawBackend() {
    shutdown(fd_, SHUT_RDWR);
    acceptor_.join();
    close(fd_);
    for (auto& t : connections_) t.join();
  }
  std::string Url(const std::string& path) const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int accepted() const { return accepted_.load(); }
  // Every request received so far, head and body.
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }

 private:
  void Accept() {
    for (;;) {
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      const int n = accepted_++;
      connections_.emplace_back([this, c, n] { Serve(c, n); });
    }
  }
  void Serve(int c, int connection) {
    std::string in;
    for (int request = 0;; ++request) {
      std::string message;
      if (!ReadRequest(c, &in, &message)) break;
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(message);
      }
      std::string answer = script_(connection, request);
      if (answer.empty()) break;
      const std::string marker = "\n#close";
      const bool close_after =
          answer.size() >= marker.size() &&
          answer.compare(answer.size() - marker.size(), marker.size(), marker) == 0;
      if (close_after) answer.resize(answer.size() - marker.size());
      if (send(c, answer.data(), answer.size(), MSG_NOSIGNAL) < 0 || close_after) break;
    }
    close(c);
  }
  static bool ReadRequest(int c, std::string* in, std::string* message) {
    for (;;) {
      const std::size_t head_end = in->find("\r\n\r\n");
      if (head_end != std::string::npos) {
        std::size_t length = 0;
        const std::size_t cl = in->find("Content-Length: ");
        if (cl != std::string::npos && cl < head_end) length = std::stoul(in->substr(cl + 16));
        if (in->size() >= head_end + 4 + length) {
          *message = in->substr(0, head_end + 4 + length);
          in->erase(0, head_end + 4 + length);
          return true;
        }
      }
      char buf[4096];
      const ssize_t n = recv(c, buf, sizeof(buf), 0);
      if (n <= 0) return false;
      in->append(buf, static_cast<std::size_t>(n));
    }
  }

  Script script_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::vector<std::thread> connections_;  // acceptor thread only, then the destructor
  std::mutex mu_;
  std::vector<std::string> requests_;
};

std::string JsonAnswer(const std::string& body, const std::string& extra_headers = "") {
  return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body;
}

using testing::Recorder;

UpstreamResult Run(UpstreamClient& client, UpstreamRequest request,
                   std::vector<std::string>* lines = nullptr) {
  Recorder rec;
  client.Start(std::move(request), &rec);
  UpstreamResult result = rec.Wait();
  if (lines != nullptr) *lines = rec.lines();
  return result;
}

UpstreamRequest Post(const std::string& url) {
  UpstreamRequest r;
  r.url = url;
  r.body = R"({"model":"m"})";
  return r;
}

TEST_CASE("upstream: requests one after another share one kept-alive connection", "[upstream]") {
  RawBackend backend(
      [](int, int request) { return JsonAnswer("{\"n\":" + std::to_string(request) + "}"); });
  UpstreamClient client(1);
  for (int i = 0; i < 3; ++i) {
    std::vector<std::string> lines;
    CHECK(Run(client, Post(backend.Url("/api/generate")), &lines).outcome == UpstreamOutcome::kOk);
    CHECK(lines == std::vector<std::string>{"{\"n\":" + std::to_string(i) + "}"});
  }
  CHECK(backend.accepted() == 1);
  // What went on the wire: the request line, Host, the JSON body with its length.
  const std::string first = backend.requests().at(0);
  CHECK(first.rfind("POST /api/generate HTTP/1.1\r\n", 0) == 0);
  CHECK(first.find("\r\nHost: 127.0.0.1:") != std::string::npos);
  CHECK(first.find("\r\nContent-Type: application/json\r\n") != std::string::npos);
  CHECK(first.find("\r\nContent-Length: 13\r\n\r\n{\"model\":\"m\"}") != std::string::npos);
}

TEST_CASE(
    "upstream: a kept-alive connection the backend drops unanswered is retried on a fresh one",
    "[upstream]") {
  // The second request on the first connection meets a backend that closed it (as one whose
  // idle timeout fired the instant the request went out): the client connects again.
  RawBackend backend([](int connection, int request) {
    if (connection == 0 && request == 1) return std::string();
    return JsonAnswer("{}");
  });
  UpstreamClient client(1);
  CHECK(Run(client, Post(backend.Url("/a"))).outcome == UpstreamOutcome::kOk);
  const UpstreamResult r = Run(client, Post(backend.Url("/b")));
  CHECK(r.outcome == UpstreamOutcome::kOk);
  CHECK(backend.accepted() == 2);
  CHECK(backend.requests().size() == 3);
}

TEST_CASE("upstream: a fresh connection closed unanswered is a transport error, not retried",
          "[upstream]") {
  RawBackend backend([](int, int) { return std::string(); });
  UpstreamClient client(1);
  const UpstreamResult r = Run(client, Post(backend.Url("/api/generate")));
  CHECK(r.outcome == UpstreamOutcome::kTransportError);
  CHECK_FALSE(r.received_bytes);
  CHECK(r.message.find("closed the connection without answering") != std::string::npos);
  CHECK(backend.accepted() == 1);
}

TEST_CASE("upstream: an idle connection the backend closed is not reused", "[upstream]") {
  RawBackend backend([](int, int) { return JsonAnswer("{}") + "\n#close"; });
  UpstreamClient client(1);
  CHECK(Run(client, Post(backend.Url("/a"))).outcome == UpstreamOutcome::kOk);
  std::this_thread::sleep_for(50ms);  // the FIN arrives
  CHECK(Run(client, Post(backend.Url("/b"))).outcome == UpstreamOutcome::kOk);
  CHECK(backend.accepted() == 2);
  CHECK(backend.requests().size() == 2);  // no request was lost on the dead connection
}

TEST_CASE("upstream: an answer saying Connection: close is not kept", "[upstream]") {
  RawBackend backend([](int, int) { return JsonAnswer("{}", "Connection: close\r\n"); });
  UpstreamClient client(1);
  CHECK(Run(client, Post(backend.Url("/a"))).outcome == UpstreamOutcome::kOk);
  CHECK(Run(client, Post(backend.Url("/b"))).outcome == UpstreamOutcome::kOk);
  CHECK(backend.accepted() == 2);
}

TEST_CASE("upstream: a body without a length ends at the close", "[upstream]") {
  RawBackend backend([](int, int) {
    return std::string(
               "HTTP/1.1 200 OK\r\nContent-Type: application/x-ndjson\r\n\r\n"
               "{\"a\":1}\n{\"b\":2}") +
           "\n#close";
  });
  UpstreamClient client(1);
  std::vector<std::string> lines;
  CHECK(Run(client, Post(backend.Url("/api/generate")), &lines).outcome == UpstreamOutcome::kOk);
  CHECK(lines == std::vector<std::string>{"{\"a\":1}", "{\"b\":2}"});
}

TEST_CASE("upstream: an interim 100 Continue is skipped for the answer after it", "[upstream]") {
  RawBackend backend(
      [](int, int) { return "HTTP/1.1 100 Continue\r\n\r\n" + JsonAnswer("{\"done\":true}"); });
  UpstreamClient client(1);
  std::vector<std::string> lines;
  const UpstreamResult r = Run(client, Post(backend.Url("/api/generate")), &lines);
  CHECK(r.outcome == UpstreamOutcome::kOk);
  CHECK(r.http_status == 200);
  CHECK(lines == std::vector<std::string>{"{\"done\":true}"});
}

TEST_CASE("upstream: an error body is kept up to 64 KiB, the rest unread", "[upstream]") {
  const std::string big(200 * 1024, 'x');
  RawBackend backend([&](int, int) {
    return "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nContent-Length: " +
           std::to_string(big.size()) + "\r\n\r\n" + big;
  });
  UpstreamClient client(1);
  const UpstreamResult r = Run(client, Post(backend.Url("/api/generate")));
  CHECK(r.outcome == UpstreamOutcome::kHttpError);
  CHECK(r.http_status == 500);
  CHECK(r.body == big.substr(0, 64 * 1024));
  CHECK(r.received_bytes);
}

TEST_CASE("upstream: a malformed status line is a transport error naming the backend",
          "[upstream]") {
  RawBackend backend([](int, int) { return std::string("SMTP ready\r\n\r\n"); });
  UpstreamClient client(1);
  const UpstreamResult r = Run(client, Post(backend.Url("/api/generate")));
  CHECK(r.outcome == UpstreamOutcome::kTransportError);
  CHECK(r.message.find("malformed HTTP answer from 127.0.0.1:") == 0);
}

TEST_CASE("upstream: connect-only opens a fresh connection, sends nothing and closes it",
          "[upstream]") {
  RawBackend backend([](int, int) { return JsonAnswer("{}"); });
  UpstreamClient client(1);
  CHECK(Run(client, Post(backend.Url("/a"))).outcome == UpstreamOutcome::kOk);
  UpstreamRequest probe;
  probe.method = UpstreamRequest::Method::kConnectOnly;
  probe.url = backend.Url("/");
  CHECK(Run(client, probe).outcome == UpstreamOutcome::kOk);
  CHECK(Run(client, probe).outcome == UpstreamOutcome::kOk);
  // Two probes, two new connections (a pooled one proves nothing about accept()), no requests.
  for (int i = 0; i < 100 && backend.accepted() < 3; ++i) std::this_thread::sleep_for(10ms);
  CHECK(backend.accepted() == 3);
  CHECK(backend.requests().size() == 1);
}

TEST_CASE("upstream: a host name is resolved; an unknown one is a connect failure", "[upstream]") {
  RawBackend backend([](int, int) { return JsonAnswer("{}"); });
  UpstreamClient client(1);
  std::string url = backend.Url("/api/tags");
  url.replace(url.find("127.0.0.1"), 9, "localhost");
  UpstreamRequest get;
  get.method = UpstreamRequest::Method::kGet;
  get.url = url;
  // localhost may resolve to ::1 first, where nothing listens: the next address is tried.
  CHECK(Run(client, get).outcome == UpstreamOutcome::kOk);
  get.url = "http://no-such-host.invalid:1/";
  const UpstreamResult r = Run(client, get);
  CHECK(r.outcome == UpstreamOutcome::kConnectFailed);
  CHECK(r.message.find("cannot resolve no-such-host.invalid") == 0);
}

// --- HTTPS backends ---

http::Handler Hello() {
  return [](std::shared_ptr<http::Exchange> ex) {
    ex->Respond(200, "application/json",
                R"({"tls":)" + std::string(ex->request().tls ? "true" : "false") +
                    R"(,"client_cert":)" +
                    std::to_string(ex->request().peer_certificate_der.size()) + "}");
  };
}

std::shared_ptr<const UpstreamTls> TlsWith(std::string ca, bool verify = true) {
  auto tls = std::make_shared<UpstreamTls>();
  tls->ca_file = std::move(ca);
  tls->verify = verify;
  return tls;
}

UpstreamRequest Get(std::string url, std::shared_ptr<const UpstreamTls> tls) {
  UpstreamRequest r;
  r.method = UpstreamRequest::Method::kGet;
  r.url = std::move(url);
  r.tls = std::move(tls);
  return r;
}

TEST_CASE("upstream: an https backend is verified against the configured CA, by name and address",
          "[upstream][tls]") {
  tls::testing::Pki pki;
  http::testing::TestServer server(Hello(), pki.Options());
  const std::string port = std::to_string(server.port());
  UpstreamClient client(1);
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    std::vector<std::string> lines;
    const UpstreamResult r =
        Run(client, Get("https://" + host + ":" + port + "/", TlsWith(pki.Path("ca.pem"))), &lines);
    CHECK(r.outcome == UpstreamOutcome::kOk);
    CHECK(lines == std::vector<std::string>{R"({"tls":true,"client_cert":0})"});
  }
  UpstreamRequest probe = Get("https://localhost:" + port + "/", TlsWith(pki.Path("ca.pem")));
  probe.method = UpstreamRequest::Method::kConnectOnly;
  CHECK(Run(client, probe).outcome == UpstreamOutcome::kOk);  // the TCP tier includes the handshake
}

tls::testing::Identity IssueElsewhere(const tls::testing::Identity& ca) {
  return tls::testing::Issue({{"CN", "elsewhere"}}, 0x2002, &ca, false, "DNS:elsewhere.corp");
}

TEST_CASE("upstream: an https backend signed by another CA, or under another name, is refused",
          "[upstream][tls]") {
  tls::testing::Pki pki;
  tls::testing::Pki other;
  http::testing::TestServer server(Hello(), pki.Options());
  const std::string port = std::to_string(server.port());
  UpstreamClient client(1);
  UpstreamResult r =
      Run(client, Get("https://localhost:" + port + "/", TlsWith(other.Path("ca.pem"))));
  INFO(r.message);
  CHECK(r.outcome == UpstreamOutcome::kTransportError);
  CHECK(r.message.find("TLS handshake with localhost:" + port + " failed: ") == 0);
  CHECK(r.message.find("certificate verify failed") != std::string::npos);
  // A CA file that is not there fails the request and says which.
  r = Run(client, Get("https://localhost:" + port + "/", TlsWith(pki.Path("missing.pem"))));
  CHECK(r.outcome == UpstreamOutcome::kTransportError);
  CHECK(r.message.find("cannot load CA file " + pki.Path("missing.pem")) == 0);
}

TEST_CASE(
    "upstream: an https backend whose certificate names another host is refused unless "
    "verification is off",
    "[upstream][tls]") {
  tls::testing::Pki pki(tls::ClientAuth::kNone, &IssueElsewhere);
  http::testing::TestServer server(Hello(), pki.Options());
  const std::string port = std::to_string(server.port());
  UpstreamClient client(1);
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    const UpstreamResult r =
        Run(client, Get("https://" + host + ":" + port + "/", TlsWith(pki.Path("ca.pem"))));
    INFO(r.message);
    CHECK(r.outcome == UpstreamOutcome::kTransportError);
    CHECK(r.message.find("certificate verify failed") != std::string::npos);
  }
  CHECK(
      Run(client, Get("https://localhost:" + port + "/", TlsWith("", /*verify=*/false))).outcome ==
      UpstreamOutcome::kOk);
}

TEST_CASE("upstream: an https backend requiring a client certificate gets the configured one",
          "[upstream][tls]") {
  tls::testing::Pki pki(tls::ClientAuth::kRequire);
  http::testing::TestServer server(Hello(), pki.Options());
  const tls::testing::Identity client_id =
      tls::testing::Issue({{"CN", "gateway"}}, 7, &pki.ca(), false);
  auto with_cert = std::make_shared<UpstreamTls>();
  with_cert->ca_file = pki.Path("ca.pem");
  with_cert->cert_file = pki.WriteFile("client.crt", client_id.cert_pem());
  with_cert->key_file = pki.WriteFile("client.key", client_id.key_pem());
  const std::string url = "https://localhost:" + std::to_string(server.port()) + "/";
  UpstreamClient client(1);
  std::vector<std::string> lines;
  CHECK(Run(client, Get(url, with_cert), &lines).outcome == UpstreamOutcome::kOk);
  REQUIRE(lines.size() == 1);
  CHECK(lines[0].find(R"("client_cert":0)") == std::string::npos);
  // Without one, the server refuses the handshake (or the first read, under TLS 1.3).
  CHECK(Run(client, Get(url, TlsWith(pki.Path("ca.pem")))).outcome ==
        UpstreamOutcome::kTransportError);
}

// --- URLs ---

TEST_CASE("upstream: backend URLs split into origin, Host and target", "[upstream]") {
  auto url = ParseBackendUrl("http://127.0.0.1:11434/api/generate");
  REQUIRE(url.ok());
  CHECK_FALSE(url->tls);
  CHECK(url->host == "127.0.0.1");
  CHECK(url->port == "11434");
  CHECK(url->authority == "127.0.0.1:11434");
  CHECK(url->origin == "http://127.0.0.1:11434");
  CHECK(url->target == "/api/generate");

  url = ParseBackendUrl("https://gpu-1.corp");
  REQUIRE(url.ok());
  CHECK(url->tls);
  CHECK(url->port == "443");
  CHECK(url->authority == "gpu-1.corp");
  CHECK(url->origin == "https://gpu-1.corp:443");
  CHECK(url->target == "/");

  url = ParseBackendUrl("http://[::1]:8080?x=1");
  REQUIRE(url.ok());
  CHECK(url->host == "::1");
  CHECK(url->authority == "[::1]:8080");
  CHECK(url->origin == "http://[::1]:8080");
  CHECK(url->target == "/?x=1");

  for (const char* bad : {"ftp://h/", "http://", "http://h:0/", "http://h:70000/", "http://h:x/",
                          "http://u@h/", "http://[::1/", "http://h/#frag"}) {
    INFO(bad);
    CHECK_FALSE(ParseBackendUrl(bad).ok());
  }
  CHECK(std::string(ParseBackendUrl("http://h:x/").status().message()) ==
        "invalid backend URL 'http://h:x/': the port must be a number from 1 to 65535");
}

}  // namespace
}  // namespace og
