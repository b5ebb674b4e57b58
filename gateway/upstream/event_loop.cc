#include "gateway/upstream/event_loop.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/error.hpp>
#include <limits>
#include <optional>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gateway/upstream/backend_url.h"
#include "gateway/upstream/connection.h"
#include "gateway/upstream/ndjson.h"

namespace og {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast_http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using boost::system::error_code;

namespace {

constexpr std::size_t kMaxErrorBody = 64 * 1024;
// A connection's read buffer starts small (a held stream needs little) and doubles, up to the
// maximum, only while reads fill it: a large non-streamed answer then takes few reads, and a
// pooled connection keeps the size its answers needed.
constexpr std::size_t kInitialReadBuffer = 1024;
constexpr std::size_t kMaxReadBuffer = 64 * 1024;
// The response header (status line and fields) must fit in the largest buffer.
constexpr std::uint32_t kMaxResponseHeader = 32 * 1024;
// Idle keep-alive connections each loop keeps, in all and per backend origin; an idle one is
// closed after kIdleTimeout (looked at every kSweepInterval).
constexpr std::size_t kMaxIdleConnections = 1024;
constexpr std::size_t kMaxIdlePerOrigin = 128;
constexpr auto kIdleTimeout = std::chrono::seconds(60);
constexpr auto kSweepInterval = std::chrono::seconds(10);

// Why a 2xx answer whose Content-Type is `type` (empty: none) is refused.
std::string ContentTypeError(long status, const std::optional<std::string>& type) {
  if (!type) {
    return absl::StrCat("backend answered HTTP ", status,
                        " without a Content-Type; expected application/x-ndjson");
  }
  return absl::StrCat("backend answered HTTP ", status, " with Content-Type '",
                      absl::CHexEscape(absl::string_view(*type).substr(0, 120)),
                      "'; expected application/x-ndjson (or application/json)");
}

std::string Millis(std::chrono::milliseconds ms) { return absl::StrCat(ms.count(), " ms"); }

}  // namespace

// One request's state. Owned by its loop while active; UpstreamCall handles and pending
// operations share it, so a late Cancel() or completion finds it inactive instead of dangling.
struct Transfer final : UpstreamControl, std::enable_shared_from_this<Transfer> {
  // Beast's parser, reporting into the transfer: the status, the Content-Type, and the body as
  // it is decoded (chunked or not), straight from the connection's buffer.
  class Parser final : public beast_http::basic_parser<false> {
   public:
    explicit Parser(Transfer& t) : t_(t) {
      // Lines are bounded by the splitter, and a stream may be long. (Not boost::none: Beast
      // 1.74 compares a Content-Length against the optional and finds every length over none.)
      body_limit(std::numeric_limits<std::uint64_t>::max());
      header_limit(kMaxResponseHeader);
      eager(true);
    }

   private:
    void on_request_impl(beast_http::verb, boost::beast::string_view, boost::beast::string_view,
                         int, error_code&) override {}
    void on_response_impl(int code, boost::beast::string_view, int, error_code&) override {
      t_.http_status = code;
    }
    void on_field_impl(beast_http::field name, boost::beast::string_view,
                       boost::beast::string_view value, error_code&) override {
      if (name == beast_http::field::content_type) t_.content_type.emplace(value);
    }
    void on_header_impl(error_code& ec) override { t_.OnHeader(ec); }
    void on_body_init_impl(const boost::optional<std::uint64_t>&, error_code&) override {}
    std::size_t on_body_impl(boost::beast::string_view body, error_code& ec) override {
      return t_.OnBody(std::string_view(body.data(), body.size()), ec);
    }
    void on_chunk_header_impl(std::uint64_t, boost::beast::string_view, error_code&) override {}
    std::size_t on_chunk_body_impl(std::uint64_t, boost::beast::string_view body,
                                   error_code& ec) override {
      return t_.OnBody(std::string_view(body.data(), body.size()), ec);
    }
    void on_finish_impl(error_code&) override {}

    Transfer& t_;
  };

  Transfer(EventLoop* l, UpstreamRequest r, UpstreamHandler* h)
      : loop(l),
        request(std::move(r)),
        handler(h),
        splitter(request.max_line_bytes, request.event_stream),
        deadline(l->io_),
        connect_timer(l->io_),
        first_byte_timer(l->io_),
        idle_timer(l->io_) {}

  // UpstreamControl: from any thread, carried out on the loop thread.
  void Cancel() override {
    net::post(loop->io_,
              [t = shared_from_this()] { t->Finish(UpstreamOutcome::kAborted, "cancelled"); });
  }
  void SetPaused(bool value) override {
    net::post(loop->io_, [t = shared_from_this(), value] {
      if (!t->active || t->paused == value) return;
      t->paused = value;
      if (!value && t->parser) t->Read();
    });
  }

  // The steps of a request, in order; each ends the transfer on failure.
  void Begin();
  void Connect();
  void OnConnected();
  void Send();
  void Read();
  void OnRead(const error_code& ec, std::size_t n);
  void Parse();
  void OnMessageDone();
  // A reused connection that fails before a byte of the answer came back was most likely
  // closed by the backend while idle: the request goes again on a fresh connection (once).
  bool RetryFresh();
  // Parser callbacks.
  void OnHeader(error_code& ec);
  std::size_t OnBody(std::string_view body, error_code& ec);

  // Ends the request (a no-op once ended) and reports it.
  void Finish(UpstreamOutcome outcome, std::string message);
  // Starts one of the three time bounds; `bound` says which (kTimeout, kConnectFailed for
  // connect_timeout, kFirstByteTimeout). The message is only written if it expires.
  void Arm(net::steady_timer& timer, std::chrono::milliseconds after, UpstreamOutcome bound);
  void Expire(UpstreamOutcome bound);
  // request.idle_timeout: armed once the request is sent. Reads only note the time; a wait
  // that ends early (bytes came meanwhile, or the transfer is paused) waits again for the rest.
  void WaitIdle(std::chrono::steady_clock::duration after);
  void OnIdleTimer();
  std::string Where() const { return absl::StrCat(url.host, ":", url.port); }
  bool Success() const { return http_status >= 200 && http_status < 300; }

  EventLoop* const loop;
  UpstreamRequest request;
  UpstreamHandler* handler;
  NdjsonSplitter splitter;
  BackendUrl url;
  std::string tls_key;
  std::string pool_key;  // origin and TLS identity
  std::string head;      // the request line and headers
  std::unique_ptr<UpstreamConnection> connection;
  std::unique_ptr<tcp::resolver> resolver;  // only while resolving a host name
  std::optional<Parser> parser;
  net::steady_timer deadline;                       // request.timeout
  net::steady_timer connect_timer;                  // request.connect_timeout
  net::steady_timer first_byte_timer;               // request.first_byte_timeout
  net::steady_timer idle_timer;                     // request.idle_timeout
  std::chrono::steady_clock::time_point last_read;  // when bytes last came (idle_timeout)
  long http_status = 0;
  std::optional<std::string> content_type;
  bool host_is_address = false;  // url.host is an IP address, not a name (set by Connect)
  bool connected = false;        // a connection was made (or taken from the pool)
  bool reused = false;           // ... and it came from the pool
  bool received = false;         // a byte of the response body arrived
  bool active = false;
  bool paused = false;
  bool reading = false;  // a read is outstanding
  bool aborted_by_handler = false;
  UpstreamOutcome body_failure = UpstreamOutcome::kOk;  // set by OnHeader/OnBody to stop parsing
  std::string error_body;
  std::string protocol_error;
};

void Transfer::Begin() {
  auto parsed = ParseBackendUrl(request.url);
  if (!parsed.ok()) {
    return Finish(UpstreamOutcome::kTransportError, std::string(parsed.status().message()));
  }
  url = *std::move(parsed);
  tls_key = url.tls ? TlsContexts::Key(request.tls.get()) : std::string();
  pool_key = absl::StrCat(url.origin, "|", tls_key);
  if (request.timeout.count() > 0) {
    Arm(deadline, request.timeout, UpstreamOutcome::kTimeout);
  }
  if (request.first_byte_timeout.count() > 0) {
    Arm(first_byte_timer, request.first_byte_timeout, UpstreamOutcome::kFirstByteTimeout);
  }
  if (request.method == UpstreamRequest::Method::kConnectOnly) return Connect();
  using Method = UpstreamRequest::Method;
  const bool has_body = request.method == Method::kPost || request.method == Method::kDelete;
  const std::string_view verb = request.method == Method::kPost     ? "POST "
                                : request.method == Method::kDelete ? "DELETE "
                                : request.method == Method::kHead   ? "HEAD "
                                                                    : "GET ";
  head = absl::StrCat(
      std::string(verb), url.target, " HTTP/1.1\r\nHost: ", url.authority,
      "\r\nUser-Agent: ollama-gateway/0.1\r\nAccept: ",
      request.event_stream ? "text/event-stream, application/json" : "application/x-ndjson",
      "\r\n");
  if (has_body) {
    absl::StrAppend(&head, "Content-Type: ", std::string(request.body_type),
                    "\r\nContent-Length: ", request.body.size(), "\r\n");
  }
  head += "\r\n";
  connection = loop->TakeIdle(pool_key);
  if (connection != nullptr) {
    connected = reused = true;
    return Send();
  }
  Connect();
}

void Transfer::Connect() {
  connection = std::make_unique<UpstreamConnection>(loop->io_, pool_key);
  if (url.tls) {
    std::string error;
    connection->tls_context = loop->tls_contexts_->Get(request.tls.get(), tls_key, &error);
    if (connection->tls_context == nullptr) return Finish(UpstreamOutcome::kTransportError, error);
    connection->tls =
        std::make_unique<ssl::stream<tcp::socket&>>(connection->socket, *connection->tls_context);
  }
  Arm(connect_timer, request.connect_timeout, UpstreamOutcome::kConnectFailed);
  auto on_connect = [t = shared_from_this()](const error_code& ec, auto&&...) {
    if (!t->active) return;
    if (ec) {
      return t->Finish(UpstreamOutcome::kConnectFailed,
                       absl::StrCat("cannot connect to ", t->Where(), ": ", ec.message()));
    }
    t->OnConnected();
  };
  error_code ec;
  const auto address = net::ip::make_address(url.host, ec);
  host_is_address = !ec;
  if (host_is_address) {
    const auto port = static_cast<unsigned short>(std::stoi(url.port));
    connection->socket.async_connect(tcp::endpoint(address, port), std::move(on_connect));
    return;
  }
  resolver = std::make_unique<tcp::resolver>(loop->io_);
  resolver->async_resolve(
      url.host, url.port,
      [t = shared_from_this(), on_connect = std::move(on_connect)](
          const error_code& ec, tcp::resolver::results_type results) mutable {
        t->resolver.reset();
        if (!t->active) return;
        if (ec) {
          return t->Finish(UpstreamOutcome::kConnectFailed,
                           absl::StrCat("cannot resolve ", t->url.host, ": ", ec.message()));
        }
        net::async_connect(t->connection->socket, results, std::move(on_connect));
      });
}

void Transfer::OnConnected() {
  error_code ignored;
  connection->socket.set_option(tcp::no_delay(true), ignored);
  connection->socket.set_option(net::socket_base::keep_alive(true), ignored);
  connected = true;
  if (!connection->tls) {
    connect_timer.cancel();
    if (request.method == UpstreamRequest::Method::kConnectOnly)
      return Finish(UpstreamOutcome::kOk, {});
    return Send();
  }
  SSL* ssl = connection->tls->native_handle();
  if (!host_is_address) SSL_set_tlsext_host_name(ssl, url.host.c_str());  // SNI takes names only
  if (request.tls == nullptr || request.tls->verify) {
    // The certificate must name the host the URL names, as a DNS name or an IP address.
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (host_is_address) {
      X509_VERIFY_PARAM_set1_ip_asc(param, url.host.c_str());
    } else {
      X509_VERIFY_PARAM_set1_host(param, url.host.c_str(), 0);
    }
  }
  connection->tls->async_handshake(ssl::stream_base::client, [t = shared_from_this()](
                                                                 const error_code& ec) {
    if (!t->active) return;
    t->connect_timer.cancel();
    if (ec) {
      // OpenSSL's first queued reason is often a by-product ("EVP lib"); the verification
      // result says what the operator must fix.
      const long verify = SSL_get_verify_result(t->connection->tls->native_handle());
      ERR_clear_error();
      return t->Finish(UpstreamOutcome::kTransportError,
                       absl::StrCat("TLS handshake with ", t->Where(), " failed: ",
                                    verify != X509_V_OK
                                        ? absl::StrCat("certificate verify failed (",
                                                       X509_verify_cert_error_string(verify), ")")
                                        : ec.message()));
    }
    if (t->request.method == UpstreamRequest::Method::kConnectOnly) {
      return t->Finish(UpstreamOutcome::kOk, {});
    }
    t->Send();
  });
}

void Transfer::Send() {
  const std::array<net::const_buffer, 2> buffers{net::buffer(head), net::buffer(request.body)};
  connection->Write(buffers, [t = shared_from_this()](const error_code& ec, std::size_t) {
    if (!t->active) return;
    if (ec) {
      if (t->RetryFresh()) return;
      return t->Finish(
          UpstreamOutcome::kTransportError,
          absl::StrCat("sending the request to ", t->Where(), " failed: ", ec.message()));
    }
    t->parser.emplace(*t);
    // A HEAD answer's Content-Length describes a body that is not sent.
    if (t->request.method == UpstreamRequest::Method::kHead) t->parser->skip(true);
    if (t->request.idle_timeout.count() > 0) {
      t->last_read = std::chrono::steady_clock::now();
      t->WaitIdle(t->request.idle_timeout);
    }
    t->Read();
  });
}

void Transfer::WaitIdle(std::chrono::steady_clock::duration after) {
  idle_timer.expires_after(after);
  idle_timer.async_wait([t = shared_from_this()](const error_code& ec) {
    if (!ec && t->active) t->OnIdleTimer();
  });
}

void Transfer::OnIdleTimer() {
  const auto now = std::chrono::steady_clock::now();
  // Paused for a caller that reads slowly: the backend is not the one idle.
  if (paused) last_read = now;
  const auto quiet_until = last_read + request.idle_timeout;
  if (now < quiet_until) return WaitIdle(quiet_until - now);
  Finish(UpstreamOutcome::kIdleTimeout,
         absl::StrCat(Where(), " sent nothing for idle_timeout (", Millis(request.idle_timeout),
                      received ? ") in the middle of its answer" : ") before answering"));
}

bool Transfer::RetryFresh() {
  if (!reused || received || http_status != 0 || (parser && parser->got_some())) return false;
  // Called from the failed operation's completion: nothing else is pending on the connection.
  connection.reset();
  parser.reset();
  reused = connected = false;
  Connect();
  return true;
}

void Transfer::Read() {
  if (reading || paused || !active) return;
  UpstreamConnection& c = *connection;
  if (c.buffer.empty()) c.buffer.resize(kInitialReadBuffer);
  if (c.begin == c.end) c.begin = c.end = 0;
  if (c.end == c.buffer.size() && c.begin > 0) {
    // Unparsed bytes (a header or chunk size line still incomplete) move to the front. A full
    // buffer with nothing parsed cannot happen: OnRead doubles a buffer a read filled, and the
    // parser's header limit is below the largest buffer.
    std::copy(c.buffer.begin() + c.begin, c.buffer.begin() + c.end, c.buffer.begin());
    c.end -= c.begin;
    c.begin = 0;
  }
  reading = true;
  c.ReadSome(net::buffer(c.buffer.data() + c.end, c.buffer.size() - c.end),
             [t = shared_from_this()](const error_code& ec, std::size_t n) { t->OnRead(ec, n); });
}

void Transfer::OnRead(const error_code& ec, std::size_t n) {
  reading = false;
  if (!active) return;
  UpstreamConnection& c = *connection;
  if (ec) {
    if (RetryFresh()) return;
    const bool eof = ec == net::error::eof || ec == ssl::error::stream_truncated;
    if (eof && parser->is_header_done() && parser->need_eof()) {
      error_code finish;
      parser->put_eof(finish);
      if (!finish) return OnMessageDone();
    }
    return Finish(
        UpstreamOutcome::kTransportError,
        eof ? absl::StrCat("the backend at ", Where(), " closed the connection ",
                           parser->got_some() ? "before its answer ended" : "without answering")
            : absl::StrCat("reading the answer from ", Where(), " failed: ", ec.message()));
  }
  const bool filled = n == c.buffer.size() - c.end;
  c.end += n;
  if (request.idle_timeout.count() > 0) last_read = std::chrono::steady_clock::now();
  // A read that filled the buffer: more is likely waiting.
  if (filled && c.buffer.size() < kMaxReadBuffer) c.buffer.resize(c.buffer.size() * 2);
  Parse();
}

void Transfer::Parse() {
  UpstreamConnection& c = *connection;
  while (c.begin < c.end) {
    error_code ec;
    const std::size_t used =
        parser->put(net::buffer(c.buffer.data() + c.begin, c.end - c.begin), ec);
    c.begin += used;
    if (ec == beast_http::error::need_more) break;
    if (ec) {
      if (body_failure != UpstreamOutcome::kOk) return Finish(body_failure, protocol_error);
      return Finish(UpstreamOutcome::kTransportError,
                    absl::StrCat("malformed HTTP answer from ", Where(), ": ", ec.message()));
    }
    if (parser->is_done()) {
      if (http_status >= 200) return OnMessageDone();
      parser.emplace(*this);  // an interim 1xx answer; the final one follows
      if (request.method == UpstreamRequest::Method::kHead) parser->skip(true);
      content_type.reset();
      continue;
    }
    if (used == 0) break;
  }
  Read();
}

void Transfer::OnHeader(error_code& ec) {
  if (!Success() || request.any_answer_type) return;
  // A proxy's HTML error page or a wrong port answered with 200 would otherwise surface as a
  // confusing "malformed chunk" after the caller may already have been sent something. Non-2xx
  // answers are left alone: their bodies (JSON or text) are only quoted in the error.
  if (content_type && (IsNdjsonContentType(*content_type) ||
                       (request.event_stream && IsEventStreamContentType(*content_type)))) {
    return;
  }
  body_failure = UpstreamOutcome::kTransportError;
  protocol_error = ContentTypeError(http_status, content_type);
  ec = beast_http::error::bad_value;
}

std::size_t Transfer::OnBody(std::string_view body, error_code& ec) {
  if (body.empty()) return 0;
  if (!received) {
    received = true;
    first_byte_timer.cancel();
  }
  if (!Success()) {
    const std::size_t room = kMaxErrorBody - std::min(kMaxErrorBody, error_body.size());
    error_body.append(body.data(), std::min(room, body.size()));
    if (room < body.size()) {
      // Enough to quote; the rest is not read.
      body_failure = UpstreamOutcome::kHttpError;
      ec = beast_http::error::body_limit;
    }
    return body.size();
  }
  absl::Status status = splitter.Feed(body, [&](std::string_view line) {
    if (!aborted_by_handler && !handler->OnLine(line)) aborted_by_handler = true;
  });
  if (!status.ok()) {
    body_failure = UpstreamOutcome::kLineTooLong;
    protocol_error = absl::StrCat(status.message(), " (upstream.max_line_bytes)");
    ec = beast_http::error::body_limit;
  } else if (aborted_by_handler) {
    body_failure = UpstreamOutcome::kAborted;
    protocol_error = "aborted by the request handler";
    ec = beast_http::error::body_limit;
  }
  return body.size();
}

void Transfer::OnMessageDone() {
  UpstreamOutcome outcome = UpstreamOutcome::kOk;
  std::string message;
  if (!Success()) {
    outcome = UpstreamOutcome::kHttpError;
  } else {
    // A last line without its newline is still a line.
    const std::string_view rest = splitter.pending();
    if (!rest.empty() && !handler->OnLine(std::string(rest))) aborted_by_handler = true;
    if (aborted_by_handler) {
      outcome = UpstreamOutcome::kAborted;
      message = "aborted by the request handler";
    }
  }
  // Reused only after a clean end with nothing unread behind it.
  if (parser->keep_alive() && connection->begin == connection->end &&
      outcome != UpstreamOutcome::kAborted) {
    connection->begin = connection->end = 0;
    loop->GiveBack(std::move(connection));
  }
  Finish(outcome, std::move(message));
}

void Transfer::Arm(net::steady_timer& timer, std::chrono::milliseconds after,
                   UpstreamOutcome bound) {
  timer.expires_after(after);
  timer.async_wait([t = shared_from_this(), bound](const error_code& ec) {
    if (!ec && t->active) t->Expire(bound);
  });
}

void Transfer::Expire(UpstreamOutcome bound) {
  switch (bound) {
    case UpstreamOutcome::kConnectFailed:
      return Finish(bound, absl::StrCat("cannot connect to ", Where(), " within connect_timeout (",
                                        Millis(request.connect_timeout), ")"));
    case UpstreamOutcome::kFirstByteTimeout:
      return Finish(bound, absl::StrCat("no response within first_byte_timeout (",
                                        Millis(request.first_byte_timeout), ")"));
    default:
      // A time bound that ends the request before a connection was made is a connect failure.
      return Finish(
          connected ? UpstreamOutcome::kTimeout : UpstreamOutcome::kConnectFailed,
          absl::StrCat(connected ? "no complete answer from " : "no connection to ", Where(),
                       " within the request's time bound (", Millis(request.timeout), ")"));
  }
}

void Transfer::Finish(UpstreamOutcome outcome, std::string message) {
  if (!active) return;
  active = false;
  deadline.cancel();
  connect_timer.cancel();
  first_byte_timer.cancel();
  idle_timer.cancel();
  if (resolver) resolver->cancel();
  if (connection) connection->Close();  // pending operations complete, cancelled
  loop->Forget(this);  // `this` lives on in the caller's handle and pending operations
  UpstreamResult result;
  result.outcome = outcome;
  result.http_status = http_status;
  result.body = std::move(error_body);
  result.message = std::move(message);
  result.received_bytes = received;
  handler->OnComplete(std::move(result));
}

namespace {
thread_local EventLoop* current_loop = nullptr;
// How long a stopping loop waits for work other than its requests (see ~EventLoop).
constexpr auto kStopGrace = std::chrono::seconds(2);
}  // namespace

EventLoop* EventLoop::Current(const void* owner) {
  return current_loop != nullptr && current_loop->owner_ == owner ? current_loop : nullptr;
}

EventLoop::EventLoop(const void* owner)
    : owner_(owner),
      work_(net::make_work_guard(io_)),
      sweep_timer_(io_),
      tls_contexts_(std::make_unique<TlsContexts>()) {
  SweepIdle();
  thread_ = std::thread([this] {
    current_loop = this;
    io_.run();
    ran_out_.set_value();
  });
}

EventLoop::~EventLoop() {
  std::future<void> ran_out = ran_out_.get_future();
  net::post(io_, [this] { Stop(); });
  if (ran_out.wait_for(kStopGrace) != std::future_status::ready) io_.stop();
  thread_.join();
}

void EventLoop::Stop() {
  stopping_ = true;
  sweep_timer_.cancel();
  // Whoever still waits is told so; requests posted from now on are aborted at once.
  while (!active_.empty()) {
    std::shared_ptr<Transfer> t = active_.begin()->second;
    t->Finish(UpstreamOutcome::kAborted, "the gateway is shutting down");
  }
  idle_.clear();
  idle_count_ = 0;
  work_.reset();  // run() returns once the cancelled operations have completed
}

UpstreamCall EventLoop::Start(UpstreamRequest request, UpstreamHandler* handler) {
  auto transfer = std::make_shared<Transfer>(this, std::move(request), handler);
  net::post(io_, [this, transfer] { Begin(transfer); });
  return UpstreamCall(std::move(transfer));
}

void EventLoop::Begin(const std::shared_ptr<Transfer>& t) {
  t->active = true;
  active_.emplace(t.get(), t);
  active_count_.store(active_.size(), std::memory_order_relaxed);
  if (stopping_) return t->Finish(UpstreamOutcome::kAborted, "the gateway is shutting down");
  t->Begin();
}

void EventLoop::Forget(Transfer* t) {
  active_.erase(t);
  active_count_.store(active_.size(), std::memory_order_relaxed);
}

std::unique_ptr<UpstreamConnection> EventLoop::TakeIdle(const std::string& key) {
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  auto& list = it->second;
  std::unique_ptr<UpstreamConnection> found;
  while (!list.empty() && found == nullptr) {
    std::unique_ptr<UpstreamConnection> c = std::move(list.back());
    list.pop_back();
    --idle_count_;
    if (c->LooksOpen()) found = std::move(c);
  }
  if (list.empty()) idle_.erase(it);
  return found;
}

void EventLoop::GiveBack(std::unique_ptr<UpstreamConnection> connection) {
  if (stopping_ || idle_count_ >= kMaxIdleConnections) return;
  auto& list = idle_[connection->key];
  if (list.size() >= kMaxIdlePerOrigin) return;
  connection->idle_since = std::chrono::steady_clock::now();
  list.push_back(std::move(connection));
  ++idle_count_;
}

void EventLoop::SweepIdle() {
  const auto cutoff = std::chrono::steady_clock::now() - kIdleTimeout;
  for (auto it = idle_.begin(); it != idle_.end();) {
    auto& list = it->second;
    const auto old = std::remove_if(list.begin(), list.end(), [&](const auto& c) {
      return c->idle_since < cutoff || !c->LooksOpen();
    });
    idle_count_ -= static_cast<std::size_t>(list.end() - old);
    list.erase(old, list.end());
    it = list.empty() ? idle_.erase(it) : std::next(it);
  }
  sweep_timer_.expires_after(kSweepInterval);
  sweep_timer_.async_wait([this](const error_code& ec) {
    if (!ec && !stopping_) SweepIdle();
  });
}

}  // namespace og
