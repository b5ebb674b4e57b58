// The gateway's Prometheus metrics (names prefixed gateway_). Label values are bounded: model
// labels come from the configuration (or "_other"), backend labels are configured names, codes
// are gRPC status names; nothing a caller sends becomes a label value as it is.
#ifndef OLLAMA_GATEWAY_GATEWAY_TELEMETRY_METRICS_H_
#define OLLAMA_GATEWAY_GATEWAY_TELEMETRY_METRICS_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "prometheus/counter.h"
#include "prometheus/family.h"
#include "prometheus/gauge.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace og {

// The outcomes of gateway_stream_continuations_total: continued and then ended OK (ok) or not
// (failed); not continued because the stream was in a tool call (tool_call), the request cannot
// be continued (not_continuable: a templated generate, a `format`, num_predict reached, an
// answer past upstream.max_unary_answer_bytes), no attempt was left (no_attempt_left: attempts,
// the retry budget, the deadline, the caller gone) or upstream.continue_streams is off (off).
inline constexpr std::string_view kContinuationOutcomes[] = {
    "ok", "failed", "tool_call", "not_continuable", "no_attempt_left", "off"};

class Metrics {
 public:
  Metrics();

  // One finished call, by front door ("grpc", "http"). `backend` is empty when no backend was
  // reached.
  void RecordRequest(std::string_view frontend, std::string_view model, std::string_view backend,
                     std::string_view code, std::chrono::nanoseconds duration);
  void RecordTimeToFirstToken(std::string_view model, std::chrono::nanoseconds ttft);
  void RecordTokens(std::string_view model, std::int64_t prompt, std::int64_t completion);
  // One attempt toward a backend and how it ended (an UpstreamOutcomeName, or "ok").
  void RecordAttempt(std::string_view backend, std::string_view outcome);
  void RecordRetry(std::string_view model);
  // A retry not made, by reason ("budget": too many retries already in progress).
  void RecordRetryRefused(std::string_view reason);
  // A backend refused a model it was thought to serve (ModelRefusalName: "model_not_found",
  // "out_of_memory"); the call went to another backend when one was left.
  void RecordModelRefusal(std::string_view backend, std::string_view model,
                          std::string_view reason);
  // One backend's part of a fleet operation ("pull", "delete", ...) and how it ended ("ok",
  // "failed").
  void RecordFleetOperation(std::string_view operation, std::string_view backend,
                            std::string_view result);
  // Rollouts (gateway/routing/rollout.h). A call of a rollout's target and whether the target
  // failed it, with its time to first token and time per output token after the first when
  // known; a rollout's candidate weight (percent) and step; an abort by reason. DeclareRollout
  // makes the series of a rollout exist at 0 (the aborts by every reason, the calls of both
  // targets) before anything happened, so rate() and increase() see them from the start.
  void RecordRolloutCall(std::string_view rollout, std::string_view target, bool error,
                         std::optional<double> ttft_seconds,
                         std::optional<double> token_latency_seconds);
  void SetRolloutWeight(std::string_view rollout, int candidate_weight, int step);
  void RecordRolloutAbort(std::string_view rollout, std::string_view reason);
  void DeclareRollout(std::string_view rollout);
  // A stream whose backend failed after part of the answer reached the caller, by what came of
  // it (kContinuationOutcomes).
  void RecordStreamContinuation(std::string_view outcome);
  // The admission queue: calls waiting now, calls turned away ("full" or "timeout") and how
  // long each queued call waited.
  void SetQueueDepth(std::size_t depth);
  void RecordQueueRejected(std::string_view reason);
  void RecordQueueWait(std::chrono::nanoseconds wait);
  // A call to a hashing pool that carried no affinity key (balanced by the fallback policy).
  void RecordHashKeyMissing(std::string_view model);
  // One configuration reload and its result ("ok" or "invalid").
  void RecordConfigReload(std::string_view result);
  // Calls answered by the gateway itself, before a backend was chosen, by reason.
  void RecordRejected(std::string_view frontend, std::string_view reason);
  // Security, each by front door: one authentication by method ("api_key", "mtls", "none") and
  // result ("ok", "invalid", "missing"); one authorization decision by action ("predict", "stream")
  // and decision ("allow", "deny"); a call refused by its caller's rate limit ("rate") or stream
  // cap
  // ("streams"); matches replaced by a redaction rule (rule names come from the config).
  void RecordAuthentication(std::string_view frontend, std::string_view method,
                            std::string_view result);
  void RecordAuthorization(std::string_view frontend, std::string_view action,
                           std::string_view decision);
  void RecordRateLimited(std::string_view frontend, std::string_view reason);
  void RecordRedactions(std::string_view rule, std::size_t matches);
  // The serving certificate's notAfter, in seconds since the epoch.
  void SetTlsCertificateExpiry(std::int64_t not_after);
  // A look at changed TLS files: result "ok" (published) or "refused" (old files kept).
  void RecordTlsReload(std::string_view result);

  // Active health checks: one finished check, and the state of a (backend, tier[, model]) as
  // 1 (healthy) or 0 (unhealthy, or unknown before its first check).
  void RecordHealthCheck(std::string_view backend, std::string_view tier, bool ok,
                         std::chrono::nanoseconds latency);
  void SetBackendTierHealth(std::string_view backend, std::string_view tier, std::string_view model,
                            bool healthy);
  // Outlier detection ejected a backend, or would have but max_ejection_percent forbade it.
  void RecordEjection(std::string_view backend);
  void RecordEjectionRefused(std::string_view backend);
  // Per model: the backends of its pool and how many of them take traffic now (healthy and not
  // held out). Models absent from `pools` lose their series. For the scrape hook.
  struct PoolCount {
    std::size_t backends = 0;
    std::size_t healthy = 0;
  };
  void SetModelBackends(const std::map<std::string, PoolCount>& pools);
  // The admission queue's bound (admission.max_queue).
  void SetQueueLimit(std::size_t limit);
  // A model's pool entered (true) or left panic.
  void SetPoolPanic(std::string_view model, bool panic);
  prometheus::Family<prometheus::Gauge>& backend_healthy() { return *backend_healthy_; }
  prometheus::Family<prometheus::Gauge>& backend_ejected() { return *backend_ejected_; }

  // Hostile-input limits: a stream cancelled because its caller took no message within the
  // write timeout, by front door; and the access log's lines dropped because its writer fell
  // behind, as a running total read at scrape time (see CountAccessLogDrops).
  void RecordStreamWriteTimeout(std::string_view frontend);
  // `dropped` returns the access log's drops so far; called at each scrape, on the admin
  // thread, so it must be thread-safe. The log must outlive the metrics' scrapes.
  void CountAccessLogDrops(std::function<std::uint64_t()> dropped);

  // HTTP listeners ("http", "admin"): a connection closed at once because max_connections were
  // open, and the connections open now (set at scrape time).
  void RecordConnectionRefused(std::string_view listener);
  void SetOpenConnections(std::string_view listener, std::size_t open);

  // The registry to serialize at /metrics.
  std::shared_ptr<prometheus::Registry> registry() const { return registry_; }

  // Text exposition of every metric, after the scrape hook refreshed the live gauges.
  std::string Serialize();

  // Registers a callback run at each scrape to refresh gauges that mirror live state
  // (for instance the in-flight count of every backend).
  void SetScrapeHook(std::function<void(Metrics&)> hook) { scrape_hook_ = std::move(hook); }
  prometheus::Family<prometheus::Gauge>& backend_in_flight() { return *backend_in_flight_; }

 private:
  // The series of `family` with these labels, cached per thread (see CachedSeries in the .cc).
  template <typename Metric, typename... Args>
  Metric& Series(prometheus::Family<Metric>* family,
                 std::initializer_list<std::pair<std::string_view, std::string_view>> labels,
                 Args&&... args);

  std::shared_ptr<prometheus::Registry> registry_;
  // Numbers this instance in the per-thread series caches.
  const std::uint64_t instance_;
  prometheus::Family<prometheus::Counter>* requests_;
  prometheus::Family<prometheus::Histogram>* duration_;
  prometheus::Family<prometheus::Histogram>* ttft_;
  prometheus::Family<prometheus::Counter>* tokens_;
  prometheus::Family<prometheus::Counter>* attempts_;
  prometheus::Family<prometheus::Counter>* retries_;
  prometheus::Family<prometheus::Counter>* retries_refused_;
  prometheus::Family<prometheus::Counter>* model_refusals_;
  prometheus::Family<prometheus::Counter>* fleet_operations_;
  prometheus::Family<prometheus::Counter>* rollout_requests_;
  prometheus::Family<prometheus::Histogram>* rollout_ttft_;
  prometheus::Family<prometheus::Histogram>* rollout_token_latency_;
  prometheus::Family<prometheus::Gauge>* rollout_weight_;
  prometheus::Family<prometheus::Gauge>* rollout_step_;
  prometheus::Family<prometheus::Counter>* rollout_aborts_;
  prometheus::Family<prometheus::Counter>* continuations_;
  prometheus::Family<prometheus::Gauge>* queue_depth_;
  prometheus::Family<prometheus::Counter>* queue_rejected_;
  prometheus::Family<prometheus::Histogram>* queue_wait_;
  prometheus::Family<prometheus::Counter>* hash_key_missing_;
  prometheus::Family<prometheus::Counter>* rejected_;
  prometheus::Family<prometheus::Counter>* config_reloads_;
  prometheus::Family<prometheus::Counter>* authentications_;
  prometheus::Family<prometheus::Counter>* authorizations_;
  prometheus::Family<prometheus::Counter>* rate_limited_;
  prometheus::Family<prometheus::Counter>* redactions_;
  prometheus::Family<prometheus::Gauge>* backend_in_flight_;
  prometheus::Family<prometheus::Gauge>* tls_expiry_;
  prometheus::Family<prometheus::Counter>* tls_reloads_;
  prometheus::Family<prometheus::Counter>* health_checks_;
  prometheus::Family<prometheus::Histogram>* health_check_duration_;
  prometheus::Family<prometheus::Gauge>* backend_health_;
  prometheus::Family<prometheus::Gauge>* backend_healthy_;
  prometheus::Family<prometheus::Gauge>* backend_ejected_;
  prometheus::Family<prometheus::Counter>* ejections_;
  prometheus::Family<prometheus::Counter>* ejections_refused_;
  prometheus::Family<prometheus::Gauge>* pool_panic_;
  prometheus::Family<prometheus::Counter>* pool_panics_;
  prometheus::Family<prometheus::Gauge>* model_backends_;
  prometheus::Family<prometheus::Gauge>* model_backends_healthy_;
  prometheus::Family<prometheus::Gauge>* queue_limit_;
  std::mutex model_gauges_mu_;  // guards model_gauges_ (scrapes may overlap)
  std::map<std::string, std::pair<prometheus::Gauge*, prometheus::Gauge*>> model_gauges_;
  std::function<void(Metrics&)> scrape_hook_;
  // Hostile-input limits.
  prometheus::Family<prometheus::Counter>* stream_write_timeouts_;
  prometheus::Counter* access_log_dropped_;
  prometheus::Family<prometheus::Counter>* connections_refused_;
  prometheus::Family<prometheus::Gauge>* open_connections_;
  std::mutex access_log_drops_mu_;  // guards access_log_drops_ (scrapes may overlap)
  std::function<std::uint64_t()> access_log_drops_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_TELEMETRY_METRICS_H_
