#include "http/server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "http/connection.h"

namespace og::http {

namespace net = boost::asio;
using boost::system::error_code;
using net::ip::tcp;

std::string_view Request::Header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return value;
  }
  return {};
}

namespace internal {

ServerCore::ServerCore(net::io_context& io_context, Handler handler, ServerOptions options)
    : io_context_(io_context),
      handler_(std::move(handler)),
      options_(options),
      executor_(io_context.get_executor()),
      acceptor_(executor_),
      retry_timer_(executor_) {}

absl::Status ServerCore::Listen(std::string_view host, std::uint16_t port) {
  const std::string where = absl::StrCat(std::string(host), ":", port);
  error_code ec;
  tcp::endpoint endpoint;
  const auto address = net::ip::make_address(std::string(host), ec);
  if (!ec) {
    endpoint = tcp::endpoint(address, port);
  } else {
    tcp::resolver resolver(io_context_);
    const auto results =
        resolver.resolve(std::string(host), std::to_string(port), tcp::resolver::passive, ec);
    if (ec || results.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot resolve listen address ", where, ": ", ec.message()));
    }
    endpoint = results.begin()->endpoint();
  }

  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return absl::FailedPreconditionError("server already stopped");
  if (listening_) return absl::FailedPreconditionError("server already listening");
  auto fail = [&](const char* step) {
    error_code ignored;
    acceptor_.close(ignored);
    return absl::UnavailableError(absl::StrCat(step, " ", where, ": ", ec.message()));
  };
  if (acceptor_.open(endpoint.protocol(), ec)) return fail("cannot open a socket for");
  if (acceptor_.set_option(tcp::acceptor::reuse_address(true), ec)) {
    return fail("cannot set SO_REUSEADDR on");
  }
  if (acceptor_.bind(endpoint, ec)) return fail("cannot bind");
  if (acceptor_.listen(net::socket_base::max_listen_connections, ec)) {
    return fail("cannot listen on");
  }
  port_.store(acceptor_.local_endpoint(ec).port(), std::memory_order_release);
  listening_ = true;
  net::dispatch(executor_, [self = shared_from_this()] { self->Accept(); });
  return absl::OkStatus();
}

void ServerCore::Accept() {
  const auto& contexts = options_.connection_contexts;
  net::io_context& home =
      contexts.empty()
          ? io_context_
          : *contexts[next_context_.fetch_add(1, std::memory_order_relaxed) % contexts.size()];
  const Executor executor = home.get_executor();
  acceptor_.async_accept(
      executor, [self = shared_from_this(), executor](const error_code& ec, tcp::socket socket) {
        if (ec == net::error::operation_aborted || !self->acceptor_.is_open()) return;
        if (ec) {
          // Typically EMFILE: back off a little instead of spinning on a full descriptor table.
          self->retry_timer_.expires_after(std::chrono::milliseconds(50));
          self->retry_timer_.async_wait([self](const error_code& wait_ec) {
            if (!wait_ec) self->Accept();
          });
          return;
        }
        const std::size_t limit = self->options_.max_connections;
        if (limit != 0 && self->open_.load(std::memory_order_acquire) >= limit) {
          self->Refuse(socket);
          self->Accept();
          return;
        }
        // Counted here rather than when the connection starts on its thread, so a burst of
        // accepts cannot overshoot the limit; ~Connection uncounts it.
        self->open_.fetch_add(1, std::memory_order_acq_rel);
        auto connection = std::make_shared<Connection>(self, executor, std::move(socket));
        net::dispatch(executor, [connection] { connection->Start(); });
        self->Accept();
      });
}

void ServerCore::CloseCallbacks() {
  callbacks_closed_.store(true, std::memory_order_seq_cst);
  // Callbacks are short (they must not block): a spin with yields is enough.
  while (in_callbacks_.load(std::memory_order_acquire) > 0) std::this_thread::yield();
}

void ServerCore::Refuse(tcp::socket& socket) {
  // A fresh socket's send buffer is empty, so a non-blocking send of a few bytes goes out whole
  // or not at all; the acceptor never waits for a client it refuses. A client that already sent
  // its request may see a reset instead (its bytes are unread at the close): the 503 is a
  // courtesy, the close is the point.
  static constexpr std::string_view kBusy =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Length: 34\r\nConnection: close\r\n\r\n"
      "503 Service Unavailable: too busy\n";
  // Counted first, so whoever sees the refusal also sees it counted.
  if (options_.on_connection_refused) {
    const CallbackScope scope(*this);
    if (scope.open()) options_.on_connection_refused();
  }
  error_code ec;
  socket.non_blocking(true, ec);
  if (!ec) socket.write_some(net::buffer(kBusy.data(), kBusy.size()), ec);
  socket.shutdown(tcp::socket::shutdown_both, ec);
  socket.close(ec);
}

void ServerCore::Stop() {
  std::vector<std::shared_ptr<Connection>> open;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) return;
    stopped_ = true;
    open.reserve(connections_.size());
    for (Connection* connection : connections_) {
      // A connection whose destructor waits for mu_ yields nothing here.
      if (auto alive = connection->weak_from_this().lock()) open.push_back(std::move(alive));
    }
  }
  net::dispatch(executor_, [self = shared_from_this()] {
    std::lock_guard<std::mutex> lock(self->mu_);
    error_code ignored;
    self->acceptor_.close(ignored);
    self->retry_timer_.cancel();
  });
  for (const auto& connection : open) connection->Shutdown();
}

bool ServerCore::Register(Connection* connection) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_) return false;
  connections_.insert(connection);
  return true;
}

void ServerCore::Unregister(Connection* connection) {
  std::lock_guard<std::mutex> lock(mu_);
  connections_.erase(connection);
}

}  // namespace internal

Server::Server(net::io_context& io_context, Handler handler, ServerOptions options)
    : core_(std::make_shared<internal::ServerCore>(io_context, std::move(handler), options)) {}

Server::~Server() {
  Stop();
  core_->CloseCallbacks();
}

absl::Status Server::Listen(std::string_view host, std::uint16_t port) {
  return core_->Listen(host, port);
}

std::uint16_t Server::port() const { return core_->port(); }

void Server::Stop() { core_->Stop(); }

std::size_t Server::open_connections() const { return core_->open_connections(); }

}  // namespace og::http
