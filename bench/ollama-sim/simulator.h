// The Ollama API simulator: routes HTTP requests to the endpoints of ollama-api.md (§2-§9), runs
// generations against the Scheduler, and exposes run-time knobs (/sim/config) and counters
// (/sim/stats) so a test can break a backend mid-run. docs/ollama-sim.md is the user's guide.
//
// Thread-safety: `Handle` may run on many threads at once (one per io_context thread); knobs and
// counters are atomics, the scheduler and the list of hung requests have their own locks.
#ifndef OLLAMA_GATEWAY_BENCH_OLLAMA_SIM_SIMULATOR_H_
#define OLLAMA_GATEWAY_BENCH_OLLAMA_SIM_SIMULATOR_H_

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "bench/ollama-sim/flags.h"
#include "bench/ollama-sim/models.h"
#include "bench/ollama-sim/scheduler.h"
#include "http/server.h"

namespace og::sim {

class Generation;

// Behaviour that POST /sim/config changes while the simulator runs.
struct Knobs {
  std::atomic<int> token_delay_ms{0};
  std::atomic<int> tokens{20};
  std::atomic<int> load_delay_ms{0};
  std::atomic<int> fail_status{0};         // 0 = off; else generate/chat answer this status
  std::atomic<int> fail_after_tokens{0};   // 0 = off; else an {"error"} line after N tokens
  std::atomic<bool> hang{false};           // accept generate/chat but answer nothing
  std::atomic<int> reset_after_tokens{0};  // 0 = off; else reset the connection after N tokens
};

// Counters GET /sim/stats reports. A generation is a generate/chat request with a prompt that
// passed validation; it ends exactly once as completed, aborted (client left) or failed
// (503 busy or an injected failure), so in_flight = started - completed - aborted - failed.
struct Stats {
  std::atomic<std::uint64_t> requests{0};  // every request except /sim/*
  std::atomic<std::uint64_t> generations_started{0};
  std::atomic<std::uint64_t> generations_completed{0};
  std::atomic<std::uint64_t> generations_aborted{0};
  std::atomic<std::uint64_t> generations_failed{0};
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::int64_t> max_in_flight_seen{0};
  std::atomic<std::uint64_t> busy_rejections{0};    // 503 because the pending queue was full
  std::atomic<std::uint64_t> injected_failures{0};  // fail_status answers
};

class Simulator {
 public:
  Simulator(boost::asio::io_context& io_context, SimOptions options);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // The og::http handler.
  void Handle(std::shared_ptr<http::Exchange> exchange);

  // Releases hung requests and stops the scheduler's timers, so the io_context can run dry once
  // the HTTP server has stopped too.
  void Shutdown();

  // For generations.
  const SimOptions& options() const { return options_; }
  const std::string& first_token() const { return first_token_; }
  Knobs& knobs() { return knobs_; }
  Stats& stats() { return stats_; }
  Scheduler& scheduler() { return scheduler_; }
  // Parks a generation while `hang` is on; it is resumed (on its executor) when hang goes off.
  // Returns false if hang went off meanwhile (the caller just continues).
  bool Park(const std::shared_ptr<Generation>& generation);
  // Counts a generation start/end in the stats.
  void CountStart();
  void CountEnd(std::atomic<std::uint64_t>& outcome);

  // The JSON bodies of /sim/stats and /sim/config.
  std::string StatsJson() const;
  std::string KnobsJson() const;
  // Applies a /sim/config body: all knobs or none. The error names the bad knob.
  absl::Status ApplyConfig(std::string_view body);

 private:
  void HandleRoot(http::Exchange& exchange);
  void HandleTags(http::Exchange& exchange);
  void HandlePs(http::Exchange& exchange);
  void HandleShow(http::Exchange& exchange);
  void HandleGenerate(const std::shared_ptr<http::Exchange>& exchange, bool chat);
  void HandleEmbed(const std::shared_ptr<http::Exchange>& exchange, bool legacy);
  void HandleSimConfig(http::Exchange& exchange);
  void ResumeParked();

  const SimOptions options_;
  const Catalog catalog_;
  const std::string first_token_;
  const std::string started_at_;  // modified_at of every model
  Knobs knobs_;
  Stats stats_;
  Scheduler scheduler_;

  std::mutex parked_mu_;
  std::vector<std::weak_ptr<Generation>> parked_;
};

}  // namespace og::sim

#endif  // OLLAMA_GATEWAY_BENCH_OLLAMA_SIM_SIMULATOR_H_
