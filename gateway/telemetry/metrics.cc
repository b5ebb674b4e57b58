#include "gateway/telemetry/metrics.h"

#include <atomic>
#include <functional>
#include <initializer_list>
#include <unordered_map>
#include <utility>

#include "prometheus/text_serializer.h"

namespace og {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;
using prometheus::Histogram;

// LLM calls last from milliseconds (a cached short answer) to minutes (a long generation on a
// cold model), so the buckets span 5 ms .. 10 min.
const Histogram::BucketBoundaries& DurationBuckets() {
  static const Histogram::BucketBoundaries b = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,  2.5,
                                                5,     10,   20,    30,   60,  120,  300, 600};
  return b;
}

// Time to first token: queue wait + model load + prompt evaluation; 1 ms .. 60 s.
// The same bounds as kRolloutLatencyBounds (gateway/routing/rollout.h), so PromQL's
// histogram_quantile and the local analysis estimate a p99 alike (a unit test checks).
const Histogram::BucketBoundaries& RolloutBuckets() {
  static const Histogram::BucketBoundaries b = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                0.5,   1,      2.5,   5,    10,    30,   60,  120};
  return b;
}

const Histogram::BucketBoundaries& TtftBuckets() {
  static const Histogram::BucketBoundaries b = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                0.5,   1,      2.5,   5,    10,    20,   30,  60};
  return b;
}

std::string S(std::string_view v) { return std::string(v); }

double Seconds(std::chrono::nanoseconds d) { return std::chrono::duration<double>(d).count(); }

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

struct KeyHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
};

std::atomic<std::uint64_t> next_instance{1};

}  // namespace

// The series of `family` with `labels`, from a cache of the calling thread's: no lock and no
// allocation once the thread has used the series, where Family::Add builds a std::map of the
// labels and takes the family's mutex every time (6-8 times per call). prometheus-cpp keeps a
// series at one address until it is removed, and only the per-model gauges of SetModelBackends
// ever are (they do not come through here). The key starts with the Metrics instance's number,
// never reused, so a thread's entries for a Metrics that is gone never match again (tests make
// many; each entry is a few dozen bytes).
template <typename Metric, typename... Args>
Metric& Metrics::Series(prometheus::Family<Metric>* family, Labels labels, Args&&... args) {
  thread_local std::unordered_map<std::string, Metric*, KeyHash, std::equal_to<>> cache;
  thread_local std::string key;
  key.assign(reinterpret_cast<const char*>(&instance_), sizeof instance_);
  key.append(reinterpret_cast<const char*>(&family), sizeof family);
  for (const auto& label : labels) {
    const auto size = static_cast<std::uint32_t>(label.second.size());
    key.append(reinterpret_cast<const char*>(&size), sizeof size);
    key.append(label.second);
  }
  if (auto it = cache.find(std::string_view(key)); it != cache.end()) return *it->second;
  std::map<std::string, std::string> names;
  for (const auto& label : labels) names.emplace(label.first, label.second);
  Metric& metric = family->Add(names, std::forward<Args>(args)...);
  cache.emplace(key, &metric);
  return metric;
}

Metrics::Metrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      instance_(next_instance.fetch_add(1, std::memory_order_relaxed)) {
  requests_ = &BuildCounter()
                   .Name("gateway_requests_total")
                   .Help("Finished calls by model, backend that served them and gRPC code")
                   .Register(*registry_);
  duration_ = &BuildHistogram()
                   .Name("gateway_request_duration_seconds")
                   .Help("Time from receiving a call to its final status, by model")
                   .Register(*registry_);
  ttft_ = &BuildHistogram()
               .Name("gateway_time_to_first_token_seconds")
               .Help("Time from receiving a call to the first generated token, by model")
               .Register(*registry_);
  tokens_ = &BuildCounter()
                 .Name("gateway_tokens_total")
                 .Help("Tokens by model and direction (prompt or completion), as Ollama counts")
                 .Register(*registry_);
  attempts_ = &BuildCounter()
                   .Name("gateway_upstream_attempts_total")
                   .Help("Requests sent to backends, by backend and outcome")
                   .Register(*registry_);
  retries_ = &BuildCounter()
                  .Name("gateway_retries_total")
                  .Help("Calls retried on another backend before any byte reached the caller")
                  .Register(*registry_);
  retries_refused_ = &BuildCounter()
                          .Name("gateway_retries_refused_total")
                          .Help(
                              "Retries not made, by reason (budget: the retry budget was "
                              "spent); the call ended with the failure it had")
                          .Register(*registry_);
  model_refusals_ =
      &BuildCounter()
           .Name("gateway_model_refusals_total")
           .Help(
               "Backends that refused a model the gateway thought they serve, by backend, model "
               "and reason (model_not_found, out_of_memory); the pair takes no calls until the "
               "next tier-2 check lists the model there")
           .Register(*registry_);
  fleet_operations_ = &BuildCounter()
                           .Name("gateway_fleet_operations_total")
                           .Help(
                               "Model management on backends (pull, push, create, copy, delete, "
                               "blobs), by operation, backend and result (ok, failed)")
                           .Register(*registry_);
  rollout_requests_ = &BuildCounter()
                           .Name("gateway_rollout_requests_total")
                           .Help(
                               "Calls of a rollout's targets (baseline, candidate), by rollout, "
                               "target and result (error: the target failed the call)")
                           .Register(*registry_);
  rollout_ttft_ = &BuildHistogram()
                       .Name("gateway_rollout_time_to_first_token_seconds")
                       .Help("Time to first token of a rollout's calls, by rollout and target")
                       .Register(*registry_);
  rollout_token_latency_ =
      &BuildHistogram()
           .Name("gateway_rollout_token_latency_seconds")
           .Help(
               "Time per output token after the first of a rollout's calls, by rollout and target")
           .Register(*registry_);
  rollout_weight_ = &BuildGauge()
                         .Name("gateway_rollout_weight")
                         .Help("The percentage of a rollout's calls each target gets")
                         .Register(*registry_);
  rollout_step_ = &BuildGauge()
                       .Name("gateway_rollout_step")
                       .Help("The step a rollout's schedule is at (0 without steps)")
                       .Register(*registry_);
  rollout_aborts_ = &BuildCounter()
                         .Name("gateway_rollout_aborts_total")
                         .Help(
                             "Rollouts aborted (every call sent back to the baseline), by reason "
                             "(error_rate, ttft, token_latency, manual)")
                         .Register(*registry_);
  continuations_ =
      &BuildCounter()
           .Name("gateway_stream_continuations_total")
           .Help(
               "Streams whose backend failed after part of the answer reached the caller, by "
               "outcome (ok, failed: continued on another backend; the others say why not)")
           .Register(*registry_);
  queue_depth_ = &BuildGauge()
                      .Name("gateway_queue_depth")
                      .Help("Calls waiting in the gateway queue for a backend slot")
                      .Register(*registry_);
  queue_rejected_ = &BuildCounter()
                         .Name("gateway_queue_rejected_total")
                         .Help(
                             "Calls ended by the gateway queue with RESOURCE_EXHAUSTED, by "
                             "reason (full or timeout)")
                         .Register(*registry_);
  queue_wait_ = &BuildHistogram()
                     .Name("gateway_queue_wait_seconds")
                     .Help("Time calls spent in the gateway queue, however they left it")
                     .Register(*registry_);
  health_checks_ = &BuildCounter()
                        .Name("gateway_health_checks_total")
                        .Help("Active health checks by backend, tier and result (ok or failed)")
                        .Register(*registry_);
  health_check_duration_ = &BuildHistogram()
                                .Name("gateway_health_check_duration_seconds")
                                .Help("Time active health checks took, by tier")
                                .Register(*registry_);
  backend_health_ = &BuildGauge()
                         .Name("gateway_backend_health")
                         .Help(
                             "1 when a backend passes a tier of active checks (connect, api, "
                             "or inference for a model), else 0")
                         .Register(*registry_);
  backend_healthy_ = &BuildGauge()
                          .Name("gateway_backend_healthy")
                          .Help(
                              "1 when a backend takes traffic: tiers 1 and 2 pass and outlier "
                              "detection has not ejected it")
                          .Register(*registry_);
  backend_ejected_ = &BuildGauge()
                          .Name("gateway_backend_ejected")
                          .Help("1 while outlier detection keeps a backend out of rotation")
                          .Register(*registry_);
  ejections_ = &BuildCounter()
                    .Name("gateway_outlier_ejections_total")
                    .Help("Backends ejected by outlier detection (failures in a row)")
                    .Register(*registry_);
  ejections_refused_ = &BuildCounter()
                            .Name("gateway_outlier_ejections_refused_total")
                            .Help(
                                "Ejections not made because max_ejection_percent of a pool "
                                "was ejected already")
                            .Register(*registry_);
  pool_panic_ = &BuildGauge()
                     .Name("gateway_pool_panic")
                     .Help(
                         "1 while fewer than panic_threshold percent of a model's backends are "
                         "healthy, so calls are routed to all of them")
                     .Register(*registry_);
  pool_panics_ = &BuildCounter()
                      .Name("gateway_pool_panics_total")
                      .Help("Times a model's pool entered panic")
                      .Register(*registry_);
  model_backends_ = &BuildGauge()
                         .Name("gateway_model_backends")
                         .Help("Backends in each model's pool")
                         .Register(*registry_);
  model_backends_healthy_ = &BuildGauge()
                                 .Name("gateway_model_backends_healthy")
                                 .Help(
                                     "Backends of each model's pool that take traffic now "
                                     "(healthy, not ejected, not held out); 0 means every call "
                                     "for the model fails or runs in panic")
                                 .Register(*registry_);
  queue_limit_ = &BuildGauge()
                      .Name("gateway_queue_limit")
                      .Help("Calls the gateway queue may hold (admission.max_queue)")
                      .Register(*registry_);
  // Present from the start, so dashboards and alerts see zeros rather than nothing.
  queue_depth_->Add({}).Set(0);
  for (const char* reason : {"full", "timeout"}) queue_rejected_->Add({{"reason", reason}});
  retries_refused_->Add({{"reason", "budget"}});
  for (std::string_view outcome : kContinuationOutcomes)
    continuations_->Add({{"outcome", S(outcome)}});
  hash_key_missing_ = &BuildCounter()
                           .Name("gateway_hash_key_missing_total")
                           .Help(
                               "Calls to a hashing pool without an affinity key, balanced by "
                               "the fallback policy instead, by model")
                           .Register(*registry_);
  config_reloads_ = &BuildCounter()
                         .Name("gateway_config_reloads_total")
                         .Help(
                             "Configuration reloads (SIGHUP or file change) by result: ok, or "
                             "invalid (refused; the running config stays)")
                         .Register(*registry_);
  rejected_ = &BuildCounter()
                   .Name("gateway_rejected_total")
                   .Help("Calls answered by the gateway before reaching a backend, by reason")
                   .Register(*registry_);
  authentications_ = &BuildCounter()
                          .Name("gateway_auth_total")
                          .Help(
                              "Call authentications by method (api_key, mtls, none) and result "
                              "(ok; invalid: a wrong key; missing: no credentials where "
                              "auth.required)")
                          .Register(*registry_);
  authorizations_ = &BuildCounter()
                         .Name("gateway_authorization_total")
                         .Help(
                             "Authorization decisions by action (predict, stream) and decision "
                             "(allow, deny)")
                         .Register(*registry_);
  rate_limited_ = &BuildCounter()
                       .Name("gateway_rate_limited_total")
                       .Help(
                           "Calls refused with RESOURCE_EXHAUSTED by their caller's limits: "
                           "rate (requests_per_second and burst) or streams "
                           "(max_concurrent_streams)")
                       .Register(*registry_);
  redactions_ = &BuildCounter()
                     .Name("gateway_redactions_total")
                     .Help("Matches replaced in prompts before forwarding, by redaction rule")
                     .Register(*registry_);
  for (const char* frontend : {"grpc", "http"}) {
    for (const char* reason : {"rate", "streams"}) {
      rate_limited_->Add({{"frontend", frontend}, {"reason", reason}});
    }
    for (const char* action : {"predict", "stream"}) {
      for (const char* decision : {"allow", "deny"}) {
        authorizations_->Add({{"frontend", frontend}, {"action", action}, {"decision", decision}});
      }
    }
  }
  backend_in_flight_ = &BuildGauge()
                            .Name("gateway_backend_in_flight")
                            .Help("Requests in flight on each backend")
                            .Register(*registry_);
  tls_expiry_ = &BuildGauge()
                     .Name("gateway_tls_certificate_expiry_seconds")
                     .Help(
                         "notAfter of the gRPC listener's serving certificate, in seconds "
                         "since the Unix epoch")
                     .Register(*registry_);
  tls_reloads_ = &BuildCounter()
                      .Name("gateway_tls_reloads_total")
                      .Help(
                          "Changed TLS files seen (file change or SIGHUP), by result: ok "
                          "(now served) or refused (previous files kept)")
                      .Register(*registry_);
  // Hostile-input limits.
  stream_write_timeouts_ = &BuildCounter()
                                .Name("gateway_stream_write_timeouts_total")
                                .Help(
                                    "Streams cancelled because the caller took no message "
                                    "within listen.write_timeout, by front door")
                                .Register(*registry_);
  stream_write_timeouts_->Add({{"frontend", "grpc"}});
  connections_refused_ = &BuildCounter()
                              .Name("gateway_http_connections_refused_total")
                              .Help(
                                  "Connections closed at once because the listener had "
                                  "max_connections open, by listener (http, admin)")
                              .Register(*registry_);
  open_connections_ = &BuildGauge()
                           .Name("gateway_http_open_connections")
                           .Help("Connections open now on an HTTP listener (http, admin)")
                           .Register(*registry_);
  access_log_dropped_ = &BuildCounter()
                             .Name("gateway_access_log_dropped_total")
                             .Help(
                                 "Access log lines dropped because the log writer was "
                                 "thousands of lines behind (a slow disk); calls never wait "
                                 "for the log")
                             .Register(*registry_)
                             .Add({});
}

void Metrics::RecordConnectionRefused(std::string_view listener) {
  Series(connections_refused_, {{"listener", listener}}).Increment();
}

void Metrics::SetOpenConnections(std::string_view listener, std::size_t open) {
  Series(open_connections_, {{"listener", listener}}).Set(static_cast<double>(open));
}

void Metrics::RecordStreamWriteTimeout(std::string_view frontend) {
  Series(stream_write_timeouts_, {{"frontend", frontend}}).Increment();
}

void Metrics::CountAccessLogDrops(std::function<std::uint64_t()> dropped) {
  std::lock_guard<std::mutex> lock(access_log_drops_mu_);
  access_log_drops_ = std::move(dropped);
}

void Metrics::RecordRequest(std::string_view frontend, std::string_view model,
                            std::string_view backend, std::string_view code,
                            std::chrono::nanoseconds duration) {
  Series(requests_,
         {{"frontend", frontend}, {"model", model}, {"backend", backend}, {"code", code}})
      .Increment();
  Series(duration_, {{"frontend", frontend}, {"model", model}}, DurationBuckets())
      .Observe(Seconds(duration));
}

void Metrics::RecordTimeToFirstToken(std::string_view model, std::chrono::nanoseconds ttft) {
  Series(ttft_, {{"model", model}}, TtftBuckets()).Observe(Seconds(ttft));
}

void Metrics::RecordTokens(std::string_view model, std::int64_t prompt, std::int64_t completion) {
  if (prompt > 0) {
    Series(tokens_, {{"model", model}, {"direction", "prompt"}}).Increment(double(prompt));
  }
  if (completion > 0) {
    Series(tokens_, {{"model", model}, {"direction", "completion"}}).Increment(double(completion));
  }
}

void Metrics::RecordAttempt(std::string_view backend, std::string_view outcome) {
  Series(attempts_, {{"backend", backend}, {"outcome", outcome}}).Increment();
}

void Metrics::RecordRetry(std::string_view model) {
  Series(retries_, {{"model", model}}).Increment();
}

void Metrics::RecordRetryRefused(std::string_view reason) {
  Series(retries_refused_, {{"reason", reason}}).Increment();
}

void Metrics::RecordModelRefusal(std::string_view backend, std::string_view model,
                                 std::string_view reason) {
  Series(model_refusals_, {{"backend", backend}, {"model", model}, {"reason", reason}}).Increment();
}

void Metrics::RecordFleetOperation(std::string_view operation, std::string_view backend,
                                   std::string_view result) {
  Series(fleet_operations_, {{"operation", operation}, {"backend", backend}, {"result", result}})
      .Increment();
}

void Metrics::RecordRolloutCall(std::string_view rollout, std::string_view target, bool error,
                                std::optional<double> ttft_seconds,
                                std::optional<double> token_latency_seconds) {
  Series(rollout_requests_,
         {{"rollout", rollout}, {"target", target}, {"result", error ? "error" : "ok"}})
      .Increment();
  if (ttft_seconds) {
    Series(rollout_ttft_, {{"rollout", rollout}, {"target", target}}, RolloutBuckets())
        .Observe(*ttft_seconds);
  }
  if (token_latency_seconds) {
    Series(rollout_token_latency_, {{"rollout", rollout}, {"target", target}}, RolloutBuckets())
        .Observe(*token_latency_seconds);
  }
}

void Metrics::SetRolloutWeight(std::string_view rollout, int candidate_weight, int step) {
  Series(rollout_weight_, {{"rollout", rollout}, {"target", "baseline"}})
      .Set(100 - candidate_weight);
  Series(rollout_weight_, {{"rollout", rollout}, {"target", "candidate"}}).Set(candidate_weight);
  Series(rollout_step_, {{"rollout", rollout}}).Set(step);
}

void Metrics::RecordRolloutAbort(std::string_view rollout, std::string_view reason) {
  Series(rollout_aborts_, {{"rollout", rollout}, {"reason", reason}}).Increment();
}

void Metrics::DeclareRollout(std::string_view rollout) {
  for (std::string_view reason : {"error_rate", "ttft", "token_latency", "manual"}) {
    Series(rollout_aborts_, {{"rollout", rollout}, {"reason", reason}});
  }
  for (std::string_view target : {"baseline", "candidate"}) {
    for (std::string_view result : {"ok", "error"}) {
      Series(rollout_requests_, {{"rollout", rollout}, {"target", target}, {"result", result}});
    }
    Series(rollout_ttft_, {{"rollout", rollout}, {"target", target}}, RolloutBuckets());
    Series(rollout_token_latency_, {{"rollout", rollout}, {"target", target}}, RolloutBuckets());
  }
}

void Metrics::RecordStreamContinuation(std::string_view outcome) {
  Series(continuations_, {{"outcome", outcome}}).Increment();
}

void Metrics::SetQueueDepth(std::size_t depth) { Series(queue_depth_, {}).Set(double(depth)); }

void Metrics::RecordQueueRejected(std::string_view reason) {
  Series(queue_rejected_, {{"reason", reason}}).Increment();
}

void Metrics::RecordQueueWait(std::chrono::nanoseconds wait) {
  Series(queue_wait_, {}, TtftBuckets()).Observe(Seconds(wait));
}

void Metrics::RecordHashKeyMissing(std::string_view model) {
  Series(hash_key_missing_, {{"model", model}}).Increment();
}

void Metrics::RecordConfigReload(std::string_view result) {
  Series(config_reloads_, {{"result", result}}).Increment();
}

void Metrics::RecordRejected(std::string_view frontend, std::string_view reason) {
  Series(rejected_, {{"frontend", frontend}, {"reason", reason}}).Increment();
}

void Metrics::RecordAuthentication(std::string_view frontend, std::string_view method,
                                   std::string_view result) {
  Series(authentications_, {{"frontend", frontend}, {"method", method}, {"result", result}})
      .Increment();
}

void Metrics::RecordAuthorization(std::string_view frontend, std::string_view action,
                                  std::string_view decision) {
  Series(authorizations_, {{"frontend", frontend}, {"action", action}, {"decision", decision}})
      .Increment();
}

void Metrics::RecordRateLimited(std::string_view frontend, std::string_view reason) {
  Series(rate_limited_, {{"frontend", frontend}, {"reason", reason}}).Increment();
}

void Metrics::RecordRedactions(std::string_view rule, std::size_t matches) {
  Series(redactions_, {{"rule", rule}}).Increment(double(matches));
}

void Metrics::SetTlsCertificateExpiry(std::int64_t not_after) {
  Series(tls_expiry_, {}).Set(double(not_after));
}

void Metrics::RecordTlsReload(std::string_view result) {
  Series(tls_reloads_, {{"result", result}}).Increment();
}

std::string Metrics::Serialize() {
  if (scrape_hook_) scrape_hook_(*this);
  {
    // The log keeps a running total; the counter catches up with it.
    std::lock_guard<std::mutex> lock(access_log_drops_mu_);
    const double total = access_log_drops_ ? double(access_log_drops_()) : 0;
    if (total > access_log_dropped_->Value()) {
      access_log_dropped_->Increment(total - access_log_dropped_->Value());
    }
  }
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

void Metrics::RecordHealthCheck(std::string_view backend, std::string_view tier, bool ok,
                                std::chrono::nanoseconds latency) {
  Series(health_checks_, {{"backend", backend}, {"tier", tier}, {"result", ok ? "ok" : "failed"}})
      .Increment();
  Series(health_check_duration_, {{"tier", tier}}, TtftBuckets()).Observe(Seconds(latency));
}

void Metrics::SetBackendTierHealth(std::string_view backend, std::string_view tier,
                                   std::string_view model, bool healthy) {
  prometheus::Labels labels{{"backend", S(backend)}, {"tier", S(tier)}};
  if (!model.empty()) labels.emplace("model", S(model));
  backend_health_->Add(labels).Set(healthy ? 1 : 0);
}

void Metrics::RecordEjection(std::string_view backend) {
  Series(ejections_, {{"backend", backend}}).Increment();
}

void Metrics::RecordEjectionRefused(std::string_view backend) {
  Series(ejections_refused_, {{"backend", backend}}).Increment();
}

void Metrics::SetPoolPanic(std::string_view model, bool panic) {
  Series(pool_panic_, {{"model", model}}).Set(panic ? 1 : 0);
  if (panic) Series(pool_panics_, {{"model", model}}).Increment();
}

void Metrics::SetModelBackends(const std::map<std::string, PoolCount>& pools) {
  std::lock_guard<std::mutex> lock(model_gauges_mu_);
  for (auto it = model_gauges_.begin(); it != model_gauges_.end();) {
    if (pools.count(it->first) != 0) {
      ++it;
      continue;
    }
    model_backends_->Remove(it->second.first);
    model_backends_healthy_->Remove(it->second.second);
    it = model_gauges_.erase(it);
  }
  for (const auto& [model, count] : pools) {
    auto& gauges = model_gauges_[model];
    if (gauges.first == nullptr) {
      gauges.first = &model_backends_->Add({{"model", model}});
      gauges.second = &model_backends_healthy_->Add({{"model", model}});
    }
    gauges.first->Set(double(count.backends));
    gauges.second->Set(double(count.healthy));
  }
}

void Metrics::SetQueueLimit(std::size_t limit) { Series(queue_limit_, {}).Set(double(limit)); }

}  // namespace og
