// The HTTP client toward Ollama backends: libcurl's multi interface driven by our own event
// loops (epoll + eventfd + timerfd), one CURLM per loop thread. Requests are posted to a loop
// and stay on it; libcurl keeps keep-alive connections per loop and reuses them.
//
// A request streams its response body through an NdjsonSplitter and hands every complete line
// to its handler, on the loop thread, as it arrives. A 2xx answer must say it is NDJSON or JSON
// (Content-Type); anything else fails the request before its body is read. Nothing here knows
// about gRPC or Ollama's JSON: the caller maps lines and results to its own protocol.
#ifndef OLLAMA_GATEWAY_GATEWAY_UPSTREAM_CLIENT_H_
#define OLLAMA_GATEWAY_GATEWAY_UPSTREAM_CLIENT_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace og {

enum class UpstreamOutcome {
  kOk,             // 2xx and the body ended cleanly
  kHttpError,      // the backend answered a non-2xx status (body in UpstreamResult::body)
  kConnectFailed,  // no connection was made (refused, unreachable, connect timeout, DNS)
  kTimeout,        // connected, but the request's time bound expired
  // The connection broke (reset, closed early, malformed HTTP), or a 2xx answer came with a
  // Content-Type other than NDJSON or JSON (refused before its body was read).
  kTransportError,
  kLineTooLong,       // an NDJSON line exceeded max_line_bytes
  kFirstByteTimeout,  // connected, but no response byte within first_byte_timeout
  kAborted,           // cancelled by the caller or by the handler, or the client shut down
};

const char* UpstreamOutcomeName(UpstreamOutcome outcome);

struct UpstreamResult {
  UpstreamOutcome outcome = UpstreamOutcome::kOk;
  long http_status = 0;
  // The start of a non-2xx response body (at most 64 KiB).
  std::string body;
  // What went wrong, in words (libcurl's error text, or ours), empty on success.
  std::string message;
  // Whether any byte of the response body arrived; a request is only safe to retry elsewhere
  // when none did. (A 2xx answer refused for its Content-Type had its body left unread.)
  bool received_bytes = false;
};

// Receives the events of one request. All calls happen on the request's loop thread, one at a
// time. The handler must stay valid until OnComplete has returned.
class UpstreamHandler {
 public:
  virtual ~UpstreamHandler() = default;
  // One complete NDJSON line of a 2xx response, without its newline; valid only during the call.
  // Return false to abort the request (OnComplete then reports kAborted).
  virtual bool OnLine(std::string_view line) = 0;
  // Called exactly once, last. The handler may start a new request from here (a retry).
  virtual void OnComplete(UpstreamResult result) = 0;
};

// TLS settings toward one https:// backend.
struct UpstreamTls {
  // PEM CA bundle to verify the backend against; empty means the system store.
  std::string ca_file;
  // Client certificate and key presented to the backend; empty means none.
  std::string cert_file;
  std::string key_file;
  // false skips verifying the backend's certificate chain and host name.
  bool verify = true;
};

struct UpstreamRequest {
  enum class Method {
    kPost,  // POST `body` (a generation)
    kGet,   // GET (health checks)
    // Open a fresh connection (plus the TLS handshake for https://), send nothing and close it:
    // a health check's TCP tier. Completes with kOk once connected.
    kConnectOnly,
  };
  Method method = Method::kPost;
  // Absolute URL, e.g. http://127.0.0.1:11434/api/generate.
  std::string url;
  // JSON body, POSTed with Content-Type: application/json.
  std::string body;
  std::chrono::milliseconds connect_timeout{2000};
  // Bound on the whole exchange; zero means none.
  std::chrono::milliseconds timeout{0};
  // Bound on the wait for the first response byte; zero means none. Ollama sends nothing until
  // the first token is ready (queue wait + model load + prompt evaluation), so a short value
  // gives up on cold models.
  std::chrono::milliseconds first_byte_timeout{0};
  std::size_t max_line_bytes = 8u << 20;
  // For https:// URLs; null means: verify against the system store, no client certificate.
  // Shared by every request to the backend, so a request copies no TLS strings.
  std::shared_ptr<const UpstreamTls> tls;
};

class EventLoop;
struct Transfer;

// A request in progress. Copyable handle; Cancel() is thread-safe, idempotent, and a no-op
// once the request has completed.
class UpstreamCall {
 public:
  UpstreamCall() = default;
  void Cancel() const;
  // Stops reading the response (libcurl's pause): the backend's writes then block once the
  // socket buffers fill, so a slow reader downstream never makes the gateway buffer without
  // bound. Resume() reads on. Thread-safe; no-ops once the request has completed.
  void Pause() const;
  void Resume() const;
  bool valid() const { return transfer_ != nullptr; }

 private:
  friend class UpstreamClient;
  UpstreamCall(EventLoop* loop, std::shared_ptr<Transfer> transfer)
      : loop_(loop), transfer_(std::move(transfer)) {}
  EventLoop* loop_ = nullptr;
  std::shared_ptr<Transfer> transfer_;
};

class UpstreamClient {
 public:
  // Starts `threads` event-loop threads (at least one).
  explicit UpstreamClient(int threads);
  // Shuts down: requests still running complete with kAborted, then the threads are joined.
  ~UpstreamClient();
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  // Starts a POST on one of the loops. Thread-safe. `handler` gets the response lines and the
  // result; after shutdown began, it gets kAborted at once.
  UpstreamCall Start(UpstreamRequest request, UpstreamHandler* handler);

  // Number of requests in progress over all loops (for metrics and tests).
  std::size_t active() const;

 private:
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::atomic<std::size_t> next_loop_{0};
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_UPSTREAM_CLIENT_H_
