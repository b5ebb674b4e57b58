#include "gateway/upstream/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gateway/upstream/ndjson.h"
#include "spdlog/spdlog.h"
#include "tls/protocol_policy.h"

namespace og {
namespace {

constexpr std::size_t kMaxErrorBody = 64 * 1024;
// Idle keep-alive connections each loop keeps for reuse.
constexpr long kMaxIdleConnections = 2048;
// Reset easy handles each loop keeps for reuse.
constexpr std::size_t kMaxIdleEasyHandles = 64;

// Why a 2xx answer whose Content-Type is `type` (null: none) is refused.
std::string ContentTypeError(long status, const char* type) {
  if (type == nullptr) {
    return absl::StrCat("backend answered HTTP ", status,
                        " without a Content-Type; expected application/x-ndjson");
  }
  return absl::StrCat("backend answered HTTP ", status, " with Content-Type '",
                      absl::CHexEscape(absl::string_view(type).substr(0, 120)),
                      "'; expected application/x-ndjson (or application/json)");
}

}  // namespace

// One request's state. Owned by its loop while active; UpstreamCall handles share it so a late
// Cancel() finds it inactive instead of dangling.
struct Transfer final : UpstreamControl, std::enable_shared_from_this<Transfer> {
  Transfer(EventLoop* l, UpstreamRequest r, UpstreamHandler* h)
      : loop(l), request(std::move(r)), handler(h), splitter(request.max_line_bytes) {}
  ~Transfer() override {
    if (easy != nullptr) curl_easy_cleanup(easy);
  }

  // UpstreamControl: from any thread, carried out on the loop thread.
  void Cancel() override {
    loop->Post([t = shared_from_this()] { t->loop->Cancel(t); });
  }
  void SetPaused(bool paused) override {
    loop->Post([t = shared_from_this(), paused] { t->loop->SetPaused(t, paused); });
  }

  EventLoop* const loop;
  UpstreamRequest request;
  UpstreamHandler* handler;
  NdjsonSplitter splitter;
  // Taken from its loop's pool of idle handles and given back when the transfer ends.
  CURL* easy = nullptr;
  long http_status = 0;
  bool received = false;
  bool active = false;  // loop thread only
  bool paused = false;  // loop thread only
  // Its entry in the loop's FirstByteDeadlines while it waits for a first byte.
  std::optional<FirstByteDeadlines::iterator> first_byte_deadline;
  bool aborted_by_handler = false;
  bool line_too_long = false;
  bool content_type_checked = false;  // the final header block was looked at
  bool bad_content_type = false;      // ... and a 2xx answer was not NDJSON or JSON
  std::string error_body;
  std::string protocol_error;
  char curl_error[CURL_ERROR_SIZE] = {0};
};

EventLoop::EventLoop() {
  multi_ = curl_multi_init();
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  // The request headers are the same for every transfer; libcurl only reads the list.
  for (const char* header : {"Content-Type: application/json", "Accept: application/x-ndjson",
                             // libcurl would send "Expect: 100-continue" for larger bodies
                             // and wait for an answer Ollama never sends.
                             "Expect:"}) {
    headers_ = curl_slist_append(headers_, header);
  }
  if (multi_ == nullptr || epfd_ < 0 || wakefd_ < 0 || headers_ == nullptr) {
    spdlog::critical("upstream: cannot create an event loop: {}", std::strerror(errno));
    std::abort();
  }
  AddFd(wakefd_, EPOLLIN);
  // libcurl's default cache holds 4 connections per transfer in progress, so a loop that
  // talks to many backends (health checks of hundreds) would close and reopen a connection
  // for nearly every request. Keep one idle connection per backend and then some.
  curl_multi_setopt(multi_, CURLMOPT_MAXCONNECTS, kMaxIdleConnections);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETFUNCTION, &EventLoop::OnSocket);
  curl_multi_setopt(multi_, CURLMOPT_SOCKETDATA, this);
  curl_multi_setopt(multi_, CURLMOPT_TIMERFUNCTION, &EventLoop::OnTimer);
  curl_multi_setopt(multi_, CURLMOPT_TIMERDATA, this);
  thread_ = std::thread([this] { Run(); });
}

EventLoop::~EventLoop() {
  Post([this] { stopping_ = true; });
  thread_.join();
  for (CURL* easy : idle_easy_) curl_easy_cleanup(easy);
  curl_multi_cleanup(multi_);
  curl_slist_free_all(headers_);
  close(wakefd_);
  close(epfd_);
}

void EventLoop::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    posted_.push_back(std::move(fn));
  }
  const std::uint64_t one = 1;
  ssize_t n = write(wakefd_, &one, sizeof(one));
  (void)n;  // EAGAIN means the counter is already non-zero: the loop will wake anyway
}

// Starts a posted request (loop thread).
void EventLoop::Begin(std::shared_ptr<Transfer> t) {
  if (stopping_) {
    Complete(*t, UpstreamOutcome::kAborted, "the gateway is shutting down");
    return;
  }
  if (!Configure(*t)) {
    Complete(*t, UpstreamOutcome::kTransportError, "cannot set up the HTTP request");
    return;
  }
  t->active = true;
  Transfer* raw = t.get();
  active_.emplace(raw, std::move(t));
  active_count_.store(active_.size(), std::memory_order_relaxed);
  if (raw->request.first_byte_timeout.count() > 0) {
    raw->first_byte_deadline = first_byte_deadlines_.emplace(
        std::chrono::steady_clock::now() + raw->request.first_byte_timeout, active_.at(raw));
  }
  curl_multi_add_handle(multi_, raw->easy);
}

void EventLoop::Cancel(const std::shared_ptr<Transfer>& t) {
  if (!t->active) return;
  Finish(t.get(), UpstreamOutcome::kAborted, "cancelled");
}

void EventLoop::SetPaused(const std::shared_ptr<Transfer>& t, bool paused) {
  if (!t->active || t->paused == paused) return;
  t->paused = paused;
  // Unpausing may deliver buffered data to the write callback right here, on this thread.
  curl_easy_pause(t->easy, paused ? CURLPAUSE_RECV : CURLPAUSE_CONT);
}

void EventLoop::AddFd(int fd, std::uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev);
}

bool EventLoop::Configure(Transfer& t) {
  // A handle from the pool was reset to libcurl's defaults when it was given back; reusing
  // it saves allocating and initialising libcurl's per-handle state (and its buffers) anew
  // for every request.
  if (!idle_easy_.empty()) {
    t.easy = idle_easy_.back();
    idle_easy_.pop_back();
  } else {
    t.easy = curl_easy_init();
  }
  if (t.easy == nullptr) return false;
  CURL* e = t.easy;
  curl_easy_setopt(e, CURLOPT_URL, t.request.url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers_);
  switch (t.request.method) {
    case UpstreamRequest::Method::kPost:
      curl_easy_setopt(e, CURLOPT_POST, 1L);
      curl_easy_setopt(e, CURLOPT_POSTFIELDS, t.request.body.data());
      curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                       static_cast<curl_off_t>(t.request.body.size()));
      break;
    case UpstreamRequest::Method::kGet:
      curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
      break;
    case UpstreamRequest::Method::kConnectOnly:
      // A new connection each time: a pooled keep-alive one proves nothing about accept().
      curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
      curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
      curl_easy_setopt(e, CURLOPT_FORBID_REUSE, 1L);
      break;
  }
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "ollama-gateway/0.1");
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(t.request.connect_timeout.count()));
  if (t.request.timeout.count() > 0) {
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, static_cast<long>(t.request.timeout.count()));
  }
  ConfigureTls(t);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, &EventLoop::OnHeader);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &t);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &EventLoop::OnWrite);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &t);
  curl_easy_setopt(e, CURLOPT_PRIVATE, &t);
  curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t.curl_error);
  return true;
}

// The process's OpenSSL policy makes every new context TLS 1.3-only (for the gRPC listener);
// backends are allowed TLS 1.2 as well, so each of libcurl's contexts is opened up again.
CURLcode EventLoop::OnSslContext(CURL*, void* ssl_ctx, void*) {
  tls::AllowTls12ForBackends(static_cast<SSL_CTX*>(ssl_ctx));
  return CURLE_OK;
}

void EventLoop::ConfigureTls(Transfer& t) {
  CURL* e = t.easy;
  curl_easy_setopt(e, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  curl_easy_setopt(e, CURLOPT_SSL_CTX_FUNCTION, &EventLoop::OnSslContext);
  const UpstreamTls* tls = t.request.tls.get();
  if (tls == nullptr) return;
  if (!tls->ca_file.empty()) curl_easy_setopt(e, CURLOPT_CAINFO, tls->ca_file.c_str());
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, tls->verify ? 1L : 0L);
  curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, tls->verify ? 2L : 0L);
  if (!tls->cert_file.empty()) {
    curl_easy_setopt(e, CURLOPT_SSLCERT, tls->cert_file.c_str());
    curl_easy_setopt(e, CURLOPT_SSLKEY, tls->key_file.c_str());
  }
}

// Looks at each header line; at the blank line that ends the final header block of a 2xx
// answer, refuses a body that is not NDJSON or JSON before reading any of it. A proxy's HTML
// error page or a wrong port answered with 200 would otherwise surface as a confusing
// "malformed chunk" after the caller may already have been sent something. Non-2xx answers
// are left alone: their bodies (JSON or text) are only quoted in the error.
size_t EventLoop::OnHeader(char* data, size_t size, size_t count, void* userdata) {
  auto& t = *static_cast<Transfer*>(userdata);
  const size_t bytes = size * count;
  const std::string_view line(data, bytes);
  if (t.content_type_checked || (line != "\r\n" && line != "\n")) return bytes;
  long status = 0;
  curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &status);
  if (status < 200) return bytes;  // an interim 1xx block; the final one follows
  t.content_type_checked = true;
  if (status >= 300) return bytes;
  const char* type = nullptr;
  curl_easy_getinfo(t.easy, CURLINFO_CONTENT_TYPE, &type);
  if (type != nullptr && IsNdjsonContentType(type)) return bytes;
  t.bad_content_type = true;
  t.protocol_error = ContentTypeError(status, type);
  return 0;  // makes libcurl fail the transfer with CURLE_WRITE_ERROR, body unread
}

size_t EventLoop::OnWrite(char* data, size_t size, size_t count, void* userdata) {
  auto& t = *static_cast<Transfer*>(userdata);
  const size_t bytes = size * count;
  t.received = true;
  if (t.http_status == 0) curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &t.http_status);
  if (t.http_status < 200 || t.http_status >= 300) {
    const size_t room = kMaxErrorBody - std::min(kMaxErrorBody, t.error_body.size());
    t.error_body.append(data, std::min(room, bytes));
    return bytes;
  }
  absl::Status status = t.splitter.Feed(std::string_view(data, bytes), [&](std::string_view l) {
    if (!t.aborted_by_handler && !t.handler->OnLine(l)) t.aborted_by_handler = true;
  });
  if (!status.ok()) {
    t.line_too_long = true;
    t.protocol_error = absl::StrCat(status.message(), " (upstream.max_line_bytes)");
    return 0;  // makes libcurl fail the transfer with CURLE_WRITE_ERROR
  }
  return t.aborted_by_handler ? 0 : bytes;
}

int EventLoop::OnSocket(CURL*, curl_socket_t fd, int what, void* userp, void* socketp) {
  auto* loop = static_cast<EventLoop*>(userp);
  if (what == CURL_POLL_REMOVE) {
    epoll_ctl(loop->epfd_, EPOLL_CTL_DEL, fd, nullptr);
    return 0;
  }
  epoll_event ev{};
  ev.data.fd = fd;
  if (what & CURL_POLL_IN) ev.events |= EPOLLIN;
  if (what & CURL_POLL_OUT) ev.events |= EPOLLOUT;
  if (socketp == nullptr) {
    epoll_ctl(loop->epfd_, EPOLL_CTL_ADD, fd, &ev);
    // Any non-null marker tells the next call the socket is registered.
    curl_multi_assign(loop->multi_, fd, loop);
  } else if (epoll_ctl(loop->epfd_, EPOLL_CTL_MOD, fd, &ev) != 0 && errno == ENOENT) {
    // libcurl reused the descriptor number of a socket it had closed.
    epoll_ctl(loop->epfd_, EPOLL_CTL_ADD, fd, &ev);
  }
  return 0;
}

int EventLoop::OnTimer(CURLM*, long timeout_ms, void* userp) {
  auto* loop = static_cast<EventLoop*>(userp);
  if (timeout_ms < 0) {
    loop->curl_deadline_.reset();  // no timeout wanted
  } else {
    // 0 is "now": the loop calls libcurl back on its next turn without waiting.
    loop->curl_deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  }
  return 0;
}

void EventLoop::Run() {
  epoll_event events[256];
  int running = 0;
  while (!stopping_) {
    const int n = epoll_wait(epfd_, events, 256, MillisToNextDeadline());
    if (n < 0) {
      if (errno == EINTR) continue;
      spdlog::critical("upstream: epoll_wait failed: {}", std::strerror(errno));
      std::abort();
    }
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wakefd_) {
        std::uint64_t count;
        ssize_t r = read(wakefd_, &count, sizeof(count));
        (void)r;
        RunPosted();
      } else {
        int flags = 0;
        if (events[i].events & EPOLLIN) flags |= CURL_CSELECT_IN;
        if (events[i].events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
        if (events[i].events & (EPOLLERR | EPOLLHUP)) flags |= CURL_CSELECT_ERR;
        curl_multi_socket_action(multi_, fd, flags, &running);
      }
    }
    if (curl_deadline_ && *curl_deadline_ <= std::chrono::steady_clock::now()) {
      curl_deadline_.reset();  // libcurl sets the next one from inside the call if it wants
      curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    CollectDone();
    ExpireFirstByteDeadlines();
  }
  // Shutting down: whoever still waits is told so, including requests posted meanwhile
  // (Begin() aborts them at once now that stopping_ is set).
  for (;;) {
    while (!active_.empty()) {
      Finish(active_.begin()->first, UpstreamOutcome::kAborted, "the gateway is shutting down");
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (posted_.empty()) break;
    }
    RunPosted();
  }
}

// epoll_wait's timeout: until libcurl's deadline or the earliest first-byte deadline,
// whichever comes first, rounded up to the next millisecond; -1 when there is neither.
int EventLoop::MillisToNextDeadline() const {
  std::optional<std::chrono::steady_clock::time_point> next = curl_deadline_;
  if (!first_byte_deadlines_.empty() && (!next || first_byte_deadlines_.begin()->first < *next)) {
    next = first_byte_deadlines_.begin()->first;
  }
  if (!next) return -1;
  const auto left = *next - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(left).count();
  return static_cast<int>(std::min<std::int64_t>(ms, 60000));
}

void EventLoop::ExpireFirstByteDeadlines() {
  const auto now = std::chrono::steady_clock::now();
  while (!first_byte_deadlines_.empty() && first_byte_deadlines_.begin()->first <= now) {
    std::shared_ptr<Transfer> t = first_byte_deadlines_.begin()->second.lock();
    first_byte_deadlines_.erase(first_byte_deadlines_.begin());
    if (t == nullptr) continue;
    t->first_byte_deadline.reset();
    if (t->active && !t->received) {
      Finish(t.get(), UpstreamOutcome::kFirstByteTimeout,
             "no response within first_byte_timeout (" +
                 std::to_string(t->request.first_byte_timeout.count()) + " ms)");
    }
  }
}

void EventLoop::RunPosted() {
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(mu_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void EventLoop::CollectDone() {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    Transfer* t = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, reinterpret_cast<char**>(&t));
    const CURLcode code = msg->data.result;
    UpstreamOutcome outcome;
    std::string message;
    Classify(*t, code, &outcome, &message);
    Finish(t, outcome, std::move(message));
  }
}

void EventLoop::Classify(Transfer& t, CURLcode code, UpstreamOutcome* outcome,
                         std::string* message) {
  if (t.http_status == 0) curl_easy_getinfo(t.easy, CURLINFO_RESPONSE_CODE, &t.http_status);
  const char* detail = t.curl_error[0] != '\0' ? t.curl_error : curl_easy_strerror(code);
  switch (code) {
    case CURLE_OK:
      if (t.request.method == UpstreamRequest::Method::kConnectOnly) {
        *outcome = UpstreamOutcome::kOk;  // connected; there is no HTTP exchange
        return;
      }
      if (t.http_status < 200 || t.http_status >= 300) {
        *outcome = UpstreamOutcome::kHttpError;
      } else {
        *outcome = UpstreamOutcome::kOk;
        // A last line without its newline is still a line.
        std::string rest(t.splitter.pending());
        if (!rest.empty() && !t.aborted_by_handler && !t.handler->OnLine(rest)) {
          t.aborted_by_handler = true;
        }
        if (t.aborted_by_handler) *outcome = UpstreamOutcome::kAborted;
      }
      return;
    case CURLE_WRITE_ERROR:
      if (t.bad_content_type) {
        // Nothing of the body was read, so the attempt may be retried elsewhere like a
        // connection that broke before answering.
        *outcome = UpstreamOutcome::kTransportError;
        *message = t.protocol_error;
      } else if (t.line_too_long) {
        *outcome = UpstreamOutcome::kLineTooLong;
        *message = t.protocol_error;
      } else {
        *outcome = UpstreamOutcome::kAborted;
        *message = "aborted by the request handler";
      }
      return;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      *outcome = UpstreamOutcome::kConnectFailed;
      *message = detail;
      return;
    case CURLE_OPERATION_TIMEDOUT: {
      // A reused keep-alive connection reports no connect time, but the request got as far
      // as being sent (pretransfer), so it did connect.
      curl_off_t connect_us = 0;
      curl_off_t pretransfer_us = 0;
      curl_easy_getinfo(t.easy, CURLINFO_CONNECT_TIME_T, &connect_us);
      curl_easy_getinfo(t.easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer_us);
      *outcome = connect_us == 0 && pretransfer_us == 0 ? UpstreamOutcome::kConnectFailed
                                                        : UpstreamOutcome::kTimeout;
      *message = detail;
      return;
    }
    default:
      *outcome = UpstreamOutcome::kTransportError;
      *message = detail;
      return;
  }
}

// Ends an active transfer and reports it. The transfer is freed when the last handle goes.
void EventLoop::Finish(Transfer* raw, UpstreamOutcome outcome, std::string message) {
  auto it = active_.find(raw);
  std::shared_ptr<Transfer> t = std::move(it->second);
  active_.erase(it);
  t->active = false;
  if (t->first_byte_deadline) {
    first_byte_deadlines_.erase(*t->first_byte_deadline);
    t->first_byte_deadline.reset();
  }
  curl_multi_remove_handle(multi_, t->easy);
  // Back to the pool, which is bounded: each idle handle keeps libcurl's buffers (tens of
  // KiB), so a burst of ten thousand streams must not leave ten thousand of them behind.
  if (idle_easy_.size() < kMaxIdleEasyHandles) {
    curl_easy_reset(t->easy);
    idle_easy_.push_back(t->easy);
    t->easy = nullptr;
  }
  Complete(*t, outcome, std::move(message));
}

void EventLoop::Complete(Transfer& t, UpstreamOutcome outcome, std::string message) {
  UpstreamResult result;
  result.outcome = outcome;
  result.http_status = t.http_status;
  result.body = std::move(t.error_body);
  result.message = std::move(message);
  result.received_bytes = t.received;
  active_count_.store(active_.size(), std::memory_order_relaxed);
  t.handler->OnComplete(std::move(result));
}

UpstreamCall EventLoop::Start(UpstreamRequest request, UpstreamHandler* handler) {
  auto transfer = std::make_shared<Transfer>(this, std::move(request), handler);
  Post([this, transfer] { Begin(transfer); });
  return UpstreamCall(std::move(transfer));
}

}  // namespace og
