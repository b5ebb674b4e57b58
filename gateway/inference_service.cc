#include "gateway/inference_service.h"

#include <atomic>
#include <mutex>
#include <random>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/config.h"
#include "gateway/ollama_protocol.h"
#include "spdlog/spdlog.h"
#include "tls/peer_identity.h"

namespace og {
namespace {

using Steady = std::chrono::steady_clock;
using ollama_gateway::v1::InferenceRequest;
using ollama_gateway::v1::InferenceResponse;

grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

std::uint64_t CallRandom() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return rng();
}

// The router's view of a gRPC call, for affinity keys.
class GrpcRequestKeys final : public RequestKeys {
 public:
  GrpcRequestKeys(const grpc::CallbackServerContext& context, const InferenceRequest& request)
      : context_(context), request_(request) {}
  std::string_view Model() const override { return request_.model_name(); }
  std::string_view HashKeyField() const override { return request_.hash_key(); }
  std::string_view Metadata(std::string_view name) const override {
    auto it = request_.metadata().find(std::string(name));
    return it == request_.metadata().end() ? std::string_view() : std::string_view(it->second);
  }
  std::string_view Header(std::string_view name) const override {
    const auto& headers = context_.client_metadata();
    auto it = headers.find(grpc::string_ref(name.data(), name.size()));
    return it == headers.end() ? std::string_view()
                               : std::string_view(it->second.data(), it->second.size());
  }

 private:
  const grpc::CallbackServerContext& context_;
  const InferenceRequest& request_;
};

}  // namespace

// One Predict call. It is deleted when both gRPC is done with it (OnDone) and the request path
// has finished it (the last attempt completed), whichever comes last.
class PredictCall final : public grpc::ServerUnaryReactor, public UpstreamHandler {
 public:
  PredictCall(InferenceService& service, grpc::CallbackServerContext* context,
              const InferenceRequest* request, InferenceResponse* response)
      : service_(service), context_(context), request_(*request), response_(*response) {}

  void Begin() {
    if (service_.draining_.load(std::memory_order_relaxed)) {
      return Reject(absl::UnavailableError(
                        "the gateway is shutting down; retry the call (on another replica)"),
                    "draining");
    }
    if (absl::Status s = ValidateRequest(request_); !s.ok()) {
      return Reject(s, "invalid_argument");
    }
    table_ = service_.router_.table();
    pool_ = table_->Find(CanonicalModelName(request_.model_name()));
    if (pool_ == nullptr) {
      const auto& known = table_->known_models();
      return Reject(absl::NotFoundError(absl::StrCat(
                        "model '", request_.model_name(), "' is not served by any backend",
                        known.empty() ? "" : " (served: ", absl::StrJoin(known, ", "),
                        known.empty() ? "" : ")")),
                    "unknown_model");
    }
    tried_ = balancer::HostMask(pool_->members.size());
    ollama_ = BuildOllamaRequest(request_);
    StartAttempt();
  }

  void OnCancel() override {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    current_.Cancel();
  }

  void OnDone() override {
    service_.active_calls_.fetch_sub(1, std::memory_order_acq_rel);
    Unref();
  }

  bool OnLine(std::string_view line) override {
    OllamaChunk chunk;
    if (absl::Status s = ParseOllamaChunk(line, ollama_.endpoint, &chunk); !s.ok()) {
      stop_status_ = absl::UnavailableError(
          absl::StrCat("backend '", backend_name(), "' sent a malformed chunk: ", s.message()));
      return false;
    }
    if (!chunk.error.empty()) {
      stop_status_ = absl::UnavailableError(absl::StrCat(
          "backend '", backend_name(), "' failed during generation: ", chunk.error));
      return false;
    }
    if (first_token_ == Steady::time_point{}) first_token_ = Steady::now();
    response_.mutable_output_data()->append(chunk.text);
    if (!chunk.thinking.empty()) response_.mutable_thinking()->append(chunk.thinking);
    if (chunk.done) {
      done_ = true;
      response_.set_done(true);
      response_.set_done_reason(chunk.done_reason);
      auto* usage = response_.mutable_usage();
      usage->set_prompt_tokens(static_cast<std::uint32_t>(chunk.prompt_eval_count));
      usage->set_completion_tokens(static_cast<std::uint32_t>(chunk.eval_count));
      auto* timings = response_.mutable_timings();
      timings->set_total_duration_ns(chunk.total_duration);
      timings->set_load_duration_ns(chunk.load_duration);
      timings->set_prompt_eval_duration_ns(chunk.prompt_eval_duration);
      timings->set_eval_duration_ns(chunk.eval_duration);
    }
    return true;
  }

  void OnComplete(UpstreamResult result) override {
    const PoolMember& member = pool_->members[current_index_];
    member.state->in_flight().fetch_sub(1, std::memory_order_relaxed);
    service_.metrics_.RecordAttempt(member.state->name(), UpstreamOutcomeName(result.outcome));

    if (!stop_status_.ok()) return Finish(stop_status_);
    switch (result.outcome) {
      case UpstreamOutcome::kOk:
        member.state->connect_backoff().OnSuccess();
        if (!done_) {
          return Finish(absl::UnavailableError(absl::StrCat(
              "backend '", member.state->name(),
              "' ended the stream without a final chunk (incomplete answer)")));
        }
        return Finish(absl::OkStatus());
      case UpstreamOutcome::kHttpError: {
        member.state->connect_backoff().OnSuccess();
        absl::Status s = StatusFromOllamaError(result.http_status, result.body, backend_name());
        if (IsRetriableHttpStatus(result.http_status) && RetryOrFalse(s)) return;
        return Finish(s);
      }
      case UpstreamOutcome::kConnectFailed: {
        const auto hold = member.state->connect_backoff().OnConnectFailure();
        spdlog::warn("backend {} unreachable ({}); held out of rotation for {} ms",
                     member.state->name(), result.message, hold.count());
        absl::Status s = absl::UnavailableError(absl::StrCat(
            "backend '", member.state->name(), "' is unreachable: ", result.message));
        if (RetryOrFalse(s)) return;
        return Finish(s);
      }
      case UpstreamOutcome::kTransportError: {
        absl::Status s = absl::UnavailableError(absl::StrCat(
            "connection to backend '", member.state->name(), "' failed: ", result.message));
        if (!result.received_bytes && RetryOrFalse(s)) return;
        return Finish(s);
      }
      case UpstreamOutcome::kLineTooLong:
        return Finish(absl::InternalError(
            absl::StrCat("backend '", member.state->name(), "': ", result.message)));
      case UpstreamOutcome::kTimeout:
        return Finish(TimeoutStatus());
      case UpstreamOutcome::kAborted:
        if (DeadlinePassed()) return Finish(TimeoutStatus());
        return Finish(absl::CancelledError("the call was cancelled by the client"));
    }
  }

 private:
  const std::string& backend_name() const {
    return pool_->members[current_index_].state->name();
  }

  bool DeadlinePassed() const {
    return context_->deadline() <= std::chrono::system_clock::now();
  }

  absl::Status TimeoutStatus() const {
    if (DeadlinePassed()) {
      return absl::DeadlineExceededError(
          absl::StrCat("deadline exceeded while backend '", backend_name(), "' was generating"));
    }
    return absl::DeadlineExceededError(
        absl::StrCat("backend '", backend_name(), "' did not finish within request_timeout (",
                     service_.options_.request_timeout.count(), " ms)"));
  }

  // The bound for the next attempt: the caller's remaining deadline, capped by request_timeout.
  std::chrono::milliseconds AttemptTimeout() const {
    std::chrono::milliseconds bound = service_.options_.request_timeout;
    const auto deadline = context_->deadline();
    if (deadline != std::chrono::system_clock::time_point::max()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::system_clock::now());
      if (left.count() < 1) left = std::chrono::milliseconds(1);
      if (bound.count() == 0 || left < bound) bound = left;
    }
    return bound;
  }

  // Starts another attempt if the policy allows one; false when the caller must get `why`.
  bool RetryOrFalse(const absl::Status& why) {
    if (attempts_ >= service_.options_.max_attempts || DeadlinePassed()) return false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cancelled_) return false;
    }
    spdlog::debug("retrying {} on another backend after: {}", request_.model_name(),
                  std::string(why.message()));
    service_.metrics_.RecordRetry(pool_->model_label);
    last_error_ = why;
    StartAttempt();
    return true;
  }

  void StartAttempt() {
    const Choice choice = service_.router_.Choose(*pool_, tried_, GrpcRequestKeys(*context_, request_),
                                                  CallRandom());
    if (choice.hash_key_missing && attempts_ == 0) {
      service_.metrics_.RecordHashKeyMissing(pool_->model_label);
    }
    if (!choice.ok()) {
      if (!last_error_.ok()) return Finish(last_error_);
      return Finish(absl::UnavailableError(absl::StrCat(
          "no backend available for model '", request_.model_name(), "': ",
          pool_->members.size(), " configured, ", choice.unavailable,
          " held out after failing to connect, ", choice.tried, " already tried")));
    }
    current_index_ = choice.index;
    tried_.Set(choice.index);
    ++attempts_;
    const PoolMember& member = pool_->members[choice.index];
    member.state->in_flight().fetch_add(1, std::memory_order_relaxed);

    UpstreamRequest upstream;
    upstream.url = absl::StrCat(member.url, ollama_.path);
    upstream.body = ollama_.body;
    upstream.connect_timeout = service_.options_.connect_timeout;
    upstream.timeout = AttemptTimeout();
    upstream.max_line_bytes = service_.options_.max_line_bytes;
    upstream.tls = member.tls;

    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!cancelled_) {
        current_ = service_.upstream_.Start(std::move(upstream), this);
        return;
      }
    }
    member.state->in_flight().fetch_sub(1, std::memory_order_relaxed);
    Finish(absl::CancelledError("the call was cancelled by the client"));
  }

  void Reject(const absl::Status& status, std::string_view reason) {
    service_.metrics_.RecordRejected(reason);
    Finish(status);
  }

  // Ends the call. Must be the last thing the request path does with this object: gRPC may
  // delete it (through OnDone) as soon as Finish has been called. OnCancel may still run
  // concurrently; it only touches mu_-guarded state.
  void Finish(const absl::Status& status) {
    const auto now = Steady::now();
    const std::string model = pool_ != nullptr ? pool_->model_label : "_none";
    const bool reached_backend = attempts_ > 0;
    const std::string backend = reached_backend ? backend_name() : "";
    if (reached_backend) {
      context_->AddTrailingMetadata("x-gateway-backend", backend);
      context_->AddTrailingMetadata("x-gateway-attempts", std::to_string(attempts_));
    }
    if (status.ok()) {
      response_.set_model_name(request_.model_name());
      auto* timings = response_.mutable_timings();
      timings->set_gateway_total_ns((now - start_).count());
      if (first_token_ != Steady::time_point{}) {
        timings->set_gateway_time_to_first_token_ns((first_token_ - start_).count());
        service_.metrics_.RecordTimeToFirstToken(model, first_token_ - start_);
      }
      service_.metrics_.RecordTokens(model, response_.usage().prompt_tokens(),
                                     response_.usage().completion_tokens());
    }
    service_.metrics_.RecordRequest(model, backend, absl::StatusCodeToString(status.code()),
                                    now - start_);
    if (spdlog::should_log(spdlog::level::debug)) {
      const std::shared_ptr<const grpc::AuthContext> auth = context_->auth_context();
      const std::string client =
          auth != nullptr ? tls::PeerIdentityOf(*auth).ToLogField() : std::string("-");
      spdlog::debug("Predict model={} backend={} attempts={} status={} {} ms client={}",
                    request_.model_name(), backend, attempts_,
                    absl::StatusCodeToString(status.code()),
                    std::chrono::duration_cast<std::chrono::milliseconds>(now - start_).count(),
                    client);
    }
    grpc::ServerUnaryReactor::Finish(ToGrpc(status));
    Unref();
  }

  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  InferenceService& service_;
  grpc::CallbackServerContext* const context_;
  const InferenceRequest& request_;
  InferenceResponse& response_;
  const Steady::time_point start_ = Steady::now();
  // One reference for gRPC (dropped in OnDone), one for the request path (dropped on Finish).
  std::atomic<int> refs_{2};

  std::shared_ptr<const RoutingTable> table_;  // keeps pool_ alive for the whole call
  const Pool* pool_ = nullptr;
  OllamaRequest ollama_;
  balancer::HostMask tried_;
  std::size_t current_index_ = 0;
  int attempts_ = 0;
  absl::Status last_error_;

  // Written on the upstream loop thread only (OnLine/OnComplete run there one at a time).
  bool done_ = false;
  Steady::time_point first_token_{};
  absl::Status stop_status_;

  std::mutex mu_;  // guards cancelled_ and current_ against OnCancel from gRPC's threads
  bool cancelled_ = false;
  UpstreamCall current_;
};

grpc::ServerUnaryReactor* InferenceService::Predict(grpc::CallbackServerContext* context,
                                                    const InferenceRequest* request,
                                                    InferenceResponse* response) {
  active_calls_.fetch_add(1, std::memory_order_acq_rel);
  auto* call = new PredictCall(*this, context, request, response);
  call->Begin();
  return call;
}

}  // namespace og
