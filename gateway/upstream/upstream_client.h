// The HTTP client toward Ollama backends: an HTTP/1.1 client of its own on Boost.Asio, with
// Beast's parser reading responses in place (gateway/upstream/event_loop.h), one io_context per
// loop thread. Requests are spread over the loops and stay on theirs; each loop keeps its own
// bounded pool of idle keep-alive connections per backend and reuses them.
//
// A request streams its response body through an NdjsonSplitter and hands every complete line
// to its handler, on the loop thread, as it arrives. A 2xx answer must say it is NDJSON or JSON
// (Content-Type); anything else fails the request before its body is read. Nothing here knows
// about gRPC or Ollama's JSON: the caller maps lines and results to its own protocol. The
// request and result types are in gateway/upstream/request.h.
#ifndef OLLAMA_GATEWAY_GATEWAY_UPSTREAM_UPSTREAM_CLIENT_H_
#define OLLAMA_GATEWAY_GATEWAY_UPSTREAM_UPSTREAM_CLIENT_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <vector>

namespace boost::asio {
class io_context;
}  // namespace boost::asio

#include "gateway/upstream/request.h"

namespace og {

class EventLoop;

class UpstreamClient final : public Upstream {
 public:
  // Starts `threads` event-loop threads (at least one): the gateway's workers.
  explicit UpstreamClient(int threads);
  // Shuts down: requests still running complete with kAborted, then the threads are joined.
  ~UpstreamClient() override;
  UpstreamClient(const UpstreamClient&) = delete;
  UpstreamClient& operator=(const UpstreamClient&) = delete;

  // Starts a request: on the calling thread's loop when called from one of this client's loops
  // (a call that came in on a worker stays on it, no thread hand-off), else on the loops in
  // turn. Thread-safe. `handler` gets the response lines and the result on that loop; after
  // shutdown began, it gets kAborted at once.
  UpstreamCall Start(UpstreamRequest request, UpstreamHandler* handler) override;

  // The loops' io_contexts, one per thread, for work that should share them: the HTTP front
  // door places its connections there, so an HTTP call runs on one thread from the caller's
  // first byte to the backend's last. Such work must be gone (or going) before the client is.
  std::vector<boost::asio::io_context*> workers() const;

  // Number of requests in progress over all loops (for metrics and tests).
  std::size_t active() const;

 private:
  std::vector<std::unique_ptr<EventLoop>> loops_;
  std::atomic<std::size_t> next_loop_{0};
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_UPSTREAM_UPSTREAM_CLIENT_H_
