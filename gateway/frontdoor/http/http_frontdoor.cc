#include "gateway/frontdoor/http/http_frontdoor.h"

#include <unistd.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <ctime>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "fmt/format.h"
#include "gateway/call/call_path.h"
#include "gateway/config/values.h"
#include "gateway/frontdoor/http/answers.h"
#include "gateway/frontdoor/http/browser_policy.h"
#include "gateway/frontdoor/http/fleet_ops.h"
#include "gateway/frontdoor/http/translate.h"
#include "gateway/upstream/json_reading.h"
#include "http/server.h"
#include "spdlog/spdlog.h"
#include "tls/peer_identity.h"

namespace og {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kJson = "application/json; charset=utf-8";
constexpr std::string_view kNdjson = "application/x-ndjson";
constexpr std::string_view kEventStream = "text/event-stream";
// Longest the front door's destructor waits for calls still running (their backend requests
// were aborted when the connections closed, so they end within milliseconds).
constexpr std::chrono::seconds kCallsEndWait{10};

tls::PeerIdentity CertificateOf(const http::Request& request) {
  return tls::PeerIdentityFromDer(request.peer_certificate_der);
}

// An error in the shape of the API the path belongs to.
void RespondError(http::Exchange& exchange, ApiShape shape, int status, std::string_view message,
                  http::Headers headers = {}) {
  exchange.Respond(status, kJson, ErrorBody(shape, status, message), std::move(headers));
}

void RespondStatus(http::Exchange& exchange, ApiShape shape, const absl::Status& status,
                   http::Headers headers = {}) {
  RespondError(exchange, shape, HttpStatusFor(status.code()), std::string(status.message()),
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
  ModelCall(CallCore& core, std::shared_ptr<http::Exchange> exchange, HttpCall parsed,
            std::shared_ptr<void> busy)
      : HttpCallHolder{std::move(parsed)},
        CallPath(core, Frontend::kHttp, call.request, HttpApiName(call.api),
                 call.stream ? security::Action::kStream : security::Action::kPredict),
        exchange_(std::move(exchange)),
        client_certificate_(CertificateOf(exchange_->request())),
        high_water_(core.options().stream_buffer_bytes),
        low_water_(core.options().stream_buffer_bytes / 2),
        max_answer_bytes_(core.options().max_unary_answer_bytes),
        max_line_bytes_(core.options().max_line_bytes),
        hold_(std::make_shared<Hold>(this)),
        busy_(std::move(busy)),
        compat_(CompatApiOf(call.api)) {
    aggregate_.max_depth = call.max_depth;
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

  // The limits measure what the caller sent: the body's length, and every text and image the
  // model reads, found in the body itself (http_protocol.h: CallerTexts).
  InputSize MeasureInput() const override {
    InputSize size;
    size.request_bytes = call.body_bytes;
    size.messages = call.messages;
    size.embed_inputs = call.embed_inputs;
    size.text_bytes = call.text_bytes;
    size.images = call.images;
    return size;
  }

  // The body is forwarded, so its texts are redacted in place, every one of them, and the
  // request's view of them (logs, the access log digest) follows.
  void RedactInput(const SecurityPolicy& policy, Metrics& metrics) override {
    if (policy.Redact(CallerTexts(&call), metrics)) SyncRequestTexts(&call);
  }

  // Ollama's endpoints take what Ollama takes (an empty prompt loads the model), and the
  // compatibility endpoints what Ollama's layer takes: the backend checks the rest.
  absl::Status Validate(const ollama_gateway::v1::InferenceRequest& request) const override {
    return ValidateModelName(request);
  }

  OllamaRequest BuildUpstream(const ollama_gateway::v1::InferenceRequest&) override {
    const bool renamed = backend_model() != call.request.model_name();
    return HttpUpstreamRequest(call, renamed ? std::string_view(backend_model()) : "");
  }

  bool ParsesChunks() const override {
    return call.api == HttpApi::kOllamaGenerate || call.api == HttpApi::kOllamaChat;
  }

  // Ollama answers /api/show at once, whatever generations run; embeddings have their own cap.
  SlotKind Slot() const override {
    switch (call.api) {
      case HttpApi::kOllamaShow:
        return SlotKind::kNone;
      case HttpApi::kOllamaEmbed:
      case HttpApi::kOllamaEmbeddings:
      case HttpApi::kOpenAiEmbeddings:
        return SlotKind::kEmbedding;
      default:
        return SlotKind::kGeneration;
    }
  }

  // A compatibility endpoint's stream is whole once its terminal event came.
  bool AnswerComplete() const override { return !compat_ || !call.stream || compat_done_; }

  bool Deliver(OllamaChunk& chunk, std::string_view line, absl::Status* why_not) override {
    if (compat_) return DeliverCompat(line, why_not);
    if (!ParsesChunks()) return Gather(line, why_not);
    if (call.stream) {
      Stream(chunk, line);
      return true;
    }
    aggregate_.Add(call.api, chunk, line);
    if (aggregate_.text.size() + aggregate_.thinking.size() > max_answer_bytes_) {
      *why_not = absl::ResourceExhaustedError(fmt::format(
          "the answer exceeds {} bytes, the most a non-streamed answer carries; limit it with "
          "num_predict (max_tokens) or ask for a stream",
          max_answer_bytes_));
      return false;
    }
    return true;
  }

  // A compatibility endpoint's line: passed on as it came (a stream's at once, an answer's when
  // it is whole), and read for the usage, the terminal event and errors.
  bool DeliverCompat(std::string_view line, absl::Status* why_not) {
    const CompatLineFacts facts = ReadCompatLine(*compat_, call.stream, line, call.max_depth);
    if (!facts.error.empty()) {
      // The caller gets the error in its API's shape from End, naming the backend.
      BlameBackend();
      *why_not = absl::UnavailableError(
          facts.malformed
              ? fmt::format("backend '{}' sent a malformed answer: {}", backend_name(), facts.error)
              : fmt::format("backend '{}' failed during generation: {}", backend_name(),
                            facts.error));
      return false;
    }
    if (facts.output) ++output_events_;
    if (facts.prompt_tokens >= 0) compat_prompt_tokens_ = facts.prompt_tokens;
    if (facts.completion_tokens >= 0) compat_completion_tokens_ = facts.completion_tokens;
    if (facts.done) {
      compat_done_ = true;
      // Without a usage (a stream without stream_options.include_usage), one output event is
      // about one token: Ollama's layer writes one per native chunk.
      SetUsage(std::max<std::int64_t>(compat_prompt_tokens_, 0),
               compat_completion_tokens_ >= 0 ? compat_completion_tokens_ : output_events_);
    }
    if (!call.stream) return Gather(line, why_not);
    StartStreamOnce(kEventStream);
    SendLine(line);
    return true;
  }

  // A whole answer (embed, show, a compatibility endpoint's JSON), gathered to be sent as one.
  bool Gather(std::string_view line, absl::Status* why_not) {
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

  // A stream can run again only while its headers have not gone out; a whole answer is
  // gathered until the end, so what it had is dropped.
  bool ForgetAnswer() override {
    if (call.stream && (ParsesChunks() || compat_)) return !started_;
    aggregate_ = OllamaAggregate{};
    aggregate_.max_depth = call.max_depth;
    body_.clear();
    compat_done_ = false;
    output_events_ = 0;
    compat_prompt_tokens_ = compat_completion_tokens_ = -1;
    return true;
  }

  void StartStreamOnce(std::string_view content_type) {
    if (started_) return;
    started_ = true;
    http::Headers headers = {{"x-request-id", request_id()},
                             {"x-gateway-backend", backend_name()},
                             {"x-gateway-attempts", std::to_string(attempts())}};
    if (content_type == kEventStream) headers.emplace_back("Cache-Control", "no-cache");
    exchange_->StartStream(200, content_type, std::move(headers));
  }

  // One chunk of a streamed Ollama answer, passed on as it came.
  void Stream(const OllamaChunk&, std::string_view line) {
    StartStreamOnce(kNdjson);
    SendLine(line);
  }

  // A backend's line, with the newline the upstream client took off.
  void SendLine(std::string_view line) {
    std::string data;
    data.reserve(line.size() + 1);
    data.append(line);
    data += '\n';
    Send(std::move(data));
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
    if (started_) {
      // Headers are gone: an error travels in the stream, as each API sends its own.
      if (!status.ok()) {
        Send(StreamErrorEvent(call.api, HttpStatusFor(status.code()),
                              std::string(status.message())));
      }
      exchange_->EndStream();
    } else if (!status.ok()) {
      RespondStatus(*exchange_, ShapeOf(call.api), status, std::move(headers_));
    } else {
      exchange_->Respond(200, kJson, ParsesChunks() ? aggregate_.Body(call.api) : std::move(body_),
                         std::move(headers_));
    }
    hold_.reset();
  }

  const std::shared_ptr<http::Exchange> exchange_;
  const tls::PeerIdentity client_certificate_;
  const std::size_t high_water_;
  const std::size_t low_water_;
  const std::size_t max_answer_bytes_;
  const std::size_t max_line_bytes_;
  // The front door's reference (see the class comment); reset by End.
  std::shared_ptr<Hold> hold_;
  // Keeps the front door's event loop running while the call lives (HttpFrontDoor::Busy).
  const std::shared_ptr<void> busy_;
  // Response headers: x-request-id, x-gateway-* and Retry-After (AddTrailer).
  http::Headers headers_;

  // The upstream loop thread's (Deliver, End).
  const std::optional<CompatApi> compat_;
  bool started_ = false;
  OllamaAggregate aggregate_;
  std::string body_;  // a whole backend answer (embed, show, a compatibility endpoint's JSON)
  // A compatibility endpoint's answer: its terminal event came; the events with output; the
  // usage it reported (-1: not yet).
  bool compat_done_ = false;
  std::int64_t output_events_ = 0;
  std::int64_t compat_prompt_tokens_ = -1;
  std::int64_t compat_completion_tokens_ = -1;

  std::mutex mu_;  // the loop thread (Send) against the connection's (Written)
  std::size_t queued_bytes_ = 0;
  bool paused_ = false;
};

}  // namespace

namespace {

// The table's rollouts, as listings name them.
std::vector<RolloutListing> RolloutListings(const RoutingTable& table) {
  std::vector<RolloutListing> out;
  for (const auto& [name, route] : table.rollouts()) {
    out.push_back({route.rollout->name(), route.models[0], route.models[1]});
  }
  return out;
}

// The front door's handling of one request that is not a model call.
class Endpoints {
 public:
  Endpoints(CallCore& core, std::shared_ptr<ListingCache> listings,
            std::shared_ptr<http::Exchange> exchange, std::shared_ptr<void> busy)
      : core_(core),
        listings_(std::move(listings)),
        exchange_(std::move(exchange)),
        request_(exchange_->request()),
        busy_(std::move(busy)) {}

  // The listings: authenticated like calls, and filtered to the models the caller may use.
  // `openai`: /v1/models, the fleet's /api/tags in OpenAI's shape; with `model_id`,
  // /v1/models/{model_id}.
  void List(const std::string& path, bool openai, std::optional<std::string> model_id = {}) {
    const ApiShape shape = openai ? ApiShape::kOpenAi : ApiShape::kOllama;
    std::optional<Caller> caller = Authenticate(shape);
    if (!caller) return;
    listings_->Get(
        core_, path, MaxJsonDepth(),
        [core = &core_, exchange = exchange_, busy = busy_, caller = *caller, openai, shape, path,
         model_id = std::move(model_id)](const ListingCache::Result& result) {
          if (result.merged == nullptr) {
            return RespondError(*exchange, shape, 503,
                                fmt::format("cannot list models: {}", result.error));
          }
          Json merged = *result.merged;
          if (path == "/api/tags") {
            AddRolloutEntries(RolloutListings(*core->router().table()), &merged);
          }
          Allowed(*core, caller, &merged);
          if (!openai) return exchange->Respond(200, kJson, DumpJson(merged));
          if (!model_id) return exchange->Respond(200, kJson, OpenAiModels(merged));
          std::optional<std::string> entry = OpenAiModelEntry(merged, *model_id);
          if (!entry) {
            return RespondError(*exchange, shape, 404,
                                fmt::format("model '{}' not found", *model_id));
          }
          exchange->Respond(200, kJson, *std::move(entry));
        });
  }

  // The lowest version in the fleet, with every backend's beside it.
  void Version() {
    if (!Authenticate(ApiShape::kOllama)) return;
    FetchFromFleet(core_, "/api/version", 0,
                   [exchange = exchange_, busy = busy_, max_depth = MaxJsonDepth()](
                       std::vector<BackendAnswer> answers, std::string error) {
                     Json merged = MergeVersions(answers, max_depth);
                     if (merged["version"].get<std::string>().empty()) {
                       return RespondError(*exchange, ApiShape::kOllama, 503,
                                           fmt::format("cannot tell the version: {}",
                                                       error.empty() ? "no backend said" : error));
                     }
                     exchange->Respond(200, kJson, DumpJson(merged));
                   });
  }

  void Model(HttpApi api) {
    absl::StatusOr<HttpCall> parsed = ParseHttpCall(api, request_.body, MaxJsonDepth());
    if (!parsed.ok()) {
      core_.metrics().RecordRejected("http", "invalid_argument");
      return RespondStatus(*exchange_, ShapeOf(api), parsed.status());
    }
    if (IsUnload(*parsed) && Unload(*parsed)) return;
    auto* call = new ModelCall(core_, exchange_, *std::move(parsed), busy_);
    call->Start();
  }

  // Model management on the fleet: authenticated, authorized for `manage` on the model (blobs,
  // which belong to no model, on every model), sent to the backends FleetTargets chooses.
  void Manage(FleetOp op) {
    std::optional<Caller> caller = Authenticate(ApiShape::kOllama);
    if (!caller) return;
    FleetOpRequest op_request;
    op_request.op = op;
    std::string model;  // as the caller wrote it
    std::string destination;
    // What is authorized: the names in the body, or for a blob every model ("" matches only
    // rules for '*').
    std::vector<std::string> names = {""};
    if (op == FleetOp::kHeadBlob || op == FleetOp::kPostBlob) {
      op_request.body = request_.body;
    } else {
      absl::Status s = ManagedModels(op, &model, &destination, &names, &op_request.body);
      if (!s.ok()) {
        core_.metrics().RecordRejected("http", "invalid_argument");
        return RespondStatus(*exchange_, ApiShape::kOllama, s);
      }
    }
    op_request.model = model.empty() ? std::string() : CanonicalModelName(model);
    op_request.destination = destination.empty() ? std::string() : CanonicalModelName(destination);
    const std::shared_ptr<const SecurityPolicy> policy = core_.security().policy();
    for (const std::string& name : names) {
      if (absl::Status s =
              policy->Authorize(*caller, name, name.empty() ? "" : CanonicalModelName(name),
                                security::Action::kManage);
          !s.ok()) {
        core_.metrics().RecordAuthorization("http", "manage", "deny");
        core_.metrics().RecordRejected("http", "permission_denied");
        return RespondStatus(*exchange_, ApiShape::kOllama, s);
      }
    }
    core_.metrics().RecordAuthorization("http", "manage", "allow");
    op_request.table = core_.router().table();
    std::string named(QueryValue(request_.query, "backends"));
    if (named.empty()) named = std::string(request_.Header("x-gateway-backends"));
    absl::StatusOr<std::vector<const PoolMember*>> targets =
        FleetTargets(*op_request.table, *core_.router().config(), op_request.model, named);
    if (!targets.ok()) return RespondStatus(*exchange_, ApiShape::kOllama, targets.status());
    op_request.targets = *std::move(targets);
    RunFleetOp(core_, exchange_, std::move(op_request), listings_, busy_);
  }

 private:
  int MaxJsonDepth() const {
    return static_cast<int>(core_.security().policy()->limits().max_json_depth);
  }

  std::optional<Caller> Authenticate(ApiShape shape) {
    if (core_.draining()) {
      RespondError(*exchange_, shape, 503,
                   "the gateway is shutting down; retry (on another "
                   "replica)");
      return std::nullopt;
    }
    absl::StatusOr<Caller> caller =
        core_.security().Authenticate(*core_.security().policy(), request_.Header("authorization"),
                                      CertificateOf(request_), request_.remote, "http");
    if (!caller.ok()) {
      RespondStatus(*exchange_, shape, caller.status());
      return std::nullopt;
    }
    return *std::move(caller);
  }

  // Drops the models `caller` may not run from a merged listing (its entries, and the copies
  // /api/ps lists).
  static void Allowed(CallCore& core, const Caller& caller, Json* merged) {
    const std::shared_ptr<const SecurityPolicy> policy = core.security().policy();
    for (const char* list : {"models", "copies"}) {
      auto entries = merged->find(list);
      if (entries == merged->end()) continue;
      Json kept = Json::array();
      for (Json& m : *entries) {
        const std::string name = m.value("name", "");
        if (policy->Authorize(caller, name, CanonicalModelName(name), security::Action::kPredict)
                .ok()) {
          kept.push_back(std::move(m));
        }
      }
      *entries = std::move(kept);
    }
  }

  // Ollama's unload: `keep_alive` 0 with no prompt (generate) or no messages (chat).
  static bool IsUnload(const HttpCall& call) {
    if (call.api != HttpApi::kOllamaGenerate && call.api != HttpApi::kOllamaChat) return false;
    const Json& body = call.body;
    auto keep_alive = body.find("keep_alive");
    if (keep_alive == body.end()) return false;
    const bool zero = (keep_alive->is_number() && keep_alive->get<double>() == 0) ||
                      (keep_alive->is_string() && IsZeroDuration(keep_alive->get<std::string>()));
    if (!zero) return false;
    if (call.api == HttpApi::kOllamaChat) {
      auto messages = body.find("messages");
      return messages == body.end() || messages->is_null() ||
             (messages->is_array() && messages->empty());
    }
    auto prompt = body.find("prompt");
    return prompt == body.end() || prompt->is_null() ||
           (prompt->is_string() && prompt->get<std::string>().empty());
  }

  // "0", "0s", "0m", "0h", "0ms": Go durations of zero.
  static bool IsZeroDuration(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size() && (text[i] == '0' || text[i] == '.')) ++i;
    if (i == 0) return false;
    const std::string_view unit = text.substr(i);
    return unit.empty() || unit == "s" || unit == "m" || unit == "h" || unit == "ms" ||
           unit == "us" || unit == "ns";
  }

  // Sends the unload to every backend of the model's pool, for a caller allowed to use the
  // model; false (the call then runs as any other and fails as it would) when no pool serves it.
  bool Unload(const HttpCall& call) {
    const std::string& name = call.request.model_name();
    const std::string canonical = CanonicalModelName(name);
    std::shared_ptr<const RoutingTable> table = core_.router().table();
    const Pool* pool = table->Find(canonical);
    // A rollout's name is no pool's: the unload runs as a call, on the target it is assigned.
    if (pool == nullptr || table->FindRollout(canonical) != nullptr) return false;
    std::optional<Caller> caller = Authenticate(ApiShape::kOllama);
    if (!caller) return true;
    if (absl::Status s = core_.security().policy()->Authorize(*caller, name, canonical,
                                                              security::Action::kPredict);
        !s.ok()) {
      core_.metrics().RecordRejected("http", "permission_denied");
      RespondStatus(*exchange_, ApiShape::kOllama, s);
      return true;
    }
    // The body as every call forwards it: keys in Ollama's spelling.
    OllamaRequest upstream = HttpUpstreamRequest(call);
    RunUnload(core_, exchange_, *pool, upstream.path, std::move(upstream.body), listings_, busy_);
    return true;
  }

  // The model names a management request's body carries: `model` (or its older name `name`),
  // or copy's `source` and `destination`, and create's `from`; `names` gets every one of them,
  // for authorization. Their keys are read as Ollama's decoder reads them (case-insensitively;
  // two spellings of one are refused, so a backend cannot read another name than the one
  // authorized), and `forwarded` is the body with them in Ollama's spelling. INVALID_ARGUMENT as
  // Ollama words it when one is missing.
  absl::Status ManagedModels(FleetOp op, std::string* model, std::string* destination,
                             std::vector<std::string>* names, std::string* forwarded) const {
    static constexpr std::string_view kNameFields[] = {"model", "name", "source", "destination",
                                                       "from"};
    absl::StatusOr<Json> body = ParseJson(request_.body, MaxJsonDepth(), "the request body");
    if (!body.ok()) return body.status();
    if (!body->is_object()) {
      return absl::InvalidArgumentError("the request body must be a JSON object");
    }
    if (absl::Status s = CanonicalizeKeys(&*body, kNameFields, "the request body"); !s.ok()) {
      return s;
    }
    const auto text = [&](const char* key) {
      auto it = body->find(key);
      return it != body->end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    if (op == FleetOp::kCopy) {
      *model = text("source");
      *destination = text("destination");
      if (model->empty() || destination->empty()) {
        return absl::InvalidArgumentError("source and destination are required");
      }
      *names = {*model, *destination};
    } else {
      *model = text("model");
      if (model->empty()) *model = text("name");
      if (model->empty()) return absl::InvalidArgumentError("model is required");
      *names = {*model};
      if (op == FleetOp::kCreate && !text("from").empty()) names->push_back(text("from"));
    }
    for (const std::string& name : *names) {
      if (!IsValidModelName(name)) {
        return absl::InvalidArgumentError(fmt::format("invalid model name '{}'", name));
      }
    }
    *forwarded = DumpJson(*body);
    return absl::OkStatus();
  }

  // The value of `key` in a query string (not percent-decoded: backend names need no escapes).
  static std::string_view QueryValue(std::string_view query, std::string_view key) {
    while (!query.empty()) {
      const std::size_t amp = query.find('&');
      const std::string_view pair = query.substr(0, amp);
      if (pair.size() > key.size() && pair.starts_with(key) && pair[key.size()] == '=') {
        return pair.substr(key.size() + 1);
      }
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    }
    return {};
  }

  CallCore& core_;
  const std::shared_ptr<ListingCache> listings_;
  const std::shared_ptr<http::Exchange> exchange_;
  const http::Request& request_;
  const std::shared_ptr<void> busy_;
};

struct Route {
  std::string_view path;
  std::string_view method;  // GET routes answer HEAD too
  enum class Kind { kRoot, kVersion, kTags, kPs, kModels, kModelEntry, kModel, kManage } kind;
  HttpApi api = HttpApi::kOllamaGenerate;
  FleetOp op = FleetOp::kPull;
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
    {"/api/embeddings", "POST", Route::Kind::kModel, HttpApi::kOllamaEmbeddings},
    {"/v1/chat/completions", "POST", Route::Kind::kModel, HttpApi::kOpenAiChat},
    {"/v1/completions", "POST", Route::Kind::kModel, HttpApi::kOpenAiCompletions},
    {"/v1/embeddings", "POST", Route::Kind::kModel, HttpApi::kOpenAiEmbeddings},
    {"/v1/responses", "POST", Route::Kind::kModel, HttpApi::kOpenAiResponses},
    {"/v1/messages", "POST", Route::Kind::kModel, HttpApi::kAnthropicMessages},
    {"/v1/models", "GET", Route::Kind::kModels},
    {"/api/pull", "POST", Route::Kind::kManage, {}, FleetOp::kPull},
    {"/api/push", "POST", Route::Kind::kManage, {}, FleetOp::kPush},
    {"/api/create", "POST", Route::Kind::kManage, {}, FleetOp::kCreate},
    {"/api/copy", "POST", Route::Kind::kManage, {}, FleetOp::kCopy},
    {"/api/delete", "DELETE", Route::Kind::kManage, {}, FleetOp::kDelete},
    // /api/blobs/sha256:{digest}: HEAD asks whether every backend has it, POST uploads it.
    {"/api/blobs/", "HEAD", Route::Kind::kManage, {}, FleetOp::kHeadBlob},
    {"/api/blobs/", "POST", Route::Kind::kManage, {}, FleetOp::kPostBlob},
    // /v1/models/{id}: a prefix (model names hold slashes: a namespace, a registry host).
    {"/v1/models/", "GET", Route::Kind::kModelEntry},
};

bool Matches(const Route& route, std::string_view path) {
  // "/v1/models/" and "/api/blobs/" are prefixes (of a model name, of a digest).
  if (route.path.size() > 1 && route.path.ends_with('/')) {
    return path.size() > route.path.size() && path.starts_with(route.path);
  }
  return route.path == path;
}

}  // namespace

HttpFrontDoor::HttpFrontDoor(CallCore& core, HttpFrontDoorOptions options)
    : core_(core), options_(std::move(options)), listings_(std::make_shared<ListingCache>()) {}

HttpFrontDoor::~HttpFrontDoor() {
  Stop();
  // Calls and listings still running answer through exchanges and count themselves in busy_.
  const auto until = std::chrono::steady_clock::now() + kCallsEndWait;
  while (busy_.load(std::memory_order_acquire) > 0 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (const int left = busy_.load(std::memory_order_acquire); left > 0) {
    spdlog::error("http: {} calls still running {} s after stop; not waiting for them", left,
                  kCallsEndWait.count());
  }
  // Waits for callbacks into this object still running on the connections' threads; none
  // starts after it.
  server_.reset();
}

std::shared_ptr<void> HttpFrontDoor::Busy() {
  busy_.fetch_add(1, std::memory_order_acq_rel);
  return std::shared_ptr<void>(static_cast<void*>(this), [](void* door) {
    static_cast<HttpFrontDoor*>(door)->busy_.fetch_sub(1, std::memory_order_acq_rel);
  });
}

absl::Status HttpFrontDoor::Start(const std::string& address) {
  std::string host;
  int port = 0;
  if (absl::Status s = ParseListenAddress(address, &host, &port); !s.ok()) return s;
  BrowserPolicyOptions browser;
  browser.allowed_origins = options_.http.allowed_origins;
  browser.allowed_hosts = options_.http.allowed_hosts;
  browser.loopback_listener = IsLoopbackHost(host);
  char hostname[256] = {};
  if (gethostname(hostname, sizeof hostname - 1) == 0) browser.machine_hostname = hostname;
  absl::StatusOr<BrowserPolicy> policy = BrowserPolicy::Create(std::move(browser));
  if (!policy.ok()) {
    return absl::Status(policy.status().code(),
                        fmt::format("http: {}", std::string(policy.status().message())));
  }
  browser_ = std::make_unique<const BrowserPolicy>(*std::move(policy));
  http::ServerOptions server_options;
  server_options.max_body_bytes = options_.max_body_bytes;
  server_options.max_header_bytes = options_.max_header_bytes;
  server_options.header_timeout = options_.http.header_timeout;
  server_options.body_timeout = options_.http.body_timeout;
  server_options.write_timeout = options_.http.write_timeout;
  server_options.keepalive_timeout = options_.http.keepalive_timeout;
  server_options.max_connections = static_cast<std::size_t>(options_.http.max_connections);
  server_options.on_connection_refused = [metrics = &core_.metrics()] {
    metrics->RecordConnectionRefused("http");
  };
  server_options.header_check = [this](const http::Request& head) { return CheckHead(head); };
  server_options.body_limit = [this](const http::Request& head) {
    const RequestBodyLimit limit =
        BodyLimitFor(head.path, core_.security().policy()->limits(),
                     static_cast<std::size_t>(core_.router().config()->fleet.max_blob_bytes),
                     options_.max_body_bytes);
    return http::BodyLimit{
        limit.bytes,
        {413, std::string(kJson), ErrorBody(ShapeOfPath(head.path), 413, limit.message), {}}};
  };
  server_options.tls = options_.tls;
  server_options.connection_contexts = options_.workers;
  server_ = std::make_unique<http::Server>(
      *options_.workers.front(),
      [this](std::shared_ptr<http::Exchange> exchange) { Handle(std::move(exchange)); },
      server_options);
  if (absl::Status s = server_->Listen(host, static_cast<std::uint16_t>(port)); !s.ok()) {
    return absl::Status(s.code(), fmt::format("http: {}", std::string(s.message())));
  }
  return absl::OkStatus();
}

int HttpFrontDoor::port() const { return server_ != nullptr ? server_->port() : 0; }

std::size_t HttpFrontDoor::open_connections() const {
  return server_ != nullptr ? server_->open_connections() : 0;
}

std::optional<http::EarlyResponse> HttpFrontDoor::CheckHead(const http::Request& head) {
  const ApiShape shape = ShapeOfPath(head.path);
  const auto refuse = [shape](int status, std::string_view message, http::Headers headers) {
    return http::EarlyResponse{status, std::string(kJson), ErrorBody(shape, status, message),
                               std::move(headers)};
  };
  const BrowserDecision browser =
      browser_->Check({head.method, head.Header("origin"), head.Header("host"),
                       head.Header("access-control-request-method"),
                       head.Header("access-control-request-headers")});
  switch (browser.verdict) {
    case BrowserDecision::Verdict::kRefuse:
      core_.metrics().RecordRejected("http", "browser_policy");
      return refuse(browser.status, browser.message, {});
    case BrowserDecision::Verdict::kPreflight:
      return http::EarlyResponse{browser.status, "", "", browser.headers};
    case BrowserDecision::Verdict::kServe:
      break;
  }
  // "/" is Ollama's liveness answer, for anyone.
  if (head.path == "/") return std::nullopt;
  // The key (or certificate) is checked before the body is read; the call path checks it
  // again with everything else, against the policy in force when the body has arrived.
  const std::shared_ptr<const SecurityPolicy> policy = core_.security().policy();
  CallerCredentials credentials;
  const std::string_view authorization = head.Header("authorization");
  if (!authorization.empty()) credentials.authorization = authorization;
  credentials.certificate = CertificateOf(head);
  credentials.peer = head.remote;
  if (policy->Authenticate(credentials).ok()) return std::nullopt;
  // Counted (and reworded) by the gate, as every front door's authentication is.
  const absl::StatusOr<Caller> caller = core_.security().Authenticate(
      *policy, authorization, credentials.certificate, head.remote, "http");
  core_.metrics().RecordRejected("http", "unauthenticated");
  http::Headers headers = browser.headers;
  headers.emplace_back("WWW-Authenticate", "Bearer");
  return refuse(401, std::string(caller.status().message()), std::move(headers));
}

void HttpFrontDoor::Stop() {
  if (server_ != nullptr) server_->Stop();
}

void HttpFrontDoor::Handle(std::shared_ptr<http::Exchange> exchange) {
  const http::Request& request = exchange->request();
  // CheckHead refused what the browser policy refuses; what it let through may need CORS
  // headers on its answer, whichever it is.
  if (!request.Header("origin").empty()) {
    BrowserDecision browser =
        browser_->Check({request.method, request.Header("origin"), request.Header("host"), {}, {}});
    if (!browser.headers.empty()) exchange->AddResponseHeaders(std::move(browser.headers));
  }
  const ApiShape shape = ShapeOfPath(request.path);
  const Route* route = nullptr;
  std::string allowed;
  for (const Route& r : kRoutes) {
    if (!Matches(r, request.path)) continue;
    if (r.method == request.method || (r.method == "GET" && request.method == "HEAD")) {
      route = &r;
      break;
    }
    if (!allowed.empty()) allowed += ", ";
    allowed += r.method == "GET" ? "GET, HEAD" : std::string(r.method);
  }
  if (route == nullptr && !allowed.empty()) {
    return RespondError(
        *exchange, shape, 405,
        fmt::format("{} is not allowed on {}; use {}", request.method, request.path, allowed),
        {{"Allow", allowed}});
  }
  if (route == nullptr) {
    // Ollama answers unknown paths with Go's plain "404 page not found"; a JSON body tells an
    // API client the same and more.
    return RespondError(*exchange, shape, 404,
                        fmt::format("{} {} is not an endpoint of the gateway (see "
                                    "docs/http-api.md)",
                                    request.method, request.path));
  }
  Endpoints router(core_, listings_, exchange, Busy());
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
    case Route::Kind::kModelEntry:
      return router.List("/api/tags", true, request.path.substr(route->path.size()));
    case Route::Kind::kModel:
      return router.Model(route->api);
    case Route::Kind::kManage:
      return router.Manage(route->op);
  }
}

}  // namespace og
