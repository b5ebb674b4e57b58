#include "gateway/routing/rollout_controller.h"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/time_format.h"
#include "fmt/format.h"
#include "gateway/config/values.h"
#include "nlohmann/json.hpp"
#include "security/sha256.h"
#include "spdlog/spdlog.h"

namespace og {
namespace {

using json = nlohmann::ordered_json;

// Prometheus's answers to instant queries are small; anything bigger is a query gone wrong.
constexpr std::size_t kMaxQueryReply = 1u << 20;

std::string PercentEncode(std::string_view text) {
  std::string out;
  out.reserve(text.size() * 3);
  for (const char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += fmt::format("%{:02X}", u);
    }
  }
  return out;
}

std::string Substitute(std::string query, std::string_view rollout, std::string_view target,
                       std::chrono::milliseconds window) {
  const std::string seconds = fmt::format("{}s", (window.count() + 999) / 1000);
  for (const auto& [from, to] : {std::pair<std::string_view, std::string_view>{"$rollout", rollout},
                                 {"$target", target},
                                 {"$window", seconds}}) {
    for (std::size_t at = query.find(from); at != std::string::npos;
         at = query.find(from, at + to.size())) {
      query.replace(at, from.size(), to);
    }
  }
  return query;
}

json FiguresJson(const TargetFigures& f) {
  auto opt = [](const std::optional<double>& v) { return v ? json(*v) : json(); };
  return {{"calls", f.calls},
          {"errors", f.errors},
          {"error_rate", f.error_rate},
          {"ttft_p99_s", opt(f.ttft_p99)},
          {"token_latency_p99_s", opt(f.token_latency_p99)}};
}

std::int64_t UnixMillis(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

int StepCount(const RolloutStepsConfig& steps) {
  if (!steps.enabled) return 0;
  return 1 + (steps.max - steps.start + steps.step - 1) / steps.step;
}

}  // namespace

// The eight instant queries of one PromQL analysis (four figures of two targets), concluded by
// the last answer.
struct RolloutController::PromQuery {
  RolloutController* controller;
  std::shared_ptr<Rollout> rollout;
  std::mutex mu;
  int pending = 8;
  // [target][figure]: calls, error_rate, ttft_p99, token_latency_p99.
  std::optional<double> values[2][4];
  std::string error;

  class Leg final : public UpstreamHandler {
   public:
    Leg(std::shared_ptr<PromQuery> query, int target, int figure, std::string name)
        : query_(std::move(query)), target_(target), figure_(figure), name_(std::move(name)) {}
    bool OnLine(std::string_view line) override {
      if (body_.size() + line.size() > kMaxQueryReply) return false;
      body_.append(line);
      return true;
    }
    void OnComplete(UpstreamResult result) override {
      std::string error;
      std::optional<double> value;
      if (result.outcome != UpstreamOutcome::kOk) {
        error = fmt::format(
            "{} query: {} {}", name_, UpstreamOutcomeName(result.outcome),
            result.http_status != 0
                ? fmt::format("(HTTP {}) {}", result.http_status, result.body.substr(0, 200))
                : result.message);
      } else {
        const json answer = json::parse(body_, nullptr, /*allow_exceptions=*/false);
        const json* results = nullptr;
        if (answer.is_object() && answer.value("status", "") == "success" &&
            answer.contains("data") && answer["data"].is_object() &&
            answer["data"].contains("result") && answer["data"]["result"].is_array()) {
          results = &answer["data"]["result"];
        }
        if (results == nullptr) {
          error = fmt::format("{} query: not a Prometheus answer: {}", name_, body_.substr(0, 200));
        } else if (!results->empty()) {
          const json& first = (*results)[0];
          if (first.contains("value") && first["value"].is_array() && first["value"].size() == 2 &&
              first["value"][1].is_string()) {
            const double v = std::strtod(first["value"][1].get<std::string>().c_str(), nullptr);
            if (std::isfinite(v)) value = v;
          }
        }
      }
      std::shared_ptr<PromQuery> query = std::move(query_);
      const int target = target_;
      const int figure = figure_;
      delete this;
      query->Done(target, figure, value, error);
    }

   private:
    std::shared_ptr<PromQuery> query_;
    const int target_;
    const int figure_;
    const std::string name_;
    std::string body_;
  };

  void Done(int target, int figure, std::optional<double> value, const std::string& why) {
    {
      std::lock_guard<std::mutex> lock(mu);
      values[target][figure] = value;
      if (!why.empty() && error.empty()) error = why;
      if (--pending > 0) return;
    }
    Verdict verdict;
    if (!error.empty()) {
      verdict.kind = Verdict::Kind::kUnavailable;
      verdict.detail = error;
    } else {
      TargetFigures figures[2];
      for (int t = 0; t < 2; ++t) {
        figures[t].calls = values[t][0].value_or(0);
        figures[t].error_rate = values[t][1].value_or(0);
        figures[t].errors = std::round(figures[t].calls * figures[t].error_rate);
        figures[t].ttft_p99 = values[t][2];
        figures[t].token_latency_p99 = values[t][3];
      }
      verdict = Analyze(rollout->config().analysis, figures[0], figures[1]);
    }
    verdict.source = "prometheus";
    controller->Conclude(*rollout, std::move(verdict));
    std::lock_guard<std::mutex> lock(controller->mu_);
    controller->querying_.erase(rollout.get());
  }
};

RolloutController::RolloutController(Router& router, Upstream& upstream, Metrics& metrics,
                                     const Clock& clock, WallClock wall)
    : router_(router),
      upstream_(upstream),
      metrics_(metrics),
      clock_(clock),
      wall_(std::move(wall)) {}

RolloutController::~RolloutController() = default;

void RolloutController::UseStateFile(const std::string& path) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (loaded_ == path) return;
    loaded_ = path;
    state_file_ = path;
    saved_.clear();
  }
  if (!path.empty()) LoadState(path);
  SaveState();
}

void RolloutController::Tick() {
  const Clock::TimePoint now = clock_.Now();
  for (const std::shared_ptr<Rollout>& rollout : router_.rollouts()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (declared_.insert(rollout->name()).second) metrics_.DeclareRollout(rollout->name());
    }
    if (std::string line = rollout->Advance(now); !line.empty()) Note(*rollout, line, false);
    if (rollout->AnalysisDue(now)) {
      if (rollout->config().analysis.prometheus_url.empty()) {
        TargetFigures baseline;
        TargetFigures candidate;
        rollout->LocalFigures(&baseline, &candidate);
        Verdict verdict = Analyze(rollout->config().analysis, baseline, candidate);
        verdict.source = "local";
        Conclude(*rollout, std::move(verdict));
      } else {
        QueryPrometheus(rollout);
      }
    }
    metrics_.SetRolloutWeight(rollout->name(), rollout->weight(), rollout->progress().step);
  }
  SaveState();
}

void RolloutController::QueryPrometheus(const std::shared_ptr<Rollout>& rollout) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!querying_.insert(rollout.get()).second) return;  // the last one is still out
  }
  const RolloutAnalysisConfig& a = rollout->config().analysis;
  const std::chrono::milliseconds window = rollout->WindowLength(clock_.Now());
  auto query = std::make_shared<PromQuery>();
  query->controller = this;
  query->rollout = rollout;
  const std::string* texts[4] = {&a.calls_query, &a.error_rate_query, &a.ttft_p99_query,
                                 &a.token_latency_p99_query};
  constexpr std::string_view kNames[4] = {"calls", "error_rate", "ttft_p99", "token_latency_p99"};
  for (int t = 0; t < 2; ++t) {
    const std::string_view target = RolloutTargetName(static_cast<RolloutTarget>(t));
    for (int f = 0; f < 4; ++f) {
      UpstreamRequest request;
      request.method = UpstreamRequest::Method::kGet;
      request.url =
          fmt::format("{}/api/v1/query?query={}", a.prometheus_url,
                      PercentEncode(Substitute(*texts[f], rollout->name(), target, window)));
      request.connect_timeout = a.timeout;
      request.timeout = a.timeout;
      request.max_line_bytes = kMaxQueryReply;
      request.any_answer_type = true;
      upstream_.Start(std::move(request),
                      new PromQuery::Leg(query, t, f, fmt::format("{} {}", target, kNames[f])));
    }
  }
}

void RolloutController::Conclude(Rollout& rollout, Verdict verdict) {
  verdict.time = wall_();
  const Verdict::Kind kind = verdict.kind;
  const std::string detail = verdict.detail;
  const std::string line = rollout.Conclude(std::move(verdict), clock_.Now());
  if (!line.empty()) {
    Note(rollout, line, true);
    return;
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (kind != Verdict::Kind::kUnavailable) {
    unavailable_.erase(rollout.name());
    return;
  }
  std::string& logged = unavailable_[rollout.name()];
  if (logged == detail) return;
  logged = detail;
  spdlog::warn("rollout '{}': no analysis, holding the candidate at {}%: {}", rollout.name(),
               rollout.weight(), detail);
}

void RolloutController::Note(Rollout& rollout, const std::string& line, bool aborted) {
  const RolloutProgress p = rollout.progress();
  if (aborted) {
    spdlog::warn("rollout '{}' aborted ({}): {}; every call goes to {}", rollout.name(), p.reason,
                 line, rollout.config().baseline.model);
    metrics_.RecordRolloutAbort(rollout.name(), p.reason);
  } else {
    spdlog::info("{}", line);
  }
  metrics_.SetRolloutWeight(rollout.name(), p.weight, p.step);
  // The state file is written by the next tick (at most a second later), not here: a PromQL
  // verdict arrives on a worker's loop thread, which must not wait for the disk.
}

int RolloutController::Act(std::string_view name, std::string_view action, std::string* body) {
  const std::string canonical = CanonicalModelName(name);
  for (const std::shared_ptr<Rollout>& rollout : router_.rollouts()) {
    if (rollout->name() != name && rollout->config().canonical_model != canonical) continue;
    std::string why_not;
    if (!rollout->Act(action, clock_.Now(), &why_not)) {
      *body = why_not + "\n";
      return action == "pause" || action == "resume" || action == "promote" || action == "abort"
                 ? 409
                 : 404;
    }
    const RolloutProgress p = rollout->progress();
    if (action == "abort") {
      spdlog::warn("rollout '{}' aborted by an operator: every call goes to {}", rollout->name(),
                   rollout->config().baseline.model);
      metrics_.RecordRolloutAbort(rollout->name(), "manual");
    } else {
      spdlog::info("rollout '{}' {} by an operator: {} ({}% of calls to {})", rollout->name(),
                   action == "promote" ? "promoted"
                   : action == "pause" ? "paused"
                                       : "resumed",
                   RolloutPhaseName(p.phase), p.weight, rollout->config().candidate.model);
    }
    metrics_.SetRolloutWeight(rollout->name(), p.weight, p.step);
    SaveState();
    *body = RolloutJson(*rollout);
    return 200;
  }
  *body = fmt::format("no rollout named '{}'\n", name);
  return 404;
}

std::string RolloutController::RolloutJson(const Rollout& rollout) const {
  const RolloutConfig& c = rollout.config();
  const RolloutProgress p = rollout.progress();
  const Clock::TimePoint now = clock_.Now();
  const auto wall_now = wall_();
  const auto started = wall_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                      now - p.step_started);
  auto target = [](const RolloutTargetConfig& t) {
    return json{{"model", t.model}, {"backends", t.backends}};
  };
  const std::optional<std::chrono::milliseconds> next = UntilNextStep(c, p, now);
  const Verdict v = rollout.last_verdict();
  json analysis = {{"verdict", VerdictName(v.kind)}};
  if (v.kind != Verdict::Kind::kNone) {
    analysis["time"] = Rfc3339Millis(v.time);
    analysis["source"] = v.source;
    analysis["reason"] = v.reason;
    analysis["detail"] = v.detail;
    if (v.kind == Verdict::Kind::kUnavailable) {
      analysis["error"] = v.detail;
    } else {
      analysis["baseline"] = FiguresJson(v.baseline);
      analysis["candidate"] = FiguresJson(v.candidate);
    }
  }
  json out = {{"name", c.model},
              {"phase", RolloutPhaseName(p.phase)},
              {"step", p.step},
              {"steps", StepCount(c.steps)},
              {"weights", {{"baseline", 100 - p.weight}, {"candidate", p.weight}}},
              {"baseline", target(c.baseline)},
              {"candidate", target(c.candidate)},
              {"step_started", Rfc3339Millis(started)},
              {"next_step_in_s", next ? json(next->count() / 1000.0) : json()},
              {"reason", p.reason},
              {"reason_detail", p.reason_detail},
              {"analysis", std::move(analysis)}};
  return out.dump();
}

std::string RolloutController::Json() const {
  std::string out = "{\"rollouts\":[";
  bool first = true;
  for (const std::shared_ptr<Rollout>& rollout : router_.rollouts()) {
    if (!first) out += ',';
    first = false;
    out += RolloutJson(*rollout);
  }
  out += "]}";
  return out;
}

void RolloutController::SaveState() {
  std::lock_guard<std::mutex> lock(mu_);
  if (state_file_.empty()) return;
  const std::vector<std::shared_ptr<Rollout>> rollouts = router_.rollouts();
  std::map<std::string, std::uint64_t> versions;
  for (const auto& r : rollouts) versions[r->name()] = r->version();
  if (versions == saved_) return;
  const Clock::TimePoint now = clock_.Now();
  const auto wall_now = wall_();
  json state = json::object();
  for (const auto& r : rollouts) {
    const RolloutProgress p = r->progress();
    const auto started = wall_now - std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                        now - p.step_started);
    state[r->name()] = {{"definition", security::Sha256Hex(r->definition())},
                        {"phase", RolloutPhaseName(p.phase)},
                        {"step", p.step},
                        {"weight", p.weight},
                        {"step_started_unix_ms", UnixMillis(started)},
                        {"step_passed", p.step_passed},
                        {"paused_from", RolloutPhaseName(p.paused_from)},
                        {"reason", p.reason},
                        {"reason_detail", p.reason_detail}};
  }
  const std::string text = json{{"rollouts", state}}.dump(2) + "\n";
  // Written beside the file and renamed over it, so a crash never leaves half a state.
  const std::string tmp = state_file_ + ".tmp";
  // Each tick tries again; a failure is logged when it first happens (or changes).
  auto fail = [this](std::string why) {
    if (why == save_error_) return;
    spdlog::warn("rollouts.state_file {}: {}; a restart would start the rollouts over", state_file_,
                 why);
    save_error_ = std::move(why);
  };
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    out.flush();
    if (!out) return fail(fmt::format("cannot write {}: {}", tmp, std::strerror(errno)));
  }
  if (std::rename(tmp.c_str(), state_file_.c_str()) != 0) {
    return fail(fmt::format("cannot replace it: {}", std::strerror(errno)));
  }
  if (!save_error_.empty()) spdlog::info("rollouts.state_file {} is written again", state_file_);
  save_error_.clear();
  saved_ = std::move(versions);
}

void RolloutController::LoadState(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    spdlog::info("rollouts.state_file {} does not exist yet: rollouts start at their beginning",
                 path);
    return;
  }
  std::stringstream text;
  text << in.rdbuf();
  const json state = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  const json* rollouts =
      state.is_object() && state.contains("rollouts") && state["rollouts"].is_object()
          ? &state["rollouts"]
          : nullptr;
  if (rollouts == nullptr || state.is_discarded()) {
    spdlog::warn("rollouts.state_file {} is not a state file this gateway wrote: ignored", path);
    return;
  }
  const Clock::TimePoint now = clock_.Now();
  const auto wall_now = wall_();
  for (const std::shared_ptr<Rollout>& rollout : router_.rollouts()) {
    auto it = rollouts->find(rollout->name());
    if (it == rollouts->end() || !it->is_object()) continue;
    const json& s = *it;
    if (s.value("definition", "") != security::Sha256Hex(rollout->definition())) {
      spdlog::info("rollout '{}' changed since {} was written: it starts at its beginning",
                   rollout->name(), path);
      continue;
    }
    const std::optional<RolloutPhase> phase = RolloutPhaseFromName(s.value("phase", ""));
    const std::optional<RolloutPhase> paused_from =
        RolloutPhaseFromName(s.value("paused_from", "running"));
    const int weight = s.value("weight", -1);
    if (!phase || !paused_from || weight < 0 || weight > 100) {
      spdlog::warn("rollout '{}' in {} is malformed: it starts at its beginning", rollout->name(),
                   path);
      continue;
    }
    RolloutProgress p;
    p.phase = *phase;
    p.paused_from = *paused_from;
    p.step = s.value("step", 0);
    p.weight = weight;
    p.step_passed = s.value("step_passed", false);
    p.reason = s.value("reason", "");
    p.reason_detail = s.value("reason_detail", "");
    const std::chrono::system_clock::time_point started{
        std::chrono::milliseconds(s.value("step_started_unix_ms", UnixMillis(wall_now)))};
    const auto age = std::max(std::chrono::system_clock::duration(0), wall_now - started);
    p.step_started = now - std::chrono::duration_cast<Clock::TimePoint::duration>(age);
    rollout->Restore(p);
    spdlog::info("rollout '{}' restored from {}: {}, step {}, {}% of calls to {}", rollout->name(),
                 path, RolloutPhaseName(p.phase), p.step, p.weight,
                 rollout->config().candidate.model);
  }
}

}  // namespace og
