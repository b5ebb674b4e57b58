// What every front door (the gRPC service, the Ollama/OpenAI-compatible HTTP listener) shares
// for its calls: the router, the upstream client, the security gate, the admission queue, the
// retry budget, the metrics and the access log, plus the process-wide draining flag and the
// count of calls in progress. One core, several front doors: a call runs the same CallPath
// whichever door it came through. The core also holds what a call takes from the world, so a
// test can hand it a fake of each: the upstream (gateway/upstream/request.h), the clock and the
// random source.
#ifndef OLLAMA_GATEWAY_GATEWAY_CALL_CALL_CORE_H_
#define OLLAMA_GATEWAY_GATEWAY_CALL_CALL_CORE_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "common/clock.h"
#include "gateway/call/admission_queue.h"
#include "gateway/call/retry_budget.h"
#include "gateway/call/security_gate.h"
#include "gateway/routing/router.h"
#include "gateway/telemetry/access_log.h"
#include "gateway/telemetry/metrics.h"
#include "gateway/upstream/request.h"

namespace og {

struct Config;

// Settings of the request path that come from the configuration.
struct RequestPathOptions {
  std::chrono::milliseconds connect_timeout{2000};
  // Zero, or a cap on a whole attempt without a caller deadline.
  std::chrono::milliseconds request_timeout{0};
  // Zero, or the longest a backend may send nothing (before its first byte or between chunks).
  std::chrono::milliseconds idle_timeout{std::chrono::minutes(5)};
  std::size_t max_line_bytes = 8u << 20;
  // Zero, or how long an attempt may wait for the backend's first byte before it is abandoned
  // (and retried elsewhere when allowed).
  std::chrono::milliseconds first_byte_timeout{0};
  // Attempts per call, the first included. A later attempt, on another backend, follows a failure
  // before any response byte (connect refused, Ollama's queue-full 503, no byte within
  // first_byte_timeout), a backend failure before the caller saw any of the answer (the call runs
  // again), or one part-way through a stream that continue_streams continues.
  int max_attempts = 2;
  // Retries in progress at once: at most max(3, calls in progress * percent / 100).
  int retry_budget_percent = 20;
  // The gateway queue for calls whose every backend is at its max_in_flight.
  AdmissionLimits admission;
  // PredictStream: answer bytes queued for a slow reader before the backend transfer is paused;
  // it resumes once half of that has been written.
  std::size_t stream_buffer_bytes = 1u << 20;
  // PredictStream: how long one message may wait for the caller to take it before the call is
  // cancelled (a caller that stopped reading); zero means never.
  std::chrono::milliseconds stream_write_timeout{std::chrono::seconds(60)};
  // Predict: the largest answer returned in one reply; past it RESOURCE_EXHAUSTED.
  std::size_t max_unary_answer_bytes = 4u << 20;
  // Chat and raw generate streams cut by their backend continue on another one (keeping the
  // text delivered so far, up to max_unary_answer_bytes).
  bool continue_streams = true;
};

// The request path's settings from a loaded configuration (its upstream, admission and listen
// sections).
RequestPathOptions RequestPathOptionsFrom(const Config& config);

// Where a call's random numbers come from: its request id when the caller sent none, and the
// balancer's random picks. Thread-safe.
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual std::uint64_t Next() = 0;
};

// A generator per thread, each seeded from std::random_device: no lock on the request path.
class ThreadRandom final : public RandomSource {
 public:
  std::uint64_t Next() override;
  // A process-wide instance; its state is per thread, so sharing it is free.
  static ThreadRandom& Get();
};

class CallCore {
 public:
  // All references must outlive the core (and every front door that uses it). `access_log`
  // may be null (no access log). Calls read the time from `clock` and draw random numbers from
  // `random`. The admission queue's timer thread waits in real time, so it runs only on the
  // system clock; with any other clock, whoever drives the clock expires queued calls
  // (admission_queue().ExpireDue()).
  CallCore(Router& router, Upstream& upstream, Metrics& metrics, SecurityGate& security,
           RequestPathOptions options, AccessLog* access_log = nullptr,
           const Clock& clock = SystemClock::Get(), RandomSource& random = ThreadRandom::Get());
  ~CallCore();
  CallCore(const CallCore&) = delete;
  CallCore& operator=(const CallCore&) = delete;

  // From now on new calls are refused (UNAVAILABLE); calls in progress continue.
  void StartDraining() { draining_.store(true, std::memory_order_relaxed); }
  bool draining() const { return draining_.load(std::memory_order_relaxed); }
  // Calls not yet done, over every front door.
  int active_calls() const { return active_calls_.load(std::memory_order_acquire); }

  Router& router() { return router_; }
  Upstream& upstream() { return upstream_; }
  Metrics& metrics() { return metrics_; }
  SecurityGate& security() { return security_; }
  const RequestPathOptions& options() const { return options_; }
  const Clock& clock() const { return clock_; }
  AdmissionQueue& admission_queue() { return *queue_; }

 private:
  friend class CallPath;
  // The retry budget: takes a place among the retries in progress, or false when none is left.
  bool TryStartRetry() {
    return retry_budget_.TryAcquire(active_calls_.load(std::memory_order_acquire));
  }
  void EndRetry() { retry_budget_.Release(); }

  Router& router_;
  Upstream& upstream_;
  Metrics& metrics_;
  SecurityGate& security_;
  AccessLog* const access_log_;
  const Clock& clock_;
  RandomSource& random_;
  const RequestPathOptions options_;
  std::atomic<bool> draining_{false};
  std::atomic<int> active_calls_{0};
  RetryBudget retry_budget_;
  // Its timer thread runs for the core's lifetime.
  std::unique_ptr<AdmissionQueue> queue_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_CALL_CALL_CORE_H_
