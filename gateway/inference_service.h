// The gRPC service ModelInference. Each call is a reactor (gRPC's callback API) that never
// blocks: it runs the shared CallPath (validation, security, routing, attempts toward Ollama)
// and turns its chunks into gRPC messages. It knows nothing of which balancing policy is
// configured.
#ifndef OLLAMA_GATEWAY_GATEWAY_INFERENCE_SERVICE_H_
#define OLLAMA_GATEWAY_GATEWAY_INFERENCE_SERVICE_H_

#include "gateway/call_core.h"
#include "ollama_gateway/v1/inference.grpc.pb.h"

namespace og {

class InferenceService final : public ollama_gateway::v1::ModelInference::CallbackService {
 public:
  // `core` must outlive the service (and the gRPC server that runs it).
  explicit InferenceService(CallCore& core) : core_(core) {}

  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const ollama_gateway::v1::InferenceRequest* request,
                                    ollama_gateway::v1::InferenceResponse* response) override;

  grpc::ServerWriteReactor<ollama_gateway::v1::InferenceResponse>* PredictStream(
      grpc::CallbackServerContext* context,
      const ollama_gateway::v1::InferenceRequest* request) override;

 private:
  CallCore& core_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_INFERENCE_SERVICE_H_
