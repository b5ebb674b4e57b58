#include "gateway/routing/rollout.h"

#include <algorithm>
#include <cmath>

#include "fmt/format.h"
#include "gateway/config/balancer_section.h"

namespace og {
namespace {

// Weights are percentages; assignment draws among this many slots for finer hashing.
constexpr std::uint64_t kSlots = 10000;

// FNV-1a, then a finalizer: stable across processes and machines, so every replica puts a key on
// the same target.
std::uint64_t StableHash(std::string_view a, std::string_view b) {
  std::uint64_t h = 14695981039346656037ull;
  auto mix = [&h](std::string_view text) {
    for (const char c : text) {
      h ^= static_cast<unsigned char>(c);
      h *= 1099511628211ull;
    }
  };
  mix(a);
  mix(std::string_view("\0", 1));
  mix(b);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

std::size_t BucketOf(double seconds) {
  const auto it =
      std::lower_bound(kRolloutLatencyBounds.begin(), kRolloutLatencyBounds.end(), seconds);
  return static_cast<std::size_t>(it - kRolloutLatencyBounds.begin());
}

std::string Seconds(const std::optional<double>& s) {
  return s ? fmt::format("{:.3f}s", *s) : std::string("n/a");
}

// A latency margin: the candidate's p99 past both the ratio and the absolute increase.
bool Slower(const std::optional<double>& baseline, const std::optional<double>& candidate,
            double ratio, std::chrono::milliseconds min_increase) {
  if (!baseline || !candidate) return false;
  return *candidate > *baseline * ratio &&
         *candidate - *baseline > std::chrono::duration<double>(min_increase).count();
}

void Reset(RolloutProgress* p, RolloutPhase phase, int weight) {
  p->phase = phase;
  p->weight = weight;
}

}  // namespace

std::string_view RolloutTargetName(RolloutTarget target) {
  return target == RolloutTarget::kCandidate ? "candidate" : "baseline";
}

std::string_view RolloutPhaseName(RolloutPhase phase) {
  switch (phase) {
    case RolloutPhase::kRunning:
      return "running";
    case RolloutPhase::kHolding:
      return "holding";
    case RolloutPhase::kPaused:
      return "paused";
    case RolloutPhase::kPromoted:
      return "promoted";
    case RolloutPhase::kAborted:
      return "aborted";
  }
  return "running";
}

std::optional<RolloutPhase> RolloutPhaseFromName(std::string_view name) {
  for (RolloutPhase phase : {RolloutPhase::kRunning, RolloutPhase::kHolding, RolloutPhase::kPaused,
                             RolloutPhase::kPromoted, RolloutPhase::kAborted}) {
    if (RolloutPhaseName(phase) == name) return phase;
  }
  return std::nullopt;
}

std::string_view VerdictName(Verdict::Kind kind) {
  switch (kind) {
    case Verdict::Kind::kNone:
      return "none";
    case Verdict::Kind::kPass:
      return "pass";
    case Verdict::Kind::kFail:
      return "fail";
    case Verdict::Kind::kInsufficient:
      return "insufficient";
    case Verdict::Kind::kUnavailable:
      return "unavailable";
  }
  return "none";
}

std::optional<double> BucketQuantile(double q, const RolloutBuckets& counts) {
  std::uint64_t total = 0;
  for (const std::uint64_t c : counts) total += c;
  if (total == 0) return std::nullopt;
  const double rank = q * static_cast<double>(total);
  std::uint64_t below = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0 || static_cast<double>(below + counts[i]) < rank) {
      below += counts[i];
      continue;
    }
    const double lower = i == 0 ? 0 : kRolloutLatencyBounds[i - 1];
    if (i == kRolloutLatencyBounds.size()) return lower;
    const double upper = kRolloutLatencyBounds[i];
    const double within = (rank - static_cast<double>(below)) / static_cast<double>(counts[i]);
    return lower + (upper - lower) * std::clamp(within, 0.0, 1.0);
  }
  return kRolloutLatencyBounds.back();
}

bool IsRolloutError(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kUnknown:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kUnimplemented:
    case absl::StatusCode::kInternal:
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDataLoss:
      return true;
    default:
      return false;
  }
}

Verdict Analyze(const RolloutAnalysisConfig& options, const TargetFigures& baseline,
                const TargetFigures& candidate) {
  Verdict verdict;
  verdict.baseline = baseline;
  verdict.candidate = candidate;
  if (candidate.calls < static_cast<double>(options.min_calls)) {
    verdict.kind = Verdict::Kind::kInsufficient;
    verdict.detail = fmt::format("{:.0f} candidate calls of the {} a verdict needs",
                                 candidate.calls, options.min_calls);
    return verdict;
  }
  if (candidate.error_rate - baseline.error_rate > options.max_error_rate_increase) {
    verdict.kind = Verdict::Kind::kFail;
    verdict.reason = "error_rate";
    verdict.detail = fmt::format(
        "candidate error rate {:.1f}% ({:.0f} of {:.0f} calls) against the baseline's {:.1f}% "
        "({:.0f} calls): more than {:.1f} points above",
        100 * candidate.error_rate, candidate.errors, candidate.calls, 100 * baseline.error_rate,
        baseline.calls, 100 * options.max_error_rate_increase);
    return verdict;
  }
  if (Slower(baseline.ttft_p99, candidate.ttft_p99, options.max_ttft_p99_ratio,
             options.min_ttft_p99_increase)) {
    verdict.kind = Verdict::Kind::kFail;
    verdict.reason = "ttft";
    verdict.detail = fmt::format(
        "candidate p99 time to first token {} against the baseline's {}: more than {}x and {} ms "
        "slower",
        Seconds(candidate.ttft_p99), Seconds(baseline.ttft_p99), options.max_ttft_p99_ratio,
        options.min_ttft_p99_increase.count());
    return verdict;
  }
  if (Slower(baseline.token_latency_p99, candidate.token_latency_p99,
             options.max_token_latency_p99_ratio, options.min_token_latency_p99_increase)) {
    verdict.kind = Verdict::Kind::kFail;
    verdict.reason = "token_latency";
    verdict.detail = fmt::format(
        "candidate p99 time per token {} against the baseline's {}: more than {}x and {} ms "
        "slower",
        Seconds(candidate.token_latency_p99), Seconds(baseline.token_latency_p99),
        options.max_token_latency_p99_ratio, options.min_token_latency_p99_increase.count());
    return verdict;
  }
  verdict.kind = Verdict::Kind::kPass;
  verdict.detail = fmt::format(
      "candidate error rate {:.1f}%, p99 time to first token {}, per token {}; baseline {:.1f}%, "
      "{}, {}",
      100 * candidate.error_rate, Seconds(candidate.ttft_p99), Seconds(candidate.token_latency_p99),
      100 * baseline.error_rate, Seconds(baseline.ttft_p99), Seconds(baseline.token_latency_p99));
  return verdict;
}

void TargetStats::Record(bool error, std::optional<double> ttft_seconds,
                         std::optional<double> token_latency_seconds) {
  calls_.fetch_add(1, std::memory_order_relaxed);
  if (error) errors_.fetch_add(1, std::memory_order_relaxed);
  if (ttft_seconds) ttft_[BucketOf(*ttft_seconds)].fetch_add(1, std::memory_order_relaxed);
  if (token_latency_seconds) {
    token_latency_[BucketOf(*token_latency_seconds)].fetch_add(1, std::memory_order_relaxed);
  }
}

TargetStats::Snapshot TargetStats::Take() const {
  Snapshot s;
  s.calls = calls_.load(std::memory_order_relaxed);
  s.errors = errors_.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < s.ttft.size(); ++i) {
    s.ttft[i] = ttft_[i].load(std::memory_order_relaxed);
    s.token_latency[i] = token_latency_[i].load(std::memory_order_relaxed);
  }
  return s;
}

TargetFigures TargetStats::Snapshot::Since(const Snapshot& start) const {
  TargetFigures f;
  f.calls = static_cast<double>(calls - start.calls);
  f.errors = static_cast<double>(errors - start.errors);
  f.error_rate = f.calls > 0 ? f.errors / f.calls : 0;
  RolloutBuckets ttft_delta{};
  RolloutBuckets token_delta{};
  for (std::size_t i = 0; i < ttft_delta.size(); ++i) {
    ttft_delta[i] = ttft[i] - start.ttft[i];
    token_delta[i] = token_latency[i] - start.token_latency[i];
  }
  f.ttft_p99 = BucketQuantile(0.99, ttft_delta);
  f.token_latency_p99 = BucketQuantile(0.99, token_delta);
  return f;
}

RolloutProgress StartProgress(const RolloutConfig& config, Clock::TimePoint now) {
  RolloutProgress p;
  p.step_started = now;
  if (config.steps.enabled) {
    p.phase = RolloutPhase::kRunning;
    p.step = 1;
    p.weight = config.steps.start;
  } else {
    p.phase = RolloutPhase::kHolding;
    p.weight = config.weight;
  }
  return p;
}

std::optional<std::chrono::milliseconds> UntilNextStep(const RolloutConfig& config,
                                                       const RolloutProgress& progress,
                                                       Clock::TimePoint now) {
  if (progress.phase != RolloutPhase::kRunning || !config.steps.enabled) return std::nullopt;
  const auto left = progress.step_started + config.steps.interval - now;
  return std::max(std::chrono::milliseconds(0),
                  std::chrono::duration_cast<std::chrono::milliseconds>(left));
}

std::string AdvanceSchedule(const RolloutConfig& config, Clock::TimePoint now, RolloutProgress* p) {
  if (p->phase != RolloutPhase::kRunning || !config.steps.enabled) return "";
  if (now - p->step_started < config.steps.interval) return "";
  // With analysis a step advances only on a pass: too few calls hold the weight.
  if (config.analysis.enabled && !p->step_passed) return "";
  const RolloutStepsConfig& steps = config.steps;
  if (p->weight >= steps.max) {
    if (steps.promote) {
      Reset(p, RolloutPhase::kPromoted, 100);
      return fmt::format("rollout '{}' promoted after step {}: every call goes to {}", config.model,
                         p->step, config.candidate.model);
    }
    p->phase = RolloutPhase::kHolding;
    return fmt::format(
        "rollout '{}' holds at {}% (its last step); promote it with POST "
        "/admin/rollouts/{}/promote",
        config.model, p->weight, config.model);
  }
  ++p->step;
  p->weight = std::min(steps.start + (p->step - 1) * steps.step, steps.max);
  p->step_started = now;
  p->step_passed = false;
  return fmt::format("rollout '{}' step {}: {}% of calls to {}", config.model, p->step, p->weight,
                     config.candidate.model);
}

std::string ApplyVerdict(const Verdict& verdict, RolloutProgress* p) {
  if (p->phase != RolloutPhase::kRunning && p->phase != RolloutPhase::kHolding) return "";
  if (verdict.kind == Verdict::Kind::kPass) p->step_passed = true;
  if (verdict.kind != Verdict::Kind::kFail) return "";
  Reset(p, RolloutPhase::kAborted, 0);
  p->reason = verdict.reason;
  p->reason_detail = verdict.detail;
  return verdict.detail;
}

bool ApplyAction(std::string_view action, const RolloutConfig& config, Clock::TimePoint now,
                 RolloutProgress* p, std::string* why_not) {
  const std::string phase(RolloutPhaseName(p->phase));
  if (action == "pause") {
    if (p->phase != RolloutPhase::kRunning && p->phase != RolloutPhase::kHolding) {
      *why_not = fmt::format("rollout '{}' is {}: only a running or holding rollout pauses",
                             config.model, phase);
      return false;
    }
    p->paused_from = p->phase;
    p->phase = RolloutPhase::kPaused;
    return true;
  }
  if (action == "resume") {
    if (p->phase != RolloutPhase::kPaused) {
      *why_not =
          fmt::format("rollout '{}' is {}, not paused{}", config.model, phase,
                      p->phase == RolloutPhase::kAborted || p->phase == RolloutPhase::kPromoted
                          ? "; to run it again, change its definition and reload the config"
                          : "");
      return false;
    }
    // The step starts over: its analysis needs a window at its own weight.
    p->phase = p->paused_from;
    p->step_started = now;
    p->step_passed = false;
    return true;
  }
  if (action == "promote") {
    if (p->phase == RolloutPhase::kPromoted) {
      *why_not = fmt::format("rollout '{}' is promoted already", config.model);
      return false;
    }
    Reset(p, RolloutPhase::kPromoted, 100);
    p->reason.clear();
    p->reason_detail.clear();
    return true;
  }
  if (action == "abort") {
    if (p->phase == RolloutPhase::kAborted) {
      *why_not = fmt::format("rollout '{}' is aborted already", config.model);
      return false;
    }
    Reset(p, RolloutPhase::kAborted, 0);
    p->reason = "manual";
    p->reason_detail = "aborted by an operator (POST /admin/rollouts/" + config.model + "/abort)";
    return true;
  }
  *why_not = fmt::format("unknown action '{}' (pause, resume, promote or abort)", action);
  return false;
}

std::string RolloutDefinition(const RolloutConfig& c) {
  const RolloutAnalysisConfig& a = c.analysis;
  auto target = [](const RolloutTargetConfig& t) {
    return fmt::format("{}@{}", t.canonical_model, fmt::join(t.backends, ","));
  };
  return fmt::format(
      "{}|{}|{}|{}|w{}|s{}:{}:{}:{}:{}:{}|a{}:{}:{}:{}:{}:{}:{}:{}:{}:{}|{}|{}|{}|{}",
      c.canonical_model, HashKeySourceText(c.hash_key), target(c.baseline), target(c.candidate),
      c.weight, c.steps.enabled, c.steps.start, c.steps.step, c.steps.max, c.steps.interval.count(),
      c.steps.promote, a.enabled, a.interval.count(), a.min_calls, a.max_error_rate_increase,
      a.max_ttft_p99_ratio, a.min_ttft_p99_increase.count(), a.max_token_latency_p99_ratio,
      a.min_token_latency_p99_increase.count(), a.prometheus_url, a.timeout.count(), a.calls_query,
      a.error_rate_query, a.ttft_p99_query, a.token_latency_p99_query);
}

Rollout::Rollout(RolloutConfig config, Clock::TimePoint now)
    : config_(std::move(config)), definition_(RolloutDefinition(config_)) {
  std::lock_guard<std::mutex> lock(mu_);
  progress_ = StartProgress(config_, now);
  window_opened_ = now;
  next_analysis_ = now + config_.analysis.interval;
  Publish();
}

RolloutTarget Rollout::Assign(std::string_view key, std::uint64_t random) const {
  const std::uint64_t slot = (key.empty() ? random : StableHash(config_.model, key)) % kSlots;
  const auto threshold = static_cast<std::uint64_t>(weight()) * (kSlots / 100);
  return slot < threshold ? RolloutTarget::kCandidate : RolloutTarget::kBaseline;
}

void Rollout::Record(RolloutTarget target, bool error, std::optional<double> ttft_seconds,
                     std::optional<double> token_latency_seconds) {
  stats_[static_cast<int>(target)].Record(error, ttft_seconds, token_latency_seconds);
}

void Rollout::Publish() {
  weight_.store(progress_.weight, std::memory_order_relaxed);
  version_.fetch_add(1, std::memory_order_relaxed);
}

RolloutProgress Rollout::progress() const {
  std::lock_guard<std::mutex> lock(mu_);
  return progress_;
}

void Rollout::Restore(const RolloutProgress& progress) {
  std::lock_guard<std::mutex> lock(mu_);
  progress_ = progress;
  Publish();
}

std::string Rollout::Advance(Clock::TimePoint now) {
  std::lock_guard<std::mutex> lock(mu_);
  const int step = progress_.step;
  std::string line = AdvanceSchedule(config_, now, &progress_);
  if (line.empty()) return line;
  if (progress_.step != step) {
    // A new step: its analysis covers calls at its own weight.
    window_start_ = {stats_[0].Take(), stats_[1].Take()};
    window_opened_ = now;
    next_analysis_ = now + config_.analysis.interval;
  }
  Publish();
  return line;
}

bool Rollout::AnalysisDue(Clock::TimePoint now) const {
  std::lock_guard<std::mutex> lock(mu_);
  const bool live =
      progress_.phase == RolloutPhase::kRunning || progress_.phase == RolloutPhase::kHolding;
  return config_.analysis.enabled && live && now >= next_analysis_;
}

std::chrono::milliseconds Rollout::WindowLength(Clock::TimePoint now) const {
  std::lock_guard<std::mutex> lock(mu_);
  return std::max(config_.analysis.interval,
                  std::chrono::duration_cast<std::chrono::milliseconds>(now - window_opened_));
}

void Rollout::LocalFigures(TargetFigures* baseline, TargetFigures* candidate) const {
  std::lock_guard<std::mutex> lock(mu_);
  *baseline = stats_[0].Take().Since(window_start_[0]);
  *candidate = stats_[1].Take().Since(window_start_[1]);
}

std::string Rollout::Conclude(Verdict verdict, Clock::TimePoint now) {
  std::lock_guard<std::mutex> lock(mu_);
  next_analysis_ = now + config_.analysis.interval;
  // A verdict closes its window; too few calls (or no numbers) keep it open.
  if (verdict.kind == Verdict::Kind::kPass || verdict.kind == Verdict::Kind::kFail) {
    window_start_ = {stats_[0].Take(), stats_[1].Take()};
    window_opened_ = now;
  }
  std::string line = ApplyVerdict(verdict, &progress_);
  last_verdict_ = std::move(verdict);
  if (!line.empty()) Publish();
  return line;
}

Verdict Rollout::last_verdict() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_verdict_;
}

bool Rollout::Act(std::string_view action, Clock::TimePoint now, std::string* why_not) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!ApplyAction(action, config_, now, &progress_, why_not)) return false;
  if (action == "resume") {
    window_start_ = {stats_[0].Take(), stats_[1].Take()};
    window_opened_ = now;
    next_analysis_ = now + config_.analysis.interval;
  }
  Publish();
  return true;
}

}  // namespace og
