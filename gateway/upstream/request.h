// What the gateway says to an Ollama backend and hears back, whoever carries it: the request, the
// result and its outcome, the handler that receives a response, the handle of a request in
// progress, and `Upstream`, the one-method interface that starts a request. UpstreamClient (an
// HTTP/1.1 client on Asio and Beast's parser, gateway/upstream/event_loop.h) is the real one;
// tests/fakes/fake_upstream.h is a scripted one for tests that drive the call path without sockets.
#ifndef OLLAMA_GATEWAY_GATEWAY_UPSTREAM_REQUEST_H_
#define OLLAMA_GATEWAY_GATEWAY_UPSTREAM_REQUEST_H_

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

namespace og {

enum class UpstreamOutcome {
  kOk,             // 2xx and the body ended cleanly
  kHttpError,      // the backend answered a non-2xx status (body in UpstreamResult::body)
  kConnectFailed,  // no connection was made (refused, unreachable, connect timeout, DNS)
  kTimeout,        // connected, but the request's time bound expired
  // The connection broke (reset, closed early, malformed HTTP), or a 2xx answer came with a
  // Content-Type other than NDJSON or JSON, or server-sent events for a request that allows
  // them (refused before its body was read).
  kTransportError,
  kLineTooLong,       // an NDJSON line exceeded max_line_bytes
  kFirstByteTimeout,  // connected, but no response byte within first_byte_timeout
  kIdleTimeout,       // the backend sent nothing for idle_timeout (before or after answering)
  kAborted,           // cancelled by the caller or by the handler, or the client shut down
};

const char* UpstreamOutcomeName(UpstreamOutcome outcome);

struct UpstreamResult {
  UpstreamOutcome outcome = UpstreamOutcome::kOk;
  long http_status = 0;
  // The start of a non-2xx response body (at most 64 KiB).
  std::string body;
  // What went wrong, in words (naming the backend's host and port), empty on success.
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
    kPost,    // POST `body` (a generation)
    kGet,     // GET (health checks)
    kDelete,  // DELETE with `body` (Ollama's /api/delete)
    kHead,    // HEAD: the status only (Ollama's HEAD /api/blobs/:digest)
    // Open a fresh connection (plus the TLS handshake for https://), send nothing and close it:
    // a health check's TCP tier. Completes with kOk once connected.
    kConnectOnly,
  };
  Method method = Method::kPost;
  // Absolute URL, e.g. http://127.0.0.1:11434/api/generate.
  std::string url;
  // The body of a POST or DELETE, sent with Content-Type `body_type`.
  std::string body;
  std::string_view body_type = "application/json";
  std::chrono::milliseconds connect_timeout{2000};
  // Bound on the whole exchange; zero means none.
  std::chrono::milliseconds timeout{0};
  // Bound on the wait for the first response byte; zero means none. Ollama sends nothing until
  // the first token is ready (queue wait + model load + prompt evaluation), so a short value
  // gives up on cold models.
  std::chrono::milliseconds first_byte_timeout{0};
  // Bound on every wait for the backend's next bytes once the request is sent, the first
  // byte included; zero means none. Unlike `timeout` it never cuts an answer that keeps coming,
  // however long it runs. A transfer paused for a slow caller is not idle.
  std::chrono::milliseconds idle_timeout{0};
  std::size_t max_line_bytes = 8u << 20;
  // A successful answer of any media type (or none: an empty 200) is read as lines, for the
  // management endpoints, whose answers are JSON, NDJSON or nothing. Otherwise a 2xx answer
  // that is not NDJSON or JSON (or server-sent events, below) fails the transfer.
  bool any_answer_type = false;
  // The answer may be server-sent events (text/event-stream, besides NDJSON and JSON), whose
  // lines go to the handler blank ones included (a blank line ends an event).
  bool event_stream = false;
  // For https:// URLs; null means: verify against the system store, no client certificate.
  // Shared by every request to the backend, so a request copies no TLS strings.
  std::shared_ptr<const UpstreamTls> tls;
};

// What a request in progress can be told, implemented by each upstream for its own requests.
// Thread-safe; every call is a no-op once the request has completed.
class UpstreamControl {
 public:
  virtual ~UpstreamControl() = default;
  // Ends the request; its handler's OnComplete reports kAborted (unless it completed first).
  virtual void Cancel() = 0;
  // Stops (true) or resumes (false) reading the response.
  virtual void SetPaused(bool paused) = 0;
};

// A request in progress. Copyable handle; Cancel() is thread-safe, idempotent, and a no-op
// once the request has completed. Handles must be gone before the upstream that issued them
// (the request's sockets and timers belong to that upstream's loops).
class UpstreamCall {
 public:
  UpstreamCall() = default;
  explicit UpstreamCall(std::shared_ptr<UpstreamControl> control) : control_(std::move(control)) {}
  void Cancel() const {
    if (control_ != nullptr) control_->Cancel();
  }
  // Stops reading the response: the backend's writes then block once the socket buffers fill,
  // so a slow reader downstream never makes the gateway buffer without bound. Resume() reads
  // on. Thread-safe; no-ops once the request has completed.
  void Pause() const {
    if (control_ != nullptr) control_->SetPaused(true);
  }
  void Resume() const {
    if (control_ != nullptr) control_->SetPaused(false);
  }
  bool valid() const { return control_ != nullptr; }

 private:
  std::shared_ptr<UpstreamControl> control_;
};

// Whatever carries requests to the backends. The call path and the HTTP front door's
// pass-through talk to this, so tests can put a scripted fake in the client's place.
class Upstream {
 public:
  virtual ~Upstream() = default;
  // Starts `request`. Thread-safe. `handler` gets the response lines and the result, possibly
  // on another thread and possibly before Start returns.
  virtual UpstreamCall Start(UpstreamRequest request, UpstreamHandler* handler) = 0;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_UPSTREAM_REQUEST_H_
