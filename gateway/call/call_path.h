// The request path of one call, shared by every front door (gRPC's Predict and PredictStream,
// the HTTP listener's Ollama and OpenAI endpoints): security, validation, routing, attempts and
// retries toward backends, and Ollama's NDJSON chunks. It never blocks: attempts run on the
// upstream client's event loops and their results arrive as callbacks.
//
// A front door derives from it, tells it what the caller sent (headers, deadline, certificate),
// delivers each chunk to its caller in its own protocol and ends the call when told to.
#ifndef OLLAMA_GATEWAY_GATEWAY_CALL_CALL_PATH_H_
#define OLLAMA_GATEWAY_GATEWAY_CALL_CALL_PATH_H_

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "gateway/call/admission_queue.h"
#include "gateway/call/call_core.h"
#include "gateway/call/security_gate.h"
#include "gateway/routing/router.h"
#include "gateway/upstream/ollama_protocol.h"
#include "gateway/upstream/request.h"
#include "ollama_gateway/v1/inference.pb.h"

namespace og {

// Which front door a call came through; the `frontend` label of its metrics.
enum class Frontend { kGrpc, kHttp };
std::string_view FrontendName(Frontend frontend);

// The access log's digest of a call's input as forwarded (after redaction): lower-case hex
// SHA-256 of input_data for a generate call; for a chat call, of its messages, each written as
// `role`, a newline, `content` and a newline (images are not included). Same input, same digest,
// whatever else the request carries.
std::string InputDigest(const ollama_gateway::v1::InferenceRequest& request);

// What a call knows about an attempt that just ended, besides the upstream result.
struct AttemptFacts {
  bool stopped = false;            // the call stopped the stream itself (a limit, a bad chunk)
  bool backend_fault = false;      // ... because the backend sent a malformed or error chunk
  bool done = false;               // the final chunk arrived
  bool parses_chunks = true;       // the answer is NDJSON chunks (false: a whole body)
  bool deadline_passed = false;    // the caller's deadline passed
  bool paused_for_caller = false;  // the transfer was paused for a caller reading slowly
};

// What an attempt says about its backend, for outlier detection: only failures that are the
// backend's count (a connect or transport error, a broken stream, an error line, a 5xx other
// than Ollama's "server busy" 503, a first-byte timeout, request_timeout). A caller's doing (its
// deadline, its slow reading, an answer over the gateway's own limits, a 4xx) is neutral, so
// callers cannot get healthy backends ejected.
Router::Outcome ClassifyAttempt(const UpstreamResult& result, const AttemptFacts& facts);

// It is also the router's view of the call (RequestKeys): the request's fields, and its headers
// through the front door, for affinity keys.
class CallPath : public UpstreamHandler, public AdmissionWaiter, private RequestKeys {
 public:
  // The object is deleted once both the front door released it (Release()) and the path ended
  // it (after End()). `request` must stay valid as long as the object; `rpc` names the call in
  // logs ("Predict", "POST /api/chat", ...).
  CallPath(CallCore& core, Frontend frontend, const ollama_gateway::v1::InferenceRequest& request,
           std::string_view rpc, security::Action action);
  ~CallPath() override;

  // Authenticates the caller, validates the request against the limits, authorizes it,
  // applies the caller's rate limits, redacts the prompt, routes it and starts the first
  // attempt; may end the call at once.
  void Begin();

  // UpstreamHandler, on the upstream loop thread.
  bool OnLine(std::string_view line) final;
  void OnComplete(UpstreamResult result) final;

  // AdmissionWaiter, while the call waits in the gateway queue for a backend slot.
  bool TryAdmit() final;
  bool Abandoned() final;
  void OnQueueExit(const absl::Status& status) final;

 protected:
  using Steady = std::chrono::steady_clock;

  // What the caller sent, as the front door's protocol carries it. Called from Begin and from
  // the upstream loop thread while the call runs; the answers must not change meanwhile.
  // A request header or metadata entry (`lower_name` in lower case), or "" when absent.
  std::string_view Header(std::string_view lower_name) const override = 0;
  // The caller's deadline; time_point::max() without one.
  virtual std::chrono::system_clock::time_point Deadline() const = 0;
  // The caller's address, for the access log.
  virtual std::string Peer() const = 0;
  // The verified client certificate; empty without one. Called once, from Begin.
  virtual tls::PeerIdentity PeerCertificate() const = 0;
  // Hands the caller a piece of metadata about the call: gRPC trailers, HTTP response headers.
  // Names: x-request-id, x-gateway-backend, x-gateway-attempts, retry-after-ms. Called before
  // End (retry-after-ms before any chunk; the rest from Conclude).
  virtual void AddTrailer(std::string_view name, std::string value) = 0;

  // Checks the request's fields once the caller is authenticated and within its limits.
  // INVALID_ARGUMENT saying which field is wrong. The default is ValidateRequest.
  virtual absl::Status Validate(const ollama_gateway::v1::InferenceRequest& request) const;
  // The backend request for the request as forwarded (redacted when redaction changed it). The
  // default is BuildOllamaRequest; a front door that forwards its caller's own JSON overrides it.
  virtual OllamaRequest BuildUpstream(const ollama_gateway::v1::InferenceRequest& forwarded);
  // What the input limits measure of the request; the default is InputSizeOf(request).
  virtual InputSize MeasureInput() const;
  // Redacts every text the backend will read (called only when the policy redacts). The default
  // redacts a copy of the request, which BuildUpstream then gets; a front door that forwards its
  // caller's own document redacts it in place instead.
  virtual void RedactInput(const SecurityPolicy& policy, Metrics& metrics);
  // True (the default) when the backend answers generation chunks, parsed into OllamaChunk;
  // false when its lines go to the caller as they are (/api/embed, /api/show), the answer being
  // complete when the backend's body ends cleanly.
  virtual bool ParsesChunks() const { return true; }
  // Without ParsesChunks(): whether the lines delivered make a whole answer once the backend's
  // body ended cleanly (the default), or it was cut short (a server-sent event stream without
  // its terminal event), which fails the attempt as a stream without its final chunk does.
  virtual bool AnswerComplete() const { return true; }
  // Which of its backend's slots the call takes (the default: a generation's).
  virtual SlotKind Slot() const { return SlotKind::kGeneration; }

  // One chunk for the caller (loop thread): parsed into `chunk` (empty unless ParsesChunks())
  // and as the backend sent it (`line`, without its newline). Return false to stop the call with
  // `*why_not`.
  virtual bool Deliver(OllamaChunk& chunk, std::string_view line, absl::Status* why_not) = 0;
  // The backend failed part-way through its answer. When none of what was delivered has reached
  // the caller (a unary answer gathered for one reply, a stream not yet started), the front door
  // drops it and returns true: the call then runs again, from the start, on another backend.
  // False once any byte went out: a stream may then be continued instead.
  virtual bool ForgetAnswer() = 0;
  // Ends the call with `status`; called exactly once. The path does not touch the object after
  // it returns, but the front door may keep working (say, draining queued writes) until it
  // calls Release().
  virtual void End(const absl::Status& status) = 0;

  // When the caller went away: aborts the backend request at once.
  void Cancel();
  // The front door is done with the object (gRPC's OnDone; an HTTP answer handed over).
  void Release() { Unref(); }
  // An extra reference, for callbacks that may run after End (dropped with Release()).
  void AddRef() { refs_.fetch_add(1, std::memory_order_relaxed); }
  // From Deliver, before it refuses a line: the refusal is the backend's fault (a malformed or
  // failed answer that the front door read itself), so the attempt counts against the backend
  // and a call whose caller has seen nothing runs again elsewhere.
  void BlameBackend() { backend_fault_ = true; }
  // The answer's usage, for a front door that reads it itself (without ParsesChunks()); loop
  // thread, from Deliver.
  void SetUsage(std::int64_t prompt_tokens, std::int64_t completion_tokens) {
    prompt_tokens_ = prompt_tokens;
    completion_tokens_ = completion_tokens;
  }
  // Pauses or resumes reading from the backend (backpressure). Thread-safe.
  void PauseUpstream();
  void ResumeUpstream();

  // The model the backend gets: a rollout target's model, else the name the caller used.
  const std::string& backend_model() const {
    return rollout_ != nullptr ? rollout_route_->models[static_cast<int>(target_)]
                               : request_.model_name();
  }
  // Gateway-measured timings so far.
  Steady::time_point start() const { return start_; }
  Steady::time_point first_token() const { return first_token_; }
  const std::string& model_label() const;
  // The call's request id (the caller's x-request-id, or one made up in Begin).
  const std::string& request_id() const { return request_id_; }
  // The backend of the current attempt (loop thread, from Deliver).
  const std::string& backend_name() const;
  int attempts() const { return attempts_; }
  // limits.max_json_depth of the policy the call was checked with (backend lines are read with
  // it).
  int max_json_depth() const { return max_json_depth_; }
  // Who the call runs as, once authenticated.
  const Caller& caller() const { return caller_; }

  CallCore& core_;
  const ollama_gateway::v1::InferenceRequest& request_;

 private:
  // RequestKeys: the request's own fields.
  std::string_view Model() const override { return request_.model_name(); }
  std::string_view HashKeyField() const override { return request_.hash_key(); }
  std::string_view Metadata(std::string_view name) const override;
  // What the attempt that just ended says about its backend (outlier detection).
  Router::Outcome OutcomeFor(const UpstreamResult& result) const;
  // The wall-clock time now, as the core's clock has moved since the call began.
  std::chrono::system_clock::time_point WallNow() const;
  bool DeadlinePassed() const;
  absl::Status TimeoutStatus() const;
  std::chrono::milliseconds AttemptTimeout() const;
  // Starts another attempt when attempts, the deadline, the caller and the retry budget allow;
  // `is_retry`: counted in gateway_retries_total (a continuation is counted on its own).
  bool RetryOrFalse(const absl::Status& why, bool is_retry = true);
  // A backend failed part-way through its answer (`why`): runs the call again elsewhere, or
  // continues its stream, or else ends it with `why` (saying how much of the answer the caller
  // had and why it was not continued).
  void FailMidAnswer(const absl::Status& why);
  // Starts the attempt that continues a stream part of whose answer reached the caller; false
  // (with *why_not, a kContinuationOutcomes name) when it cannot.
  bool ContinueStream(const absl::Status& why, std::string* why_not, std::string_view* outcome);
  // Chooses a backend not yet tried and takes one of its in-flight slots; on success
  // current_index_ is the backend.
  Choice ChooseAndAcquire();
  // Takes the slots Slot() says on `member`; false when one is full.
  bool AcquireSlot(const PoolMember& member);
  // Chooses a backend and starts an attempt, or queues the call when every candidate is full.
  void StartAttempt();
  // Starts the attempt on current_index_, whose slot is already taken.
  void StartUpstream();
  // Gives back the slot of current_index_ and offers it to queued calls.
  void ReleaseSlot();
  Clock::TimePoint QueueDeadline() const;
  void Reject(const absl::Status& status, std::string_view reason);
  // The security checks of Begin; false when the call was rejected.
  bool PassSecurity(const SecurityPolicy& policy);
  // `last`, the failure of the call's last attempt, reworded to name the model.
  absl::Status NoBackend(const absl::Status& last) const;
  // Assigns a call of a rollout to one of its targets, whose pool it then uses.
  void AssignRollout(const RolloutRoute& route);
  // The call's outcome for its rollout's analysis and metrics.
  void RecordRolloutCall(const absl::Status& status, Steady::time_point now);
  // Records the call's outcome, then End(status), then drops the path's reference.
  void Conclude(const absl::Status& status);
  void Unref();

  // Writes the call's access log line, if there is an access log.
  void LogAccess(const absl::Status& status, Steady::time_point now, const std::string& backend);

  const Frontend frontend_;
  const std::string_view rpc_;
  const security::Action action_;
  // When the call began, by the core's clock and by the wall clock (the access log's time, and
  // the origin from which the caller's deadline is measured in the core's time).
  const Steady::time_point start_;
  const std::chrono::system_clock::time_point start_wall_ = std::chrono::system_clock::now();
  // The caller's x-request-id, or one made up; returned in the trailers and logged.
  std::string request_id_;
  // One reference for the reactor (dropped in OnDone), one for the path (dropped on Finish),
  // and one while an attempt is handed to the upstream client.
  std::atomic<int> refs_{2};

  // Who the call runs as (identity empty until authenticated), the authorization decision for
  // the access log, the caller's stream place (PredictStream under a stream cap), and the
  // request as forwarded when redaction changed it.
  Caller caller_;
  // The verified client certificate ("" fields without one) and the model's canonical name,
  // each worked out once for authentication, routing and the access log.
  tls::PeerIdentity certificate_;
  std::string canonical_model_;
  std::string_view authz_;
  security::StreamPermit stream_permit_;
  std::unique_ptr<ollama_gateway::v1::InferenceRequest> redacted_;

  std::shared_ptr<const RoutingTable> table_;  // keeps pool_ alive for the whole call
  const Pool* pool_ = nullptr;
  // A call of a rollout: its route (in table_), the target it was assigned, and its lines with
  // the target's model named as the caller named it (RenameModelField).
  const RolloutRoute* rollout_route_ = nullptr;
  Rollout* rollout_ = nullptr;
  RolloutTarget target_ = RolloutTarget::kBaseline;
  std::string renamed_line_;
  OllamaRequest ollama_;
  balancer::HostMask tried_;
  std::size_t current_index_ = 0;
  bool probing_ = false;  // the current attempt is its backend's probe
  int attempts_ = 0;
  // Counted in the service's retries in progress (the retry budget) until the call ends.
  bool retrying_ = false;
  absl::Status last_error_;

  // limits.max_json_depth of the policy the call was checked with; backends' lines are read
  // with it.
  int max_json_depth_ = 64;
  // The backend transfer was paused at least once because the caller read too slowly: a
  // timeout then says nothing about the backend.
  std::atomic<bool> paused_for_caller_{false};

  // Written on the upstream loop thread only (OnLine/OnComplete run there one at a time).
  bool done_ = false;
  bool backend_fault_ = false;  // the stream was stopped for a malformed or error chunk
  // Chunks with text before the final one, over every attempt of the answer the caller has
  // (continuations included); past options.num_predict the backend is ignoring the limit.
  std::int64_t content_chunks_ = 0;
  // Of them, the chunks of thought alone (no answer text), counted for a call with a `format`,
  // whose thinking and answer are two passes with a num_predict each.
  std::int64_t thinking_chunks_ = 0;
  // A stream that may be continued keeps the answer it delivered (keeps_answer_), up to
  // upstream.max_unary_answer_bytes (answer_too_long_ past it, and the copy is dropped).
  bool keeps_answer_ = false;
  bool answer_too_long_ = false;
  std::string delivered_text_;
  std::string delivered_thinking_;
  bool in_tool_call_ = false;  // a chunk with tool calls was delivered
  // Continuations so far; the content chunks of the attempts before the current one; the body
  // the caller's request had (each continuation is built from it).
  int continuations_ = 0;
  std::int64_t carried_tokens_ = 0;
  std::string original_body_;
  std::int64_t prompt_tokens_ = 0;
  std::int64_t completion_tokens_ = 0;
  Steady::time_point first_token_{};
  absl::Status stop_status_;
  // The answer's text, kept only when the access log records content (debugging).
  std::string output_;

  std::mutex mu_;  // guards cancelled_, paused_ and current_ against gRPC's threads
  bool cancelled_ = false;
  // The front door asked for the transfer to pause (and has not resumed it): an attempt that
  // starts meanwhile (a continuation) starts paused.
  bool paused_ = false;
  UpstreamCall current_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_CALL_CALL_PATH_H_
