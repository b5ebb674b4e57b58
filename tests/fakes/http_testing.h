// Shared by the og::http tests: a Server on 127.0.0.1:0 whose io_context runs on a thread of its
// own, and a client socket to it.
#ifndef OLLAMA_GATEWAY_TESTS_FAKES_HTTP_TESTING_H_
#define OLLAMA_GATEWAY_TESTS_FAKES_HTTP_TESTING_H_

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <future>
#include <memory>
#include <thread>
#include <utility>

#include "http/server.h"

namespace og::http::testing {

constexpr std::chrono::seconds kWait{10};  // generous: only a broken server takes this long

// A Server on 127.0.0.1:0 whose io_context runs on a thread of its own. The destructor stops
// the server and requires the io_context to run out of work, which proves nothing leaks work.
class TestServer {
 public:
  explicit TestServer(Handler handler, ServerOptions options = {})
      : server_(std::make_unique<Server>(io_context_, std::move(handler), options)) {
    const absl::Status status = server_->Listen("127.0.0.1", 0);
    REQUIRE(status.ok());
    thread_ = std::thread([this] {
      io_context_.run();
      drained_.set_value();
    });
  }
  ~TestServer() {
    server_->Stop();
    auto drained = drained_.get_future();
    const bool ran_dry = drained.wait_for(kWait) == std::future_status::ready;
    if (!ran_dry) io_context_.stop();
    thread_.join();
    server_.reset();
    CHECK(ran_dry);
  }
  std::uint16_t port() const { return server_->port(); }
  boost::asio::io_context& io_context() { return io_context_; }

 private:
  boost::asio::io_context io_context_;
  std::unique_ptr<Server> server_;
  std::promise<void> drained_;
  std::thread thread_;
};

// A blocking TCP connection to 127.0.0.1:`port` with a 10 s receive timeout; the caller closes
// the descriptor.
inline int ConnectLoopback(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval timeout{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  return fd;
}

}  // namespace og::http::testing

#endif  // OLLAMA_GATEWAY_TESTS_FAKES_HTTP_TESTING_H_
