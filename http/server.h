// og::http: the project's one asynchronous HTTP/1.1 server, on Boost.Asio (and Beast, which stays
// out of this header so includers compile fast).
//
// A `Server` accepts connections on an `io_context` that the caller runs (one thread or many) and
// hands every request to a `Handler` as a `std::shared_ptr<Exchange>`. The handler answers at once
// or later, from any thread:
//
//   - with a whole response (`Exchange::Respond`), or
//   - with a streamed response (`StartStream`, any number of `Write`s, `EndStream`) sent with
//     chunked transfer encoding. Each `Write` reports when its bytes reached the kernel, which is
//     how a producer applies backpressure instead of buffering without bound.
//
// While an exchange is pending the server keeps a read outstanding on the socket, so a client that
// closes or resets its connection is noticed at once and reported through
// `Exchange::OnClientGone` (exactly once). That is what lets a producer stop work nobody waits for.
//
// Connections are kept alive (HTTP/1.1 rules; HTTP/1.0 only on request), HEAD requests get the
// headers without the body and `Expect: 100-continue` is honoured.
//
// The server faces hostile clients, so every byte it keeps and every phase of a connection is
// bounded (`ServerOptions` has the limits, with nginx-like defaults):
//
//   - What is buffered while a request is read: the request line and headers (431 past
//     `max_header_bytes`), one chunk-size line (400 past 4 KiB), the trailers (431 past 8 KiB),
//     the body (413 past `max_body_bytes`, or past what `body_limit` chose for the request). A
//     request with a Transfer-Encoding other than exactly `chunked`, or with both Transfer-Encoding
//     and Content-Length, gets 400 (RFC 9112 §6.3). After any of these answers the server reads and
//     drops at most 64 KiB of the rest for at most 2 s, so the client sees the answer rather than a
//     reset, and closes the connection.
//   - Time: the TLS handshake (`handshake_timeout`), the headers of a request
//     (`header_timeout`, from its first byte however slowly they trickle), each gap in its body
//     (`body_timeout`), a write that makes no progress (`write_timeout`), the wait for the next
//     request on a kept-alive connection (`keepalive_timeout`). A read timeout closes the
//     connection without an answer; a write timeout resets it. A handler still producing its
//     answer is never timed out; only its writes are, while they are stuck.
//   - Connections: at most `max_connections` open at once; one more is answered 503 (best
//     effort, without blocking) and closed, and `on_connection_refused` counts it.
//   - Work: `header_check` sees each request's line and headers before its body is read (and
//     before `100 Continue` is sent), so an unauthenticated client cannot make the server read,
//     buffer or wait for a body.
//
// TLS is optional (`ServerOptions::tls`): each accepted connection then asks for the current
// `boost::asio::ssl::context` once, completes a server-side TLS handshake within
// `ServerOptions::handshake_timeout`, and runs the same HTTP/1.1 state machine over the TLS
// stream. Asking per connection is what makes certificate reload work: whoever owns the context
// (tls::ServingCredentials in the gateway) swaps in a new one, new connections use it and
// established ones keep theirs. The TLS policy (versions, client certificates, ALPN) is entirely
// the context's; this library only reports the outcome: `Request::tls` and the verified client
// certificate in `Request::peer_certificate_der`. A failed handshake closes the connection
// silently; the handler never sees it. Asio's SSL headers stay out of this header.
//
// Example:
//
//   boost::asio::io_context ioc;
//   og::http::Server server(ioc, [](std::shared_ptr<og::http::Exchange> ex) {
//     ex->Respond(200, "text/plain; charset=utf-8", "hello\n");
//   });
//   if (absl::Status s = server.Listen("127.0.0.1", 0); !s.ok()) { ... }
//   ioc.run();
//
// The same over TLS, with the context `credentials` (a tls::ServingCredentials) serves now:
//
//   og::http::ServerOptions options;
//   options.tls = [&credentials] { return credentials.https_context(); };
//   og::http::Server server(ioc, handler, std::move(options));
#ifndef OLLAMA_GATEWAY_HTTP_SERVER_H_
#define OLLAMA_GATEWAY_HTTP_SERVER_H_

#include <atomic>
#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"

namespace boost::asio {
class io_context;
namespace ssl {
class context;
}  // namespace ssl
}  // namespace boost::asio

namespace og::http {

namespace internal {
class Connection;
class ServerCore;
}  // namespace internal

// Header fields as (name, value) pairs, in order.
using Headers = std::vector<std::pair<std::string, std::string>>;

// One parsed HTTP request. Immutable once the handler receives it, so any thread may read it.
struct Request {
  // "GET", "POST", ... as sent (HTTP methods are case-sensitive).
  std::string method;
  // The request target as sent, e.g. "/api/tags?x=1".
  std::string target;
  // `target` up to the first '?', not percent-decoded.
  std::string path;
  // `target` after the first '?' (without it); empty when there is none.
  std::string query;
  // 10 for HTTP/1.0, 11 for HTTP/1.1.
  int version = 11;
  // Header fields in arrival order; names are lower-cased, values as sent.
  Headers headers;
  // The whole body (the server reads it completely before calling the handler).
  std::string body;
  // The peer as "ip:port" ("[v6]:port" for IPv6).
  std::string remote;
  // True when the request came over TLS.
  bool tls = false;
  // The client certificate (DER bytes of the leaf) that the TLS handshake verified; empty for
  // plaintext and for TLS clients that presented none. The same for every request of a
  // connection. tls::PeerIdentityFromDer turns it into a subject and SANs.
  std::string peer_certificate_der;

  // The value of the first header named `lower_name` (which must be lower case), or "" when the
  // request has no such header.
  std::string_view Header(std::string_view lower_name) const;
};

// One request and its response. The server creates it and passes it to the `Handler`; whoever
// holds the last reference keeps the connection's state alive, nothing else.
//
// Thread-safety: every method may be called from any thread. The calls are carried out in order
// on the connection's thread (inline when the caller already runs there, which is the case inside
// the handler and in callbacks of timers made on `executor()`). Callbacks (`on_written`,
// `OnClientGone`) run on that thread too.
//
// Contract: answer each exchange exactly once, either with `Respond` or with `StartStream` ...
// `EndStream` (or `Abort` / `CloseMidChunk`). Calls that break the order (a second `Respond`, a
// `Write` before `StartStream`, anything after the end) are ignored. If the last reference to an
// unanswered exchange is dropped, the server answers 500 for it (or, if a stream had started,
// closes the connection) so the client is never left waiting.
class Exchange : public std::enable_shared_from_this<Exchange> {
 public:
  // Only the server can make the key, so only the server constructs exchanges.
  class Key {
    friend class internal::Connection;
    Key() = default;
  };
  Exchange(Key, std::shared_ptr<internal::Connection> connection, std::uint64_t sequence,
           Request request);
  ~Exchange();
  Exchange(const Exchange&) = delete;
  Exchange& operator=(const Exchange&) = delete;

  // The request. Valid for the lifetime of the exchange.
  const Request& request() const { return request_; }

  // Sends a whole response with `Content-Length`. `extra` headers are added as given (do not pass
  // Content-Length, Transfer-Encoding or Connection). For HEAD requests the body is not sent. The
  // connection is then reused for the next request unless the client asked to close it.
  void Respond(int status, std::string_view content_type, std::string body, Headers extra = {});

  // Headers added to whichever response this exchange sends (Respond or StartStream), after
  // that call's own `extra`: for headers decided from the request, such as CORS headers, that
  // every answer must carry, errors included. Call from the handler, before answering.
  void AddResponseHeaders(Headers headers);

  // Starts a streamed response: the status line and headers are queued now (with
  // `Transfer-Encoding: chunked`; for an HTTP/1.0 client the body is delimited by closing the
  // connection instead). Follow with `Write` calls and one `EndStream`.
  void StartStream(int status, std::string_view content_type, Headers extra = {});

  // Queues `data` as one chunk of a started stream. Writes are sent in call order; consecutive
  // writes made before the socket is ready are coalesced into one system call.
  // `on_written(true)` runs once the bytes have been handed to the kernel, `on_written(false)` if
  // they never will be (the client is gone or the exchange is over). Wait for it before producing
  // more to apply backpressure. Empty `data` sends nothing (but still reports).
  void Write(std::string data, std::function<void(bool ok)> on_written = {});

  // Ends a started stream with the terminating chunk. The connection is then reused for the next
  // request (unless the client asked to close it or spoke HTTP/1.0).
  void EndStream();

  // Gives up on the response: data already passed to `Write`/`StartStream` is sent, then the TCP
  // connection is reset (RST) without the terminating chunk. For handlers that fail mid-stream
  // and for fault injection. `OnClientGone` does not fire for it.
  void Abort();

  // Fault injection: cuts the HTTP framing itself. Sends the size line of a chunk announcing
  // `chunk.size()` bytes (at least one more than are sent), then only the first `sent_bytes` of
  // them, then closes the connection gracefully (FIN, not RST), as a backend process that dies
  // mid-write does. Data already passed to `Write` goes first. The client sees a body that ends
  // inside a chunk. Without chunked encoding (an HTTP/1.0 client) the bytes are sent and the
  // connection closed, which such a client cannot tell from a complete body. `OnClientGone` does
  // not fire.
  void CloseMidChunk(std::string chunk, std::size_t sent_bytes);

  // Registers `callback` to run once, on the connection's thread, if the client closes or resets
  // the connection (or the server stops) before this exchange has been answered completely. A
  // client that only shuts down its sending side counts as gone too, as with Go's net/http (and so
  // Ollama). If the client is already gone, `callback` is scheduled at once. It never runs after
  // `Respond`/`EndStream`/`Abort`/`CloseMidChunk` have been called. A later call replaces an
  // earlier callback that has not run yet. The callback is released when the exchange ends, which
  // breaks reference cycles through it (a producer may hold the exchange and be held by its
  // callback).
  void OnClientGone(std::function<void()> callback);

  // True once the server knows the client is gone. Any thread; may lag a little behind the
  // callback.
  bool client_gone() const { return client_gone_.load(std::memory_order_acquire); }

  // The connection's executor, for the handler's timers and posted work; everything run on it is
  // serialized with this exchange's callbacks.
  boost::asio::any_io_executor executor() const;

 private:
  friend class internal::Connection;

  std::shared_ptr<internal::Connection> connection_;
  std::uint64_t sequence_;  // which request of the connection this is
  Request request_;
  std::atomic<bool> client_gone_{false};
  std::atomic<bool> ended_{false};  // the handler called Respond/EndStream/Abort
  Headers response_headers_;        // AddResponseHeaders
};

// Called on the connection's thread for every complete request. It must not block; it may keep
// the exchange and answer later from any thread. An exception it throws is answered with 500.
using Handler = std::function<void(std::shared_ptr<Exchange>)>;

// An answer `ServerOptions::header_check` gives instead of letting the request through.
struct EarlyResponse {
  int status = 401;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  // Added as given (do not pass Content-Length, Transfer-Encoding or Connection).
  Headers headers;
};

// What one request's body may hold (`ServerOptions::body_limit`).
struct BodyLimit {
  // At most `ServerOptions::max_body_bytes`, which bounds every request; a larger value is
  // lowered to it.
  std::size_t max_bytes = 0;
  // The answer for a body over `max_bytes` (413 by convention), whether its Content-Length says
  // so before it is read or its chunks pass the limit as they come. It should name the limit.
  EarlyResponse too_large;
};

// Limits of a server, with nginx-like defaults (the nginx directive each follows is named). Every
// timeout is a duration > 0.
struct ServerOptions {
  // Largest request body accepted (Content-Length or the sum of the chunks); larger ones get 413
  // and the connection is closed. A declared Content-Length over it is refused before any of the
  // body is read. nginx: client_max_body_size.
  std::size_t max_body_bytes = 16 << 20;
  // Largest request line plus headers; larger ones get 431 and the connection is closed. (A
  // chunk-size line is capped at 4 KiB (400) and trailers at 8 KiB (431), fixed.) nginx:
  // large_client_header_buffers.
  std::size_t max_header_bytes = 64 << 10;
  // How long a request's line and headers may take, from the connection's start (the end of the
  // TLS handshake) or the first byte of a later request, until they are complete. Bytes that keep
  // trickling in do not extend it (slowloris). Past it the connection is closed without an answer.
  // nginx: client_header_timeout.
  std::chrono::milliseconds header_timeout{60'000};
  // The longest gap between two reads of a request body; every read that brings body bytes
  // restarts it. Past it the connection is closed without an answer and the handler never sees
  // the request. nginx: client_body_timeout.
  std::chrono::milliseconds body_timeout{60'000};
  // How long a write of the response may make no progress (the client does not read) before the
  // connection is reset; a pending exchange then sees its client as gone (`OnClientGone`). This is
  // also what bounds a client that pipelines requests and never reads their answers. A handler
  // that is slow to produce is not affected: only a write that is under way and stuck counts.
  // nginx: send_timeout.
  std::chrono::milliseconds write_timeout{60'000};
  // How long a kept-alive connection may wait for the first byte of its next request before it is
  // closed (silently, as HTTP allows between requests). nginx: keepalive_timeout.
  std::chrono::milliseconds keepalive_timeout{75'000};
  // Serve TLS instead of plaintext. Called once per accepted connection, on that connection's
  // thread, for the context to handshake with; the connection keeps it until it closes. So it
  // must be cheap and thread-safe (e.g. copy a shared_ptr under a mutex), and returning a new
  // context is how new certificates reach new connections. A null result closes the connection
  // (a TLS port never falls back to plaintext). Unset: plaintext.
  std::function<std::shared_ptr<boost::asio::ssl::context>()> tls;
  // How long a TLS client has to complete its handshake; the header timeout starts after it.
  // Short because until then nobody is authenticated, yet each pending handshake holds a
  // descriptor and an SSL object: 10 s covers a few round trips on the slowest honest link.
  std::chrono::milliseconds handshake_timeout{10'000};
  // Most connections open at once (0: unlimited). A connection accepted beyond it gets a
  // `503 Service Unavailable` if the socket takes it at once (never waited for) and is closed;
  // the client may see only the close. nginx: worker_connections.
  std::size_t max_connections = 10'000;
  // Called on the acceptor's thread for every connection refused by `max_connections`, e.g. to
  // count them. Must not block. Unset: nothing is called.
  std::function<void()> on_connection_refused;
  // Called on the connection's thread once a request's line and headers are complete, before its
  // body is read and before `100 Continue` is sent; `head` has everything but `body`. Returning a
  // response answers the request with it at once and the handler never sees the request. If the
  // request has a body, it is then not read: at most 64 KiB more are read and dropped for at most
  // 2 s (so the client sees the answer rather than a reset) and the connection is closed; a
  // bodiless request keeps its connection as usual. Returning nullopt lets the request through.
  // Must not block; an exception it throws is answered with 500. Unset: every request passes.
  std::function<std::optional<EarlyResponse>(const Request& head)> header_check;
  // Called on the connection's thread after a request's head passed `header_check` and before
  // its body is read, to choose the request's body limit from its head (a larger limit for the
  // endpoints that carry images, say). A Content-Length over `max_body_bytes` was already
  // refused with a plain 413 before this is asked. Must not block; an exception it throws is
  // answered with 500. Unset: every request may send up to `max_body_bytes`.
  std::function<BodyLimit(const Request& head)> body_limit;
  // Where accepted connections live: each is placed on the next of these io_contexts in turn
  // (its I/O and every callback of its exchanges run there). For a server whose connections
  // share single-threaded worker loops with other work (the gateway's workers, which also run the
  // backend requests). Each must be run by one thread and outlive the connections it holds.
  // Empty: the server's own io_context.
  std::vector<boost::asio::io_context*> connection_contexts;
};

// An HTTP/1.1 listener on a caller-run `io_context`.
//
// Thread-safety: `Listen`, `port` and `Stop` may be called from any thread. The `io_context`
// (and each of `ServerOptions::connection_contexts`) must be run by exactly one thread: a
// connection's work is serialized by running on its io_context's thread, not on a strand.
// Connections and exchanges do not point back to the `Server` object, so it may be destroyed
// while they drain; once the destructor has returned, neither the handler nor any other callback
// of `ServerOptions` is called again (it waits for calls in progress). The `io_context` must
// outlive the `Server`.
class Server {
 public:
  // `handler` is called for every request. Nothing listens until `Listen`.
  Server(boost::asio::io_context& io_context, Handler handler, ServerOptions options = {});
  // Stops listening and closes every connection (see `Stop`), then waits for the handler and the
  // options' callbacks to return wherever they are running; they are not called again.
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds `host` (an IP address or a name resolved now, e.g. "localhost") and `port` (0 picks a
  // free port; see `port()`) and starts accepting. Fails with the address and the system's reason
  // if the address cannot be resolved or bound, or if the server already listens.
  absl::Status Listen(std::string_view host, std::uint16_t port);

  // The bound port once `Listen` succeeded, else 0.
  std::uint16_t port() const;

  // Stops accepting and closes every connection; exchanges still pending see their client as
  // gone. Returns at once; the work is done on the `io_context`, which then runs out of work
  // once handlers release what they hold. Idempotent.
  void Stop();

  // How many connections are open now (accepted and not yet closed), e.g. for a gauge. Any thread.
  std::size_t open_connections() const;

 private:
  std::shared_ptr<internal::ServerCore> core_;
};

}  // namespace og::http

#endif  // OLLAMA_GATEWAY_HTTP_SERVER_H_
