#include "gateway/call/call_path.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/config/values.h"
#include "security/sha256.h"
#include "spdlog/spdlog.h"
#include "tls/peer_identity.h"

namespace og {
namespace {

using ollama_gateway::v1::InferenceRequest;

// Longest caller-chosen request id kept; a longer one is replaced by the gateway's own.
constexpr std::size_t kMaxRequestId = 128;
// The most answer text kept for a content-logging access log line.
constexpr std::size_t kMaxLoggedOutput = 1u << 20;

// The caller's x-request-id when it sent a usable one, else a random one.
std::string RequestIdFrom(std::string_view sent, RandomSource& random) {
  if (!sent.empty() && sent.size() <= kMaxRequestId) return std::string(sent);
  char id[33];
  const std::uint64_t high = random.Next();
  const std::uint64_t low = random.Next();
  std::snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(high),
                static_cast<unsigned long long>(low));
  return id;
}

// The text a content-logging access log records as the input.
std::string InputText(const InferenceRequest& request) {
  if (request.messages().empty()) return request.input_data();
  std::string text;
  for (const auto& m : request.messages())
    absl::StrAppend(&text, m.role(), "\n", m.content(), "\n");
  return text;
}

}  // namespace

std::string InputDigest(const InferenceRequest& request) {
  return security::Sha256Hex(InputText(request));
}

std::string_view FrontendName(Frontend frontend) {
  return frontend == Frontend::kGrpc ? "grpc" : "http";
}

CallPath::CallPath(CallCore& core, Frontend frontend, const InferenceRequest& request,
                   std::string_view rpc, security::Action action)
    : core_(core),
      request_(request),
      frontend_(frontend),
      rpc_(rpc),
      action_(action),
      start_(core.clock_.Now()) {
  core_.active_calls_.fetch_add(1, std::memory_order_acq_rel);
}

CallPath::~CallPath() { core_.active_calls_.fetch_sub(1, std::memory_order_acq_rel); }

absl::Status CallPath::Validate(const InferenceRequest& request) const {
  return ValidateRequest(request);
}

std::string_view CallPath::Metadata(std::string_view name) const {
  auto it = request_.metadata().find(std::string(name));
  return it == request_.metadata().end() ? std::string_view() : std::string_view(it->second);
}

OllamaRequest CallPath::BuildUpstream(const InferenceRequest& forwarded) {
  if (backend_model() == forwarded.model_name()) return BuildOllamaRequest(forwarded);
  InferenceRequest renamed = forwarded;
  renamed.set_model_name(backend_model());
  return BuildOllamaRequest(renamed);
}

void CallPath::AssignRollout(const RolloutRoute& route) {
  rollout_route_ = &route;
  rollout_ = route.rollout.get();
  target_ = rollout_->Assign(AffinityKey(rollout_->config().hash_key, *this), core_.random_.Next());
  // A target none of whose backends serves its model now leaves the calls to the other.
  if (route.pools[static_cast<int>(target_)] == nullptr) {
    target_ =
        target_ == RolloutTarget::kCandidate ? RolloutTarget::kBaseline : RolloutTarget::kCandidate;
  }
  pool_ = route.pools[static_cast<int>(target_)];
  if (pool_ == nullptr) rollout_ = nullptr;  // neither is served: the call ends NOT_FOUND
}

void CallPath::RecordRolloutCall(const absl::Status& status, Steady::time_point now) {
  // A caller that left says nothing about the target.
  if (rollout_ == nullptr || status.code() == absl::StatusCode::kCancelled) return;
  const bool error = IsRolloutError(status.code());
  std::optional<double> ttft;
  std::optional<double> per_token;
  if (first_token_ != Steady::time_point{}) {
    ttft = std::chrono::duration<double>(first_token_ - start_).count();
    if (status.ok() && completion_tokens_ > 1) {
      per_token = std::chrono::duration<double>(now - first_token_).count() /
                  static_cast<double>(completion_tokens_ - 1);
    }
  }
  rollout_->Record(target_, error, ttft, per_token);
  core_.metrics_.RecordRolloutCall(rollout_->name(), RolloutTargetName(target_), error, ttft,
                                   per_token);
}

void CallPath::Begin() {
  request_id_ = RequestIdFrom(Header("x-request-id"), core_.random_);
  certificate_ = PeerCertificate();
  if (core_.draining_.load(std::memory_order_relaxed)) {
    return Reject(
        absl::UnavailableError("the gateway is shutting down; retry the call (on another replica)"),
        "draining");
  }
  if (!PassSecurity(*core_.security_.policy())) return;
  table_ = core_.router_.table();
  if (const RolloutRoute* route = table_->FindRollout(canonical_model_); route != nullptr) {
    AssignRollout(*route);
  } else {
    pool_ = table_->Find(canonical_model_);
  }
  if (pool_ == nullptr && table_->Configured(canonical_model_)) {
    return Reject(absl::NotFoundError(absl::StrCat(
                      "model '", request_.model_name(),
                      "' is configured, but not installed on any backend configured for it "
                      "(none lists it in /api/tags)")),
                  "unknown_model");
  }
  if (pool_ == nullptr) {
    const auto& known = table_->known_models();
    return Reject(absl::NotFoundError(absl::StrCat(
                      "model '", request_.model_name(), "' is not served by any backend",
                      known.empty() ? "" : " (served: ", absl::StrJoin(known, ", "),
                      known.empty() ? "" : ")")),
                  "unknown_model");
  }
  tried_ = balancer::HostMask(pool_->members.size());
  ollama_ = BuildUpstream(redacted_ != nullptr ? *redacted_ : request_);
  // Only what can be continued keeps its answer: a stream (the caller sees each chunk) of a
  // chat, or of a generate whose prompt the model reads as it is.
  keeps_answer_ = core_.options_.continue_streams && action_ == security::Action::kStream &&
                  ParsesChunks() && (ollama_.endpoint == OllamaEndpoint::kChat || ollama_.raw);
  StartAttempt();
}

bool CallPath::PassSecurity(const SecurityPolicy& policy) {
  Metrics& metrics = core_.metrics_;
  const std::string_view frontend = FrontendName(frontend_);
  absl::StatusOr<Caller> caller =
      core_.security_.Authenticate(policy, Header("authorization"), certificate_, Peer(), frontend);
  if (!caller.ok()) {
    Reject(caller.status(), "unauthenticated");
    return false;
  }
  caller_ = *std::move(caller);
  // Limits before anything reads the request's fields, so an oversized one costs nothing more.
  max_json_depth_ = static_cast<int>(policy.limits().max_json_depth);
  if (absl::Status s = policy.CheckLimits(request_, MeasureInput()); !s.ok()) {
    Reject(s, "limit_exceeded");
    return false;
  }
  if (absl::Status s = Validate(request_); !s.ok()) {
    Reject(s, "invalid_argument");
    return false;
  }
  canonical_model_ = CanonicalModelName(request_.model_name());
  const std::string_view action = security::ActionName(action_);
  if (absl::Status s = policy.Authorize(caller_, request_.model_name(), canonical_model_, action_);
      !s.ok()) {
    authz_ = "deny";
    metrics.RecordAuthorization(frontend, action, "deny");
    Reject(s, "permission_denied");
    return false;
  }
  authz_ = "allow";
  metrics.RecordAuthorization(frontend, action, "allow");
  std::chrono::milliseconds retry_after{0};
  if (absl::Status s =
          core_.security_.Admit(caller_, action_, frontend, &stream_permit_, &retry_after);
      !s.ok()) {
    // A hint for clients and their retry policies, in the trailers with the status.
    AddTrailer("retry-after-ms", std::to_string(retry_after.count()));
    Reject(s, "rate_limited");
    return false;
  }
  if (policy.redacts()) RedactInput(policy, metrics);
  return true;
}

InputSize CallPath::MeasureInput() const { return InputSizeOf(request_); }

void CallPath::RedactInput(const SecurityPolicy& policy, Metrics& metrics) {
  redacted_ = std::make_unique<InferenceRequest>(request_);
  if (!policy.Redact(redacted_.get(), metrics)) redacted_.reset();
}

void CallPath::Cancel() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
    current_.Cancel();
  }
  // A queued call leaves the queue at once (no effect if it does not wait there).
  core_.queue_->Remove(this, absl::CancelledError("the call was cancelled by the client"));
}

void CallPath::PauseUpstream() {
  paused_for_caller_.store(true, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  paused_ = true;
  current_.Pause();
}

void CallPath::ResumeUpstream() {
  std::lock_guard<std::mutex> lock(mu_);
  paused_ = false;
  current_.Resume();
}

const std::string& CallPath::model_label() const {
  static const std::string kNone = "_none";
  return pool_ != nullptr ? pool_->model_label : kNone;
}

bool CallPath::OnLine(std::string_view line) {
  OllamaChunk chunk;
  if (rollout_ != nullptr && backend_model() != request_.model_name() &&
      RenameModelField(line, backend_model(), request_.model_name(), &renamed_line_)) {
    line = renamed_line_;
  }
  if (!ParsesChunks()) {
    if (first_token_ == Steady::time_point{}) first_token_ = core_.clock_.Now();
    absl::Status why_not;
    if (!Deliver(chunk, line, &why_not)) {
      stop_status_ = why_not;
      return false;
    }
    return true;
  }
  if (absl::Status s = ParseOllamaChunk(line, ollama_.endpoint, &chunk, max_json_depth_); !s.ok()) {
    backend_fault_ = true;
    stop_status_ = absl::UnavailableError(
        absl::StrCat("backend '", backend_name(), "' sent a malformed chunk: ", s.message()));
    return false;
  }
  if (!chunk.error.empty()) {
    const std::string text =
        absl::StrCat("backend '", backend_name(), "' failed during generation: ", chunk.error);
    // An error about the request (its prompt outgrew the context) would recur anywhere: it is
    // neither re-run nor held against the backend.
    backend_fault_ = !IsRequestFaultError(chunk);
    stop_status_ = backend_fault_ ? absl::UnavailableError(text) : absl::InvalidArgumentError(text);
    return false;
  }
  if (!chunk.done && (!chunk.text.empty() || !chunk.thinking.empty())) {
    ++content_chunks_;
    // Ollama sends at most one chunk per generated token, so more chunks with text than
    // num_predict means the backend ignores the caller's limit and would keep a GPU (and a
    // stream) busy for nobody. With a `format`, a thinking model thinks in one pass and then
    // answers in a second, constrained one with a budget of its own (Ollama's structured
    // outputs after thinking, server/routes.go): num_predict bounds each pass.
    std::int64_t counted = content_chunks_;
    if (!request_.format().empty()) {
      if (chunk.text.empty()) ++thinking_chunks_;
      counted = chunk.text.empty() ? thinking_chunks_ : content_chunks_ - thinking_chunks_;
    }
    const std::int64_t limit = request_.options().num_predict();
    if (limit > 0 && counted > limit) {
      backend_fault_ = true;
      stop_status_ = absl::UnavailableError(
          absl::StrCat("backend '", backend_name(), "' kept generating past num_predict=", limit));
      return false;
    }
  }
  if (chunk.has_tool_calls()) in_tool_call_ = true;
  if (first_token_ == Steady::time_point{}) first_token_ = core_.clock_.Now();
  if (core_.access_log_ != nullptr && core_.access_log_->log_content() &&
      output_.size() < kMaxLoggedOutput) {
    output_.append(chunk.text, 0, kMaxLoggedOutput - output_.size());
  }
  if (keeps_answer_ && !answer_too_long_) {
    if (delivered_text_.size() + delivered_thinking_.size() + chunk.text.size() +
            chunk.thinking.size() >
        core_.options_.max_unary_answer_bytes) {
      answer_too_long_ = true;
      std::string().swap(delivered_text_);
      std::string().swap(delivered_thinking_);
    } else {
      delivered_text_ += chunk.text;
      delivered_thinking_ += chunk.thinking;
    }
  }
  std::string continued_line;
  if (chunk.done) {
    done_ = true;
    if (continuations_ > 0) {
      // The usage covers the whole answer the caller got, over every attempt.
      chunk.eval_count += carried_tokens_;
      chunk.continuations = continuations_;
      continued_line = ContinuedFinalLine(line, carried_tokens_, continuations_);
      line = continued_line;
    }
    prompt_tokens_ = chunk.prompt_eval_count;
    completion_tokens_ = chunk.eval_count;
  }
  absl::Status why_not;
  if (!Deliver(chunk, line, &why_not)) {
    stop_status_ = why_not;
    return false;
  }
  return true;
}

void CallPath::OnComplete(UpstreamResult result) {
  const PoolMember& member = pool_->members[current_index_];
  ReleaseSlot();
  core_.router_.RecordOutcome(*pool_, current_index_, OutcomeFor(result));
  if (!stop_status_.ok()) {
    core_.metrics_.RecordAttempt(member.state->name(), "bad_stream");
    if (backend_fault_) return FailMidAnswer(stop_status_);
    return Conclude(stop_status_);
  }
  core_.metrics_.RecordAttempt(member.state->name(), UpstreamOutcomeName(result.outcome));
  switch (result.outcome) {
    case UpstreamOutcome::kOk:
      member.state->connect_backoff().OnSuccess();
      if (!ParsesChunks()) done_ = AnswerComplete();  // a body passed on as it came
      if (!done_) {
        return FailMidAnswer(absl::UnavailableError(
            absl::StrCat("backend '", member.state->name(),
                         "' ended the stream without a final chunk (incomplete answer)")));
      }
      return Conclude(absl::OkStatus());
    case UpstreamOutcome::kHttpError: {
      member.state->connect_backoff().OnSuccess();
      absl::Status s = StatusFromOllamaError(result.http_status, result.body, backend_name());
      if (const ModelRefusal refusal = ModelRefusalOf(result.http_status, result.body);
          refusal != ModelRefusal::kNone) {
        // The router's facts about this backend and model were wrong (a model deleted since
        // the last check) or the model does not fit there: other backends may serve it.
        core_.metrics_.RecordModelRefusal(member.state->name(), pool_->model_label,
                                          ModelRefusalName(refusal));
        core_.router_.MarkModelRefused(*pool_, current_index_);
        spdlog::warn("backend {} refused model {} ({}); trying another backend",
                     member.state->name(), request_.model_name(), ModelRefusalName(refusal));
        if (RetryOrFalse(s)) return;
        return Conclude(s);
      }
      if (IsRetriableHttpStatus(result.http_status) && RetryOrFalse(s)) return;
      return Conclude(s);
    }
    case UpstreamOutcome::kConnectFailed: {
      const auto hold = member.state->connect_backoff().OnConnectFailure();
      spdlog::warn("backend {} unreachable ({}); held out of rotation for {} ms",
                   member.state->name(), result.message, hold.count());
      absl::Status s = absl::UnavailableError(
          absl::StrCat("backend '", member.state->name(), "' is unreachable: ", result.message));
      if (RetryOrFalse(s)) return;
      return Conclude(NoBackend(s));
    }
    case UpstreamOutcome::kTransportError: {
      // The final chunk came before the break: the answer is whole.
      if (done_) return Conclude(absl::OkStatus());
      absl::Status s = absl::UnavailableError(absl::StrCat(
          "connection to backend '", member.state->name(), "' failed: ", result.message));
      if (result.received_bytes) return FailMidAnswer(s);
      if (RetryOrFalse(s)) return;
      return Conclude(s);
    }
    case UpstreamOutcome::kFirstByteTimeout: {
      absl::Status s = absl::UnavailableError(
          absl::StrCat("backend '", member.state->name(), "' sent nothing: ", result.message));
      if (RetryOrFalse(s)) return;
      return Conclude(s);
    }
    case UpstreamOutcome::kIdleTimeout: {
      // A backend gone quiet mid-answer is treated as one whose stream broke: the answer runs
      // again elsewhere if the caller saw none of it, or is continued.
      absl::Status s = absl::UnavailableError(
          absl::StrCat("backend '", member.state->name(), "': ", result.message));
      if (result.received_bytes) return FailMidAnswer(s);
      if (RetryOrFalse(s)) return;
      return Conclude(s);
    }
    case UpstreamOutcome::kLineTooLong:
      // A limit of the gateway's (upstream.max_line_bytes, named in the message) was exceeded.
      return Conclude(absl::ResourceExhaustedError(
          absl::StrCat("backend '", member.state->name(), "': ", result.message)));
    case UpstreamOutcome::kTimeout:
      return Conclude(TimeoutStatus());
    case UpstreamOutcome::kAborted:
      if (DeadlinePassed()) return Conclude(TimeoutStatus());
      return Conclude(absl::CancelledError("the call was cancelled by the client"));
  }
}

Router::Outcome ClassifyAttempt(const UpstreamResult& result, const AttemptFacts& facts) {
  using Outcome = Router::Outcome;
  // Only what says something about the backend counts toward outlier detection, so a caller
  // cannot get healthy backends ejected. A malformed chunk or an error line mid-stream is the
  // backend's fault; a stop for the caller's sake (it went away, or the answer outgrew a limit
  // of the gateway's) is not.
  if (facts.stopped) return facts.backend_fault ? Outcome::kFailure : Outcome::kNeutral;
  switch (result.outcome) {
    case UpstreamOutcome::kOk:
      // A stream without its final chunk is broken; a whole body (embed, show) is complete.
      return facts.done || !facts.parses_chunks ? Outcome::kSuccess : Outcome::kFailure;
    case UpstreamOutcome::kHttpError:
      // Ollama's "server busy" 503 is load, not sickness (the admission queue and the retry
      // deal with it); a 4xx is the request's fault. A model that does not fit is a fact about
      // that model there (the router marks the pair), not about the backend. Other 5xx are the
      // backend's.
      if (result.http_status == 503 ||
          ModelRefusalOf(result.http_status, result.body) != ModelRefusal::kNone) {
        return Outcome::kNeutral;
      }
      return result.http_status >= 500 ? Outcome::kFailure : Outcome::kSuccess;
    case UpstreamOutcome::kLineTooLong:
      // upstream.max_line_bytes is the gateway's own limit: a caller can ask for an answer (a
      // long list of embeddings) that exceeds it.
      return Outcome::kNeutral;
    case UpstreamOutcome::kConnectFailed:
    case UpstreamOutcome::kTransportError:
    case UpstreamOutcome::kFirstByteTimeout:
    case UpstreamOutcome::kIdleTimeout:
      return Outcome::kFailure;
    case UpstreamOutcome::kTimeout:
      // The caller's own deadline is not the backend's failure, nor is a timeout while the
      // transfer was held for a caller that read too slowly; request_timeout otherwise is.
      return facts.deadline_passed || facts.paused_for_caller ? Outcome::kNeutral
                                                              : Outcome::kFailure;
    case UpstreamOutcome::kAborted:
      return Outcome::kNeutral;
  }
  return Outcome::kNeutral;
}

Router::Outcome CallPath::OutcomeFor(const UpstreamResult& result) const {
  AttemptFacts facts;
  facts.stopped = !stop_status_.ok();
  facts.backend_fault = backend_fault_;
  facts.done = done_;
  facts.parses_chunks = ParsesChunks();
  facts.deadline_passed = DeadlinePassed();
  facts.paused_for_caller = paused_for_caller_.load(std::memory_order_relaxed);
  return ClassifyAttempt(result, facts);
}

const std::string& CallPath::backend_name() const {
  return pool_->members[current_index_].state->name();
}

std::chrono::system_clock::time_point CallPath::WallNow() const {
  return start_wall_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(
                           core_.clock_.Now() - start_);
}

bool CallPath::DeadlinePassed() const { return Deadline() <= WallNow(); }

absl::Status CallPath::TimeoutStatus() const {
  if (DeadlinePassed()) {
    return absl::DeadlineExceededError(
        absl::StrCat("deadline exceeded while backend '", backend_name(), "' was generating"));
  }
  return absl::DeadlineExceededError(absl::StrCat("backend '", backend_name(),
                                                  "' did not finish within request_timeout (",
                                                  core_.options_.request_timeout.count(), " ms)"));
}

std::chrono::milliseconds CallPath::AttemptTimeout() const {
  std::chrono::milliseconds bound = core_.options_.request_timeout;
  const auto deadline = Deadline();
  if (deadline != std::chrono::system_clock::time_point::max()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - WallNow());
    if (left.count() < 1) left = std::chrono::milliseconds(1);
    if (bound.count() == 0 || left < bound) bound = left;
  }
  return bound;
}

void CallPath::FailMidAnswer(const absl::Status& why) {
  if (ForgetAnswer()) {
    // Nothing reached the caller: the call runs again from the start, on another backend.
    done_ = false;
    content_chunks_ = thinking_chunks_ = prompt_tokens_ = completion_tokens_ = 0;
    first_token_ = Steady::time_point{};
    output_.clear();
    delivered_text_.clear();
    delivered_thinking_.clear();
    answer_too_long_ = in_tool_call_ = false;
    if (RetryOrFalse(why)) return;
    return Conclude(why);
  }
  std::string why_not;
  std::string_view outcome;
  if (ContinueStream(why, &why_not, &outcome)) return;
  // A stream continued before ends counted as a failed continuation (in Conclude).
  if (continuations_ == 0) core_.metrics_.RecordStreamContinuation(outcome);
  spdlog::info("{} {}: not continued ({}): {}", rpc_, request_id_, why_not,
               std::string(why.message()));
  const std::string delivered =
      ParsesChunks() ? absl::StrCat(content_chunks_, content_chunks_ == 1 ? " token" : " tokens")
                     : std::string("part");
  Conclude(absl::Status(
      why.code(), absl::StrCat(why.message(), " after ", delivered,
                               " of the answer had reached the caller; not continued: ", why_not)));
}

bool CallPath::ContinueStream(const absl::Status& why, std::string* why_not,
                              std::string_view* outcome) {
  *outcome = "not_continuable";
  if (!core_.options_.continue_streams) {
    *outcome = "off";
    *why_not = "upstream.continue_streams is off";
    return false;
  }
  // A stream of a chat or a raw generate keeps its answer, so what is left is a templated one
  // (a unary call never gets here: its caller has seen nothing).
  if (!keeps_answer_) {
    *why_not = ParsesChunks()
                   ? "a templated generate (without \"raw\": true) cannot be continued"
                   : "a compatibility endpoint's stream (the backend's own) is not continued";
    return false;
  }
  if (in_tool_call_) {
    *outcome = "tool_call";
    *why_not = "the stream was in a tool call";
    return false;
  }
  if (answer_too_long_) {
    *why_not =
        absl::StrCat("the answer outgrew upstream.max_unary_answer_bytes (",
                     core_.options_.max_unary_answer_bytes, "), the most kept to continue it");
    return false;
  }
  if (continuations_ == 0) original_body_ = ollama_.body;
  absl::StatusOr<std::string> body = ContinuationBody(
      ollama_.endpoint, original_body_, delivered_text_, delivered_thinking_, content_chunks_);
  if (!body.ok()) {
    *why_not = std::string(body.status().message());
    return false;
  }
  ollama_.body = *std::move(body);
  carried_tokens_ = content_chunks_;
  ++continuations_;
  // Logged first: the attempt may end the call, and delete it, before RetryOrFalse returns.
  spdlog::info("{} {}: continuing the stream on another backend after {} tokens: {}", rpc_,
               request_id_, carried_tokens_, std::string(why.message()));
  if (RetryOrFalse(why, /*is_retry=*/false)) return true;
  --continuations_;
  *outcome = "no_attempt_left";
  *why_not =
      attempts_ >= core_.options_.max_attempts
          ? absl::StrCat("upstream.max_attempts (", core_.options_.max_attempts, ") were made")
          : "no retry was possible (the deadline, the retry budget or the caller)";
  return false;
}

bool CallPath::RetryOrFalse(const absl::Status& why, bool is_retry) {
  if (attempts_ >= core_.options_.max_attempts || DeadlinePassed()) return false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (cancelled_) return false;
  }
  if (!retrying_) {
    if (!core_.TryStartRetry()) {
      spdlog::debug("not retrying {}: the retry budget is spent", request_.model_name());
      core_.metrics_.RecordRetryRefused("budget");
      return false;
    }
    retrying_ = true;
  }
  spdlog::debug("retrying {} on another backend after: {}", request_.model_name(),
                std::string(why.message()));
  if (is_retry) core_.metrics_.RecordRetry(pool_->model_label);
  last_error_ = why;
  StartAttempt();
  return true;
}

Choice CallPath::ChooseAndAcquire() {
  // Another call may take the last slot of the chosen backend between Choose and TryAcquire;
  // that backend is then skipped as full and the choice made again.
  balancer::HostMask skip = tried_;
  std::size_t raced = 0;
  for (;;) {
    Choice choice = core_.router_.Choose(*pool_, skip, *this, core_.random_.Next(), Slot());
    if (!choice.ok()) {
      choice.tried -= raced;
      choice.full += raced;
      return choice;
    }
    if (AcquireSlot(pool_->members[choice.index])) {
      current_index_ = choice.index;
      probing_ = choice.probe;
      return choice;
    }
    if (choice.probe) pool_->members[choice.index].state->connect_backoff().ReleaseProbe();
    skip.Set(choice.index);
    ++raced;
  }
}

absl::Status CallPath::NoBackend(const absl::Status& last) const {
  // Keep the code of the last failure (a 503 stays UNAVAILABLE), and name the model.
  return absl::Status(last.code(),
                      absl::StrCat("no backend available for model '", request_.model_name(),
                                   "' (last attempt: ", last.message(), ")"));
}

bool CallPath::AcquireSlot(const PoolMember& member) {
  switch (Slot()) {
    case SlotKind::kGeneration:
      if (!member.state->TryAcquire()) return false;
      if (member.model_slots != nullptr && !member.model_slots->TryAcquire()) {
        member.state->generations().Release();
        return false;
      }
      return true;
    case SlotKind::kEmbedding:
      return member.state->embeddings().TryAcquire();
    case SlotKind::kNone:
      return true;
  }
  return true;
}

void CallPath::ReleaseSlot() {
  const PoolMember& member = pool_->members[current_index_];
  BackendState& state = *member.state;
  if (probing_) {
    state.connect_backoff().ReleaseProbe();
    probing_ = false;
  }
  switch (Slot()) {
    case SlotKind::kGeneration:
      state.generations().Release();
      if (member.model_slots != nullptr) member.model_slots->Release();
      break;
    case SlotKind::kEmbedding:
      state.embeddings().Release();
      break;
    case SlotKind::kNone:
      return;  // no slot was taken, so none is freed for a queued call
  }
  core_.queue_->Wake();
}

Clock::TimePoint CallPath::QueueDeadline() const {
  const auto deadline = Deadline();
  if (deadline == std::chrono::system_clock::time_point::max()) return Clock::TimePoint::max();
  const auto left = deadline - WallNow();
  return core_.clock_.Now() + std::chrono::duration_cast<Clock::TimePoint::duration>(left);
}

void CallPath::StartAttempt() {
  const Choice choice = ChooseAndAcquire();
  if (choice.hash_key_missing && attempts_ == 0) {
    core_.metrics_.RecordHashKeyMissing(pool_->model_label);
  }
  if (choice.ok()) return StartUpstream();
  if (choice.full > 0) {
    // Every candidate left is busy: wait for a slot in the gateway queue.
    const std::string& model = request_.model_name();
    switch (core_.queue_->Enqueue(this, model, QueueDeadline())) {
      case AdmissionQueue::EnqueueResult::kAdmitted:
        return StartUpstream();
      case AdmissionQueue::EnqueueResult::kQueued:
        return;  // OnQueueExit continues; the call may already be gone
      case AdmissionQueue::EnqueueResult::kAbandoned:
        return Conclude(absl::CancelledError("the call was cancelled by the client"));
      case AdmissionQueue::EnqueueResult::kFull:
        return Conclude(absl::ResourceExhaustedError(
            AdmissionQueue::FullMessage(model, core_.queue_->limits().max_queue)));
    }
  }
  if (!last_error_.ok()) return Conclude(NoBackend(last_error_));
  return Conclude(absl::UnavailableError(absl::StrCat(
      "no backend available for model '", request_.model_name(), "': ", pool_->members.size(),
      " in its pool, ", choice.unhealthy, " unhealthy (failing health checks or ejected), ",
      choice.unavailable, " held out after failing to connect, ", choice.tried, " already tried")));
}

bool CallPath::TryAdmit() { return ChooseAndAcquire().ok(); }

bool CallPath::Abandoned() {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

void CallPath::OnQueueExit(const absl::Status& status) {
  if (status.ok()) return StartUpstream();
  Conclude(status);
}

void CallPath::StartUpstream() {
  tried_.Set(current_index_);
  ++attempts_;
  stop_status_ = absl::OkStatus();
  backend_fault_ = false;
  const PoolMember& member = pool_->members[current_index_];

  UpstreamRequest upstream;
  upstream.url = absl::StrCat(member.url, ollama_.path);
  upstream.body = ollama_.body;
  upstream.connect_timeout = core_.options_.connect_timeout;
  upstream.timeout = AttemptTimeout();
  upstream.max_line_bytes = core_.options_.max_line_bytes;
  upstream.event_stream = ollama_.event_stream;
  upstream.tls = member.tls;
  upstream.first_byte_timeout = core_.options_.first_byte_timeout;
  upstream.idle_timeout = core_.options_.idle_timeout;
  // The attempt may end, and the call with it, on a loop thread before Start returns (a
  // refused connect takes a millisecond): a reference held across the hand-off keeps this
  // object alive until current_ is stored.
  refs_.fetch_add(1, std::memory_order_relaxed);
  bool started = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!cancelled_) {
      current_ = core_.upstream_.Start(std::move(upstream), this);
      // A continuation of a stream whose caller reads slowly waits for it as the attempt before.
      if (paused_) current_.Pause();
      started = true;
    }
  }
  if (!started) {
    ReleaseSlot();
    Conclude(absl::CancelledError("the call was cancelled by the client"));
  }
  Unref();
}

void CallPath::Reject(const absl::Status& status, std::string_view reason) {
  core_.metrics_.RecordRejected(FrontendName(frontend_), reason);
  Conclude(status);
}

void CallPath::Conclude(const absl::Status& status) {
  if (retrying_) core_.EndRetry();
  const auto now = core_.clock_.Now();
  const std::string& model = model_label();
  const bool reached_backend = attempts_ > 0;
  const std::string backend = reached_backend ? backend_name() : "";
  AddTrailer("x-request-id", request_id_);
  if (reached_backend) {
    AddTrailer("x-gateway-backend", backend);
    AddTrailer("x-gateway-attempts", std::to_string(attempts_));
  }
  if (continuations_ > 0) {
    AddTrailer("x-gateway-continued", std::to_string(continuations_));
    core_.metrics_.RecordStreamContinuation(status.ok() ? "ok" : "failed");
  }
  if (first_token_ != Steady::time_point{}) {
    core_.metrics_.RecordTimeToFirstToken(model, first_token_ - start_);
  }
  if (status.ok()) core_.metrics_.RecordTokens(model, prompt_tokens_, completion_tokens_);
  core_.metrics_.RecordRequest(FrontendName(frontend_), model, backend,
                               absl::StatusCodeToString(status.code()), now - start_);
  RecordRolloutCall(status, now);
  LogAccess(status, now, backend);
  End(status);
  Unref();
}

void CallPath::LogAccess(const absl::Status& status, Steady::time_point now,
                         const std::string& backend) {
  AccessLog* log = core_.access_log_;
  if (log == nullptr && !spdlog::should_log(spdlog::level::debug)) return;
  const std::string client = certificate_.ToLogField();
  const std::string code = absl::StatusCodeToString(status.code());
  spdlog::debug("{} id={} model={} backend={} attempts={} status={} {} ms client={}", rpc_,
                request_id_, request_.model_name(), backend, attempts_, code,
                std::chrono::duration_cast<std::chrono::milliseconds>(now - start_).count(),
                client);
  if (log == nullptr) return;
  const std::string peer = Peer();
  // Of the input as forwarded: what the backend got, redactions included.
  const InferenceRequest& forwarded = redacted_ != nullptr ? *redacted_ : request_;
  const std::string digest = InputDigest(forwarded);
  const std::string error(status.message());
  AccessRecord record;
  record.time = start_wall_;
  record.request_id = request_id_;
  record.client = client;
  record.peer = peer;
  record.rpc = rpc_;
  record.identity = caller_.identity;
  record.auth = caller_.identity.empty() ? std::string_view() : caller_.method;
  record.authz = authz_;
  record.model = request_.model_name();
  if (rollout_ != nullptr) {
    record.rollout = rollout_->name();
    record.target = RolloutTargetName(target_);
    record.target_model = backend_model();
  }
  record.backend = backend;
  record.code = code;
  record.error = error;
  record.attempts = attempts_;
  record.continued = continuations_;
  record.latency = now - start_;
  if (first_token_ != Steady::time_point{}) record.time_to_first_token = first_token_ - start_;
  record.prompt_tokens = prompt_tokens_;
  record.completion_tokens = completion_tokens_;
  record.input_sha256 = digest;
  std::string input;
  if (log->log_content()) {
    input = InputText(forwarded);
    record.input = &input;
    record.output = &output_;
  }
  log->Write(record);
}

void CallPath::Unref() {
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
}

}  // namespace og
