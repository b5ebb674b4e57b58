#include "http/connection.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <exception>
#include <utility>

#include "http/wire.h"

namespace og::http::internal {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
using boost::system::error_code;

// How much a client may send ahead (pipelined requests) while its current request is being
// answered before we stop reading, and with it stop noticing disconnects, until the answer is out.
constexpr std::size_t kMaxReadAhead = 64 << 10;
// After an error reply (or an early one from header_check), how long and how much of the rest of
// the request we read and drop. Closing with unread bytes makes the kernel send a reset, which
// may destroy the answer before the client reads it; a little draining lets it arrive, and 64 KiB
// covers what a client sends before it reads (curl waits for `100 Continue`, most clients stop at
// the answer), without letting a refused client push megabytes at us.
constexpr auto kDrainTime = std::chrono::seconds(2);
constexpr std::size_t kMaxDrainBytes = 64 << 10;

// Read buffers of Connection::kScratchBytes not lent to a connection, per thread: a worker's
// connections take one to read a request and give it back when they start answering, so
// request after request on a worker reuses a few of them, and a held stream keeps none.
constexpr std::size_t kMaxSpareScratch = 64;
thread_local std::vector<std::unique_ptr<char[]>> spare_scratch;

std::string FormatRemote(const net::ip::tcp::socket& socket) {
  error_code ec;
  const auto endpoint = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  const auto address = endpoint.address();
  std::string host = address.to_string(ec);
  if (address.is_v6()) host = "[" + host + "]";
  return host + ":" + std::to_string(endpoint.port());
}

// The request without its body, which the caller moves in when there is one.
Request MakeRequest(const beast::http::request_header<>& message, const std::string& remote,
                    bool tls, const std::string& peer_certificate_der) {
  Request request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  const std::size_t question = request.target.find('?');
  request.path = request.target.substr(0, question);
  if (question != std::string::npos) request.query = request.target.substr(question + 1);
  request.version = message.version() == 10 ? 10 : 11;
  request.headers.reserve(8);
  for (const auto& field : message) {
    std::string name(field.name_string());
    for (char& c : name) {
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    request.headers.emplace_back(std::move(name), std::string(field.value()));
  }
  request.remote = remote;
  request.tls = tls;
  request.peer_certificate_der = peer_certificate_der;
  return request;
}

}  // namespace

void Stream::UseTls(std::shared_ptr<net::ssl::context> context) {
  context_ = std::move(context);
  tls_.emplace(std::move(*plain_), *context_);
  plain_.reset();
}

std::string Stream::PeerCertificateDer() {
  if (!tls_) return {};
  SSL* ssl = tls_->native_handle();
  const X509* cert = SSL_get0_peer_certificate(ssl);
  // The context's verify mode already fails a handshake whose certificate does not verify; the
  // check here keeps the "verified" promise of Request::peer_certificate_der whatever the mode.
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  const int size = i2d_X509(cert, nullptr);
  if (size <= 0) return {};
  std::string der(static_cast<std::size_t>(size), '\0');
  auto* out = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_X509(cert, &out) != size) return {};
  return der;
}

Deadline::Deadline(Connection& owner, OnExpire on_expire)
    : owner_(owner), on_expire_(on_expire), timer_(owner.executor()) {}

void Deadline::Arm(std::chrono::steady_clock::duration after) {
  deadline_ = std::chrono::steady_clock::now() + after;
  if (waiting_ && timer_.expiry() <= deadline_) return;  // it waits again when it fires
  Wait();
}

void Deadline::Cancel() {
  deadline_ = kNone;
  timer_.cancel();
}

void Deadline::Wait() {
  timer_.expires_at(deadline_);  // cancels a wait still pending (it sees a newer generation)
  waiting_ = true;
  timer_.async_wait(
      [this, owner = owner_.shared_from_this(), generation = ++generation_](const error_code& ec) {
        if (generation != generation_) return;  // a later wait replaced it
        waiting_ = false;
        if (ec || deadline_ == kNone) return;
        if (std::chrono::steady_clock::now() < deadline_) return Wait();
        ((*owner).*on_expire_)();
      });
}

Connection::Connection(std::shared_ptr<ServerCore> core, Executor executor,
                       net::ip::tcp::socket socket)
    : core_(std::move(core)),
      executor_(std::move(executor)),
      stream_(std::move(socket)),
      read_deadline_(*this, &Connection::OnReadDeadline),
      write_deadline_(*this, &Connection::OnWriteDeadline),
      reader_(RequestLimits{core_->options().max_header_bytes, core_->options().max_body_bytes}) {}

Connection::~Connection() {
  core_->Unregister(this);
  core_->ConnectionDestroyed();
}

void Connection::Start() {
  if (!core_->Register(this)) {
    Close(CloseKind::kGraceful);
    return;
  }
  error_code ec;
  // Streams are many small writes that must leave at once; Nagle would hold them back.
  stream_.tcp().set_option(net::ip::tcp::no_delay(true), ec);
  remote_ = FormatRemote(stream_.tcp());
  if (core_->options().tls) {
    StartTls();
    return;
  }
  BeginRequest(ReadPhase::kHeader);
  Read();
}

void Connection::StartTls() {
  // Asked once per connection, so a reloaded certificate reaches the next connection while this
  // one keeps the context it started with.
  std::shared_ptr<net::ssl::context> context;
  {
    const ServerCore::CallbackScope scope(*core_);
    if (scope.open()) context = core_->options().tls();
  }
  if (context == nullptr) {
    Close(CloseKind::kGraceful);
    return;
  }
  stream_.UseTls(std::move(context));
  state_ = State::kHandshaking;
  read_deadline_.Arm(core_->options().handshake_timeout);
  stream_.AsyncHandshake(
      [self = shared_from_this()](const error_code& ec) { self->OnHandshake(ec); });
}

void Connection::OnHandshake(const error_code& ec) {
  if (state_ == State::kClosed) return;
  if (ec) {
    // Port scanners, plaintext clients, TLS 1.2 clients and certificates from the wrong CA are
    // routine on an open port and the client already got its alert: close without a trace.
    Close(CloseKind::kGraceful);
    return;
  }
  peer_certificate_der_ = stream_.PeerCertificateDer();
  BeginRequest(ReadPhase::kHeader);
  Read();
}

void Connection::Shutdown() {
  net::post(executor_, [self = shared_from_this()] { self->Close(CloseKind::kGraceful); });
}

bool Connection::IsCurrent(const Exchange& exchange) const {
  return exchange.sequence_ == sequence_ && state_ != State::kClosed;
}

void Connection::BeginRequest(ReadPhase phase) {
  state_ = State::kReading;
  continue_sent_ = false;
  too_large_.reset();
  reader_.Reset();
  // Bytes already buffered (a pipelined request) mean the next request has begun.
  EnterPhase(in_.size() > 0 ? ReadPhase::kHeader : phase);
  ParseBuffered();
}

void Connection::EnterPhase(ReadPhase phase) {
  phase_ = phase;
  const ServerOptions& options = core_->options();
  switch (phase) {
    case ReadPhase::kIdle:
      read_deadline_.Arm(options.keepalive_timeout);
      return;
    case ReadPhase::kHeader:
      read_deadline_.Arm(options.header_timeout);
      return;
    case ReadPhase::kBody:
      read_deadline_.Arm(options.body_timeout);
      return;
  }
}

void Connection::Read() {
  if (reading_ || state_ == State::kClosed) return;
  const bool answering = state_ == State::kActive || state_ == State::kFinishing;
  if (answering && in_.size() >= kMaxReadAhead) return;
  reading_ = true;
  net::mutable_buffer into;
  if (answering) {
    // The read of a connection being answered is there to notice the client leaving (and to
    // take in what it pipelines, rarely): a small buffer does, so a held stream holds no more.
    ReturnScratch();
    into = net::buffer(watch_);
  } else {
    if (scratch_ == nullptr) {
      if (spare_scratch.empty()) {
        scratch_ = std::make_unique<char[]>(kScratchBytes);
      } else {
        scratch_ = std::move(spare_scratch.back());
        spare_scratch.pop_back();
      }
    }
    into = net::buffer(scratch_.get(), kScratchBytes);
  }
  stream_.AsyncReadSome(into, [self = shared_from_this()](const error_code& ec, std::size_t bytes) {
    self->OnRead(ec, bytes);
  });
}

void Connection::ReturnScratch() {
  if (scratch_ == nullptr) return;
  if (spare_scratch.size() < kMaxSpareScratch) spare_scratch.push_back(std::move(scratch_));
  scratch_.reset();
}

void Connection::OnRead(const error_code& ec, std::size_t bytes) {
  reading_ = false;
  if (state_ == State::kClosed) return;
  if (ec) {
    // EOF or a reset. Idle, half-sent request, draining: just close. Mid-answer: the client left
    // (Close tells the exchange). A client that half-closes after its request is treated as gone,
    // as Go's net/http (and so Ollama) does.
    Close(CloseKind::kGraceful);
    return;
  }
  if (state_ == State::kDraining) {
    drained_bytes_ += bytes;
    if (drained_bytes_ > kMaxDrainBytes) {
      Close(CloseKind::kGraceful);
      return;
    }
    Read();
    return;
  }
  const auto dest = in_.prepare(bytes);
  std::copy_n(scratch_ != nullptr ? scratch_.get() : watch_.data(), bytes,
              static_cast<char*>(dest.data()));
  in_.commit(bytes);
  if (state_ == State::kReading) {
    const ReadPhase before = phase_;
    // The header timeout runs from the first byte of the request, not from each byte.
    if (phase_ == ReadPhase::kIdle) EnterPhase(ReadPhase::kHeader);
    ParseBuffered();
    // The body timeout is about gaps: every read of the body restarts it.
    if (state_ == State::kReading && before == ReadPhase::kBody) EnterPhase(ReadPhase::kBody);
  }
  Read();
}

void Connection::ParseBuffered() {
  while (state_ == State::kReading) {
    std::size_t used = 0;
    const auto progress = reader_.Feed(
        std::string_view(static_cast<const char*>(in_.data().data()), in_.size()), &used);
    in_.consume(used);
    switch (progress) {
      case RequestReader::Progress::kNeedMore:
        MaybeSendContinue();
        return;
      case RequestReader::Progress::kError:
        Reject(reader_.error_status());
        return;
      case RequestReader::Progress::kHeaderDone:
        OnHeaderDone();
        break;
      case RequestReader::Progress::kRequestDone:
        Dispatch();
        return;
    }
  }
}

void Connection::OnHeaderDone() {
  if (!reader_.request_done()) EnterPhase(ReadPhase::kBody);
  std::optional<EarlyResponse> early = CheckHead();
  if (!early) early = ChooseBodyLimit();
  if (!early) return;
  Refuse(early->status, early->content_type, early->body, early->headers, reader_.request_done());
}

std::optional<EarlyResponse> Connection::CheckHead() {
  const auto& check = core_->options().header_check;
  if (!check) return std::nullopt;
  std::optional<EarlyResponse> early;
  const ServerCore::CallbackScope scope(*core_);
  try {
    if (!scope.open()) {
      // The server's owner is going: nothing it would say can be asked any more.
      early = EarlyResponse{503, "text/plain; charset=utf-8", "503 Service Unavailable\n", {}};
    } else {
      early = check(MakeRequest(reader_.head(), remote_, stream_.is_tls(), peer_certificate_der_));
    }
  } catch (const std::exception& e) {
    early = EarlyResponse{500,
                          "text/plain; charset=utf-8",
                          std::string("500 Internal Server Error: ") + e.what() + "\n",
                          {}};
  } catch (...) {
    early = EarlyResponse{500, "text/plain; charset=utf-8", "500 Internal Server Error\n", {}};
  }
  return early;
}

std::optional<EarlyResponse> Connection::ChooseBodyLimit() {
  const auto& choose = core_->options().body_limit;
  if (!choose || reader_.request_done()) return std::nullopt;
  BodyLimit limit;
  const ServerCore::CallbackScope scope(*core_);
  try {
    if (!scope.open()) {
      return EarlyResponse{503, "text/plain; charset=utf-8", "503 Service Unavailable\n", {}};
    }
    limit = choose(MakeRequest(reader_.head(), remote_, stream_.is_tls(), peer_certificate_der_));
  } catch (const std::exception& e) {
    return EarlyResponse{500,
                         "text/plain; charset=utf-8",
                         std::string("500 Internal Server Error: ") + e.what() + "\n",
                         {}};
  } catch (...) {
    return EarlyResponse{500, "text/plain; charset=utf-8", "500 Internal Server Error\n", {}};
  }
  too_large_ = std::move(limit.too_large);
  if (!reader_.LimitBody(limit.max_bytes)) return too_large_;
  return std::nullopt;
}

void Connection::MaybeSendContinue() {
  // curl (the gateway's client) sends `Expect: 100-continue` with larger bodies and waits a
  // second for this interim response before sending the body anyway. Only once the head passed
  // header_check: a refused client gets its answer instead and never sends the body.
  if (continue_sent_ || !reader_.header_done() || reader_.request_done()) return;
  const auto& head = reader_.head();
  if (head.version() < 11) return;
  if (!beast::iequals(head[beast::http::field::expect], "100-continue")) return;
  continue_sent_ = true;
  out_ += "HTTP/1.1 100 Continue\r\n\r\n";
  ScheduleFlush();
}

void Connection::Reject(int status) {
  if (status == 413 && too_large_) {
    const EarlyResponse answer = *std::move(too_large_);
    too_large_.reset();
    Refuse(answer.status, answer.content_type, answer.body, answer.headers, /*complete=*/false);
    return;
  }
  std::string body = std::to_string(status) + " " + std::string(ReasonPhrase(status)) + "\n";
  Refuse(status, "text/plain; charset=utf-8", body, {}, /*complete=*/false);
}

void Connection::Refuse(int status, std::string_view content_type, std::string_view body,
                        const Headers& extra, bool complete) {
  read_deadline_.Disarm();
  // The head is known only once it parsed; a malformed request gets an HTTP/1.1 answer.
  version_ = 11;
  head_ = false;
  keep_alive_ = false;
  if (reader_.header_done()) {
    const auto& head = reader_.head();
    version_ = head.version() == 10 ? 10 : 11;
    head_ = head.method() == beast::http::verb::head;
    keep_alive_ = complete && head.keep_alive();
  }
  ++sequence_;
  state_ = State::kFinishing;
  reply_ = Reply::kNone;
  close_after_ = false;
  abort_after_ = false;
  drain_after_ = !complete;
  DoRespond(status, content_type, body, extra);
}

void Connection::Dispatch() {
  read_deadline_.Disarm();
  auto message = reader_.Release();
  head_ = message.method() == beast::http::verb::head;
  keep_alive_ = message.keep_alive();
  version_ = message.version() == 10 ? 10 : 11;
  ++sequence_;
  reply_ = Reply::kNone;
  close_after_ = false;
  drain_after_ = false;
  abort_after_ = false;
  state_ = State::kActive;
  Request request = MakeRequest(message, remote_, stream_.is_tls(), peer_certificate_der_);
  request.body = std::move(message.body());
  auto exchange = std::make_shared<Exchange>(Exchange::Key{}, shared_from_this(), sequence_,
                                             std::move(request));
  exchange_ = exchange;
  const ServerCore::CallbackScope scope(*core_);
  if (!scope.open()) return exchange->Abort();  // the server's owner is going
  try {
    core_->handler()(exchange);
  } catch (const std::exception& e) {
    if (reply_ == Reply::kNone) {
      Respond(exchange, 500, "text/plain; charset=utf-8",
              std::string("500 Internal Server Error: ") + e.what() + "\n", {});
    } else {
      Abort(exchange);
    }
  } catch (...) {
    Abort(exchange);
  }
}

void Connection::Respond(std::shared_ptr<Exchange> exchange, int status, std::string content_type,
                         std::string body, Headers extra) {
  net::dispatch(executor_, [this, exchange = std::move(exchange), status,
                            content_type = std::move(content_type), body = std::move(body),
                            extra = std::move(extra)] {
    if (!IsCurrent(*exchange) || reply_ != Reply::kNone) return;
    EndExchange(exchange.get());
    DoRespond(status, content_type, body, extra);
  });
}

void Connection::DoRespond(int status, std::string_view content_type, std::string_view body,
                           const Headers& extra) {
  reply_ = Reply::kDone;
  state_ = State::kFinishing;
  if (!keep_alive_) close_after_ = true;
  AppendStatusLine(out_, version_, status);
  AppendDateHeader(out_);
  if (!content_type.empty()) AppendHeader(out_, "Content-Type", content_type);
  const bool no_body = StatusHasNoBody(status);
  if (!no_body) AppendHeader(out_, "Content-Length", std::to_string(body.size()));
  for (const auto& [name, value] : extra) AppendHeader(out_, name, value);
  if (close_after_) {
    out_ += "Connection: close\r\n";
  } else if (version_ == 10) {
    out_ += "Connection: keep-alive\r\n";
  }
  out_ += "\r\n";
  if (!head_ && !no_body) out_ += body;
  ScheduleFlush();
}

void Connection::StartStream(std::shared_ptr<Exchange> exchange, int status,
                             std::string content_type, Headers extra) {
  net::dispatch(executor_, [this, exchange = std::move(exchange), status,
                            content_type = std::move(content_type), extra = std::move(extra)] {
    if (!IsCurrent(*exchange) || reply_ != Reply::kNone) return;
    reply_ = Reply::kStreaming;
    // HTTP/1.0 has no chunked encoding: the end of the body is the end of the connection.
    chunked_ = version_ >= 11;
    if (!chunked_ || !keep_alive_) close_after_ = true;
    AppendStatusLine(out_, version_, status);
    AppendDateHeader(out_);
    if (!content_type.empty()) AppendHeader(out_, "Content-Type", content_type);
    for (const auto& [name, value] : extra) AppendHeader(out_, name, value);
    if (chunked_) out_ += "Transfer-Encoding: chunked\r\n";
    if (close_after_) out_ += "Connection: close\r\n";
    out_ += "\r\n";
    ScheduleFlush();
  });
}

void Connection::Write(std::shared_ptr<Exchange> exchange, std::string data,
                       std::function<void(bool)> on_written) {
  net::dispatch(executor_, [this, exchange = std::move(exchange), data = std::move(data),
                            on_written = std::move(on_written)]() mutable {
    if (!IsCurrent(*exchange) || reply_ != Reply::kStreaming) {
      if (on_written) net::post(executor_, [cb = std::move(on_written)] { cb(false); });
      return;
    }
    if (!head_ && !data.empty()) {
      if (chunked_) {
        AppendChunk(out_, data);
      } else {
        out_ += data;
      }
    }
    // A callback rides with the bytes queued before it, so it reports them all written.
    if (on_written) out_callbacks_.push_back(std::move(on_written));
    ScheduleFlush();
  });
}

void Connection::EndStream(std::shared_ptr<Exchange> exchange) {
  net::dispatch(executor_, [this, exchange = std::move(exchange)] {
    if (!IsCurrent(*exchange) || reply_ != Reply::kStreaming) return;
    EndExchange(exchange.get());
    reply_ = Reply::kDone;
    state_ = State::kFinishing;
    if (chunked_ && !head_) out_ += kLastChunk;
    ScheduleFlush();
  });
}

void Connection::Abort(std::shared_ptr<Exchange> exchange) {
  net::dispatch(executor_, [this, exchange = std::move(exchange)] {
    if (!IsCurrent(*exchange) || reply_ == Reply::kDone) return;
    EndExchange(exchange.get());
    reply_ = Reply::kDone;
    state_ = State::kFinishing;
    abort_after_ = true;
    ScheduleFlush();
  });
}

void Connection::CloseMidChunk(std::shared_ptr<Exchange> exchange, std::string chunk,
                               std::size_t sent_bytes) {
  net::dispatch(
      executor_, [this, exchange = std::move(exchange), chunk = std::move(chunk), sent_bytes] {
        if (!IsCurrent(*exchange) || reply_ != Reply::kStreaming) return;
        EndExchange(exchange.get());
        reply_ = Reply::kDone;
        state_ = State::kFinishing;
        close_after_ = true;  // a graceful close once flushed: FIN, so the client reads every byte
        if (head_) return ScheduleFlush();
        const std::string_view sent = std::string_view(chunk).substr(0, sent_bytes);
        if (chunked_) AppendChunkHeader(out_, std::max(chunk.size(), sent.size() + 1));
        out_ += sent;
        ScheduleFlush();
      });
}

void Connection::OnClientGone(std::shared_ptr<Exchange> exchange, std::function<void()> callback) {
  net::dispatch(executor_,
                [this, exchange = std::move(exchange), callback = std::move(callback)]() mutable {
                  if (exchange->ended_.load(std::memory_order_acquire)) return;
                  if (exchange->client_gone()) {
                    net::post(executor_, std::move(callback));
                    return;
                  }
                  if (exchange->sequence_ == sequence_) on_gone_ = std::move(callback);
                });
}

void Connection::Abandoned(std::uint64_t sequence) {
  if (sequence != sequence_ || state_ == State::kClosed) return;
  if (reply_ == Reply::kNone) {
    reply_ = Reply::kDone;
    on_gone_ = nullptr;
    DoRespond(500, "text/plain; charset=utf-8",
              "500 Internal Server Error: the request was dropped unanswered\n", {});
  } else if (reply_ == Reply::kStreaming) {
    reply_ = Reply::kDone;
    on_gone_ = nullptr;
    abort_after_ = true;
    state_ = State::kFinishing;
    ScheduleFlush();
  }
}

void Connection::EndExchange(Exchange* exchange) {
  exchange->ended_.store(true, std::memory_order_release);
  // Dropping the callback here breaks cycles such as callback -> producer -> exchange.
  auto callback = std::move(on_gone_);
  on_gone_ = nullptr;
}

void Connection::ScheduleFlush() {
  if (flush_posted_ || writing_ || state_ == State::kClosed) return;
  // Flushing from a posted step lets every write made in this turn of the loop (headers, the
  // first chunk, ...) leave in one system call.
  flush_posted_ = true;
  net::post(executor_, [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->Flush();
  });
}

void Connection::Flush() {
  while (!writing_ && state_ != State::kClosed) {
    if (!out_.empty()) {
      writing_ = true;
      std::swap(out_, wbuf_);
      std::swap(out_callbacks_, wcallbacks_);
      wbuf_sent_ = 0;
      WriteSome();
      return;
    }
    if (out_callbacks_.empty()) {
      AfterFlushed();
      return;
    }
    // Callbacks of writes that sent no bytes (HEAD, empty data): everything before them is out.
    std::swap(out_callbacks_, wcallbacks_);
    RunCallbacks(wcallbacks_, true);
  }
}

void Connection::WriteSome() {
  write_deadline_.Arm(core_->options().write_timeout);
  stream_.AsyncWriteSome(net::buffer(wbuf_.data() + wbuf_sent_, wbuf_.size() - wbuf_sent_),
                         [self = shared_from_this()](const error_code& ec, std::size_t bytes) {
                           self->OnWriteSome(ec, bytes);
                         });
}

void Connection::OnWriteSome(const error_code& ec, std::size_t bytes) {
  const bool failed = ec || state_ == State::kClosed;
  wbuf_sent_ += bytes;
  if (!failed && wbuf_sent_ < wbuf_.size()) {
    WriteSome();  // progress: the write timeout starts again
    return;
  }
  write_deadline_.Disarm();
  writing_ = false;
  wbuf_.clear();
  wbuf_sent_ = 0;
  RunCallbacks(wcallbacks_, !failed);
  if (failed) {
    Close(CloseKind::kGraceful);
    return;
  }
  Flush();
}

void Connection::OnWriteDeadline() {
  if (!writing_) return;
  // The client takes nothing: reset rather than FIN, since a graceful close would wait behind
  // the very bytes it does not read, and free the descriptor now.
  Close(CloseKind::kAbortive);
}

void Connection::RunCallbacks(std::vector<std::function<void(bool)>>& callbacks, bool ok) {
  // Callbacks may queue more writes; those go to out_callbacks_, never to the list being run.
  auto running = std::move(callbacks);
  callbacks.clear();
  for (auto& callback : running) callback(ok);
  running.clear();
  if (callbacks.empty()) callbacks = std::move(running);  // keep the capacity
}

void Connection::AfterFlushed() {
  if (state_ != State::kFinishing) return;
  if (abort_after_) {
    Close(CloseKind::kAbortive);
    return;
  }
  if (reply_ != Reply::kDone) return;
  if (drain_after_) {
    // Over TLS this half-closes TCP without a close_notify, for the reason given in Close.
    error_code ec;
    stream_.tcp().shutdown(net::ip::tcp::socket::shutdown_send, ec);
    state_ = State::kDraining;
    drained_bytes_ = in_.size();
    in_.clear();
    read_deadline_.Arm(kDrainTime);
    Read();
    return;
  }
  if (close_after_) {
    Close(CloseKind::kGraceful);
    return;
  }
  BeginRequest(ReadPhase::kIdle);
  Read();
}

void Connection::OnReadDeadline() {
  if (state_ == State::kHandshaking || state_ == State::kReading || state_ == State::kDraining) {
    Close(CloseKind::kGraceful);
  }
}

void Connection::Close(CloseKind kind) {
  if (state_ == State::kClosed) return;
  const bool answering =
      reply_ != Reply::kDone && (state_ == State::kActive || state_ == State::kFinishing);
  state_ = State::kClosed;
  closed_.store(true, std::memory_order_release);
  read_deadline_.Cancel();
  write_deadline_.Cancel();
  // Over TLS a graceful close is a TCP FIN without a close_notify alert. Every response here
  // carries its own end (Content-Length or the last chunk), so a client cannot mistake a cut
  // for an end, and HTTP clients (curl, Go, Python) accept a FIN after a complete message. A
  // close_notify would need one more asynchronous step that may not overlap the read or write
  // still in flight (Asio's ssl::stream allows one of each), and a timer for clients that never
  // read it. (A streamed answer to an HTTP/1.0 client, delimited by the close itself, is the one
  // case it would protect; a client that cares speaks HTTP/1.1 and gets chunks.)
  error_code ec;
  if (kind == CloseKind::kAbortive) {
    stream_.tcp().set_option(net::socket_base::linger(true, 0), ec);
  } else {
    stream_.tcp().shutdown(net::ip::tcp::socket::shutdown_both, ec);
  }
  stream_.tcp().close(ec);
  reader_.Reset();
  in_.clear();
  in_.shrink_to_fit();
  // Queued writes will never go out. (Callbacks of the write in flight run from OnWrite.)
  if (!out_callbacks_.empty()) {
    net::post(executor_, [callbacks = std::move(out_callbacks_)] {
      for (const auto& callback : callbacks) callback(false);
    });
    out_callbacks_.clear();
  }
  out_.clear();
  if (answering) {
    auto exchange = exchange_.lock();
    if (exchange) exchange->client_gone_.store(true, std::memory_order_release);
    if (on_gone_) net::post(executor_, std::move(on_gone_));
    on_gone_ = nullptr;
  }
}

}  // namespace og::http::internal

namespace og::http {

namespace net = boost::asio;

// ---- Exchange: thin handles that hop onto the connection's thread. ----

Exchange::Exchange(Key, std::shared_ptr<internal::Connection> connection, std::uint64_t sequence,
                   Request request)
    : connection_(std::move(connection)), sequence_(sequence), request_(std::move(request)) {}

Exchange::~Exchange() {
  if (ended_.load(std::memory_order_acquire) || connection_->closed()) return;
  net::post(connection_->executor(),
            [connection = connection_, sequence = sequence_] { connection->Abandoned(sequence); });
}

void Exchange::AddResponseHeaders(Headers headers) {
  for (auto& header : headers) response_headers_.push_back(std::move(header));
}

void Exchange::Respond(int status, std::string_view content_type, std::string body, Headers extra) {
  extra.insert(extra.end(), response_headers_.begin(), response_headers_.end());
  connection_->Respond(shared_from_this(), status, std::string(content_type), std::move(body),
                       std::move(extra));
}

void Exchange::StartStream(int status, std::string_view content_type, Headers extra) {
  extra.insert(extra.end(), response_headers_.begin(), response_headers_.end());
  connection_->StartStream(shared_from_this(), status, std::string(content_type), std::move(extra));
}

void Exchange::Write(std::string data, std::function<void(bool ok)> on_written) {
  connection_->Write(shared_from_this(), std::move(data), std::move(on_written));
}

void Exchange::EndStream() { connection_->EndStream(shared_from_this()); }

void Exchange::Abort() { connection_->Abort(shared_from_this()); }

void Exchange::CloseMidChunk(std::string chunk, std::size_t sent_bytes) {
  connection_->CloseMidChunk(shared_from_this(), std::move(chunk), sent_bytes);
}

void Exchange::OnClientGone(std::function<void()> callback) {
  connection_->OnClientGone(shared_from_this(), std::move(callback));
}

boost::asio::any_io_executor Exchange::executor() const { return connection_->executor(); }

}  // namespace og::http
