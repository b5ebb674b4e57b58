// Rollouts: a model name callers use split between a baseline and a candidate target by weight,
// the weight raised step by step, and the candidate compared with the baseline so that a worse
// one is rolled back at once (docs/rollouts.md).
//
// A Rollout is the state of one configured rollout. The request path reads its weight and
// records each call's outcome without locks; the controller (rollout_controller.h) moves its
// schedule in time, feeds it verdicts, and the admin API acts on it, under its mutex. The pure
// parts (Analyze, the schedule's transitions, the quantiles) take time and numbers as arguments,
// so tests drive them in simulated time.
#ifndef OLLAMA_GATEWAY_GATEWAY_ROUTING_ROLLOUT_H_
#define OLLAMA_GATEWAY_GATEWAY_ROUTING_ROLLOUT_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "common/clock.h"
#include "gateway/config/config.h"

namespace og {

enum class RolloutTarget { kBaseline = 0, kCandidate = 1 };
// "baseline", "candidate": the `target` label.
std::string_view RolloutTargetName(RolloutTarget target);

enum class RolloutPhase {
  kRunning,   // stepping through its schedule
  kHolding,   // at a fixed weight (no steps, or the last step with then: hold); analysis runs
  kPaused,    // an operator paused it: the weight holds, no steps, no analysis
  kPromoted,  // every call goes to the candidate
  kAborted,   // every call goes to the baseline
};
std::string_view RolloutPhaseName(RolloutPhase phase);
std::optional<RolloutPhase> RolloutPhaseFromName(std::string_view name);

// The upper bounds (seconds) of the latency buckets, shared by the gateway_rollout_* histograms
// and the local analysis, so both estimate a p99 alike.
inline constexpr std::array<double, 16> kRolloutLatencyBounds = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
using RolloutBuckets = std::array<std::uint64_t, kRolloutLatencyBounds.size() + 1>;

// The q-quantile of a bucketed distribution, interpolated inside its bucket as Prometheus's
// histogram_quantile does (the last, unbounded bucket answers its lower bound); nullopt without
// samples.
std::optional<double> BucketQuantile(double q, const RolloutBuckets& counts);

// What one target's calls did over a window.
struct TargetFigures {
  double calls = 0;
  double errors = 0;
  double error_rate = 0;
  std::optional<double> ttft_p99;           // seconds
  std::optional<double> token_latency_p99;  // seconds per output token after the first
};

struct Verdict {
  enum class Kind { kNone, kPass, kFail, kInsufficient, kUnavailable };
  Kind kind = Kind::kNone;
  // For kFail: "error_rate", "ttft" or "token_latency".
  std::string reason;
  // What was compared, in words (for the log, the admin view).
  std::string detail;
  TargetFigures baseline;
  TargetFigures candidate;
  std::string source;  // "local" or "prometheus"
  std::chrono::system_clock::time_point time{};
};
std::string_view VerdictName(Verdict::Kind kind);

// Compares the candidate with the baseline by `options`' margins: kInsufficient below
// min_calls candidate calls, kFail at the first margin passed (error rate, then time to first
// token, then per-token latency), else kPass. A figure either side lacks is not compared.
Verdict Analyze(const RolloutAnalysisConfig& options, const TargetFigures& baseline,
                const TargetFigures& candidate);

// A call's outcome counts as an error for the analysis when the target failed it: UNAVAILABLE,
// INTERNAL, UNKNOWN, DATA_LOSS, DEADLINE_EXCEEDED or UNIMPLEMENTED (HTTP's 5xx).
bool IsRolloutError(absl::StatusCode code);

// Lock-free counters of one target's calls, recorded on the request path.
class TargetStats {
 public:
  struct Snapshot {
    std::uint64_t calls = 0;
    std::uint64_t errors = 0;
    RolloutBuckets ttft{};
    RolloutBuckets token_latency{};
    // The figures of the calls between `start` and this snapshot.
    TargetFigures Since(const Snapshot& start) const;
  };
  void Record(bool error, std::optional<double> ttft_seconds,
              std::optional<double> token_latency_seconds);
  Snapshot Take() const;

 private:
  std::atomic<std::uint64_t> calls_{0};
  std::atomic<std::uint64_t> errors_{0};
  std::array<std::atomic<std::uint64_t>, kRolloutLatencyBounds.size() + 1> ttft_{};
  std::array<std::atomic<std::uint64_t>, kRolloutLatencyBounds.size() + 1> token_latency_{};
};

// Where a rollout's schedule stands: what the state file keeps.
struct RolloutProgress {
  RolloutPhase phase = RolloutPhase::kRunning;
  // 1.. with steps; 0 without.
  int step = 0;
  int weight = 0;  // the candidate's percentage
  // When the current step (or the phase) began.
  Clock::TimePoint step_started{};
  // An analysis passed since the step began (with analysis, a step needs one to advance).
  bool step_passed = false;
  // Before a pause: the phase to resume.
  RolloutPhase paused_from = RolloutPhase::kRunning;
  // Why it was aborted ("error_rate", "ttft", "token_latency", "manual"), and in words.
  std::string reason;
  std::string reason_detail;
};

// The schedule's transitions, pure. Each returns a line for the log when something changed, or
// "" when nothing did.
RolloutProgress StartProgress(const RolloutConfig& config, Clock::TimePoint now);
std::string AdvanceSchedule(const RolloutConfig& config, Clock::TimePoint now,
                            RolloutProgress* progress);
// A verdict of the analysis: a failure aborts (running, holding); a pass lets the step advance.
std::string ApplyVerdict(const Verdict& verdict, RolloutProgress* progress);

// An operator's action (pause, resume, promote, abort) on `progress`; false with `*why_not`
// when it does not apply in the current phase.
bool ApplyAction(std::string_view action, const RolloutConfig& config, Clock::TimePoint now,
                 RolloutProgress* progress, std::string* why_not);

// The definition a rollout's state belongs to: the same text for the same rollout, so state is
// kept across reloads and restarts only while the definition is unchanged.
std::string RolloutDefinition(const RolloutConfig& config);

// The time to the next step, if the schedule has one pending.
std::optional<std::chrono::milliseconds> UntilNextStep(const RolloutConfig& config,
                                                       const RolloutProgress& progress,
                                                       Clock::TimePoint now);

// One configured rollout. Thread-safe.
class Rollout {
 public:
  Rollout(RolloutConfig config, Clock::TimePoint now);

  const RolloutConfig& config() const { return config_; }
  const std::string& name() const { return config_.model; }
  const std::string& definition() const { return definition_; }

  // Request path, lock-free. Which target a call goes to: by a hash of `key` (and the
  // rollout's name) when it has one, so a key stays on one target while the weight holds and
  // only moves to the candidate as it rises; else by `random`.
  RolloutTarget Assign(std::string_view key, std::uint64_t random) const;
  void Record(RolloutTarget target, bool error, std::optional<double> ttft_seconds,
              std::optional<double> token_latency_seconds);
  int weight() const { return weight_.load(std::memory_order_relaxed); }
  const TargetStats& stats(RolloutTarget target) const { return stats_[static_cast<int>(target)]; }

  // The schedule, under the rollout's lock.
  RolloutProgress progress() const;
  // Replaces the progress (a restored state file); the weight follows.
  void Restore(const RolloutProgress& progress);
  // Moves the schedule to `now`; a log line when a step was taken, or "".
  std::string Advance(Clock::TimePoint now);
  // Whether an analysis is due at `now` (with analysis on, running or holding).
  bool AnalysisDue(Clock::TimePoint now) const;
  // How long the current analysis window has been open (at least analysis.interval): PromQL's
  // $window.
  std::chrono::milliseconds WindowLength(Clock::TimePoint now) const;
  // The local numbers of the current analysis window.
  void LocalFigures(TargetFigures* baseline, TargetFigures* candidate) const;
  // The verdict of an analysis at `now`; a log line when it changed the schedule.
  std::string Conclude(Verdict verdict, Clock::TimePoint now);
  Verdict last_verdict() const;
  bool Act(std::string_view action, Clock::TimePoint now, std::string* why_not);
  // Bumped on every change of the progress (for the state file).
  std::uint64_t version() const { return version_.load(std::memory_order_relaxed); }

 private:
  void Publish();  // requires mu_

  const RolloutConfig config_;
  const std::string definition_;
  std::atomic<int> weight_{0};
  std::array<TargetStats, 2> stats_;
  std::atomic<std::uint64_t> version_{0};

  mutable std::mutex mu_;
  RolloutProgress progress_;
  // The analysis window: the counters when it opened, and when the next analysis is due.
  std::array<TargetStats::Snapshot, 2> window_start_;
  Clock::TimePoint window_opened_{};
  Clock::TimePoint next_analysis_{};
  Verdict last_verdict_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_ROUTING_ROLLOUT_H_
