// The gRPC front door: the listener of ModelInference (TLS 1.3 credentials, the transport's
// ceilings and HTTP/2 limits), its grpc.health.v1 face, and its part in the drain. Symmetric to
// frontdoor/http/http_frontdoor.h: each door owns its listener, its translation and its health.
#ifndef OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_GRPC_GRPC_FRONTDOOR_H_
#define OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_GRPC_GRPC_FRONTDOOR_H_

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>

#include "absl/status/status.h"
#include "gateway/call/call_core.h"
#include "gateway/config/config.h"
#include "gateway/frontdoor/grpc/inference_service.h"
#include "gateway/frontdoor/grpc/serving_status.h"

namespace og {

struct GrpcFrontDoorOptions {
  ListenConfig listen;  // the address and the HTTP/2 limits
  // Transport ceilings, fixed at start: past them gRPC refuses the message or the headers before
  // the gateway reads them (RESOURCE_EXHAUSTED).
  std::int64_t max_message_bytes = 4 << 20;
  std::int64_t max_metadata_bytes = 8 << 10;
};

// Not thread-safe: one owner (the process's main thread) calls every method.
class GrpcFrontDoor {
 public:
  // `core` must outlive the door.
  explicit GrpcFrontDoor(CallCore& core);
  // Waits for the server as Wait() does.
  ~GrpcFrontDoor();
  GrpcFrontDoor(const GrpcFrontDoor&) = delete;
  GrpcFrontDoor& operator=(const GrpcFrontDoor&) = delete;

  // Listens on options.listen.address. UNAVAILABLE when the address cannot be bound.
  absl::Status Start(const GrpcFrontDoorOptions& options,
                     std::shared_ptr<grpc::ServerCredentials> credentials);
  // The port bound (differs from the configured one when that was 0). Valid after Start.
  int port() const { return port_; }

  // Publishes each model's and the gateway's grpc.health.v1 status. Valid after Start.
  void PublishServing(const RoutingTable& table, bool draining);

  // Sends GOAWAY and stops accepting at once, so clients move to another replica, while calls in
  // progress go on until `deadline`. gRPC would also wait for idle client connections to close
  // until then; CancelRemaining() closes them by force once no call is left.
  void StartDrain(std::chrono::system_clock::time_point deadline);
  // Cancels the calls still running (their reactors finish with CANCELLED).
  void CancelRemaining();
  // Waits until the server has stopped (at once, without a drain, if StartDrain was not called).
  void Wait();

 private:
  InferenceService service_;
  std::unique_ptr<grpc::Server> server_;
  std::optional<ServingStatus> serving_status_;
  std::thread shutdown_;
  int port_ = 0;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_GRPC_GRPC_FRONTDOOR_H_
