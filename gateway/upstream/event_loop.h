// One event-loop thread of the upstream client: a Boost.Asio io_context, the requests it runs and
// its own pool of idle keep-alive connections (per backend origin and TLS identity). Requests are
// posted to a loop and stay on it: connect (with connect_timeout), TLS handshake for https://,
// one write of the request head and body, then the response read into a small per-connection
// buffer and parsed in place by Beast's HTTP/1.1 parser, its body handed to an NdjsonSplitter
// whose lines go to the handler as they arrive. A 2xx answer must say it is NDJSON or JSON
// (Content-Type); anything else fails the request before its body is read. A connection goes back
// to the pool only after a response that ended cleanly and allows keep-alive.
//
// Used by upstream_client.cc only; everything else goes through UpstreamClient.
#ifndef OLLAMA_GATEWAY_GATEWAY_UPSTREAM_EVENT_LOOP_H_
#define OLLAMA_GATEWAY_GATEWAY_UPSTREAM_EVENT_LOOP_H_

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstddef>
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gateway/upstream/request.h"

namespace og {

struct Transfer;
struct UpstreamConnection;
class TlsContexts;

class EventLoop {
 public:
  // Starts the loop's thread. `owner` tells Current() whose loop this is.
  explicit EventLoop(const void* owner);
  // Stops the thread: requests still running complete with kAborted first. Other work on the
  // loop (connections of a front door placed here) gets up to kStopGrace to finish, then the
  // io_context is stopped and what is left of it destroyed with it.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Posts `request` to this loop. Thread-safe. After shutdown began, `handler` gets kAborted.
  UpstreamCall Start(UpstreamRequest request, UpstreamHandler* handler);

  // Requests in progress on this loop. Thread-safe.
  std::size_t active() const { return active_count_.load(std::memory_order_relaxed); }

  // The loop's io_context, for other work that should run on this thread (a front door's
  // connections). Such work must be gone, or going, when the loop is destroyed.
  boost::asio::io_context& io() { return io_; }

  // The loop whose thread is calling, if `owner` made it; null on any other thread.
  static EventLoop* Current(const void* owner);

 private:
  friend struct Transfer;

  // Loop thread only, from here on.
  void Begin(const std::shared_ptr<Transfer>& t);
  void Stop();
  // An idle connection to `key` that still looks open, or null.
  std::unique_ptr<UpstreamConnection> TakeIdle(const std::string& key);
  // Keeps a connection whose last response ended cleanly, within the pool's bounds.
  void GiveBack(std::unique_ptr<UpstreamConnection> connection);
  void SweepIdle();
  void Forget(Transfer* t);

  const void* const owner_;
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  boost::asio::steady_timer sweep_timer_;
  bool stopping_ = false;
  std::promise<void> ran_out_;  // set when run() has returned
  std::unordered_map<Transfer*, std::shared_ptr<Transfer>> active_;
  std::unordered_map<std::string, std::vector<std::unique_ptr<UpstreamConnection>>> idle_;
  std::size_t idle_count_ = 0;
  std::unique_ptr<TlsContexts> tls_contexts_;
  std::atomic<std::size_t> active_count_{0};
  std::thread thread_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_UPSTREAM_EVENT_LOOP_H_
