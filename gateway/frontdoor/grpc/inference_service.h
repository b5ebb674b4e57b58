// The gRPC service ModelInference. Each call is a reactor (gRPC's callback API) that never
// blocks: it runs the shared CallPath (validation, security, routing, attempts toward Ollama)
// and turns its chunks into gRPC messages. It knows nothing of which balancing policy is
// configured.
//
// Also here: StreamWriteWatchdog, which ends a PredictStream whose caller stopped reading.
#ifndef OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_GRPC_INFERENCE_SERVICE_H_
#define OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_GRPC_INFERENCE_SERVICE_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_set>

#include "common/clock.h"
#include "gateway/call/call_core.h"
#include "ollama_gateway/v1/inference.grpc.pb.h"

namespace og {

// A stream whose writes the watchdog times.
class WatchedStream {
 public:
  virtual ~WatchedStream() = default;
  // Called with the watchdog's lock held. When the write in progress began at or before
  // `cutoff`, claims the timeout and returns true; a claimed stream must stay alive (it must not
  // finish) until ExpireWrite has run. Must not call back into the watchdog.
  virtual bool ClaimWriteTimeout(Clock::TimePoint cutoff) = 0;
  // Called after a successful claim, without the watchdog's lock: ends the stream and releases
  // the claim.
  virtual void ExpireWrite() = 0;
};

// Finds streams whose current write the caller has not taken within `timeout` (a caller that
// stopped reading leaves gRPC's one outstanding write pending for ever, and with it the backend
// request and its slot). One low-resolution sweep over every watched stream each `period`, on
// one thread for the whole process, rather than a timer per write: a stream pays one clock read
// per write and nothing else, and a timeout fires between `timeout` and `timeout + period`
// after its write started, which is precise enough for a limit of seconds.
//
// Thread-safe. Watched streams must be unwatched before they are destroyed.
class StreamWriteWatchdog {
 public:
  // A zero `period` starts no thread: the owner calls Sweep (tests, in simulated time).
  StreamWriteWatchdog(const Clock& clock, std::chrono::milliseconds timeout,
                      std::chrono::milliseconds period);
  ~StreamWriteWatchdog();
  StreamWriteWatchdog(const StreamWriteWatchdog&) = delete;
  StreamWriteWatchdog& operator=(const StreamWriteWatchdog&) = delete;

  void Watch(WatchedStream* stream);
  void Unwatch(WatchedStream* stream);
  // Expires every watched stream whose write began `timeout` ago or earlier; returns how many.
  std::size_t Sweep();

  const Clock& clock() const { return clock_; }

 private:
  const Clock& clock_;
  const std::chrono::milliseconds timeout_;
  const std::chrono::milliseconds period_;
  std::mutex mu_;
  std::unordered_set<WatchedStream*> streams_;  // guarded by mu_
  std::mutex stop_mu_;
  std::condition_variable stop_cv_;
  bool stop_ = false;  // guarded by stop_mu_
  std::thread thread_;
};

class InferenceService final : public ollama_gateway::v1::ModelInference::CallbackService {
 public:
  // `core` must outlive the service (and the gRPC server that runs it). PredictStream writes
  // are timed against core.options().stream_write_timeout (zero: never) on `clock`.
  explicit InferenceService(CallCore& core, const Clock& clock = SystemClock::Get());
  ~InferenceService() override;

  grpc::ServerUnaryReactor* Predict(grpc::CallbackServerContext* context,
                                    const ollama_gateway::v1::InferenceRequest* request,
                                    ollama_gateway::v1::InferenceResponse* response) override;

  grpc::ServerWriteReactor<ollama_gateway::v1::InferenceResponse>* PredictStream(
      grpc::CallbackServerContext* context,
      const ollama_gateway::v1::InferenceRequest* request) override;

  grpc::ServerUnaryReactor* Embed(grpc::CallbackServerContext* context,
                                  const ollama_gateway::v1::EmbedRequest* request,
                                  ollama_gateway::v1::EmbedResponse* response) override;

  // From the routing table; answered at once, without a backend request.
  grpc::ServerUnaryReactor* ListModels(grpc::CallbackServerContext* context,
                                       const ollama_gateway::v1::ListModelsRequest* request,
                                       ollama_gateway::v1::ListModelsResponse* response) override;

  grpc::ServerUnaryReactor* Show(grpc::CallbackServerContext* context,
                                 const ollama_gateway::v1::ShowRequest* request,
                                 ollama_gateway::v1::ShowResponse* response) override;

 private:
  CallCore& core_;
  // Null when stream_write_timeout is zero.
  std::unique_ptr<StreamWriteWatchdog> watchdog_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_FRONTDOOR_GRPC_INFERENCE_SERVICE_H_
