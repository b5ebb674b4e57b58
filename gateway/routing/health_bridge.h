// Wires the health room to the rest of the gateway: the checker's options from the config,
// probes sent over the upstream client, what the checks and outlier detection learn turned into
// routing facts, log lines and metrics, the admin view of backends (/admin/backends) and the
// standard grpc.health.v1 serving status.
#ifndef OLLAMA_GATEWAY_GATEWAY_HEALTH_BRIDGE_H_
#define OLLAMA_GATEWAY_GATEWAY_HEALTH_BRIDGE_H_

#include <grpcpp/health_check_service_interface.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "gateway/config/config.h"
#include "gateway/telemetry/metrics.h"
#include "gateway/routing/router.h"
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

// The JSON of GET /admin/backends: every backend with each tier's last result and why it is in
// or out of rotation, its models, and every pool with its healthy count and panic state.
std::string BackendsJson(const RoutingTable& table,
                         const std::vector<health::BackendHealth>& health, const Clock& clock);

// Why no backend is healthy, in one line (for /readyz), or "" when one is.
std::string NotReadyReason(const RoutingTable& table);

// Publishes grpc.health.v1 statuses: "" and "ollama_gateway.v1.ModelInference" for the whole
// gateway (SERVING when some backend is healthy and the gateway is not draining), and each
// model's canonical name (and the short name of ":latest" models) for that model. Not
// thread-safe: one caller.
class ServingStatus {
 public:
  explicit ServingStatus(grpc::HealthCheckServiceInterface* service) : service_(service) {}
  void Publish(const RoutingTable& table, bool draining);

 private:
  void Set(const std::string& name, bool serving);

  grpc::HealthCheckServiceInterface* const service_;
  std::map<std::string, bool> published_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_HEALTH_BRIDGE_H_
