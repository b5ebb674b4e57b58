// Ollama's model-management endpoints (server/routes.go, images.go, create.go): /api/pull,
// /api/push, /api/create, /api/copy, /api/delete and /api/blobs/:digest, over the ModelStore.
// Pull, push and create answer with Ollama's progress lines (NDJSON, or with "stream":false the
// last one alone), paced on the exchange's executor by the `pull_delay_ms` knob. None of them
// waits for the scheduler: management never queues behind generations, as in Ollama.
// docs/ollama-sim.md, "Model management", lists every reply and error.
//
// Thread-safety: the handlers may run on any thread; the `pull_fail` list has its own mutex.
#ifndef OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_MANAGEMENT_H_
#define OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_MANAGEMENT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "http/server.h"
#include "tools/ollama-sim/store.h"

namespace og::sim {

// Counters of /sim/stats for management: operations that completed (answered "success", or 200
// for copy and delete, 201 for a stored blob).
struct ManagementStats {
  std::atomic<std::uint64_t> pulls{0};
  std::atomic<std::uint64_t> pull_failures{0};  // the `pull_fail` knob struck
  std::atomic<std::uint64_t> pushes{0};
  std::atomic<std::uint64_t> creates{0};
  std::atomic<std::uint64_t> copies{0};
  std::atomic<std::uint64_t> deletes{0};
  std::atomic<std::uint64_t> blobs_stored{0};
};

class Management {
 public:
  // `pull_delay_ms` is read when each pull or push starts.
  Management(ModelStore& store, const std::atomic<int>& pull_delay_ms);

  void HandlePull(const std::shared_ptr<http::Exchange>& exchange);
  void HandlePush(const std::shared_ptr<http::Exchange>& exchange);
  void HandleCreate(const std::shared_ptr<http::Exchange>& exchange);
  void HandleCopy(http::Exchange& exchange);
  void HandleDelete(http::Exchange& exchange);
  // HEAD and POST /api/blobs/:digest.
  void HandleBlob(http::Exchange& exchange);

  // The `pull_fail` knob: model keys whose pull fails as if the registry had no such model; "*"
  // makes every pull fail.
  void SetPullFail(std::vector<std::string> names);
  std::vector<std::string> pull_fail() const;

  const ManagementStats& stats() const { return stats_; }

 private:
  struct Step;
  class Progress;

  bool PullFails(const ModelInfo& model) const;
  // The steps of pulling `model` from the simulated registry (installing it at "writing
  // manifest").
  void AppendPull(std::vector<Step>& steps, const ModelInfo& model);

  ModelStore& store_;
  const std::atomic<int>& pull_delay_ms_;
  ManagementStats stats_;
  mutable std::mutex pull_fail_mu_;
  std::vector<std::string> pull_fail_;  // as set; guarded by pull_fail_mu_
};

// Where Ollama's files would be (OLLAMA_MODELS of a Linux service install), for the texts of
// Ollama's file errors.
inline constexpr std::string_view kModelsDir = "/usr/share/ollama/.ollama/models";

}  // namespace og::sim

#endif  // OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_MANAGEMENT_H_
