// og::http::Server against real loopback sockets: a server on port 0 runs on its own thread and
// the tests speak raw HTTP/1.1 through POSIX sockets, so every byte on the wire is checked.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "http/server.h"
#include "tests/fakes/http_testing.h"

namespace {

using og::http::Exchange;
using og::http::Handler;
using og::http::Server;
using og::http::ServerOptions;
using namespace std::chrono_literals;

using og::http::testing::ConnectLoopback;
using og::http::testing::kWait;
using og::http::testing::TestServer;

// One parsed HTTP response.
struct Response {
  int status = 0;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;                            // de-chunked
  std::vector<std::string> chunks;             // as framed on the wire, when chunked
  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
};

// A blocking HTTP/1.1 client on a POSIX socket with a receive timeout.
class RawClient {
 public:
  explicit RawClient(std::uint16_t port) : fd_(ConnectLoopback(port)) {}
  ~RawClient() { Close(); }

  void Send(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      REQUIRE(n > 0);
      data.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Receives more bytes into the buffer; false on EOF, error or timeout (see last_error()).
  bool Fill() {
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), 0);
    if (n <= 0) {
      last_error_ = n == 0 ? 0 : errno;
      return false;
    }
    buffer_.append(buf, static_cast<std::size_t>(n));
    return true;
  }

  // Takes everything up to and including `marker` from the stream, or "" if it never comes.
  std::string ReadUntil(std::string_view marker) {
    while (buffer_.find(marker) == std::string::npos) {
      if (!Fill()) return "";
    }
    const std::size_t end = buffer_.find(marker) + marker.size();
    std::string out = buffer_.substr(0, end);
    buffer_.erase(0, end);
    return out;
  }

  std::string ReadExactly(std::size_t n) {
    while (buffer_.size() < n) {
      if (!Fill()) break;
    }
    const std::size_t take = std::min(n, buffer_.size());
    std::string out = buffer_.substr(0, take);
    buffer_.erase(0, take);
    return out;
  }

  // Reads one response. `head` says the request was HEAD (no body follows).
  Response ReadResponse(bool head = false) {
    Response response;
    const std::string header = ReadUntil("\r\n\r\n");
    REQUIRE_FALSE(header.empty());
    std::size_t line_end = header.find("\r\n");
    const std::string status_line = header.substr(0, line_end);
    REQUIRE(status_line.rfind("HTTP/1.", 0) == 0);
    response.status = std::stoi(status_line.substr(9, 3));
    std::size_t pos = line_end + 2;
    while (pos < header.size() - 2) {
      const std::size_t end = header.find("\r\n", pos);
      const std::string line = header.substr(pos, end - pos);
      const std::size_t colon = line.find(':');
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      response.headers[name] = value;
      pos = end + 2;
    }
    if (head || response.status == 100) return response;
    if (response.Header("transfer-encoding") == "chunked") {
      while (true) {
        const std::string size_line = ReadUntil("\r\n");
        REQUIRE_FALSE(size_line.empty());
        const std::size_t size = std::stoul(size_line, nullptr, 16);
        std::string data = ReadExactly(size);
        REQUIRE(ReadExactly(2) == "\r\n");
        if (size == 0) break;
        response.chunks.push_back(data);
        response.body += data;
      }
    } else if (!response.Header("content-length").empty()) {
      response.body = ReadExactly(std::stoul(response.Header("content-length")));
    } else {
      while (Fill()) {
      }
      response.body = std::move(buffer_);
      buffer_.clear();
    }
    return response;
  }

  // True once the server closed its side (EOF or reset), false if data or a timeout came first.
  bool WaitForClose() {
    if (!buffer_.empty()) return false;
    char byte;
    const ssize_t n = ::recv(fd_, &byte, 1, 0);
    if (n > 0) {
      buffer_.push_back(byte);
      return false;
    }
    return n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  }

  // Sends what the socket takes; false once the server has closed or reset the connection.
  bool TrySend(std::string_view data) {
    while (!data.empty()) {
      const ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  // Without waiting: true once the server answered something or closed its side.
  bool HeardBack() {
    if (!buffer_.empty()) return true;
    char buf[4096];
    const ssize_t n = ::recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
    if (n > 0) buffer_.append(buf, static_cast<std::size_t>(n));
    return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  int last_error() const { return last_error_; }
  const std::string& buffered() const { return buffer_; }

 private:
  int fd_ = -1;
  std::string buffer_;
  int last_error_ = 0;
};

std::string Get(std::string_view path, std::string_view extra_headers = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) +
         "\r\n";
}

Handler EchoHandler() {
  return [](std::shared_ptr<Exchange> ex) {
    const auto& req = ex->request();
    ex->Respond(200, "text/plain",
                req.method + " " + req.path + " q=" + req.query + " body=" + req.body +
                    " ua=" + std::string(req.Header("user-agent")),
                {{"X-Test", "yes"}});
  };
}

TEST_CASE("a whole response carries status, headers and body", "[http]") {
  TestServer server(EchoHandler());
  RawClient client(server.port());
  client.Send(Get("/a/b?x=1", "User-Agent: catch\r\n"));
  const Response response = client.ReadResponse();
  CHECK(response.status == 200);
  CHECK(response.body == "GET /a/b q=x=1 body= ua=catch");
  CHECK(response.Header("content-type") == "text/plain");
  CHECK(response.Header("content-length") == std::to_string(response.body.size()));
  CHECK(response.Header("x-test") == "yes");
  CHECK_FALSE(response.Header("date").empty());
}

TEST_CASE("headers added for an exchange ride on its answer, whole or streamed", "[http]") {
  TestServer server([](std::shared_ptr<Exchange> ex) {
    ex->AddResponseHeaders({{"Vary", "Origin"}});
    if (ex->request().path == "/stream") {
      ex->StartStream(200, "text/plain", {{"X-Own", "1"}});
      ex->Write("x");
      return ex->EndStream();
    }
    ex->Respond(404, "text/plain", "no", {{"X-Own", "1"}});
  });
  RawClient client(server.port());
  for (const char* path : {"/whole", "/stream"}) {
    client.Send(Get(path));
    const Response response = client.ReadResponse();
    CHECK(response.Header("vary") == "Origin");
    CHECK(response.Header("x-own") == "1");
  }
}

TEST_CASE("a keep-alive connection serves one request after another", "[http]") {
  std::atomic<int> handled{0};
  TestServer server([&handled](std::shared_ptr<Exchange> ex) {
    ex->Respond(200, "text/plain", std::to_string(++handled) + ":" + ex->request().body);
  });
  RawClient client(server.port());
  for (int i = 1; i <= 3; ++i) {
    client.Send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc");
    const Response response = client.ReadResponse();
    CHECK(response.body == std::to_string(i) + ":abc");
    CHECK(response.Header("connection").empty());
  }
}

TEST_CASE("pipelined requests are answered in order on one connection", "[http]") {
  TestServer server(EchoHandler());
  RawClient client(server.port());
  client.Send(Get("/one") + Get("/two") + Get("/three"));
  CHECK(client.ReadResponse().body.rfind("GET /one", 0) == 0);
  CHECK(client.ReadResponse().body.rfind("GET /two", 0) == 0);
  CHECK(client.ReadResponse().body.rfind("GET /three", 0) == 0);
}

TEST_CASE("Connection: close gets its answer and then the connection closes", "[http]") {
  TestServer server(EchoHandler());
  RawClient client(server.port());
  client.Send(Get("/", "Connection: close\r\n"));
  const Response response = client.ReadResponse();
  CHECK(response.status == 200);
  CHECK(response.Header("connection") == "close");
  CHECK(client.WaitForClose());
}

TEST_CASE("HEAD gets the headers of the GET response and no body", "[http]") {
  TestServer server(
      [](std::shared_ptr<Exchange> ex) { ex->Respond(200, "text/plain", "seventeen bytes!!"); });
  RawClient client(server.port());
  client.Send("HEAD / HTTP/1.1\r\nHost: t\r\n\r\n");
  const Response head = client.ReadResponse(/*head=*/true);
  CHECK(head.status == 200);
  CHECK(head.Header("content-length") == "17");
  // Had a body been sent, it would show up before the next response's status line.
  client.Send(Get("/"));
  CHECK(client.ReadExactly(12) == "HTTP/1.1 200");
}

TEST_CASE("a streamed response is sent as chunks and ends with the last chunk", "[http]") {
  TestServer server([](std::shared_ptr<Exchange> ex) {
    ex->StartStream(200, "application/x-ndjson", {{"X-Stream", "1"}});
    ex->Write("{\"a\":1}\n");
    ex->Write("");  // sends nothing: an empty chunk would end the body
    ex->Write("{\"b\":2}\n");
    ex->EndStream();
  });
  RawClient client(server.port());
  client.Send(Get("/stream"));
  const Response response = client.ReadResponse();
  CHECK(response.status == 200);
  CHECK(response.Header("transfer-encoding") == "chunked");
  CHECK(response.Header("content-type") == "application/x-ndjson");
  CHECK(response.Header("x-stream") == "1");
  CHECK(response.Header("content-length").empty());
  CHECK(response.chunks == std::vector<std::string>{"{\"a\":1}\n", "{\"b\":2}\n"});
  // The connection is reused after the stream.
  client.Send(Get("/again"));
  CHECK(client.ReadResponse().status == 200);
}

TEST_CASE("on_written drives a stream one chunk at a time", "[http]") {
  constexpr int kChunks = 50;
  struct Producer : std::enable_shared_from_this<Producer> {
    std::shared_ptr<Exchange> ex;
    int sent = 0;
    void Next() {
      if (sent == kChunks) {
        ex->EndStream();
        return;
      }
      ex->Write("chunk " + std::to_string(sent++) + "\n", [self = shared_from_this()](bool ok) {
        if (ok) self->Next();
      });
    }
  };
  TestServer server([](std::shared_ptr<Exchange> ex) {
    auto producer = std::make_shared<Producer>();
    producer->ex = ex;
    ex->StartStream(200, "text/plain");
    producer->Next();
  });
  RawClient client(server.port());
  client.Send(Get("/"));
  const Response response = client.ReadResponse();
  std::string expected;
  for (int i = 0; i < kChunks; ++i) expected += "chunk " + std::to_string(i) + "\n";
  CHECK(response.body == expected);
}

TEST_CASE("a handler may answer later, from another thread", "[http]") {
  std::mutex mu;
  std::vector<std::shared_ptr<Exchange>> held;
  std::promise<void> got_request;
  TestServer server([&](std::shared_ptr<Exchange> ex) {
    std::lock_guard<std::mutex> lock(mu);
    held.push_back(std::move(ex));
    got_request.set_value();
  });
  RawClient client(server.port());
  client.Send(Get("/later"));
  REQUIRE(got_request.get_future().wait_for(kWait) == std::future_status::ready);
  std::thread other([&] {
    std::lock_guard<std::mutex> lock(mu);
    held.front()->StartStream(201, "text/plain");
    held.front()->Write("from another thread");
    held.front()->EndStream();
    held.clear();
  });
  other.join();
  const Response response = client.ReadResponse();
  CHECK(response.status == 201);
  CHECK(response.body == "from another thread");
}

TEST_CASE("a body over the limit gets 413 and the connection is closed", "[http]") {
  ServerOptions options;
  options.max_body_bytes = 10;
  std::atomic<int> handled{0};
  TestServer server(
      [&handled](std::shared_ptr<Exchange> ex) {
        ++handled;
        ex->Respond(200, "text/plain", "");
      },
      options);
  RawClient client(server.port());
  client.Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world");
  const Response response = client.ReadResponse();
  CHECK(response.status == 413);
  CHECK(response.Header("connection") == "close");
  CHECK(client.WaitForClose());
  CHECK(handled == 0);
}

TEST_CASE("a chunked request body over the limit gets 413", "[http]") {
  ServerOptions options;
  options.max_body_bytes = 10;
  TestServer server([](std::shared_ptr<Exchange> ex) { ex->Respond(200, "text/plain", ""); },
                    options);
  RawClient client(server.port());
  client.Send(
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n");
  CHECK(client.ReadResponse().status == 413);
  CHECK(client.WaitForClose());
}

// A body limit chosen per request: 10 bytes for /small, the server's 100 for the rest.
ServerOptions PerPathLimits() {
  ServerOptions options;
  options.max_body_bytes = 100;
  options.body_limit = [](const og::http::Request& head) {
    og::http::BodyLimit limit;
    limit.max_bytes = head.path == "/small" ? 10 : 1000;
    limit.too_large = {413, "text/plain", "over the limit of " + head.path + "\n", {}};
    return limit;
  };
  return options;
}

TEST_CASE("a body limit chosen from the head refuses a declared length over it", "[http]") {
  std::atomic<int> handled{0};
  TestServer server(
      [&handled](std::shared_ptr<Exchange> ex) {
        ++handled;
        ex->Respond(200, "text/plain", std::to_string(ex->request().body.size()));
      },
      PerPathLimits());
  RawClient client(server.port());
  client.Send("POST /large HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world");
  const Response ok = client.ReadResponse();
  CHECK(ok.status == 200);
  CHECK(ok.body == "11");
  client.Send("POST /small HTTP/1.1\r\nHost: t\r\nContent-Length: 11\r\n\r\nhello world");
  const Response refused = client.ReadResponse();
  CHECK(refused.status == 413);
  CHECK(refused.body == "over the limit of /small\n");
  CHECK(client.WaitForClose());
  CHECK(handled == 1);
}

TEST_CASE("a body limit chosen from the head stops chunks past it", "[http]") {
  TestServer server([](std::shared_ptr<Exchange> ex) { ex->Respond(200, "text/plain", ""); },
                    PerPathLimits());
  RawClient client(server.port());
  client.Send(
      "POST /small HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n");
  const Response refused = client.ReadResponse();
  CHECK(refused.status == 413);
  CHECK(refused.body == "over the limit of /small\n");
  CHECK(client.WaitForClose());
}

TEST_CASE("a body limit above the server's own is lowered to it", "[http]") {
  TestServer server([](std::shared_ptr<Exchange> ex) { ex->Respond(200, "text/plain", ""); },
                    PerPathLimits());
  RawClient client(server.port());
  // 101 bytes in chunks: /large asks for 1000, the server's 100 wins.
  client.Send("POST /large HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n" +
              std::string(101, 'x') + "\r\n0\r\n\r\n");
  CHECK(client.ReadResponse().status == 413);
  CHECK(client.WaitForClose());
}

TEST_CASE("a malformed request gets 400 and the connection is closed", "[http]") {
  std::atomic<int> handled{0};
  TestServer server([&handled](std::shared_ptr<Exchange> ex) {
    ++handled;
    ex->Respond(200, "text/plain", "");
  });
  SECTION("garbage instead of a request line") {
    RawClient client(server.port());
    client.Send("this is not http\r\n\r\n");
    CHECK(client.ReadResponse().status == 400);
    CHECK(client.WaitForClose());
  }
  SECTION("a header line without a colon") {
    RawClient client(server.port());
    client.Send("GET / HTTP/1.1\r\nHost: t\r\nno colon here\r\n\r\n");
    CHECK(client.ReadResponse().status == 400);
    CHECK(client.WaitForClose());
  }
  CHECK(handled == 0);
}

TEST_CASE("headers over the limit get 431", "[http]") {
  ServerOptions options;
  options.max_header_bytes = 256;
  TestServer server([](std::shared_ptr<Exchange> ex) { ex->Respond(200, "text/plain", ""); },
                    options);
  RawClient client(server.port());
  client.Send(Get("/", "X-Big: " + std::string(1000, 'x') + "\r\n"));
  CHECK(client.ReadResponse().status == 431);
}

TEST_CASE("Expect: 100-continue gets an interim 100 before the body is sent", "[http]") {
  TestServer server(EchoHandler());
  RawClient client(server.port());
  client.Send("POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n");
  const Response interim = client.ReadResponse();
  CHECK(interim.status == 100);
  client.Send("hello");
  const Response response = client.ReadResponse();
  CHECK(response.status == 200);
  CHECK(response.body.find("body=hello") != std::string::npos);
}

TEST_CASE("an HTTP/1.0 client gets Connection: close and a stream delimited by EOF", "[http]") {
  TestServer server([](std::shared_ptr<Exchange> ex) {
    ex->StartStream(200, "text/plain");
    ex->Write("part one,");
    ex->Write("part two");
    ex->EndStream();
  });
  RawClient client(server.port());
  client.Send("GET / HTTP/1.0\r\n\r\n");
  const Response response = client.ReadResponse();
  CHECK(response.Header("transfer-encoding").empty());
  CHECK(response.Header("connection") == "close");
  CHECK(response.body == "part one,part two");
}

TEST_CASE("the client closing mid-stream fires OnClientGone exactly once", "[http]") {
  std::atomic<int> gone_calls{0};
  std::atomic<bool> flag_seen{false};
  std::promise<void> gone;
  std::promise<bool> later_write;
  std::shared_ptr<Exchange> held;
  TestServer server([&](std::shared_ptr<Exchange> ex) {
    held = ex;
    ex->OnClientGone([&, ex] {
      if (++gone_calls == 1) gone.set_value();
      flag_seen = ex->client_gone();
      // Writes after the client left report failure instead of queueing forever.
      ex->Write("too late", [&](bool ok) { later_write.set_value(ok); });
      ex->EndStream();
    });
    ex->StartStream(200, "text/plain");
    ex->Write("first chunk");
  });
  {
    RawClient client(server.port());
    client.Send(Get("/"));
    CHECK(!client.ReadUntil("first chunk").empty());
  }  // closes the socket mid-stream
  REQUIRE(gone.get_future().wait_for(kWait) == std::future_status::ready);
  auto write_result = later_write.get_future();
  REQUIRE(write_result.wait_for(kWait) == std::future_status::ready);
  CHECK_FALSE(write_result.get());
  boost::asio::post(server.io_context(), [&] { held.reset(); });
  CHECK(gone_calls == 1);
  CHECK(flag_seen);
}

TEST_CASE("the client leaving before any answer fires OnClientGone", "[http]") {
  std::promise<void> gone;
  TestServer server([&](std::shared_ptr<Exchange> ex) {
    // Holds the exchange only through its own callback, as a long-running producer would.
    ex->OnClientGone([&gone, ex] { gone.set_value(); });
  });
  {
    RawClient client(server.port());
    client.Send(Get("/slow"));
  }
  REQUIRE(gone.get_future().wait_for(kWait) == std::future_status::ready);
}

TEST_CASE("OnClientGone registered after the client left still runs", "[http]") {
  std::promise<void> gone;
  std::promise<std::shared_ptr<Exchange>> got;
  TestServer server([&](std::shared_ptr<Exchange> ex) { got.set_value(ex); });
  auto exchange_future = got.get_future();
  {
    RawClient client(server.port());
    client.Send(Get("/"));
    REQUIRE(exchange_future.wait_for(kWait) == std::future_status::ready);
  }
  std::shared_ptr<Exchange> exchange = exchange_future.get();
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!exchange->client_gone() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  REQUIRE(exchange->client_gone());
  exchange->OnClientGone([&gone] { gone.set_value(); });
  CHECK(gone.get_future().wait_for(kWait) == std::future_status::ready);
  exchange.reset();
}

TEST_CASE("OnClientGone does not fire once the exchange has been answered", "[http]") {
  std::atomic<int> gone_calls{0};
  {
    TestServer server([&](std::shared_ptr<Exchange> ex) {
      ex->OnClientGone([&gone_calls] { ++gone_calls; });
      ex->Respond(200, "text/plain", "done");
    });
    RawClient client(server.port());
    client.Send(Get("/"));
    CHECK(client.ReadResponse().body == "done");
    client.Close();
  }  // the server drains completely here
  CHECK(gone_calls == 0);
}

TEST_CASE("an exchange dropped unanswered is answered with 500", "[http]") {
  TestServer server([](std::shared_ptr<Exchange>) {});
  RawClient client(server.port());
  client.Send(Get("/"));
  CHECK(client.ReadResponse().status == 500);
  client.Send(Get("/"));  // the connection survives
  CHECK(client.ReadResponse().status == 500);
}

TEST_CASE("an exception from the handler is answered with 500", "[http]") {
  TestServer server([](std::shared_ptr<Exchange>) { throw std::runtime_error("boom"); });
  RawClient client(server.port());
  client.Send(Get("/"));
  const Response response = client.ReadResponse();
  CHECK(response.status == 500);
  CHECK(response.body.find("boom") != std::string::npos);
}

TEST_CASE("Abort sends what was queued, then resets without the last chunk", "[http]") {
  TestServer server([](std::shared_ptr<Exchange> ex) {
    ex->StartStream(200, "text/plain");
    ex->Write("partial");
    ex->Abort();
  });
  RawClient client(server.port());
  client.Send(Get("/"));
  CHECK_FALSE(client.ReadUntil("\r\n\r\n").empty());
  CHECK(client.ReadUntil("partial\r\n") == "7\r\npartial\r\n");
  CHECK(client.WaitForClose());
  CHECK(client.buffered().find("0\r\n\r\n") == std::string::npos);
}

TEST_CASE("CloseMidChunk announces a chunk, sends part of it, then closes with FIN", "[http]") {
  std::promise<void> gone;
  TestServer server([&gone](std::shared_ptr<Exchange> ex) {
    ex->OnClientGone([&gone] { gone.set_value(); });
    ex->StartStream(200, "application/x-ndjson");
    ex->Write("{\"a\":1}\n");
    ex->CloseMidChunk("{\"b\":2}\n", 3);
  });
  RawClient client(server.port());
  client.Send(Get("/"));
  CHECK_FALSE(client.ReadUntil("\r\n\r\n").empty());
  CHECK(client.ReadUntil("{\"a\":1}\n\r\n") == "8\r\n{\"a\":1}\n\r\n");
  // The size line promises the whole 8-byte line; 3 bytes follow, then the end of the stream.
  CHECK(client.ReadUntil("\r\n") == "8\r\n");
  while (client.Fill()) {
  }
  CHECK(client.last_error() == 0);  // EOF (FIN), not ECONNRESET
  CHECK(client.buffered() == "{\"b");
  // The exchange ended by the handler's choice, not because the client left.
  CHECK(gone.get_future().wait_for(200ms) == std::future_status::timeout);
}

TEST_CASE("a second answer to the same exchange is ignored", "[http]") {
  TestServer server([](std::shared_ptr<Exchange> ex) {
    ex->Respond(200, "text/plain", "first");
    ex->Respond(500, "text/plain", "second");
    ex->Write("stray");
    ex->EndStream();
  });
  RawClient client(server.port());
  client.Send(Get("/") + Get("/"));
  CHECK(client.ReadResponse().body == "first");
  CHECK(client.ReadResponse().body == "first");
}

TEST_CASE("Stop closes idle connections and the pending exchanges see their client gone",
          "[http]") {
  std::atomic<int> gone{0};
  std::atomic<int> handled{0};
  auto server = std::make_unique<TestServer>([&](std::shared_ptr<Exchange> ex) {
    ex->OnClientGone([&gone, ex] { ++gone; });
    ++handled;
  });
  RawClient idle(server->port());
  RawClient first(server->port());
  RawClient second(server->port());
  first.Send(Get("/"));
  second.Send(Get("/"));
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (handled < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(1ms);
  }
  server.reset();  // Stop(), then the io_context must run dry
  CHECK(gone == 2);
  CHECK(idle.WaitForClose());
  CHECK(first.WaitForClose());
}

TEST_CASE("a kept-alive connection idle past the keep-alive timeout is closed", "[http]") {
  ServerOptions options;
  options.keepalive_timeout = 200ms;
  TestServer server(EchoHandler(), options);
  RawClient client(server.port());
  client.Send(Get("/"));
  CHECK(client.ReadResponse().status == 200);
  CHECK(client.WaitForClose());  // within the client's 10 s receive timeout
}

TEST_CASE("Listen reports an address that cannot be bound", "[http]") {
  boost::asio::io_context io_context;
  Server first(io_context, [](std::shared_ptr<Exchange>) {});
  REQUIRE(first.Listen("127.0.0.1", 0).ok());
  Server second(io_context, [](std::shared_ptr<Exchange>) {});
  const absl::Status status = second.Listen("127.0.0.1", first.port());
  CHECK(status.code() == absl::StatusCode::kUnavailable);
  CHECK(std::string(status.message()).find("127.0.0.1:" + std::to_string(first.port())) !=
        std::string::npos);
  CHECK(first.Listen("127.0.0.1", 0).code() == absl::StatusCode::kFailedPrecondition);
  first.Stop();
  second.Stop();
  io_context.run();
}

TEST_CASE("many concurrent streams are served by one io_context thread", "[http]") {
  constexpr int kClients = 200;
  struct Ticker : std::enable_shared_from_this<Ticker> {
    std::shared_ptr<Exchange> ex;
    boost::asio::steady_timer timer;
    int left = 5;
    explicit Ticker(std::shared_ptr<Exchange> e) : ex(std::move(e)), timer(ex->executor()) {}
    void Tick() {
      if (left-- == 0) {
        ex->EndStream();
        return;
      }
      ex->Write("tick\n");
      timer.expires_after(2ms);
      timer.async_wait([self = shared_from_this()](const boost::system::error_code& ec) {
        if (!ec) self->Tick();
      });
    }
  };
  TestServer server([](std::shared_ptr<Exchange> ex) {
    ex->StartStream(200, "text/plain");
    std::make_shared<Ticker>(ex)->Tick();
  });
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<RawClient>(server.port()));
    clients.back()->Send(Get("/"));
  }
  int complete = 0;
  for (auto& client : clients) {
    if (client->ReadResponse().body == "tick\ntick\ntick\ntick\ntick\n") ++complete;
  }
  CHECK(complete == kClients);
}

// Sends `piece` over and over (at most `limit` bytes) until the server answers or closes.
// Returns true if it did so before the limit.
bool SendUntilHeardBack(RawClient& client, std::string_view piece, std::size_t limit) {
  for (std::size_t sent = 0; sent < limit; sent += piece.size()) {
    if (client.HeardBack() || !client.TrySend(piece)) return true;
    std::this_thread::sleep_for(1ms);
  }
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (std::chrono::steady_clock::now() < deadline) {
    if (client.HeardBack()) return true;
    std::this_thread::sleep_for(1ms);
  }
  return false;
}

Handler CountingHandler(std::atomic<int>& handled) {
  return [&handled](std::shared_ptr<Exchange> ex) {
    ++handled;
    ex->Respond(200, "text/plain", "body=" + ex->request().body);
  };
}

TEST_CASE("a chunk-size line that never ends gets 400 after a few KiB, not buffered", "[http]") {
  std::atomic<int> handled{0};
  TestServer server(CountingHandler(handled));
  RawClient client(server.port());
  client.Send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n1;");
  // 1 MiB is well under max_body_bytes, so only the line cap can stop it.
  CHECK(SendUntilHeardBack(client, std::string(16 << 10, 'a'), 1 << 20));
  const Response response = client.ReadResponse();
  CHECK(response.status == 400);
  CHECK(response.Header("connection") == "close");
  CHECK(handled == 0);
}

TEST_CASE("a trailer block that never ends gets 431 after a few KiB, not buffered", "[http]") {
  std::atomic<int> handled{0};
  TestServer server(CountingHandler(handled));
  RawClient client(server.port());
  client.Send(
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3\r\nabc\r\n0\r\nX-Trailer: ");
  CHECK(SendUntilHeardBack(client, std::string(16 << 10, 'a'), 1 << 20));
  CHECK(client.ReadResponse().status == 431);
  CHECK(handled == 0);
}

TEST_CASE("a chunked body with extensions and trailers within the caps reaches the handler",
          "[http]") {
  TestServer server(EchoHandler());
  RawClient client(server.port());
  client.Send(
      "POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
      "3;name=value\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: " +
      std::string(2000, 't') + "\r\n\r\n");
  const Response response = client.ReadResponse();
  CHECK(response.status == 200);
  CHECK(response.body.find("body=abcde ") != std::string::npos);
}

TEST_CASE("an empty chunked body arriving a byte at a time reaches the handler", "[http]") {
  // Boost 1.74's parser asserted on the 4 bytes "0\r\n\r" (aborting Debug and sanitizer builds).
  TestServer server(EchoHandler());
  RawClient client(server.port());
  client.Send("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n");
  for (const char* byte : {"\r", "\n"}) {
    std::this_thread::sleep_for(50ms);  // so each byte is a read of its own
    client.Send(byte);
  }
  const Response response = client.ReadResponse();
  CHECK(response.status == 200);
  CHECK(response.body.find("body= ") != std::string::npos);
}

TEST_CASE("a Transfer-Encoding other than chunked gets 400", "[http]") {
  std::atomic<int> handled{0};
  TestServer server(CountingHandler(handled));
  for (const char* coding : {"gzip", "chunked, gzip", "identity", "gzip, chunked"}) {
    CAPTURE(coding);
    RawClient client(server.port());
    client.Send(std::string("POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: ") + coding +
                "\r\n\r\n5\r\nhello\r\n0\r\n\r\n");
    CHECK(client.ReadResponse().status == 400);
    CHECK(client.WaitForClose());
  }
  CHECK(handled == 0);
}

TEST_CASE("a request with both Content-Length and Transfer-Encoding gets 400", "[http]") {
  std::atomic<int> handled{0};
  TestServer server(CountingHandler(handled));
  RawClient client(server.port());
  client.Send(
      "POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5\r\nhello\r\n0\r\n\r\n");
  CHECK(client.ReadResponse().status == 400);
  CHECK(client.WaitForClose());
  CHECK(handled == 0);
}

TEST_CASE("headers trickled slower than the header timeout are cut off although bytes keep coming",
          "[http]") {
  ServerOptions options;
  options.header_timeout = 300ms;
  std::atomic<int> handled{0};
  TestServer server(CountingHandler(handled), options);
  RawClient client(server.port());
  client.Send("GET / HTTP/1.1\r\nHost: t\r\nX-Slow: ");
  // One byte every 50 ms for up to 10 s: a timer restarted by each byte would never fire.
  int sent = 0;
  bool closed = false;
  for (; sent < 200 && !closed; ++sent) {
    closed = !client.TrySend("a") || client.HeardBack();
    std::this_thread::sleep_for(50ms);
  }
  CHECK(closed);
  CHECK(sent > 3);                   // bytes were still coming when the server gave up
  CHECK(client.buffered().empty());  // closed without an answer
  CHECK(handled == 0);
}

TEST_CASE("a body that stops arriving is cut off by the body timeout", "[http]") {
  ServerOptions options;
  options.body_timeout = 200ms;
  std::atomic<int> handled{0};
  TestServer server(CountingHandler(handled), options);
  RawClient client(server.port());
  client.Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nabc");
  CHECK(client.WaitForClose());  // the header timeout (60 s) would be past the client's 10 s
  CHECK(handled == 0);
}

TEST_CASE("a body that keeps arriving outlives the body timeout", "[http]") {
  ServerOptions options;
  options.body_timeout = 300ms;
  TestServer server(EchoHandler(), options);
  RawClient client(server.port());
  client.Send("POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\n");
  // 10 bytes 100 ms apart: a second in all, more than three body timeouts.
  for (char c = '0'; c <= '9'; ++c) {
    std::this_thread::sleep_for(100ms);
    client.Send(std::string(1, c));
  }
  const Response response = client.ReadResponse();
  CHECK(response.status == 200);
  CHECK(response.body.find("body=0123456789 ") != std::string::npos);
}

TEST_CASE("a client that never reads a streamed response is reset by the write timeout and is gone",
          "[http]") {
  ServerOptions options;
  options.write_timeout = 200ms;
  std::promise<bool> gone;
  struct Producer : std::enable_shared_from_this<Producer> {
    std::shared_ptr<Exchange> ex;
    void Next() {
      ex->Write(std::string(64 << 10, 'x'), [self = shared_from_this()](bool ok) {
        if (ok) self->Next();
      });
    }
  };
  TestServer server(
      [&gone](std::shared_ptr<Exchange> ex) {
        ex->OnClientGone([&gone, ex] { gone.set_value(ex->client_gone()); });
        ex->StartStream(200, "text/plain");
        auto producer = std::make_shared<Producer>();
        producer->ex = ex;
        producer->Next();
      },
      options);
  RawClient client(server.port());
  client.Send(Get("/"));
  auto gone_future = gone.get_future();
  REQUIRE(gone_future.wait_for(kWait) == std::future_status::ready);
  CHECK(gone_future.get());
}

TEST_CASE("a pipelining client that never reads is reset by the write timeout", "[http]") {
  ServerOptions options;
  options.write_timeout = 200ms;
  constexpr int kRequests = 40;
  constexpr std::size_t kBodyBytes = 1 << 20;
  TestServer server(
      [](std::shared_ptr<Exchange> ex) {
        ex->Respond(200, "text/plain", std::string(kBodyBytes, 'x'));
      },
      options);
  RawClient client(server.port());
  std::string requests;
  for (int i = 0; i < kRequests; ++i) requests += Get("/");
  client.Send(requests);
  // 40 MiB of answers fill both sockets' buffers long before this ends, and the write stalls.
  std::this_thread::sleep_for(1s);
  while (client.Fill()) {
  }
  CHECK(client.last_error() == ECONNRESET);  // not EAGAIN: the receive timeout did not end it
  CHECK(client.buffered().size() < kRequests * kBodyBytes);
}

TEST_CASE("a connection beyond max_connections is refused and counted", "[http]") {
  ServerOptions options;
  options.max_connections = 2;
  std::atomic<int> refused{0};
  options.on_connection_refused = [&refused] { ++refused; };
  TestServer server(EchoHandler(), options);
  RawClient first(server.port());
  RawClient second(server.port());
  for (RawClient* client : {&first, &second}) {
    client->Send(Get("/"));
    CHECK(client->ReadResponse().status == 200);
  }
  RawClient third(server.port());
  const Response response = third.ReadResponse();
  CHECK(response.status == 503);
  CHECK(third.WaitForClose());
  CHECK(refused == 1);
  // The admitted ones are unaffected.
  first.Send(Get("/"));
  CHECK(first.ReadResponse().status == 200);
}

TEST_CASE("open_connections counts accepted connections until they close", "[http]") {
  boost::asio::io_context io_context;
  Server server(io_context, EchoHandler());
  REQUIRE(server.Listen("127.0.0.1", 0).ok());
  std::thread runner([&io_context] { io_context.run(); });
  auto wait_for_count = [&server](std::size_t expected) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (server.open_connections() != expected && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    return server.open_connections();
  };
  {
    RawClient first(server.port());
    RawClient second(server.port());
    first.Send(Get("/"));
    second.Send(Get("/"));
    CHECK(first.ReadResponse().status == 200);
    CHECK(second.ReadResponse().status == 200);
    CHECK(server.open_connections() == 2);
    first.Close();
    CHECK(wait_for_count(1) == 1);
  }
  CHECK(wait_for_count(0) == 0);
  server.Stop();
  runner.join();
}

// Admits requests with "Authorization: yes", answers the others 401, and records what it saw.
struct Gatekeeper {
  std::atomic<int> checks{0};
  std::mutex mu;
  std::vector<std::string> bodies;  // of the heads it saw: must be empty

  ServerOptions Options() {
    ServerOptions options;
    options.header_check = [this](const og::http::Request& head) {
      ++checks;
      {
        std::lock_guard<std::mutex> lock(mu);
        bodies.push_back(head.body);
      }
      if (head.Header("authorization") == "yes") return std::optional<og::http::EarlyResponse>();
      return std::optional<og::http::EarlyResponse>(og::http::EarlyResponse{
          401, "text/plain", "who are you?\n", {{"WWW-Authenticate", "Bearer"}}});
    };
    return options;
  }
};

TEST_CASE("a request refused by header_check gets the early answer instead of 100 Continue",
          "[http]") {
  Gatekeeper gatekeeper;
  std::atomic<int> handled{0};
  TestServer server(CountingHandler(handled), gatekeeper.Options());
  RawClient client(server.port());
  client.Send(
      "POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 100000\r\nExpect: 100-continue\r\n\r\n");
  const Response response = client.ReadResponse();
  CHECK(response.status == 401);
  CHECK(response.body == "who are you?\n");
  CHECK(response.Header("www-authenticate") == "Bearer");
  CHECK(response.Header("connection") == "close");
  CHECK(client.WaitForClose());  // the body is never waited for
  CHECK(handled == 0);
  CHECK(gatekeeper.checks == 1);
}

TEST_CASE("a request admitted by header_check gets 100 Continue and then reaches the handler",
          "[http]") {
  Gatekeeper gatekeeper;
  TestServer server(EchoHandler(), gatekeeper.Options());
  RawClient client(server.port());
  client.Send(
      "POST /up HTTP/1.1\r\nHost: t\r\nAuthorization: yes\r\nContent-Length: 5\r\n"
      "Expect: 100-continue\r\n\r\n");
  CHECK(client.ReadResponse().status == 100);
  client.Send("hello");
  const Response response = client.ReadResponse();
  CHECK(response.status == 200);
  CHECK(response.body.find("body=hello") != std::string::npos);
  CHECK(gatekeeper.checks == 1);
  std::lock_guard<std::mutex> lock(gatekeeper.mu);
  CHECK(gatekeeper.bodies == std::vector<std::string>{""});
}

TEST_CASE("a bodiless request refused by header_check keeps its connection", "[http]") {
  Gatekeeper gatekeeper;
  TestServer server(EchoHandler(), gatekeeper.Options());
  RawClient client(server.port());
  client.Send(Get("/"));
  const Response refused = client.ReadResponse();
  CHECK(refused.status == 401);
  CHECK(refused.Header("connection").empty());
  client.Send(Get("/", "Authorization: yes\r\n"));
  CHECK(client.ReadResponse().status == 200);
}

}  // namespace
