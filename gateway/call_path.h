// The request path of one call, shared by Predict and PredictStream: validation, routing,
// attempts and retries toward backends, and Ollama's NDJSON chunks. It never blocks: attempts
// run on the upstream client's event loops and their results arrive as callbacks.
//
// A reactor derives from it, delivers each chunk to its caller (aggregated for Predict, one
// message per chunk for PredictStream) and ends the gRPC call when told to.
#ifndef OLLAMA_GATEWAY_GATEWAY_CALL_PATH_H_
#define OLLAMA_GATEWAY_GATEWAY_CALL_PATH_H_

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "gateway/admission_queue.h"
#include "gateway/ollama_protocol.h"
#include "gateway/router.h"
#include "gateway/security_gate.h"
#include "gateway/upstream_client.h"
#include "ollama_gateway/v1/inference.pb.h"

namespace og {

class InferenceService;

// The access log's digest of a call's input: lower-case hex SHA-256 of input_data for a
// generate call; for a chat call, of its messages, each written as `role`, a newline, `content`
// and a newline (images are not included). Same input, same digest, whatever else the request
// carries.
std::string InputDigest(const ollama_gateway::v1::InferenceRequest& request);

class CallPath : public UpstreamHandler, public AdmissionWaiter {
 public:
  // The object is deleted once both the reactor released it (Release(), from OnDone) and the
  // path ended it (after End()).
  CallPath(InferenceService& service, grpc::CallbackServerContext* context,
           const ollama_gateway::v1::InferenceRequest& request, std::string_view rpc);
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

  // One parsed chunk for the caller (loop thread). Return false to stop the call with
  // `*why_not`.
  virtual bool Deliver(OllamaChunk& chunk, absl::Status* why_not) = 0;
  // Ends the gRPC call with `status`; called exactly once. The path does not touch the object
  // after it returns, but the reactor may keep working (say, draining queued writes) until gRPC
  // calls OnDone.
  virtual void End(const absl::Status& status) = 0;

  // For the reactor's OnCancel: aborts the backend request at once.
  void Cancel();
  // For the reactor's OnDone.
  void Release() { Unref(); }
  // Pauses or resumes reading from the backend (backpressure). Thread-safe.
  void PauseUpstream();
  void ResumeUpstream();

  // Gateway-measured timings so far.
  Steady::time_point start() const { return start_; }
  Steady::time_point first_token() const { return first_token_; }
  const std::string& model_label() const;

  InferenceService& service_;
  grpc::CallbackServerContext* const context_;
  const ollama_gateway::v1::InferenceRequest& request_;

 private:
  const std::string& backend_name() const;
  // What the attempt that just ended says about its backend (outlier detection).
  Router::Outcome OutcomeFor(const UpstreamResult& result) const;
  bool DeadlinePassed() const;
  absl::Status TimeoutStatus() const;
  std::chrono::milliseconds AttemptTimeout() const;
  bool RetryOrFalse(const absl::Status& why);
  // Chooses a backend not yet tried and takes one of its in-flight slots; on success
  // current_index_ is the backend.
  Choice ChooseAndAcquire();
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
  // Records the call's outcome, then End(status), then drops the path's reference.
  void Conclude(const absl::Status& status);
  void Unref();

  // Writes the call's access log line, if there is an access log.
  void LogAccess(const absl::Status& status, Steady::time_point now, const std::string& backend);

  const std::string_view rpc_;
  const security::Action action_;
  const Steady::time_point start_ = Steady::now();
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
  OllamaRequest ollama_;
  balancer::HostMask tried_;
  std::size_t current_index_ = 0;
  bool probing_ = false;  // the current attempt is its backend's probe
  int attempts_ = 0;
  // Counted in the service's retries in progress (the retry budget) until the call ends.
  bool retrying_ = false;
  absl::Status last_error_;

  // Written on the upstream loop thread only (OnLine/OnComplete run there one at a time).
  bool done_ = false;
  bool backend_fault_ = false;  // the stream was stopped for a malformed or error chunk
  // Chunks before the final one; past options.num_predict the backend is ignoring the limit.
  std::int64_t content_chunks_ = 0;
  std::int64_t prompt_tokens_ = 0;
  std::int64_t completion_tokens_ = 0;
  Steady::time_point first_token_{};
  absl::Status stop_status_;
  // The answer's text, kept only when the access log records content (debugging).
  std::string output_;

  std::mutex mu_;  // guards cancelled_ and current_ against gRPC's threads
  bool cancelled_ = false;
  UpstreamCall current_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_CALL_PATH_H_
