#include "gateway/http_frontdoor.h"

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>

#include "fmt/format.h"
#include "gateway/call_path.h"
#include "gateway/config.h"
#include "gateway/http_protocol.h"
#include "http/server.h"
#include "spdlog/spdlog.h"
#include "tls/peer_identity.h"

namespace og {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kJson = "application/json; charset=utf-8";
constexpr std::string_view kNdjson = "application/x-ndjson";
constexpr std::string_view kEventStream = "text/event-stream";
// Listings and the version are small answers from healthy backends; past this they failed.
constexpr std::chrono::seconds kListingTimeout{10};

tls::PeerIdentity CertificateOf(const http::Request& request) {
  return tls::PeerIdentityFromDer(request.peer_certificate_der);
}

// An error in the shape of the API the path belongs to.
void RespondError(http::Exchange& exchange, bool openai, int status, std::string_view message,
                  http::Headers headers = {}) {
  exchange.Respond(status, kJson,
                   openai ? OpenAiErrorBody(status, message) : OllamaErrorBody(message),
                   std::move(headers));
}

void RespondStatus(http::Exchange& exchange, bool openai, const absl::Status& status,
                   http::Headers headers = {}) {
  RespondError(exchange, openai, HttpStatusFor(status.code()), std::string(status.message()),
               std::move(headers));
}

// One model call of the front door: the shared call path, answering in the caller's API.
//
// Lifetime: the call path's two references are the path's own (dropped after End) and the front
// door's, held by `hold_` and by every callback that may still run (client gone, writes), so
// the object outlives whatever the HTTP server still has to call back.
struct HttpCallHolder {
  HttpCall call;
};

class ModelCall final : private HttpCallHolder, public CallPath {
 public:
  ModelCall(CallCore& core, std::shared_ptr<http::Exchange> exchange, HttpCall parsed)
      : HttpCallHolder{std::move(parsed)},
        CallPath(core, Frontend::kHttp, call.request, HttpApiName(call.api),
                 call.stream ? security::Action::kStream : security::Action::kPredict),
        exchange_(std::move(exchange)),
        client_certificate_(CertificateOf(exchange_->request())),
        high_water_(core.options().stream_buffer_bytes),
        low_water_(core.options().stream_buffer_bytes / 2),
        max_answer_bytes_(core.options().max_unary_answer_bytes),
        max_line_bytes_(core.options().max_line_bytes),
        hold_(std::make_shared<Hold>(this)) {
    answer_.created = std::time(nullptr);
    answer_.model = call.request.model_name();
  }

  void Start() {
    exchange_->OnClientGone([hold = hold_] { hold->call->Cancel(); });
    Begin();
  }

 private:
  struct Hold {
    explicit Hold(ModelCall* c) : call(c) {}
    ~Hold() { call->Release(); }
    ModelCall* const call;
  };

  std::string_view Header(std::string_view lower_name) const override {
    return exchange_->request().Header(lower_name);
  }
  std::chrono::system_clock::time_point Deadline() const override {
    return std::chrono::system_clock::time_point::max();
  }
  std::string Peer() const override { return exchange_->request().remote; }
  tls::PeerIdentity PeerCertificate() const override { return client_certificate_; }
  void AddTrailer(std::string_view name, std::string value) override {
    if (name == "retry-after-ms") {
      // Retry-After is in whole seconds; rounded up so a client that honours it is let in.
      const long long ms = std::atoll(value.c_str());
      headers_.emplace_back("Retry-After", std::to_string((ms + 999) / 1000));
    }
    headers_.emplace_back(std::string(name), std::move(value));
  }

  absl::Status Validate(const ollama_gateway::v1::InferenceRequest& request) const override {
    // Ollama's own endpoints take what Ollama takes (an empty prompt loads the model); the
    // OpenAI ones need what they translate into.
    if (call.api == HttpApi::kOpenAiChat || call.api == HttpApi::kOpenAiCompletions) {
      return ValidateRequest(request);
    }
    return ValidateModelName(request);
  }

  OllamaRequest BuildUpstream(const ollama_gateway::v1::InferenceRequest& forwarded) override {
    return HttpUpstreamRequest(call, forwarded);
  }

  bool ParsesChunks() const override {
    return call.api != HttpApi::kOllamaEmbed && call.api != HttpApi::kOllamaShow &&
           call.api != HttpApi::kOpenAiEmbeddings;
  }

  bool Deliver(OllamaChunk& chunk, std::string_view line, absl::Status* why_not) override {
    if (!ParsesChunks()) {
      // Ollama sends these answers as one line; max_line_bytes bounds the whole of them.
      if (body_.size() + line.size() + 1 > max_line_bytes_) {
        *why_not = absl::ResourceExhaustedError(
            fmt::format("backend '{}' answered more than upstream.max_line_bytes ({} bytes)",
                        backend_name(), max_line_bytes_));
        return false;
      }
      if (!body_.empty()) body_ += '\n';
      body_.append(line);
      return true;
    }
    if (call.stream) {
      Stream(chunk, line);
      return true;
    }
    if (chunk.done) done_chunk_ = chunk;
    const bool openai = IsOpenAi(call.api);
    if (openai) {
      text_ += chunk.text;
      reasoning_ += chunk.thinking;
    } else {
      aggregate_.Add(call.api, chunk, line);
    }
    const std::size_t size = openai ? text_.size() + reasoning_.size()
                                    : aggregate_.text.size() + aggregate_.thinking.size();
    if (size > max_answer_bytes_) {
      *why_not = absl::ResourceExhaustedError(fmt::format(
          "the answer exceeds {} bytes, the most a non-streamed answer carries; limit it with "
          "num_predict (max_tokens) or ask for a stream",
          max_answer_bytes_));
      return false;
    }
    return true;
  }

  // One chunk of a streamed answer, in the caller's format.
  void Stream(const OllamaChunk& chunk, std::string_view line) {
    if (!started_) {
      started_ = true;
      http::Headers headers = {{"x-request-id", request_id()},
                               {"x-gateway-backend", backend_name()},
                               {"x-gateway-attempts", std::to_string(attempts())}};
      if (IsOpenAi(call.api)) {
        headers.emplace_back("Cache-Control", "no-cache");
        exchange_->StartStream(200, kEventStream, std::move(headers));
        answer_.id = AnswerId();
      } else {
        exchange_->StartStream(200, kNdjson, std::move(headers));
      }
    }
    switch (call.api) {
      case HttpApi::kOpenAiChat:
        // Empty chunks carry nothing for a chat client; the role goes with the first text.
        if (chunk.text.empty() && chunk.thinking.empty() && !chunk.done) return;
        Send(SseEvent(OpenAiChatChunk(answer_, chunk, first_)));
        first_ = false;
        break;
      case HttpApi::kOpenAiCompletions:
        if (chunk.text.empty() && !chunk.done) return;
        Send(SseEvent(OpenAiCompletionChunk(answer_, chunk)));
        break;
      default: {
        std::string data;
        data.reserve(line.size() + 1);
        data.append(line);
        data += '\n';
        Send(std::move(data));
        break;
      }
    }
    if (chunk.done) done_chunk_ = chunk;
  }

  // Writes `data`; past the stream buffer the backend transfer pauses until the client has
  // read half of what is queued (backpressure, as on the gRPC path).
  void Send(std::string data) {
    const std::size_t size = data.size();
    {
      std::lock_guard<std::mutex> lock(mu_);
      queued_bytes_ += size;
      // Paused under the lock, so a write finishing meanwhile cannot resume before the pause.
      if (!paused_ && queued_bytes_ > high_water_) {
        paused_ = true;
        PauseUpstream();
      }
    }
    exchange_->Write(std::move(data), [hold = hold_, size](bool) { hold->call->Written(size); });
  }

  void Written(std::size_t size) {
    std::lock_guard<std::mutex> lock(mu_);
    queued_bytes_ -= size;
    if (paused_ && queued_bytes_ <= low_water_) {
      paused_ = false;
      ResumeUpstream();
    }
  }

  void End(const absl::Status& status) override {
    const bool openai = IsOpenAi(call.api);
    if (started_) {
      if (!status.ok()) {
        // Headers are gone: the error travels in the stream, as Ollama and OpenAI send theirs.
        const std::string message(status.message());
        Send(openai ? SseEvent(OpenAiError(HttpStatusFor(status.code()), message))
                    : OllamaErrorBody(message) + "\n");
      } else if (openai) {
        if (call.include_usage) Send(SseEvent(OpenAiUsageChunk(answer_, call.api, done_chunk_)));
        Send(std::string(kSseDone));
      }
      exchange_->EndStream();
    } else if (!status.ok()) {
      RespondStatus(*exchange_, openai, status, std::move(headers_));
    } else {
      RespondWhole();
    }
    hold_.reset();
  }

  // OpenAI's id of the answer, from the call's request id (known once Begin ran).
  std::string AnswerId() const {
    return fmt::format("{}-{}", call.api == HttpApi::kOpenAiChat ? "chatcmpl" : "cmpl",
                       request_id());
  }

  void RespondWhole() {
    answer_.id = AnswerId();
    std::string body;
    switch (call.api) {
      case HttpApi::kOllamaGenerate:
      case HttpApi::kOllamaChat:
        body = aggregate_.Body(call.api);
        break;
      case HttpApi::kOpenAiChat:
        body = DumpJson(OpenAiChatCompletion(answer_, text_, reasoning_, done_chunk_));
        break;
      case HttpApi::kOpenAiCompletions:
        body = DumpJson(OpenAiTextCompletion(answer_, text_, done_chunk_));
        break;
      case HttpApi::kOpenAiEmbeddings: {
        absl::StatusOr<std::string> translated = OpenAiEmbeddings(call, body_);
        if (!translated.ok()) {
          return RespondError(*exchange_, true, 502, std::string(translated.status().message()),
                              std::move(headers_));
        }
        body = *std::move(translated);
        break;
      }
      case HttpApi::kOllamaEmbed:
      case HttpApi::kOllamaShow:
        body = std::move(body_);
        break;
    }
    exchange_->Respond(200, kJson, std::move(body), std::move(headers_));
  }

  const std::shared_ptr<http::Exchange> exchange_;
  const tls::PeerIdentity client_certificate_;
  const std::size_t high_water_;
  const std::size_t low_water_;
  const std::size_t max_answer_bytes_;
  const std::size_t max_line_bytes_;
  // The front door's reference (see the class comment); reset by End.
  std::shared_ptr<Hold> hold_;
  // Response headers: x-request-id, x-gateway-* and Retry-After (AddTrailer).
  http::Headers headers_;

  // The upstream loop thread's (Deliver, End).
  OpenAiAnswer answer_;
  bool started_ = false;
  bool first_ = true;
  OllamaChunk done_chunk_;
  OllamaAggregate aggregate_;
  std::string text_;
  std::string reasoning_;
  std::string body_;  // a whole backend answer (embed, show)

  std::mutex mu_;  // the loop thread (Send) against the connection's strand (Written)
  std::size_t queued_bytes_ = 0;
  bool paused_ = false;
};

// GETs a path from healthy backends and hands over the bodies once every one answered or
// failed. Each leg deletes itself when its request completes; the last one finishes.
class Listing : public std::enable_shared_from_this<Listing> {
 public:
  using Done = std::function<void(std::vector<std::string> bodies, std::string error)>;

  // `limit` 0 asks every healthy backend; 1 asks the first.
  static void Run(CallCore& core, std::string_view path, std::size_t limit, Done done) {
    std::vector<const PoolMember*> targets;
    const std::shared_ptr<const RoutingTable> table = core.router().table();
    for (const PoolMember& member : table->backends()) {
      if (!member.state->Healthy()) continue;
      targets.push_back(&member);
      if (limit > 0 && targets.size() == limit) break;
    }
    if (targets.empty()) {
      return done({}, fmt::format("no healthy backend to answer {} ({} configured)", path,
                                  table->backends().size()));
    }
    auto listing = std::make_shared<Listing>(std::move(done), targets.size());
    for (const PoolMember* member : targets) {
      UpstreamRequest request;
      request.method = UpstreamRequest::Method::kGet;
      request.url = fmt::format("{}{}", member->url, path);
      request.connect_timeout = core.options().connect_timeout;
      request.timeout = kListingTimeout;
      request.max_line_bytes = core.options().max_line_bytes;
      request.tls = member->tls;
      core.upstream().Start(std::move(request),
                            new Leg(listing, member->state->name(), core.options().max_line_bytes));
    }
  }

  Listing(Done done, std::size_t legs) : done_(std::move(done)), left_(legs) {}

 private:
  struct Leg final : UpstreamHandler {
    Leg(std::shared_ptr<Listing> l, std::string b, std::size_t limit)
        : listing(std::move(l)), backend(std::move(b)), max_bytes(limit) {}
    bool OnLine(std::string_view line) override {
      if (body.size() + line.size() > max_bytes) return false;  // aborted: counted as failed
      body.append(line);
      return true;
    }
    void OnComplete(UpstreamResult result) override {
      listing->Finish(backend, result, std::move(body));
      delete this;
    }
    std::shared_ptr<Listing> listing;
    std::string backend;
    const std::size_t max_bytes;  // upstream.max_line_bytes: Ollama answers on one line
    std::string body;
  };

  void Finish(const std::string& backend, const UpstreamResult& result, std::string body) {
    std::unique_lock<std::mutex> lock(mu_);
    if (result.outcome == UpstreamOutcome::kOk) {
      bodies_.push_back(std::move(body));
    } else if (error_.empty()) {
      error_ = fmt::format("backend '{}': {}", backend,
                           result.outcome == UpstreamOutcome::kHttpError
                               ? fmt::format("HTTP {}", result.http_status)
                               : result.message);
    }
    if (--left_ > 0) return;
    std::vector<std::string> bodies = std::move(bodies_);
    std::string error = std::move(error_);
    lock.unlock();
    done_(std::move(bodies), std::move(error));
  }

  const Done done_;
  std::mutex mu_;
  std::size_t left_;
  std::vector<std::string> bodies_;
  std::string error_;
};

// The front door's handling of one request that is not a model call.
class Endpoints {
 public:
  Endpoints(CallCore& core, std::shared_ptr<http::Exchange> exchange)
      : core_(core), exchange_(std::move(exchange)), request_(exchange_->request()) {}

  // The listings: authenticated like calls, and filtered to the models the caller may use.
  void List(std::string_view path, bool openai) {
    std::optional<Caller> caller = Authenticate(openai);
    if (!caller) return;
    Listing::Run(core_, path, 0,
                 [core = &core_, exchange = exchange_, caller = *caller, openai](
                     std::vector<std::string> bodies, std::string error) {
                   if (bodies.empty()) {
                     return RespondError(*exchange, openai, 503,
                                         fmt::format("cannot list models: {}", error));
                   }
                   Json merged = MergeModelLists(bodies);
                   Allowed(*core, caller, &merged);
                   exchange->Respond(200, kJson, openai ? OpenAiModels(merged) : DumpJson(merged));
                 });
  }

  void Version() {
    if (!Authenticate(false)) return;
    Listing::Run(core_, "/api/version", 1,
                 [exchange = exchange_](std::vector<std::string> bodies, std::string error) {
                   if (bodies.empty()) {
                     return RespondError(*exchange, false, 503,
                                         fmt::format("cannot tell the version: {}", error));
                   }
                   exchange->Respond(200, kJson, std::move(bodies.front()));
                 });
  }

  void Model(HttpApi api) {
    absl::StatusOr<HttpCall> parsed = ParseHttpCall(api, request_.body);
    if (!parsed.ok()) {
      core_.metrics().RecordRejected("http", "invalid_argument");
      return RespondStatus(*exchange_, IsOpenAi(api), parsed.status());
    }
    auto* call = new ModelCall(core_, exchange_, *std::move(parsed));
    call->Start();
  }

 private:
  std::optional<Caller> Authenticate(bool openai) {
    if (core_.draining()) {
      RespondError(*exchange_, openai, 503,
                   "the gateway is shutting down; retry (on another "
                   "replica)");
      return std::nullopt;
    }
    absl::StatusOr<Caller> caller =
        core_.security().Authenticate(*core_.security().policy(), request_.Header("authorization"),
                                      CertificateOf(request_), "http");
    if (!caller.ok()) {
      RespondStatus(*exchange_, openai, caller.status());
      return std::nullopt;
    }
    return *std::move(caller);
  }

  // Drops the models `caller` may not run from a merged listing.
  static void Allowed(CallCore& core, const Caller& caller, Json* merged) {
    const std::shared_ptr<const SecurityPolicy> policy = core.security().policy();
    Json kept = Json::array();
    for (Json& m : (*merged)["models"]) {
      const std::string name = m.value("name", "");
      if (policy->Authorize(caller, name, CanonicalModelName(name), security::Action::kPredict)
              .ok()) {
        kept.push_back(std::move(m));
      }
    }
    (*merged)["models"] = std::move(kept);
  }

  CallCore& core_;
  const std::shared_ptr<http::Exchange> exchange_;
  const http::Request& request_;
};

struct Route {
  std::string_view path;
  std::string_view method;  // GET routes answer HEAD too
  enum class Kind { kRoot, kVersion, kTags, kPs, kModels, kModel } kind;
  HttpApi api = HttpApi::kOllamaGenerate;
};

constexpr Route kRoutes[] = {
    {"/", "GET", Route::Kind::kRoot},
    {"/api/version", "GET", Route::Kind::kVersion},
    {"/api/tags", "GET", Route::Kind::kTags},
    {"/api/ps", "GET", Route::Kind::kPs},
    {"/api/generate", "POST", Route::Kind::kModel, HttpApi::kOllamaGenerate},
    {"/api/chat", "POST", Route::Kind::kModel, HttpApi::kOllamaChat},
    {"/api/embed", "POST", Route::Kind::kModel, HttpApi::kOllamaEmbed},
    {"/api/show", "POST", Route::Kind::kModel, HttpApi::kOllamaShow},
    {"/v1/chat/completions", "POST", Route::Kind::kModel, HttpApi::kOpenAiChat},
    {"/v1/completions", "POST", Route::Kind::kModel, HttpApi::kOpenAiCompletions},
    {"/v1/embeddings", "POST", Route::Kind::kModel, HttpApi::kOpenAiEmbeddings},
    {"/v1/models", "GET", Route::Kind::kModels},
};

}  // namespace

HttpFrontDoor::HttpFrontDoor(CallCore& core, HttpFrontDoorOptions options)
    : core_(core), options_(std::move(options)), io_(std::make_unique<boost::asio::io_context>()) {}

HttpFrontDoor::~HttpFrontDoor() {
  Stop();
  io_->stop();
  for (std::thread& t : threads_) t.join();
}

absl::Status HttpFrontDoor::Start(const std::string& address) {
  std::string host;
  int port = 0;
  if (absl::Status s = ParseListenAddress(address, &host, &port); !s.ok()) return s;
  http::ServerOptions server_options;
  server_options.max_body_bytes = options_.max_body_bytes;
  server_options.tls = options_.tls;
  server_ = std::make_unique<http::Server>(
      *io_, [this](std::shared_ptr<http::Exchange> exchange) { Handle(std::move(exchange)); },
      server_options);
  if (absl::Status s = server_->Listen(host, static_cast<std::uint16_t>(port)); !s.ok()) {
    return absl::Status(s.code(), fmt::format("http: {}", std::string(s.message())));
  }
  for (int i = 0; i < std::max(1, options_.threads); ++i) {
    threads_.emplace_back([io = io_.get()] {
      auto guard = boost::asio::make_work_guard(*io);
      io->run();
    });
  }
  return absl::OkStatus();
}

int HttpFrontDoor::port() const { return server_ != nullptr ? server_->port() : 0; }

void HttpFrontDoor::Stop() {
  if (server_ != nullptr) server_->Stop();
}

void HttpFrontDoor::Handle(std::shared_ptr<http::Exchange> exchange) {
  const http::Request& request = exchange->request();
  const bool openai = request.path.rfind("/v1/", 0) == 0;
  const Route* route = nullptr;
  std::string allowed;
  for (const Route& r : kRoutes) {
    if (r.path != request.path) continue;
    if (r.method == request.method || (r.method == "GET" && request.method == "HEAD")) {
      route = &r;
      break;
    }
    allowed = r.method == "GET" ? "GET, HEAD" : std::string(r.method);
  }
  if (route == nullptr && !allowed.empty()) {
    return RespondError(
        *exchange, openai, 405,
        fmt::format("{} is not allowed on {}; use {}", request.method, request.path, allowed),
        {{"Allow", allowed}});
  }
  if (route == nullptr) {
    // Ollama answers unknown paths with Go's plain "404 page not found"; a JSON body tells an
    // API client the same and more.
    return RespondError(*exchange, openai, 404,
                        fmt::format("{} {} is not an endpoint of the gateway (see "
                                    "docs/http-api.md)",
                                    request.method, request.path));
  }
  Endpoints router(core_, exchange);
  switch (route->kind) {
    case Route::Kind::kRoot:
      return exchange->Respond(200, "text/plain; charset=utf-8", "Ollama is running");
    case Route::Kind::kVersion:
      return router.Version();
    case Route::Kind::kTags:
      return router.List("/api/tags", false);
    case Route::Kind::kPs:
      return router.List("/api/ps", false);
    case Route::Kind::kModels:
      return router.List("/api/tags", true);
    case Route::Kind::kModel:
      return router.Model(route->api);
  }
}

}  // namespace og
