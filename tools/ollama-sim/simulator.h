// The Ollama API simulator: routes HTTP requests to the endpoints of docs/ollama-api.md (§2-§9),
// runs generations against the Scheduler, and exposes run-time knobs (/sim/config) and counters
// (/sim/stats) so a test can break a backend mid-run. docs/ollama-sim.md is the user's guide.
//
// Thread-safety: `Handle` may run on many threads at once (one per io_context thread); knobs and
// counters are atomics, the scheduler, the list of hung requests and the model store have their
// own locks.
#ifndef OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_SIMULATOR_H_
#define OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_SIMULATOR_H_

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "http/server.h"
#include "tools/ollama-sim/compat.h"
#include "tools/ollama-sim/flags.h"
#include "tools/ollama-sim/management.h"
#include "tools/ollama-sim/models.h"
#include "tools/ollama-sim/request_json.h"
#include "tools/ollama-sim/scheduler.h"
#include "tools/ollama-sim/store.h"

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
  std::atomic<int> api_status{0};          // 0 = off; else /api/version and /api/tags answer it
  std::atomic<int> api_delay_ms{0};        // delay before answering /api/version and /api/tags
  std::atomic<int> ps_delay_ms{0};         // delay before answering /api/ps
  // Malformed streams (generate/chat, streamed replies; 0 = off):
  std::atomic<int> garbage_after_tokens{0};          // a line that is not JSON after N tokens
  std::atomic<int> truncate_after_tokens{0};         // half a line, then the last chunk
  std::atomic<int> huge_line_bytes{0};               // the first token's text padded to N bytes
  std::atomic<int> close_mid_chunk_after_tokens{0};  // half a chunk, then FIN
  std::atomic<bool> ignore_num_predict{false};       // generate `tokens` whatever num_predict says
  std::atomic<int> pull_delay_ms{100};               // spread over a pull's or push's lines
  std::atomic<std::int64_t> memory_bytes{0};         // 0 = unlimited; else larger models fail
  // The `models`, `digest_salt` and `model_sizes` knobs live in the ModelStore, `pull_fail` in
  // Management, `content_type` in Simulator (each under a mutex).
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
  std::atomic<std::uint64_t> probe_generations{0};  // valid generate requests with num_predict 1
  std::atomic<std::uint64_t> memory_failures{0};    // loads refused by `memory_bytes`
  // Requests per known path (any method), parallel to kCountedPaths.
  // `/v1/models` counts `/v1/models/{model}` too, `/api/blobs` every `/api/blobs/{digest}`.
  static constexpr std::array<std::string_view, 21> kCountedPaths = {"/",
                                                                     "/api/version",
                                                                     "/api/tags",
                                                                     "/api/ps",
                                                                     "/api/show",
                                                                     "/api/generate",
                                                                     "/api/chat",
                                                                     "/api/embed",
                                                                     "/api/embeddings",
                                                                     "/v1/chat/completions",
                                                                     "/v1/completions",
                                                                     "/v1/embeddings",
                                                                     "/v1/models",
                                                                     "/v1/responses",
                                                                     "/v1/messages",
                                                                     "/api/pull",
                                                                     "/api/push",
                                                                     "/api/create",
                                                                     "/api/copy",
                                                                     "/api/delete",
                                                                     "/api/blobs"};
  std::array<std::atomic<std::uint64_t>, kCountedPaths.size()> requests_by_path{};
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
  // The installed models now: --models, or the `models` knob's list while it is set. A request
  // takes one snapshot and keeps it (ModelInfo pointers into it stay valid).
  std::shared_ptr<const Catalog> catalog() const;
  // The Content-Type of a generate/chat reply: `normal`, unless the `content_type` knob
  // overrides it.
  std::string ReplyContentType(std::string_view normal) const;
  // Parks a generation while `hang` is on; it is resumed (on its executor) when hang goes off.
  // Returns false if hang went off meanwhile (the caller just continues).
  bool Park(const std::shared_ptr<Generation>& generation);
  // Ollama's load-time refusal of a model larger than the `memory_bytes` knob (0 = unlimited), or
  // nullopt when it may load. Loaded models are never refused.
  std::optional<std::string> MemoryError(const ModelInfo& model);
  // Counts a generation start/end in the stats.
  void CountStart();
  void CountEnd(std::atomic<std::uint64_t>& outcome);

  // The JSON bodies of /sim/stats and /sim/config.
  std::string StatsJson() const;
  std::string KnobsJson() const;
  // Applies a /sim/config body: all knobs or none. The error names the bad knob.
  absl::Status ApplyConfig(std::string_view body);

 private:
  void HandleVersion(http::Exchange& exchange);
  void HandleTags(http::Exchange& exchange);
  void HandlePs(http::Exchange& exchange);
  // Runs `respond` after `delay_ms` on the exchange's strand (at once for 0); never if the client
  // leaves first.
  void AnswerAfter(const std::shared_ptr<http::Exchange>& exchange, int delay_ms,
                   std::function<void(http::Exchange&)> respond);
  // The api_status knob's failure answer; false (nothing sent) when the knob is off.
  bool RespondApiFailure(http::Exchange& exchange);
  void HandleShow(http::Exchange& exchange);
  void HandleGenerate(const std::shared_ptr<http::Exchange>& exchange, bool chat);
  // A /v1 generating endpoint: the translated request runs as a native one, its reply
  // rewritten by the adapter (compat.h).
  void HandleCompat(const std::shared_ptr<http::Exchange>& exchange, CompatRequest compat);
  // Validates `body` as a native request and starts it; errors go through `adapter` when set.
  void StartGeneration(const std::shared_ptr<http::Exchange>& exchange, std::string_view body,
                       ReplyKind kind, std::unique_ptr<ReplyAdapter> adapter);
  void HandleEmbed(const std::shared_ptr<http::Exchange>& exchange, bool legacy);
  // POST /v1/embeddings.
  void HandleOpenAIEmbeddings(const std::shared_ptr<http::Exchange>& exchange);
  // GET /v1/models and /v1/models/{model}.
  void HandleOpenAIModels(http::Exchange& exchange);
  // Waits for `request`'s model and answers with `reply` (or 503 busy through `busy_body`).
  void RunEmbed(
      const std::shared_ptr<http::Exchange>& exchange, EmbedRequest request,
      std::function<std::string(const EmbedRequest&, std::chrono::steady_clock::time_point,
                                std::chrono::steady_clock::time_point)>
          reply,
      std::string_view content_type, std::string busy_body);
  void HandleSimConfig(http::Exchange& exchange);
  void ResumeParked();

  const SimOptions options_;
  ModelStore store_;
  mutable std::mutex content_type_mu_;
  std::string content_type_;  // the `content_type` knob; guarded by content_type_mu_
  const std::string first_token_;
  const std::string started_at_;                 // modified_at of every model
  const std::int64_t started_unix_ = UnixNow();  // the same, for the /v1 `created` fields
  Knobs knobs_;
  Stats stats_;
  Scheduler scheduler_;
  Management management_;

  std::mutex parked_mu_;
  std::vector<std::weak_ptr<Generation>> parked_;

  // The bodies of the last kRecentRequests POSTs to /api/*, newest last, for GET /sim/requests:
  // what a gateway actually forwarded, so a test can check it.
  static constexpr std::size_t kRecentRequests = 32;
  static constexpr std::size_t kRecentBodyBytes = 64 << 10;
  std::mutex recent_mu_;
  std::deque<std::pair<std::string, std::string>> recent_;  // (path, body); guarded by recent_mu_
};

}  // namespace og::sim

#endif  // OLLAMA_GATEWAY_TOOLS_OLLAMA_SIM_SIMULATOR_H_
