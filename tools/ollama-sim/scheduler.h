// Model residency and decode slots the way Ollama's scheduler handles them (docs/ollama-api.md §9):
//
//   - A request for a loaded model takes the fast path: it is assigned at once and then waits
//     on the model's FIFO semaphore of `parallel` decode slots, without limit and never with 503.
//   - A request for a model that is not loaded (or is loading) joins the pending queue, which
//     holds at most `max_queue` requests; past that it is refused (503). Loads run one at a time,
//     in order, each taking the load-delay knob's value; requests that arrive while their model
//     loads wait for that load.
//   - If the request that started a load goes away, the load is aborted; if others still wait for
//     the model, a new load starts for them.
//   - An idle model (no request assigned) unloads after its keep-alive: the latest request's
//     `keep_alive` replaces the model's; 0 unloads as soon as it is idle, negative never.
//
// Not simulated: eviction for memory and OLLAMA_MAX_LOADED_MODELS (any number of models stays
// loaded), reloads for changed runner options.
//
// Thread-safety: every method may be called from any thread (one mutex). Callbacks are posted to
// the executor given with the claim, never run inline.
#ifndef OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_SCHEDULER_H_
#define OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_SCHEDULER_H_

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "tools/ollama-sim/models.h"

namespace og::sim {

class Scheduler {
 public:
  struct Options {
    int parallel = 0;  // decode slots per model; 0 = unlimited
    int max_queue = 512;
    std::chrono::nanoseconds default_keep_alive = std::chrono::minutes(5);
  };
  // One request's hold on a model; opaque to callers.
  struct Claim;
  // A loaded model as /api/ps shows it.
  struct LoadedModel {
    const ModelInfo* model;
    // Seconds since the epoch when it unloads if it stays idle (far future when kept forever).
    std::int64_t expires_at_seconds;
    std::int64_t expires_at_nanos;  // the sub-second part
  };

  // `load_delay` is read at the start of every load (it is a run-time knob).
  Scheduler(boost::asio::io_context& io_context, Options options,
            std::function<std::chrono::milliseconds()> load_delay);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Asks for `model`. Models are told apart by their key and the scheduler keeps its own copy of
  // each one's info, so `model` need only live for the call (the installed models may change at
  // run time; a model that was removed stays loaded until it unloads). Once the model is loaded,
  // `on_loaded` is posted to `executor`; if `wants_slot`, `on_slot` follows once a decode slot is
  // free. `keep_alive`, when given, replaces the model's keep-alive. Returns nullptr, without
  // calling anything, when the model needs a load and the pending queue is full.
  std::shared_ptr<Claim> Acquire(const ModelInfo& model,
                                 std::optional<std::chrono::nanoseconds> keep_alive,
                                 bool wants_slot, boost::asio::any_io_executor executor,
                                 std::function<void()> on_loaded, std::function<void()> on_slot);

  // Gives `claim` back: leaves whatever queue it is in (aborting the load it started), frees its
  // slot, drops its callbacks. Idempotent.
  void Release(const std::shared_ptr<Claim>& claim);

  // An empty request with keep_alive 0: unload `model` now if idle, else when it becomes idle.
  void Unload(const ModelInfo& model);

  // True if `model` (by key) is loaded, or loading: a memory check no longer applies to it.
  bool IsLoaded(const ModelInfo& model) const;

  // The loaded models, latest expiry first. The pointers stay valid as long as the scheduler.
  std::vector<LoadedModel> Loaded() const;

  // Loads completed and unloads done so far.
  std::uint64_t loads() const;
  std::uint64_t unloads() const;

  // Cancels timers and drops every queued claim (their callbacks never run). For shutdown.
  void Shutdown();

 private:
  struct ModelState;

  ModelState& StateOf(const ModelInfo& model);
  void EnqueueLoad(ModelState& m);
  void StartNextLoad();
  void OnLoadDone(ModelState& m, std::uint64_t load_seq);
  void Assign(ModelState& m, const std::shared_ptr<Claim>& claim);
  void GrantSlots(ModelState& m);
  void MaybeIdle(ModelState& m);
  void UnloadNow(ModelState& m);

  boost::asio::io_context& io_context_;
  const Options options_;
  const std::function<std::chrono::milliseconds()> load_delay_;

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<ModelState>> models_;  // every model ever asked for
  std::deque<ModelState*> load_queue_;
  ModelState* loading_ = nullptr;
  int pending_ = 0;  // claims waiting for a load
  std::uint64_t loads_ = 0;
  std::uint64_t unloads_ = 0;
  bool shutdown_ = false;
};

}  // namespace og::sim

#endif  // OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_SCHEDULER_H_
