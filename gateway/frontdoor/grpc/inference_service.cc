#include "gateway/frontdoor/grpc/inference_service.h"

#include <deque>
#include <mutex>
#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gateway/call/call_path.h"
#include "gateway/upstream/json_reading.h"
#include "spdlog/spdlog.h"
#include "tls/peer_identity.h"

namespace og {
namespace {

using ollama_gateway::v1::InferenceRequest;
using ollama_gateway::v1::InferenceResponse;
using Json = nlohmann::json;

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// The tool calls of a chunk (Ollama's [{"id", "function": {"index", "name", "arguments"}}], as
// JSON text; the line they came in was read within limits.max_json_depth already).
void AddToolCalls(const OllamaChunk& chunk, InferenceResponse* out) {
  if (chunk.tool_calls_json.empty()) return;
  absl::StatusOr<Json> calls = ParseJson(chunk.tool_calls_json, kMaxJsonDepthCeiling, "tool_calls");
  if (!calls.ok() || !calls->is_array()) return;
  for (const Json& call : *calls) {
    if (!call.is_object()) continue;
    auto* added = out->add_tool_calls();
    if (auto id = call.find("id"); id != call.end() && id->is_string()) {
      added->set_id(id->get<std::string>());
    }
    auto function = call.find("function");
    if (function == call.end() || !function->is_object()) continue;
    if (auto name = function->find("name"); name != function->end() && name->is_string()) {
      added->set_name(name->get<std::string>());
    }
    if (auto index = function->find("index");
        index != function->end() && index->is_number_integer()) {
      added->set_index(index->get<std::int32_t>());
    }
    if (auto arguments = function->find("arguments"); arguments != function->end()) {
      added->set_arguments_json(arguments->dump(-1, ' ', false, Json::error_handler_t::replace));
    }
  }
}

// A chunk's logprobs (Ollama's [{"token", "logprob", "bytes", "top_logprobs": [...]}]).
void AddLogprobs(const OllamaChunk& chunk, InferenceResponse* out) {
  if (chunk.logprobs_json.empty()) return;
  absl::StatusOr<Json> entries = ParseJson(chunk.logprobs_json, kMaxJsonDepthCeiling, "logprobs");
  if (!entries.ok() || !entries->is_array()) return;
  const auto read = [](const Json& entry, ollama_gateway::v1::Logprob* to) {
    if (!entry.is_object()) return;
    if (auto t = entry.find("token"); t != entry.end() && t->is_string()) {
      to->set_token(t->get<std::string>());
    }
    if (auto p = entry.find("logprob"); p != entry.end() && p->is_number()) {
      to->set_logprob(p->get<double>());
    }
    if (auto b = entry.find("bytes"); b != entry.end() && b->is_array()) {
      std::string bytes;
      for (const Json& x : *b) {
        if (x.is_number_unsigned() && x.get<std::uint64_t>() < 256) {
          bytes.push_back(static_cast<char>(x.get<std::uint64_t>()));
        }
      }
      to->set_bytes(std::move(bytes));
    }
  };
  for (const Json& entry : *entries) {
    auto* logprob = out->add_logprobs();
    read(entry, logprob);
    if (!entry.is_object()) continue;
    auto top = entry.find("top_logprobs");
    if (top == entry.end() || !top->is_array()) continue;
    for (const Json& alternative : *top) read(alternative, logprob->add_top_logprobs());
  }
}

void SetDoneFields(const OllamaChunk& chunk, InferenceResponse* out) {
  out->set_done(true);
  out->set_done_reason(chunk.done_reason);
  auto* usage = out->mutable_usage();
  usage->set_prompt_tokens(static_cast<std::uint32_t>(chunk.prompt_eval_count));
  usage->set_completion_tokens(static_cast<std::uint32_t>(chunk.eval_count));
  auto* timings = out->mutable_timings();
  timings->set_total_duration_ns(chunk.total_duration);
  timings->set_load_duration_ns(chunk.load_duration);
  timings->set_prompt_eval_duration_ns(chunk.prompt_eval_duration);
  timings->set_eval_duration_ns(chunk.eval_duration);
}

// A request metadata entry (`lower_name` in lower case), or "" when absent.
std::string_view MetadataOf(const grpc::CallbackServerContext& context,
                            std::string_view lower_name) {
  const auto& headers = context.client_metadata();
  auto it = headers.find(grpc::string_ref(lower_name.data(), lower_name.size()));
  return it == headers.end() ? std::string_view()
                             : std::string_view(it->second.data(), it->second.size());
}

// The caller's verified client certificate; empty without one.
tls::PeerIdentity CertificateOf(const grpc::CallbackServerContext& context) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  return auth ? tls::PeerIdentityOf(*auth) : tls::PeerIdentity();
}

// The gRPC side of a call: what the caller sent, from the server context.
class GrpcCall : public CallPath {
 protected:
  GrpcCall(CallCore& core, grpc::CallbackServerContext* context, const InferenceRequest& request,
           std::string_view rpc, security::Action action)
      : CallPath(core, Frontend::kGrpc, request, rpc, action), context_(context) {}

  std::string_view Header(std::string_view lower_name) const override {
    return MetadataOf(*context_, lower_name);
  }
  // A generate answer's context, from its final line.
  void AddContext(std::string_view final_line, InferenceResponse* out) const {
    if (request_.messages_size() > 0) return;  // a chat has none
    const std::vector<std::int64_t> context = ContextOf(final_line, max_json_depth());
    out->mutable_context()->Assign(context.begin(), context.end());
  }
  std::chrono::system_clock::time_point Deadline() const override { return context_->deadline(); }
  std::string Peer() const override { return context_->peer(); }
  tls::PeerIdentity PeerCertificate() const override { return CertificateOf(*context_); }
  void AddTrailer(std::string_view name, std::string value) override {
    context_->AddTrailingMetadata(std::string(name), value);
  }

  grpc::CallbackServerContext* const context_;
};

// Predict: aggregates the chunks into one answer.
class PredictCall final : public grpc::ServerUnaryReactor, public GrpcCall {
 public:
  PredictCall(CallCore& core, grpc::CallbackServerContext* context, const InferenceRequest* request,
              InferenceResponse* response, std::size_t max_answer_bytes)
      : GrpcCall(core, context, *request, "Predict", security::Action::kPredict),
        response_(*response),
        max_answer_bytes_(max_answer_bytes) {}

  void OnCancel() override { Cancel(); }
  void OnDone() override { Release(); }

 private:
  bool Deliver(OllamaChunk& chunk, std::string_view line, absl::Status* why_not) override {
    if (response_.output_data().size() + response_.thinking().size() + chunk.text.size() +
            chunk.thinking.size() >
        max_answer_bytes_) {
      *why_not = absl::ResourceExhaustedError(
          absl::StrCat("the answer exceeds ", max_answer_bytes_,
                       " bytes, the most a unary reply carries; limit it with "
                       "options.num_predict or use PredictStream"));
      return false;
    }
    response_.mutable_output_data()->append(chunk.text);
    if (!chunk.thinking.empty()) response_.mutable_thinking()->append(chunk.thinking);
    AddToolCalls(chunk, &response_);
    AddLogprobs(chunk, &response_);
    if (chunk.done) {
      SetDoneFields(chunk, &response_);
      AddContext(line, &response_);
    }
    return true;
  }

  // Nothing goes out before the reply: a failed answer is dropped and the call runs again.
  bool ForgetAnswer() override {
    response_.Clear();
    return true;
  }

  void End(const absl::Status& status) override {
    if (status.ok()) {
      const auto now = Steady::now();
      response_.set_model_name(request_.model_name());
      auto* timings = response_.mutable_timings();
      timings->set_gateway_total_ns((now - start()).count());
      if (first_token() != Steady::time_point{}) {
        timings->set_gateway_time_to_first_token_ns((first_token() - start()).count());
      }
    }
    Finish(ToGrpc(status));
  }

  InferenceResponse& response_;
  // A unary answer is cut here rather than buffered without bound for a backend that does not
  // stop (gRPC clients refuse messages over 4 MiB unless told otherwise).
  const std::size_t max_answer_bytes_;
};

// PredictStream: one message per chunk as it arrives. Writes go out one at a time (gRPC allows
// one outstanding write); chunks that arrive meanwhile queue here, and past
// stream_buffer_bytes the backend transfer is paused until the caller has read half of them.
// With a watchdog, a write the caller has not taken within the write timeout cancels the call
// (TryCancel, so OnCancel aborts the backend request and the caller sees CANCELLED).
class PredictStreamCall final : public grpc::ServerWriteReactor<InferenceResponse>,
                                public GrpcCall,
                                public WatchedStream {
 public:
  PredictStreamCall(CallCore& core, grpc::CallbackServerContext* context,
                    const InferenceRequest* request, std::size_t buffer_bytes,
                    StreamWriteWatchdog* watchdog)
      : GrpcCall(core, context, *request, "PredictStream", security::Action::kStream),
        high_water_(buffer_bytes),
        low_water_(buffer_bytes / 2),
        watchdog_(watchdog) {}

  void OnCancel() override { Cancel(); }
  void OnDone() override {
    if (watchdog_ != nullptr) watchdog_->Unwatch(this);
    Release();
  }

  bool ClaimWriteTimeout(Clock::TimePoint cutoff) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!writing_ || finished_ || timed_out_ || write_started_ > cutoff) return false;
    expiring_ = timed_out_ = true;
    return true;
  }

  // While expiring_ is set the call cannot finish, so OnDone cannot run and context_ stays
  // valid; TryCancel runs without mu_ because gRPC may run OnWriteDone inline from it.
  void ExpireWrite() override {
    core_.metrics().RecordStreamWriteTimeout("grpc");
    spdlog::info("PredictStream {}: the caller took no message for {} ms; cancelling the call",
                 request_id(), core_.options().stream_write_timeout.count());
    context_->TryCancel();
    std::lock_guard<std::mutex> lock(mu_);
    expiring_ = false;
    WriteNextOrFinishLocked();
  }

  void OnWriteDone(bool ok) override {
    bool resume = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      queued_bytes_ -= queue_.front().ByteSizeLong();
      queue_.pop_front();
      writing_ = false;
      if (!ok) {
        // The caller is gone; OnCancel aborts the backend request. Drop what is queued.
        queue_.clear();
        queued_bytes_ = 0;
      }
      if (paused_ && queued_bytes_ <= low_water_) {
        paused_ = false;
        resume = true;
      }
      WriteNextOrFinishLocked();
    }
    if (resume) ResumeUpstream();
  }

 private:
  bool Deliver(OllamaChunk& chunk, std::string_view line, absl::Status*) override {
    // Chunks without text (Ollama's final chunk has none) only matter when they end the answer
    // or call tools.
    if (chunk.text.empty() && chunk.thinking.empty() && !chunk.has_tool_calls() && !chunk.done) {
      return true;
    }
    InferenceResponse message;
    message.set_model_name(request_.model_name());
    message.set_output_data(std::move(chunk.text));
    if (!chunk.thinking.empty()) message.set_thinking(std::move(chunk.thinking));
    AddToolCalls(chunk, &message);
    AddLogprobs(chunk, &message);
    if (chunk.done) {
      SetDoneFields(chunk, &message);
      AddContext(line, &message);
      const auto now = Steady::now();
      message.mutable_timings()->set_gateway_total_ns((now - start()).count());
      message.mutable_timings()->set_gateway_time_to_first_token_ns(
          (first_token() - start()).count());
    }
    bool pause = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      sent_ = true;
      queued_bytes_ += message.ByteSizeLong();
      queue_.push_back(std::move(message));
      if (!paused_ && queued_bytes_ > high_water_) pause = paused_ = true;
      WriteNextOrFinishLocked();
    }
    if (pause) PauseUpstream();
    return true;
  }

  // A stream can run again only while no message went to the caller.
  bool ForgetAnswer() override {
    std::lock_guard<std::mutex> lock(mu_);
    return !sent_;
  }

  void End(const absl::Status& status) override {
    std::lock_guard<std::mutex> lock(mu_);
    end_status_ = status;
    ending_ = true;
    WriteNextOrFinishLocked();
  }

  // Starts the next queued write, or finishes the call once everything queued went out.
  void WriteNextOrFinishLocked() {
    if (writing_ || finished_ || expiring_) return;
    if (!queue_.empty()) {
      writing_ = true;
      if (watchdog_ != nullptr) write_started_ = watchdog_->clock().Now();
      StartWrite(&queue_.front());
    } else if (ending_) {
      finished_ = true;
      Finish(ToGrpc(end_status_));
    }
  }

  const std::size_t high_water_;
  const std::size_t low_water_;
  StreamWriteWatchdog* const watchdog_;  // null: writes are not timed

  std::mutex mu_;  // the loop thread (Deliver, End) against gRPC's (OnWriteDone)
  std::deque<InferenceResponse> queue_;  // front() is being written when writing_
  std::size_t queued_bytes_ = 0;
  bool sent_ = false;  // a message was handed to the caller's stream
  bool writing_ = false;
  bool paused_ = false;
  bool ending_ = false;
  bool finished_ = false;
  bool expiring_ = false;           // the watchdog is cancelling the call
  bool timed_out_ = false;          // once is enough
  Clock::TimePoint write_started_;  // of the write in progress
  absl::Status end_status_;
};

// A call whose backend answer is one JSON object (Embed, Show): the call path routes and checks
// an InferenceRequest made of what the caller sent (its texts as messages, so the limits and
// redaction see them), and the object is gathered, then read into the reply.
struct RequestHolder {
  InferenceRequest request;
};

class WholeAnswerCall : private RequestHolder, public grpc::ServerUnaryReactor, public GrpcCall {
 public:
  void OnCancel() override { Cancel(); }
  void OnDone() override { Release(); }

 protected:
  WholeAnswerCall(CallCore& core, grpc::CallbackServerContext* context, InferenceRequest request,
                  std::string_view rpc)
      : RequestHolder{std::move(request)},
        GrpcCall(core, context, RequestHolder::request, rpc, security::Action::kPredict),
        max_bytes_(core.options().max_line_bytes) {}

  // The reply from the backend's whole answer; INTERNAL when it is not what Ollama answers.
  virtual absl::Status Reply(const Json& answer) = 0;

 private:
  absl::Status Validate(const InferenceRequest& request) const override {
    return ValidateModelName(request);
  }
  bool ParsesChunks() const override { return false; }
  bool Deliver(OllamaChunk&, std::string_view line, absl::Status* why_not) override {
    if (body_.size() + line.size() > max_bytes_) {
      *why_not = absl::ResourceExhaustedError(
          absl::StrCat("backend '", backend_name(),
                       "' answered more than upstream.max_line_bytes (", max_bytes_, " bytes)"));
      return false;
    }
    body_.append(line);
    return true;
  }
  bool ForgetAnswer() override {
    body_.clear();
    return true;
  }
  void End(const absl::Status& status) override {
    if (!status.ok()) return Finish(ToGrpc(status));
    absl::StatusOr<Json> answer = ParseJson(body_, kMaxJsonDepthCeiling, "the backend's answer");
    absl::Status replied =
        answer.ok() && answer->is_object()
            ? Reply(*answer)
            : absl::InternalError(absl::StrCat("backend '", backend_name(),
                                               "' answered something that is not a JSON object"));
    Finish(ToGrpc(replied));
  }

  const std::size_t max_bytes_;
  std::string body_;
};

// A backend request to `path` with a JSON body of the gateway's own.
OllamaRequest JsonRequest(const char* path, const Json& body) {
  OllamaRequest out;
  out.path = path;
  out.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return out;
}

InferenceRequest EmbedCallRequest(const ollama_gateway::v1::EmbedRequest& embed) {
  InferenceRequest request;
  request.set_model_name(embed.model_name());
  request.set_hash_key(embed.hash_key());
  *request.mutable_metadata() = embed.metadata();
  request.set_keep_alive(embed.keep_alive());
  for (const std::string& input : embed.input()) {
    auto* message = request.add_messages();
    message->set_role("input");
    message->set_content(input);
  }
  return request;
}

class EmbedCall final : public WholeAnswerCall {
 public:
  EmbedCall(CallCore& core, grpc::CallbackServerContext* context,
            const ollama_gateway::v1::EmbedRequest* request,
            ollama_gateway::v1::EmbedResponse* response)
      : WholeAnswerCall(core, context, EmbedCallRequest(*request), "Embed"),
        embed_(*request),
        response_(*response) {}

 private:
  SlotKind Slot() const override { return SlotKind::kEmbedding; }

  // The inputs ride as messages (EmbedCallRequest) but are limited as embedding inputs.
  InputSize MeasureInput() const override {
    InputSize size = WholeAnswerCall::MeasureInput();
    size.embed_inputs = std::exchange(size.messages, 0);
    return size;
  }

  // The inputs as redaction left them.
  OllamaRequest BuildUpstream(const InferenceRequest& forwarded) override {
    Json body = {{"model", backend_model()}, {"input", Json::array()}};
    for (const auto& m : forwarded.messages()) body["input"].push_back(m.content());
    if (embed_.has_truncate()) body["truncate"] = embed_.truncate();
    if (embed_.dimensions() > 0) body["dimensions"] = embed_.dimensions();
    if (!forwarded.keep_alive().empty()) body["keep_alive"] = forwarded.keep_alive();
    return JsonRequest("/api/embed", body);
  }

  absl::Status Reply(const Json& answer) override {
    auto embeddings = answer.find("embeddings");
    if (embeddings == answer.end() || !embeddings->is_array()) {
      return absl::InternalError(
          absl::StrCat("backend '", backend_name(), "' answered no embeddings array"));
    }
    response_.set_model_name(embed_.model_name());
    for (const Json& vector : *embeddings) {
      auto* out = response_.add_embeddings();
      if (!vector.is_array()) continue;
      for (const Json& x : vector) out->add_values(x.is_number() ? x.get<float>() : 0.0f);
    }
    if (auto n = answer.find("prompt_eval_count"); n != answer.end() && n->is_number_unsigned()) {
      response_.mutable_usage()->set_prompt_tokens(n->get<std::uint32_t>());
    }
    auto* timings = response_.mutable_timings();
    if (auto d = answer.find("total_duration"); d != answer.end() && d->is_number_integer()) {
      timings->set_total_duration_ns(d->get<std::int64_t>());
    }
    if (auto d = answer.find("load_duration"); d != answer.end() && d->is_number_integer()) {
      timings->set_load_duration_ns(d->get<std::int64_t>());
    }
    timings->set_gateway_total_ns((Steady::now() - start()).count());
    return absl::OkStatus();
  }

  const ollama_gateway::v1::EmbedRequest& embed_;
  ollama_gateway::v1::EmbedResponse& response_;
};

InferenceRequest ShowCallRequest(const ollama_gateway::v1::ShowRequest& show) {
  InferenceRequest request;
  request.set_model_name(show.model_name());
  request.set_hash_key(show.hash_key());
  *request.mutable_metadata() = show.metadata();
  return request;
}

class ShowCall final : public WholeAnswerCall {
 public:
  ShowCall(CallCore& core, grpc::CallbackServerContext* context,
           const ollama_gateway::v1::ShowRequest* request,
           ollama_gateway::v1::ShowResponse* response)
      : WholeAnswerCall(core, context, ShowCallRequest(*request), "Show"),
        show_(*request),
        response_(*response) {}

 private:
  // Ollama answers /api/show at once, whatever generations run.
  SlotKind Slot() const override { return SlotKind::kNone; }

  OllamaRequest BuildUpstream(const InferenceRequest& forwarded) override {
    Json body = {{"model", backend_model()}};
    if (show_.verbose()) body["verbose"] = true;
    return JsonRequest("/api/show", body);
  }

  absl::Status Reply(const Json& answer) override {
    response_.set_model_name(show_.model_name());
    response_.set_json(answer.dump(-1, ' ', false, Json::error_handler_t::replace));
    if (auto caps = answer.find("capabilities"); caps != answer.end() && caps->is_array()) {
      for (const Json& c : *caps) {
        if (c.is_string()) response_.add_capabilities(c.get<std::string>());
      }
    }
    if (auto details = answer.find("details"); details != answer.end() && details->is_object()) {
      const auto text = [&](const char* key) {
        auto it = details->find(key);
        return it != details->end() && it->is_string() ? it->get<std::string>() : std::string();
      };
      response_.set_family(text("family"));
      response_.set_parameter_size(text("parameter_size"));
      response_.set_quantization_level(text("quantization_level"));
    }
    return absl::OkStatus();
  }

  const ollama_gateway::v1::ShowRequest& show_;
  ollama_gateway::v1::ShowResponse& response_;
};

}  // namespace

StreamWriteWatchdog::StreamWriteWatchdog(const Clock& clock, std::chrono::milliseconds timeout,
                                         std::chrono::milliseconds period)
    : clock_(clock), timeout_(timeout), period_(period) {
  if (period_.count() == 0) return;
  thread_ = std::thread([this] {
    std::unique_lock<std::mutex> lock(stop_mu_);
    while (!stop_cv_.wait_for(lock, period_, [this] { return stop_; })) {
      lock.unlock();
      Sweep();
      lock.lock();
    }
  });
}

StreamWriteWatchdog::~StreamWriteWatchdog() {
  {
    std::lock_guard<std::mutex> lock(stop_mu_);
    stop_ = true;
  }
  stop_cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void StreamWriteWatchdog::Watch(WatchedStream* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_.insert(stream);
}

void StreamWriteWatchdog::Unwatch(WatchedStream* stream) {
  std::lock_guard<std::mutex> lock(mu_);
  streams_.erase(stream);
}

std::size_t StreamWriteWatchdog::Sweep() {
  std::vector<WatchedStream*> expired;
  {
    const Clock::TimePoint cutoff = clock_.Now() - timeout_;
    std::lock_guard<std::mutex> lock(mu_);
    for (WatchedStream* stream : streams_) {
      if (stream->ClaimWriteTimeout(cutoff)) expired.push_back(stream);
    }
  }
  // A claimed stream cannot finish, so it cannot be unwatched and destroyed meanwhile.
  for (WatchedStream* stream : expired) stream->ExpireWrite();
  return expired.size();
}

InferenceService::InferenceService(CallCore& core, const Clock& clock) : core_(core) {
  const std::chrono::milliseconds timeout = core_.options().stream_write_timeout;
  if (timeout.count() > 0) {
    watchdog_ = std::make_unique<StreamWriteWatchdog>(clock, timeout, std::chrono::seconds(1));
  }
}

InferenceService::~InferenceService() = default;

grpc::ServerUnaryReactor* InferenceService::Predict(grpc::CallbackServerContext* context,
                                                    const InferenceRequest* request,
                                                    InferenceResponse* response) {
  auto* call =
      new PredictCall(core_, context, request, response, core_.options().max_unary_answer_bytes);
  call->Begin();
  return call;
}

grpc::ServerWriteReactor<InferenceResponse>* InferenceService::PredictStream(
    grpc::CallbackServerContext* context, const InferenceRequest* request) {
  auto* call = new PredictStreamCall(core_, context, request, core_.options().stream_buffer_bytes,
                                     watchdog_.get());
  // Watched once fully built: the watchdog's thread may look at it at once.
  if (watchdog_ != nullptr) watchdog_->Watch(call);
  call->Begin();
  return call;
}

}  // namespace og

namespace og {

grpc::ServerUnaryReactor* InferenceService::Embed(grpc::CallbackServerContext* context,
                                                  const ollama_gateway::v1::EmbedRequest* request,
                                                  ollama_gateway::v1::EmbedResponse* response) {
  auto* call = new EmbedCall(core_, context, request, response);
  call->Begin();
  return call;
}

grpc::ServerUnaryReactor* InferenceService::Show(grpc::CallbackServerContext* context,
                                                 const ollama_gateway::v1::ShowRequest* request,
                                                 ollama_gateway::v1::ShowResponse* response) {
  auto* call = new ShowCall(core_, context, request, response);
  call->Begin();
  return call;
}

grpc::ServerUnaryReactor* InferenceService::ListModels(
    grpc::CallbackServerContext* context, const ollama_gateway::v1::ListModelsRequest*,
    ollama_gateway::v1::ListModelsResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  if (core_.draining()) {
    reactor->Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                 "the gateway is shutting down; retry (on another replica)"));
    return reactor;
  }
  const std::shared_ptr<const SecurityPolicy> policy = core_.security().policy();
  absl::StatusOr<Caller> caller =
      core_.security().Authenticate(*policy, MetadataOf(*context, "authorization"),
                                    CertificateOf(*context), context->peer(), "grpc");
  if (!caller.ok()) {
    reactor->Finish(ToGrpc(caller.status()));
    return reactor;
  }
  // The routing table is the fleet's listing as the health checks last read it: a pool per
  // model, with its members' health and whether they have the model loaded.
  const std::shared_ptr<const RoutingTable> table = core_.router().table();
  auto add_members = [](const Pool& pool, ollama_gateway::v1::ListedModel* model) {
    for (std::size_t i = 0; i < pool.members.size(); ++i) {
      auto* backend = model->add_backends();
      backend->set_name(pool.members[i].state->name());
      backend->set_healthy(MemberHealthy(pool, i));
      backend->set_loaded((pool.flags[i].load(std::memory_order_relaxed) & kModelLoaded) != 0);
    }
  };
  for (const std::string& name : table->known_models()) {
    if (table->FindRollout(name) != nullptr) continue;  // listed with its rollout below
    if (!policy->Authorize(*caller, name, name, security::Action::kPredict).ok()) continue;
    const Pool* pool = table->Find(name);
    if (pool == nullptr) continue;
    auto* model = response->add_models();
    model->set_name(name);
    add_members(*pool, model);
  }
  // A rollout's name, as callers use it, with the backends of both its targets.
  for (const auto& [canonical, route] : table->rollouts()) {
    const std::string& name = route.rollout->name();
    if (!policy->Authorize(*caller, name, canonical, security::Action::kPredict).ok()) continue;
    auto* model = response->add_models();
    model->set_name(name);
    for (const Pool* pool : route.pools) {
      if (pool != nullptr) add_members(*pool, model);
    }
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace og
