// Rollouts in simulated time: the schedule, the analysis and its verdicts, assignment, the
// operators' actions, and the controller's PromQL mode over a fake upstream.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>

#include "common/clock.h"
#include "gateway/config/load.h"
#include "gateway/routing/rollout.h"
#include "gateway/routing/rollout_controller.h"
#include "gateway/routing/router.h"
#include "gateway/telemetry/metrics.h"
#include "gateway/upstream/ollama_protocol.h"
#include "nlohmann/json.hpp"
#include "tests/fakes/fake_upstream.h"

namespace og {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

RolloutConfig Canary(bool analysis = true, bool promote = true) {
  RolloutConfig c;
  c.model = "support-bot";
  c.canonical_model = "support-bot:latest";
  c.baseline = {"support-bot:v7", "support-bot:v7", {}};
  c.candidate = {"support-bot:v8", "support-bot:v8", {}};
  c.steps.enabled = true;
  c.steps.start = 10;
  c.steps.step = 10;
  c.steps.max = 30;
  c.steps.interval = std::chrono::minutes(5);
  c.steps.promote = promote;
  c.analysis.enabled = analysis;
  c.analysis.interval = std::chrono::minutes(1);
  c.analysis.min_calls = 20;
  return c;
}

TargetFigures Figures(double calls, double errors, std::optional<double> ttft = 0.2,
                      std::optional<double> token = 0.02) {
  TargetFigures f;
  f.calls = calls;
  f.errors = errors;
  f.error_rate = calls > 0 ? errors / calls : 0;
  f.ttft_p99 = ttft;
  f.token_latency_p99 = token;
  return f;
}

// Records `n` calls of `target`, `errors` of them failed, each with these latencies.
void Calls(Rollout& r, RolloutTarget target, int n, int errors, double ttft = 0.2,
           double token = 0.02) {
  for (int i = 0; i < n; ++i) r.Record(target, i < errors, ttft, token);
}

// One analysis on the rollout's own counters, as the controller runs it.
std::string AnalyzeLocal(Rollout& r, Clock::TimePoint now) {
  TargetFigures b;
  TargetFigures c;
  r.LocalFigures(&b, &c);
  return r.Conclude(Analyze(r.config().analysis, b, c), now);
}

TEST_CASE("BucketQuantile interpolates inside the bucket, as histogram_quantile does") {
  RolloutBuckets counts{};
  CHECK_FALSE(BucketQuantile(0.99, counts).has_value());
  counts[6] = 100;  // (0.05, 0.1]
  CHECK(*BucketQuantile(0.99, counts) == Approx(0.05 + 0.05 * 0.99));
  counts[counts.size() - 1] = 1000;  // past the last bound: its lower bound
  CHECK(*BucketQuantile(0.99, counts) == Approx(kRolloutLatencyBounds.back()));
}

TEST_CASE("Analyze: too few candidate calls give no verdict") {
  const RolloutConfig c = Canary();
  const Verdict v = Analyze(c.analysis, Figures(500, 0), Figures(19, 19));
  CHECK(v.kind == Verdict::Kind::kInsufficient);
  CHECK(v.detail.find("19 candidate calls of the 20") != std::string::npos);
}

TEST_CASE("Analyze: the error rate's margin is in points above the baseline's") {
  const RolloutConfig c = Canary();
  CHECK(Analyze(c.analysis, Figures(100, 10), Figures(100, 14)).kind == Verdict::Kind::kPass);
  const Verdict v = Analyze(c.analysis, Figures(100, 10), Figures(100, 16));
  CHECK(v.kind == Verdict::Kind::kFail);
  CHECK(v.reason == "error_rate");
  CHECK(v.detail.find("16.0%") != std::string::npos);
}

TEST_CASE("Analyze: a latency fails only past both the ratio and the absolute increase") {
  const RolloutConfig c = Canary();
  // 3x slower but only 20 ms more: noise at these speeds.
  CHECK(Analyze(c.analysis, Figures(100, 0, 0.01), Figures(100, 0, 0.03)).kind ==
        Verdict::Kind::kPass);
  Verdict v = Analyze(c.analysis, Figures(100, 0, 0.2), Figures(100, 0, 0.5));
  CHECK(v.kind == Verdict::Kind::kFail);
  CHECK(v.reason == "ttft");
  v = Analyze(c.analysis, Figures(100, 0, 0.2, 0.02), Figures(100, 0, 0.2, 0.05));
  CHECK(v.kind == Verdict::Kind::kFail);
  CHECK(v.reason == "token_latency");
  // A figure one side lacks is not compared.
  CHECK(Analyze(c.analysis, Figures(100, 0, std::nullopt), Figures(100, 0, 9)).kind ==
        Verdict::Kind::kPass);
}

TEST_CASE("Steps advance on time and a passed analysis, then promote") {
  FakeClock clock;
  Rollout r(Canary(), clock.Now());
  CHECK(r.weight() == 10);
  CHECK(r.progress().step == 1);
  for (int minute = 1; minute <= 5; ++minute) {
    clock.Advance(std::chrono::minutes(1));
    Calls(r, RolloutTarget::kBaseline, 90, 0);
    Calls(r, RolloutTarget::kCandidate, 20, 0);
    REQUIRE(r.AnalysisDue(clock.Now()));
    CHECK(AnalyzeLocal(r, clock.Now()).empty());
    CHECK(r.last_verdict().kind == Verdict::Kind::kPass);
    const std::string line = r.Advance(clock.Now());
    CHECK(line.empty() == (minute < 5));
  }
  CHECK(r.weight() == 20);
  CHECK(r.progress().step == 2);
  clock.Advance(std::chrono::minutes(5));
  Calls(r, RolloutTarget::kCandidate, 20, 0);
  AnalyzeLocal(r, clock.Now());
  r.Advance(clock.Now());
  CHECK(r.weight() == 30);
  clock.Advance(std::chrono::minutes(5));
  Calls(r, RolloutTarget::kCandidate, 20, 0);
  AnalyzeLocal(r, clock.Now());
  CHECK(r.Advance(clock.Now()).find("promoted after step 3") != std::string::npos);
  CHECK(r.progress().phase == RolloutPhase::kPromoted);
  CHECK(r.weight() == 100);
  CHECK_FALSE(r.AnalysisDue(clock.Now() + std::chrono::hours(1)));
}

TEST_CASE("then: hold stays at the last step for an operator") {
  FakeClock clock;
  Rollout r(Canary(/*analysis=*/false, /*promote=*/false), clock.Now());
  for (int i = 0; i < 3; ++i) {
    clock.Advance(std::chrono::minutes(5));
    r.Advance(clock.Now());
  }
  CHECK(r.progress().phase == RolloutPhase::kHolding);
  CHECK(r.weight() == 30);
  std::string why;
  CHECK(r.Act("promote", clock.Now(), &why));
  CHECK(r.weight() == 100);
}

TEST_CASE("Below the minimum sample the weight holds and the window keeps what it has") {
  FakeClock clock;
  Rollout r(Canary(), clock.Now());
  for (int minute = 1; minute <= 7; ++minute) {
    clock.Advance(std::chrono::minutes(1));
    Calls(r, RolloutTarget::kCandidate, 2, 0);
    AnalyzeLocal(r, clock.Now());
    CHECK(r.last_verdict().kind == Verdict::Kind::kInsufficient);
    r.Advance(clock.Now());
  }
  // Seven minutes in, past the step's five: still step 1 for want of calls.
  CHECK(r.progress().step == 1);
  CHECK(r.weight() == 10);
  CHECK(r.last_verdict().candidate.calls == 14);
  // The window gathered every call since it opened: six more make a verdict.
  clock.Advance(std::chrono::minutes(1));
  Calls(r, RolloutTarget::kCandidate, 6, 0);
  AnalyzeLocal(r, clock.Now());
  CHECK(r.last_verdict().kind == Verdict::Kind::kPass);
  CHECK(r.last_verdict().candidate.calls == 20);
  r.Advance(clock.Now());
  CHECK(r.progress().step == 2);
}

TEST_CASE("An error rate past the margin aborts at once, to the baseline") {
  FakeClock clock;
  Rollout r(Canary(), clock.Now());
  clock.Advance(std::chrono::minutes(1));
  Calls(r, RolloutTarget::kBaseline, 200, 2);
  Calls(r, RolloutTarget::kCandidate, 25, 5);
  const std::string line = AnalyzeLocal(r, clock.Now());
  CHECK(line.find("candidate error rate 20.0% (5 of 25 calls)") != std::string::npos);
  CHECK(r.progress().phase == RolloutPhase::kAborted);
  CHECK(r.progress().reason == "error_rate");
  CHECK(r.weight() == 0);
  CHECK(r.Assign("", 0) == RolloutTarget::kBaseline);
  // An aborted rollout is analysed no more and takes no steps.
  CHECK_FALSE(r.AnalysisDue(clock.Now() + std::chrono::hours(1)));
  CHECK(r.Advance(clock.Now() + std::chrono::hours(1)).empty());
}

TEST_CASE("A slower candidate aborts on latency") {
  FakeClock clock;
  Rollout r(Canary(), clock.Now());
  clock.Advance(std::chrono::minutes(1));
  Calls(r, RolloutTarget::kBaseline, 100, 0, 0.2);
  Calls(r, RolloutTarget::kCandidate, 30, 0, 2.0);
  AnalyzeLocal(r, clock.Now());
  CHECK(r.progress().phase == RolloutPhase::kAborted);
  CHECK(r.progress().reason == "ttft");
}

TEST_CASE("A key stays on its target, and a rising weight only moves keys to the candidate") {
  RolloutConfig c = Canary(false);
  c.steps.enabled = false;
  std::map<std::string, RolloutTarget> at10;
  int candidates = 0;
  {
    c.weight = 10;
    FakeClock clock;
    Rollout r(c, clock.Now());
    for (int i = 0; i < 2000; ++i) {
      const std::string key = "session-" + std::to_string(i);
      at10[key] = r.Assign(key, static_cast<std::uint64_t>(i) * 7919);
      CHECK(r.Assign(key, 12345) == at10[key]);  // the random draw does not matter with a key
      candidates += at10[key] == RolloutTarget::kCandidate;
    }
  }
  CHECK(candidates > 130);
  CHECK(candidates < 270);
  c.weight = 40;
  FakeClock clock;
  Rollout r(c, clock.Now());
  for (const auto& [key, target] : at10) {
    if (target == RolloutTarget::kCandidate) CHECK(r.Assign(key, 0) == RolloutTarget::kCandidate);
  }
}

TEST_CASE("Operators' actions apply only where they make sense") {
  FakeClock clock;
  Rollout r(Canary(), clock.Now());
  std::string why;
  CHECK_FALSE(r.Act("resume", clock.Now(), &why));
  CHECK(why.find("not paused") != std::string::npos);
  CHECK(r.Act("pause", clock.Now(), &why));
  CHECK_FALSE(r.AnalysisDue(clock.Now() + std::chrono::hours(1)));
  clock.Advance(std::chrono::hours(1));
  CHECK(r.Advance(clock.Now()).empty());  // a paused rollout takes no step
  CHECK(r.Act("resume", clock.Now(), &why));
  CHECK(r.progress().phase == RolloutPhase::kRunning);
  CHECK(r.Act("abort", clock.Now(), &why));
  CHECK(r.progress().reason == "manual");
  CHECK_FALSE(r.Act("abort", clock.Now(), &why));
  CHECK_FALSE(r.Act("resume", clock.Now(), &why));
  CHECK(why.find("change its definition") != std::string::npos);
  CHECK(r.Act("promote", clock.Now(), &why));
  CHECK(r.weight() == 100);
  CHECK_FALSE(r.Act("promote", clock.Now(), &why));
  CHECK_FALSE(r.Act("restart", clock.Now(), &why));
}

TEST_CASE("RenameModelField renames a target's answer to the caller's name") {
  std::string out;
  CHECK(RenameModelField(R"({"model":"bot:v8","response":"hi"})", "bot:v8", "bot", &out));
  CHECK(out == R"({"model":"bot","response":"hi"})");
  CHECK(RenameModelField(R"(data: {"id":"x","model": "bot:v8"})", "bot:v8", "bot", &out));
  CHECK(out == R"(data: {"id":"x","model": "bot"})");
  // Another value, a longer name with the same start, or no field: untouched.
  CHECK_FALSE(RenameModelField(R"({"model":"other"})", "bot:v8", "bot", &out));
  CHECK_FALSE(RenameModelField(R"({"model":"bot:v88"})", "bot:v8", "bot", &out));
  CHECK_FALSE(RenameModelField(R"({"model_info":{}})", "bot:v8", "bot", &out));
  CHECK_FALSE(RenameModelField(R"({"model":"bot:v8)", "bot:v8", "bot", &out));
}

// An upstream whose every request fails to connect, or answers `answers` by query substring.
class FakePrometheus final : public Upstream {
 public:
  std::map<std::string, std::string> values;  // a word of the query -> its value
  bool down = false;
  int started = 0;
  UpstreamCall Start(UpstreamRequest request, UpstreamHandler* handler) override {
    ++started;
    UpstreamResult result;
    if (down) {
      result.outcome = UpstreamOutcome::kConnectFailed;
      result.message = "connection refused";
      handler->OnComplete(std::move(result));
      return {};
    }
    std::string value = "NaN";
    for (const auto& [word, v] : values) {
      if (request.url.find(word) != std::string::npos) value = v;
    }
    handler->OnLine(
        R"({"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,")" +
        value + R"("]}]}})");
    handler->OnComplete(std::move(result));
    return {};
  }
};

Config WithRollout(const std::string& analysis) {
  const std::string yaml = R"(
listen: {address: "127.0.0.1:0", insecure: true}
backends:
  - {name: a, url: "http://127.0.0.1:1", models: ["support-bot:v7", "support-bot:v8"]}
  - {name: b, url: "http://127.0.0.1:2", models: ["support-bot:v8"]}
rollouts:
  models:
    - model: support-bot
      baseline: {model: "support-bot:v7"}
      candidate: {model: "support-bot:v8", backends: [b]}
      steps: {start: 50, step: 50, interval: 1m}
      analysis: )" + analysis +
                           "\n";
  absl::StatusOr<Config> config = ParseConfig(yaml, "test.yaml");
  REQUIRE(config.ok());
  return *config;
}

// A router with a rollout analysed by PromQL every 10 s, and its controller.
struct PromQlRollout {
  FakeClock clock;
  Router router{clock};
  FakePrometheus prometheus;
  Metrics metrics;
  RolloutController controller{router, prometheus, metrics, clock};
  PromQlRollout() {
    REQUIRE(router
                .Apply(WithRollout("{interval: 10s, min_calls: 5, prometheus_url: "
                                   "\"http://127.0.0.1:9\"}"))
                .ok());
  }
};

TEST_CASE_METHOD(PromQlRollout,
                 "PromQL analysis: an unreachable Prometheus holds the weight and says so") {
  prometheus.down = true;
  clock.Advance(std::chrono::minutes(5));
  controller.Tick();
  CHECK(prometheus.started == 8);
  const auto rollout = router.rollouts().at(0);
  CHECK(rollout->last_verdict().kind == Verdict::Kind::kUnavailable);
  CHECK(rollout->last_verdict().detail.find("connect_failed") != std::string::npos);
  CHECK(rollout->weight() == 50);
  CHECK(rollout->progress().step == 1);  // no step without a pass
  const auto view = nlohmann::json::parse(controller.Json());
  CHECK(view["rollouts"][0]["analysis"]["verdict"] == "unavailable");
}

TEST_CASE_METHOD(PromQlRollout, "PromQL analysis: the fleet's numbers abort the rollout") {
  // The calls of both targets, and the error rate of the candidate's query (result="error" is in
  // both error rate queries; "candidate" picks the candidate's).
  prometheus.values = {{"increase", "40"}, {"result%3D%22error%22", "0"}};
  clock.Advance(std::chrono::seconds(10));
  controller.Tick();
  const auto rollout = router.rollouts().at(0);
  CHECK(rollout->last_verdict().kind == Verdict::Kind::kPass);
  CHECK(rollout->last_verdict().source == "prometheus");
  prometheus.values["target%3D%22candidate%22%2Cresult%3D%22error%22"] = "0.5";
  clock.Advance(std::chrono::seconds(10));
  controller.Tick();
  CHECK(rollout->progress().phase == RolloutPhase::kAborted);
  CHECK(rollout->progress().reason == "error_rate");
  CHECK(metrics.Serialize().find(
            R"(gateway_rollout_aborts_total{reason="error_rate",rollout="support-bot"} 1)") !=
        std::string::npos);
}

TEST_CASE("The router routes a rollout's targets to their pools, and keeps state across reloads") {
  FakeClock clock;
  Router router(clock);
  const Config config = WithRollout("{interval: 10s}");
  REQUIRE(router.Apply(config).ok());
  const RolloutRoute* route = router.table()->FindRollout("support-bot:latest");
  REQUIRE(route != nullptr);
  REQUIRE(route->pools[0] != nullptr);
  REQUIRE(route->pools[1] != nullptr);
  CHECK(route->pools[0]->members.size() == 1);  // support-bot:v7 is on a only
  CHECK(route->pools[1]->members.size() == 1);  // the candidate names b
  CHECK(route->pools[1]->members[0].state->name() == "b");
  CHECK(route->models[1] == "support-bot:v8");
  std::string why;
  REQUIRE(route->rollout->Act("pause", clock.Now(), &why));
  REQUIRE(router.Apply(config).ok());
  CHECK(router.rollouts().at(0)->progress().phase == RolloutPhase::kPaused);
  Config changed = config;
  changed.rollouts.models[0].steps.start = 20;
  REQUIRE(router.Apply(changed).ok());
  CHECK(router.rollouts().at(0)->progress().phase == RolloutPhase::kRunning);
  CHECK(router.rollouts().at(0)->weight() == 20);
}

TEST_CASE("The state file brings a rollout back where it was, while its definition holds") {
  char dir[] = "/tmp/og-rollout-state-XXXXXX";
  REQUIRE(mkdtemp(dir) != nullptr);
  const std::string path = std::string(dir) + "/rollouts.json";
  const Config config = WithRollout("{interval: 10s}");
  testing::FakeUpstream none;
  Metrics metrics;
  {
    FakeClock clock;
    Router router(clock);
    REQUIRE(router.Apply(config).ok());
    RolloutController controller(router, none, metrics, clock);
    controller.UseStateFile(path);
    std::string body;
    REQUIRE(controller.Act("support-bot", "promote", &body) == 200);
  }
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(config).ok());
  RolloutController controller(router, none, metrics, clock);
  controller.UseStateFile(path);
  CHECK(router.rollouts().at(0)->progress().phase == RolloutPhase::kPromoted);
  CHECK(router.rollouts().at(0)->weight() == 100);
  // Another definition: the file's state is not this rollout's.
  Config changed = config;
  changed.rollouts.models[0].steps.step = 25;
  Router other(clock);
  REQUIRE(other.Apply(changed).ok());
  RolloutController fresh(other, none, metrics, clock);
  fresh.UseStateFile(path);
  CHECK(other.rollouts().at(0)->progress().phase == RolloutPhase::kRunning);
  CHECK(other.rollouts().at(0)->weight() == 50);
  std::filesystem::remove_all(dir);
}

TEST_CASE("A rollout's targets may be served by backends that take any model") {
  FakeClock clock;
  Router router(clock);
  absl::StatusOr<Config> config = ParseConfig(R"(
listen: {address: "127.0.0.1:0", insecure: true}
backends:
  - {name: a, url: "http://127.0.0.1:1"}
  - {name: b, url: "http://127.0.0.1:2", models: [other]}
rollouts:
  models:
    - {model: bot, baseline: {model: "bot:v7"}, candidate: {model: "bot:v8", backends: [a]}}
)",
                                              "test.yaml");
  REQUIRE(config.ok());
  REQUIRE(router.Apply(*config).ok());
  const RolloutRoute* route = router.table()->FindRollout("bot:latest");
  REQUIRE(route != nullptr);
  REQUIRE(route->pools[0] != nullptr);
  CHECK(route->pools[0]->model_label == kAnyModelLabel);
  REQUIRE(route->pools[1] != nullptr);
  CHECK(route->pools[1]->members.size() == 1);
}

TEST_CASE("The rollout histograms' buckets are the analysis's") {
  Metrics metrics;
  metrics.DeclareRollout("r");
  const std::string text = metrics.Serialize();
  std::set<std::string> les;
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (!line.starts_with("gateway_rollout_time_to_first_token_seconds_bucket{")) continue;
    const std::size_t at = line.find("le=\"");
    REQUIRE(at != std::string::npos);
    les.insert(line.substr(at + 4, line.find('"', at + 4) - at - 4));
  }
  for (const double bound : kRolloutLatencyBounds) {
    std::ostringstream le;
    le << bound;
    INFO(le.str());
    CHECK(les.count(le.str()) == 1);
  }
  CHECK(les.size() == kRolloutLatencyBounds.size() + 1);  // and +Inf
}

}  // namespace
}  // namespace og
