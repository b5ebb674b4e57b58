// The gRPC front door's health face: grpc.health.v1 serving statuses from the routing table.
#ifndef OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_GRPC_SERVING_STATUS_H_
#define OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_GRPC_SERVING_STATUS_H_

#include <grpcpp/health_check_service_interface.h>

#include <map>
#include <string>

#include "gateway/routing/router.h"

namespace og {

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

#endif  // OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_GRPC_SERVING_STATUS_H_
