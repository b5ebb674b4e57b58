// What the upstream client's loops hold besides requests: a connection to a backend (plain or
// TLS, with its read buffer), and the TLS client contexts those connections are made with. Used
// by event_loop.cc only.
#ifndef OLLAMA_GATEWAY_GATEWAY_UPSTREAM_CONNECTION_H_
#define OLLAMA_GATEWAY_GATEWAY_UPSTREAM_CONNECTION_H_

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "gateway/upstream/request.h"

namespace og {

// The TLS client contexts of one loop, one per TLS identity (CA, client certificate, key,
// verification). Loop thread only.
class TlsContexts {
 public:
  // The identity's key: connections are pooled per origin and key, so a connection made with
  // one client certificate is never reused for another. Null `tls` is the system store.
  static std::string Key(const UpstreamTls* tls);

  // The context for `tls` (whose Key is `key`), for a new connection: made on first use (TLS 1.2
  // and newer, verifying unless tls->verify is false), and made again when one of its files
  // changed since (a rotated certificate reaches the next connection). Null with `error` naming
  // the file if one cannot be used.
  std::shared_ptr<boost::asio::ssl::context> Get(const UpstreamTls* tls, const std::string& key,
                                                 std::string* error);

 private:
  struct Made {
    std::string files;  // the files' modification times and sizes when it was made
    std::shared_ptr<boost::asio::ssl::context> context;
  };
  std::unordered_map<std::string, Made> contexts_;
};

// One connection to a backend, plain or TLS, with its read buffer. A connection belongs to one
// request at a time, or to its loop's idle pool. Loop thread only.
struct UpstreamConnection {
  UpstreamConnection(boost::asio::io_context& io, std::string pool_key)
      : socket(io), key(std::move(pool_key)) {}

  template <typename Handler>
  void ReadSome(boost::asio::mutable_buffer buffer, Handler&& handler) {
    if (tls) {
      tls->async_read_some(buffer, std::forward<Handler>(handler));
    } else {
      socket.async_read_some(buffer, std::forward<Handler>(handler));
    }
  }
  template <typename Buffers, typename Handler>
  void Write(const Buffers& buffers, Handler&& handler) {
    if (tls) {
      boost::asio::async_write(*tls, buffers, std::forward<Handler>(handler));
    } else {
      boost::asio::async_write(socket, buffers, std::forward<Handler>(handler));
    }
  }
  // Closes the socket; pending operations complete, cancelled.
  void Close();
  // Whether an idle connection still looks usable: the backend has not closed it, and (plain
  // HTTP) sent nothing unasked. A TLS connection may hold a late session ticket, so unread bytes
  // do not condemn it; if it did close, the request is retried on a fresh connection.
  bool LooksOpen();

  boost::asio::ip::tcp::socket socket;
  std::shared_ptr<boost::asio::ssl::context> tls_context;  // outlives `tls`
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls;
  const std::string key;  // origin and TLS identity: the pool it goes back to
  std::vector<char> buffer;
  std::size_t begin = 0;  // unparsed bytes are buffer[begin, end)
  std::size_t end = 0;
  std::chrono::steady_clock::time_point idle_since;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_UPSTREAM_CONNECTION_H_
