// Internal to og::http: one accepted TCP connection and the listener that makes them. Only the
// library's .cc files include this header (it pulls in Beast and Asio's SSL).
//
// A connection is a small state machine run on its io_context's one thread:
//
//   kHandshaking (TLS only) ──handshake done──▶ kReading
//
//   kReading ──request parsed──▶ kActive ──Respond / EndStream / Abort──▶ kFinishing
//      ▲                                                                      │
//      └────────── response flushed, keep-alive ◀─────────────────────────────┘
//
// and kDraining (an error response was sent; the rest of the request is read and dropped for a
// short while so the client sees the response rather than a reset) and kClosed.
//
// kReading has phases, each with its own timeout on `read_deadline_`: kIdle (a kept-alive
// connection waits for the next request: keepalive_timeout), kHeader (from the first byte, or the
// connection's start, until the headers are complete: header_timeout, never extended by bytes
// that trickle in) and kBody (body_timeout, restarted by every read). In kActive and kFinishing no
// read timer runs (a handler may take its time); a write that makes no progress is bounded by
// `write_deadline_` in every state.
//
// One read is kept outstanding in every state but kClosed. While a request is being answered that
// read is how the server notices the client leaving; bytes it brings (a pipelined request) wait
// in `in_` until the response is out, at most kMaxReadAhead of them. Reads land in `scratch_` and
// are then appended to `in_`, so the parser may consume `in_` while a read is outstanding; an
// 8 KiB scratch buffer while a request is read, 256 bytes while it is answered. While
// reading a request `in_` holds only what the RequestReader left unconsumed, which it caps.
#ifndef OLLAMA_GATEWAY_HTTP_CONNECTION_H_
#define OLLAMA_GATEWAY_HTTP_CONNECTION_H_

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "http/request_reader.h"
#include "http/server.h"

namespace og::http::internal {

// Where a connection (or the acceptor) runs: its io_context's executor, not a strand. Every
// io_context the server uses is run by exactly one thread (server.h), which serializes a
// connection's work as a strand would, without a strand's lock, queue and second trip through
// the scheduler for every completion.
using Executor = boost::asio::io_context::executor_type;

// The listener and what every connection shares. Connections hold it by shared_ptr, so it
// outlives the `Server` object while they drain.
class ServerCore : public std::enable_shared_from_this<ServerCore> {
 public:
  ServerCore(boost::asio::io_context& io_context, Handler handler, ServerOptions options);

  absl::Status Listen(std::string_view host, std::uint16_t port);
  std::uint16_t port() const { return port_.load(std::memory_order_acquire); }
  void Stop();

  const Handler& handler() const { return handler_; }
  const ServerOptions& options() const { return options_; }

  // The handler and the options' callbacks are called only inside a CallbackScope that is
  // open(): once Close() has run, none is entered and Close() has waited for those in progress,
  // so the owner of what they point to may go. Any thread.
  class CallbackScope {
   public:
    explicit CallbackScope(ServerCore& core) : core_(core) {
      core_.in_callbacks_.fetch_add(1, std::memory_order_seq_cst);
      open_ = !core_.callbacks_closed_.load(std::memory_order_seq_cst);
    }
    ~CallbackScope() { core_.in_callbacks_.fetch_sub(1, std::memory_order_release); }
    CallbackScope(const CallbackScope&) = delete;
    CallbackScope& operator=(const CallbackScope&) = delete;
    bool open() const { return open_; }

   private:
    ServerCore& core_;
    bool open_;
  };
  void CloseCallbacks();

  // Connections register while open so Stop can close them. Register returns false once
  // stopped. Any thread.
  bool Register(Connection* connection);
  void Unregister(Connection* connection);

  // Open connections: counted from accept to the Connection's destruction. Any thread.
  std::size_t open_connections() const { return open_.load(std::memory_order_acquire); }
  void ConnectionDestroyed() { open_.fetch_sub(1, std::memory_order_acq_rel); }

 private:
  void Accept();
  // Refuses `socket` beyond max_connections: a 503 if it fits in the socket at once, then close.
  void Refuse(boost::asio::ip::tcp::socket& socket);

  boost::asio::io_context& io_context_;
  const Handler handler_;
  const ServerOptions options_;
  Executor executor_;  // the acceptor's (the server's io_context)
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;  // backs off when accept fails (out of descriptors)
  std::atomic<std::uint16_t> port_{0};
  std::atomic<std::size_t> open_{0};
  std::atomic<std::size_t> next_context_{0};  // options_.connection_contexts, in turn
  std::atomic<int> in_callbacks_{0};
  std::atomic<bool> callbacks_closed_{false};

  std::mutex mu_;  // guards the fields below and the acceptor's open/bind/close
  bool listening_ = false;
  bool stopped_ = false;
  std::unordered_set<Connection*> connections_;
};

// A connection's byte stream: a TCP socket, or TLS over one. One type for both keeps one code
// path in Connection; only the handshake and the peer certificate are TLS-specific. Like the
// socket it wraps, it is used on the connection's thread only, with at most one read and one
// write in flight (which is also all that Asio's ssl::stream allows).
class Stream {
 public:
  // Plaintext until UseTls.
  explicit Stream(boost::asio::ip::tcp::socket socket) : plain_(std::move(socket)) {}

  // Moves the socket under a TLS stream made from `context`, which the stream keeps alive.
  // Call once, before any I/O.
  void UseTls(std::shared_ptr<boost::asio::ssl::context> context);
  bool is_tls() const { return tls_.has_value(); }

  // The TCP socket underneath, for socket options, shutdown and close.
  boost::asio::ip::tcp::socket& tcp() { return tls_ ? tls_->next_layer() : *plain_; }

  // The server side of the TLS handshake; requires UseTls.
  template <typename Handler>
  void AsyncHandshake(Handler&& handler) {
    tls_->async_handshake(boost::asio::ssl::stream_base::server, std::forward<Handler>(handler));
  }

  // The DER bytes of the client certificate the handshake verified, or "" (plaintext, no
  // certificate, or one that did not verify).
  std::string PeerCertificateDer();

  template <typename MutableBuffers, typename Handler>
  void AsyncReadSome(const MutableBuffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_read_some(buffers, std::forward<Handler>(handler));
    } else {
      plain_->async_read_some(buffers, std::forward<Handler>(handler));
    }
  }

  // Writes some of `buffers`. One call at a time, so the caller sees each bit of progress (the
  // write timeout is about progress, not about the whole response).
  template <typename ConstBuffers, typename Handler>
  void AsyncWriteSome(const ConstBuffers& buffers, Handler&& handler) {
    if (tls_) {
      tls_->async_write_some(buffers, std::forward<Handler>(handler));
    } else {
      plain_->async_write_some(buffers, std::forward<Handler>(handler));
    }
  }

 private:
  using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

  // Exactly one of plain_ and tls_ is engaged. The context is declared first so it outlives
  // the SSL stream built on it.
  std::shared_ptr<boost::asio::ssl::context> context_;
  std::optional<boost::asio::ip::tcp::socket> plain_;
  std::optional<TlsStream> tls_;
};

class Connection;

// A time bound of a connection that moves often (every request phase, every write) on a timer
// that is seldom re-armed. Re-arming a timer cancels its wait, and a cancelled wait still runs its
// handler (an allocation and a trip through the loop). Instead, a wait already pending that ends
// no later than the new deadline is kept, and when it fires before the deadline it waits again
// for the rest; so a kept-alive connection's requests (each an idle, a header and a body phase)
// and a stream's writes re-arm nothing once the earliest expiry is set. Used on the connection's
// thread only; a pending wait holds the connection.
class Deadline {
 public:
  using OnExpire = void (Connection::*)();
  Deadline(Connection& owner, OnExpire on_expire);

  // Moves the deadline to `after` from now: `on_expire` runs once it passes, unless Disarm,
  // Cancel or a later Arm came first.
  void Arm(std::chrono::steady_clock::duration after);
  // No deadline; a pending wait ends at its time without calling `on_expire` (no cancel).
  void Disarm() { deadline_ = kNone; }
  // Disarms and cancels the pending wait, so it lets go of the connection now (on close).
  void Cancel();

 private:
  static constexpr std::chrono::steady_clock::time_point kNone =
      std::chrono::steady_clock::time_point::max();

  void Wait();

  Connection& owner_;
  const OnExpire on_expire_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_ = kNone;
  std::uint64_t generation_ = 0;  // tells a wait's handler whether a later wait replaced it
  bool waiting_ = false;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(std::shared_ptr<ServerCore> core, Executor executor,
             boost::asio::ip::tcp::socket socket);
  ~Connection();

  // Starts reading requests. Call on the connection's thread, once.
  void Start();
  // Closes the connection; a pending exchange sees its client as gone. Any thread.
  void Shutdown();
  const Executor& executor() const { return executor_; }
  bool closed() const { return closed_.load(std::memory_order_acquire); }

  // The connection-side halves of the Exchange methods (run on its thread). `exchange` must belong
  // to this connection.
  void Respond(std::shared_ptr<Exchange> exchange, int status, std::string content_type,
               std::string body, Headers extra);
  void StartStream(std::shared_ptr<Exchange> exchange, int status, std::string content_type,
                   Headers extra);
  void Write(std::shared_ptr<Exchange> exchange, std::string data,
             std::function<void(bool)> on_written);
  void EndStream(std::shared_ptr<Exchange> exchange);
  void Abort(std::shared_ptr<Exchange> exchange);
  void CloseMidChunk(std::shared_ptr<Exchange> exchange, std::string chunk, std::size_t sent_bytes);
  void OnClientGone(std::shared_ptr<Exchange> exchange, std::function<void()> callback);
  // The exchange numbered `sequence` was destroyed; answer for it if the handler did not.
  void Abandoned(std::uint64_t sequence);

 private:
  enum class State { kHandshaking, kReading, kActive, kFinishing, kDraining, kClosed };
  enum class Reply { kNone, kStreaming, kDone };
  enum class CloseKind { kGraceful, kAbortive };
  enum class ReadPhase { kIdle, kHeader, kBody };

  bool IsCurrent(const Exchange& exchange) const;
  void StartTls();
  void OnHandshake(const boost::system::error_code& ec);
  void BeginRequest(ReadPhase phase);
  void EnterPhase(ReadPhase phase);
  void Read();
  // Gives scratch_ back to the thread's spare list (or frees it). Not while a read uses it.
  void ReturnScratch();
  void OnRead(const boost::system::error_code& ec, std::size_t bytes);
  void ParseBuffered();
  void OnHeaderDone();
  // ServerOptions::header_check's answer for the head just read, if it refuses it.
  std::optional<EarlyResponse> CheckHead();
  // Asks ServerOptions::body_limit for the request's limit and applies it; the answer to send
  // at once when the request cannot proceed (its Content-Length is over the limit, or the
  // callback failed).
  std::optional<EarlyResponse> ChooseBodyLimit();
  void MaybeSendContinue();
  void Reject(int status);
  // Answers the request being read without reading the rest of it. `complete` says the whole
  // request was read, so the connection may be kept alive.
  void Refuse(int status, std::string_view content_type, std::string_view body,
              const Headers& extra, bool complete);
  void Dispatch();
  void DoRespond(int status, std::string_view content_type, std::string_view body,
                 const Headers& extra);
  void EndExchange(Exchange* exchange);
  void ScheduleFlush();
  void Flush();
  void WriteSome();
  void OnWriteSome(const boost::system::error_code& ec, std::size_t bytes);
  // write_deadline_ passed: the client takes nothing.
  void OnWriteDeadline();
  void RunCallbacks(std::vector<std::function<void(bool)>>& callbacks, bool ok);
  void AfterFlushed();
  // read_deadline_ passed: the handshake, a read phase or the drain took too long.
  void OnReadDeadline();
  void Close(CloseKind kind);

  // Reads land in scratch_ (kScratchBytes, lent from a per-thread spare list while a request is
  // read) or, while a request is answered, in watch_: a read outstanding uses scratch_ if it is
  // held, since only Read, with no read outstanding, takes or returns it.
  static constexpr std::size_t kScratchBytes = 8192;
  static constexpr std::size_t kWatchBytes = 256;

  const std::shared_ptr<ServerCore> core_;
  Executor executor_;
  Stream stream_;
  Deadline read_deadline_;   // the read phases, the handshake, the drain
  Deadline write_deadline_;  // a write in flight that makes no progress
  std::string remote_;
  std::string peer_certificate_der_;  // set once the TLS handshake is done
  std::atomic<bool> closed_{false};

  State state_ = State::kReading;
  bool reading_ = false;
  bool writing_ = false;
  bool flush_posted_ = false;
  bool continue_sent_ = false;
  ReadPhase phase_ = ReadPhase::kHeader;
  std::size_t drained_bytes_ = 0;
  std::unique_ptr<char[]> scratch_;
  std::array<char, kWatchBytes> watch_;
  boost::beast::flat_buffer in_;
  RequestReader reader_;
  // The answer for a body over the limit ServerOptions::body_limit chose for the current
  // request; unset: the plain 413.
  std::optional<EarlyResponse> too_large_;

  // Output: `out_` collects bytes (and `out_callbacks_` their on_written callbacks) while
  // `wbuf_`/`wcallbacks_` are being written; the pairs swap, so buffers keep their capacity.
  std::string out_;
  std::string wbuf_;
  std::size_t wbuf_sent_ = 0;  // how much of wbuf_ the kernel has taken
  std::vector<std::function<void(bool)>> out_callbacks_;
  std::vector<std::function<void(bool)>> wcallbacks_;

  // The current exchange (the one numbered `sequence_`).
  std::uint64_t sequence_ = 0;
  std::weak_ptr<Exchange> exchange_;
  std::function<void()> on_gone_;
  Reply reply_ = Reply::kNone;
  int version_ = 11;
  bool head_ = false;
  bool keep_alive_ = true;
  bool chunked_ = true;
  bool close_after_ = false;  // close once the response is flushed
  bool drain_after_ = false;  // ... after draining the unread request (error replies)
  bool abort_after_ = false;  // reset once what was queued is flushed
};

}  // namespace og::http::internal

#endif  // OLLAMA_GATEWAY_HTTP_CONNECTION_H_
