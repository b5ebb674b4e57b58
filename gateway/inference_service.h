// The gRPC service ModelInference. Each call is a reactor (gRPC's callback API) that never
// blocks: it validates the request, asks the router for a backend, hands the HTTP request to the
// upstream client's event loops and finishes from their callbacks. It knows nothing of which
// balancing policy is configured.
#ifndef OLLAMA_GATEWAY_GATEWAY_INFERENCE_SERVICE_H_
#define OLLAMA_GATEWAY_GATEWAY_INFERENCE_SERVICE_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>

#include "gateway/access_log.h"
#include "gateway/admission_queue.h"
#include "gateway/metrics.h"
#include "gateway/retry_budget.h"
#include "gateway/router.h"
#include "gateway/security_gate.h"
#include "gateway/upstream_client.h"
#include "health/clock.h"
#include "ollama_gateway/v1/inference.grpc.pb.h"

namespace og {

// Settings of the request path that come from the configuration.
struct RequestPathOptions {
  std::chrono::milliseconds connect_timeout{2000};
  std::chrono::milliseconds request_timeout{std::chrono::minutes(10)};
  std::size_t max_line_bytes = 8u << 20;
  // Zero, or how long an attempt may wait for the backend's first byte before it is abandoned
  // (and retried elsewhere when allowed).
  std::chrono::milliseconds first_byte_timeout{0};
  // Attempts per call, the first included. A later attempt happens only when the previous one
  // failed before any response byte (connect refused, reset, Ollama's queue-full 503, no byte
  // within first_byte_timeout), on another backend.
  int max_attempts = 2;
  // Retries in progress at once: at most max(3, calls in progress * percent / 100).
  int retry_budget_percent = 20;
  // The gateway queue for calls whose every backend is at its max_in_flight.
  AdmissionLimits admission;
  // PredictStream: answer bytes queued for a slow reader before the backend transfer is paused;
  // it resumes once half of that has been written.
  std::size_t stream_buffer_bytes = 1u << 20;
  // Predict: the largest answer returned in one reply; past it RESOURCE_EXHAUSTED.
  std::size_t max_unary_answer_bytes = 4u << 20;
};

class InferenceService final : public ollama_gateway::v1::ModelInference::CallbackService {
 public:
  // All references must outlive the service (and the gRPC server that runs it).
  // `access_log` may be null (no access log).
  InferenceService(Router& router, UpstreamClient& upstream, Metrics& metrics,
                   SecurityGate& security, RequestPathOptions options,
                   AccessLog* access_log = nullptr);

  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const ollama_gateway::v1::InferenceRequest* request,
                                    ollama_gateway::v1::InferenceResponse* response) override;

  grpc::ServerWriteReactor<ollama_gateway::v1::InferenceResponse>* PredictStream(
      grpc::CallbackServerContext* context,
      const ollama_gateway::v1::InferenceRequest* request) override;

  // From now on new calls are refused with UNAVAILABLE; calls in progress continue.
  void StartDraining() { draining_.store(true, std::memory_order_relaxed); }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  // Calls not yet done (gRPC has not released them).
  int active_calls() const { return active_calls_.load(std::memory_order_acquire); }

 private:
  friend class CallPath;
  // The retry budget: takes a place among the retries in progress, or false when none is left.
  bool TryStartRetry() {
    return retry_budget_.TryAcquire(active_calls_.load(std::memory_order_acquire));
  }
  void EndRetry() { retry_budget_.Release(); }

  Router& router_;
  UpstreamClient& upstream_;
  Metrics& metrics_;
  SecurityGate& security_;
  AccessLog* const access_log_;
  const RequestPathOptions options_;
  std::atomic<bool> draining_{false};
  std::atomic<int> active_calls_{0};
  RetryBudget retry_budget_;
  // Its timer thread runs for the service's lifetime.
  std::unique_ptr<AdmissionQueue> queue_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_INFERENCE_SERVICE_H_
