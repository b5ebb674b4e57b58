// Wires the health room to the rest of the gateway: the checker's options from the config,
// probes sent over the upstream client, what the checks and outlier detection learn turned into
// routing facts, log lines and metrics, and the router's gauges mirrored at scrape time. The
// admin view of backends is admin/backends_view.h, the grpc.health.v1 status
// frontdoor/grpc/serving_status.h.
#ifndef OLLAMA_GATEWAY_GATEWAY_ROUTING_HEALTH_BRIDGE_H_
#define OLLAMA_GATEWAY_GATEWAY_ROUTING_HEALTH_BRIDGE_H_

#include <chrono>
#include <string>
#include <vector>

#include "gateway/config/config.h"
#include "gateway/routing/router.h"
#include "gateway/telemetry/metrics.h"
#include "gateway/upstream/upstream_client.h"
#include "health/checker.h"
#include "health/probes.h"

namespace og {

// The checker's options and the backends it checks, with the probe models each may serve.
health::CheckerOptions CheckerOptionsOf(const Config& config);
std::vector<health::BackendSpec> CheckedBackends(const Config& config);

// How long the gateway waits at start for the first connect and api results.
std::chrono::milliseconds FirstRoundWait(const Config& config);

// Probes over the upstream client. Backends are found by name in the router's current table.
class HealthTransport final : public health::Transport {
 public:
  // Both must outlive the transport.
  HealthTransport(UpstreamClient& client, const Router& router)
      : client_(client), router_(router) {}
  void Send(const std::string& backend, health::ProbeRequest request, Done done) override;

 private:
  UpstreamClient& client_;
  const Router& router_;
};

// Mirrors the router's live state into gauges (in flight, healthy and ejected per backend; backends
// and healthy ones per model), called from a scrape hook so the request path does no metric work.
void MirrorRoutingGauges(const Router& router, Metrics& metrics);

// Turns health events into routing facts, logs and metrics.
class HealthBridge final : public health::Observer, public RouterListener {
 public:
  HealthBridge(Router& router, Metrics& metrics) : router_(router), metrics_(metrics) {}

  void OnCheck(const std::string& backend, health::Tier tier, bool ok,
               std::chrono::nanoseconds latency) override;
  void OnStateChange(const health::StateChange& change) override;
  void OnModels(const std::string& backend, const std::vector<std::string>& models) override;
  void OnLoaded(const std::string& backend, const std::vector<std::string>& loaded) override;

  void OnPanic(const Pool& pool, bool panic, std::size_t healthy) override;
  void OnEjected(const BackendState& backend, std::chrono::milliseconds hold,
                 int failures) override;
  void OnEjectionRefused(const BackendState& backend, const Pool& pool) override;

 private:
  Router& router_;
  Metrics& metrics_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_ROUTING_HEALTH_BRIDGE_H_
