// One event-loop thread of the upstream client: its own CURLM (libcurl's multi interface), an
// epoll instance and a wake-up eventfd, the requests it runs and their first-byte deadlines.
// Requests are posted to a loop and stay on it; libcurl keeps keep-alive connections per loop
// and reuses them. A request streams its response body through an NdjsonSplitter and hands
// every complete line to its handler, on the loop thread, as it arrives. A 2xx answer must say
// it is NDJSON or JSON (Content-Type); anything else fails the request before its body is read.
//
// Used by upstream_client.cc only; everything else goes through UpstreamClient.
#ifndef OLLAMA_GATEWAY_GATEWAY_UPSTREAM_EVENT_LOOP_H_
#define OLLAMA_GATEWAY_GATEWAY_UPSTREAM_EVENT_LOOP_H_

#include <curl/curl.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "gateway/upstream/request.h"

namespace og {

struct Transfer;

// Requests waiting for their first byte, by deadline (loop thread only).
using FirstByteDeadlines =
    std::multimap<std::chrono::steady_clock::time_point, std::weak_ptr<Transfer>>;

// libcurl's timeout is kept as a deadline that bounds epoll_wait rather than in a timerfd:
// libcurl moves its timeout several times per transfer, and each move would be a
// timerfd_settime system call.
class EventLoop {
 public:
  // Starts the loop's thread.
  EventLoop();
  // Stops the thread: requests still running complete with kAborted first.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Posts `request` to this loop. Thread-safe. After shutdown began, `handler` gets kAborted.
  UpstreamCall Start(UpstreamRequest request, UpstreamHandler* handler);

  // Runs `fn` on the loop thread. Thread-safe.
  void Post(std::function<void()> fn);

  // Requests in progress on this loop. Thread-safe.
  std::size_t active() const { return active_count_.load(std::memory_order_relaxed); }

 private:
  friend struct Transfer;

  // Loop thread only, from here on.
  void Begin(std::shared_ptr<Transfer> t);
  void Cancel(const std::shared_ptr<Transfer>& t);
  void SetPaused(const std::shared_ptr<Transfer>& t, bool paused);
  void AddFd(int fd, std::uint32_t events);
  bool Configure(Transfer& t);
  static CURLcode OnSslContext(CURL*, void* ssl_ctx, void*);
  static void ConfigureTls(Transfer& t);
  static size_t OnHeader(char* data, size_t size, size_t count, void* userdata);
  static size_t OnWrite(char* data, size_t size, size_t count, void* userdata);
  static int OnSocket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp);
  static int OnTimer(CURLM*, long timeout_ms, void* userp);
  void Run();
  int MillisToNextDeadline() const;
  void ExpireFirstByteDeadlines();
  void RunPosted();
  void CollectDone();
  static void Classify(Transfer& t, CURLcode code, UpstreamOutcome* outcome, std::string* message);
  void Finish(Transfer* raw, UpstreamOutcome outcome, std::string message);
  void Complete(Transfer& t, UpstreamOutcome outcome, std::string message);

  CURLM* multi_ = nullptr;
  int epfd_ = -1;
  int wakefd_ = -1;
  curl_slist* headers_ = nullptr;
  std::vector<CURL*> idle_easy_;  // loop thread only
  // When libcurl wants curl_multi_socket_action(CURL_SOCKET_TIMEOUT) called; loop thread only.
  std::optional<std::chrono::steady_clock::time_point> curl_deadline_;
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
  bool stopping_ = false;  // loop thread only
  std::unordered_map<Transfer*, std::shared_ptr<Transfer>> active_;
  FirstByteDeadlines first_byte_deadlines_;
  std::atomic<std::size_t> active_count_{0};
  std::thread thread_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_UPSTREAM_EVENT_LOOP_H_
