// The `rollouts` section: what parses, its defaults, and the `FILE:LINE: reason` of what does not.
#include <catch2/catch.hpp>
#include <string>
#include <string_view>

#include "gateway/config/load.h"
#include "tests/fakes/config_testing.h"

namespace og {
namespace {

using std::chrono::milliseconds;
using testing::ErrorsOf;

// Two backends; the rollouts section starts at line 9.
constexpr std::string_view kBackends = R"(listen: {insecure: true}
backends:
  - name: a
    url: http://127.0.0.1:1
    models: [bot:v7, bot:v8]
  - name: b
    url: http://127.0.0.1:2
    models: [bot:v8]
)";

std::string With(std::string_view rollouts) {
  return std::string(kBackends) + std::string(rollouts);
}

TEST_CASE("a rollout parses with its schedule, analysis and defaults", "[config]") {
  auto config = ParseConfig(With(R"(rollouts:
  state_file: /var/lib/og/rollouts.json
  models:
    - model: bot
      hash_key: header:x-session-id
      baseline: {model: bot:v7}
      candidate: {model: bot:v8, backends: [b]}
      steps: {start: 10, step: 10, interval: 5m, max: 50, then: promote}
      analysis: {interval: 30s, min_calls: 50, prometheus_url: "http://prom:9090/"}
)"),
                            "test.yaml");
  REQUIRE(config.ok());
  REQUIRE(config->rollouts.models.size() == 1);
  const RolloutConfig& r = config->rollouts.models[0];
  CHECK(config->rollouts.state_file == "/var/lib/og/rollouts.json");
  CHECK(r.canonical_model == "bot:latest");
  CHECK(r.hash_key.kind == HashKeySource::Kind::kHeader);
  CHECK(r.hash_key.name == "x-session-id");
  CHECK(r.baseline.canonical_model == "bot:v7");
  CHECK(r.baseline.backends.empty());
  CHECK(r.candidate.backends == std::vector<std::string>{"b"});
  CHECK(r.steps.enabled);
  CHECK(r.steps.interval == milliseconds(300000));
  CHECK(r.steps.max == 50);
  CHECK(r.steps.promote);
  CHECK(r.analysis.enabled);
  CHECK(r.analysis.min_calls == 50);
  CHECK(r.analysis.max_error_rate_increase == 0.05);
  CHECK(r.analysis.prometheus_url == "http://prom:9090");
  CHECK(r.analysis.calls_query.find("gateway_rollout_requests_total") != std::string::npos);

  auto fixed = ParseConfig(With(R"(rollouts:
  models:
    - {model: bot, baseline: {model: bot:v7}, candidate: {model: bot:v8}, weight: 25}
)"),
                           "test.yaml");
  REQUIRE(fixed.ok());
  CHECK(fixed->rollouts.models[0].weight == 25);
  CHECK_FALSE(fixed->rollouts.models[0].steps.enabled);
  CHECK_FALSE(fixed->rollouts.models[0].analysis.enabled);
}

TEST_CASE("bad rollouts are refused with line and reason", "[config]") {
  CHECK(ErrorsOf(With(R"(rollouts:
  models:
    - {model: bot, baseline: {model: bot:v7}, candidate: {model: bot:v8, backends: [c]}}
)")) == "test.yaml:11: rollouts.models[0].candidate.backends[0]: no backend is named \"c\"");
  CHECK(ErrorsOf(With(R"(rollouts:
  models:
    - {model: bot, baseline: {model: bot:v7, backends: [b]}, candidate: {model: bot:v8}}
)")) == "test.yaml:11: rollouts.models[0].baseline.backends[0]: backend \"b\" does not serve "
        "\"bot:v7\" (add it to its models)");
  CHECK(ErrorsOf(With(R"(rollouts:
  models:
    - {model: bot, baseline: {model: bot:v7}, candidate: {model: bot:v7}}
)")) == "test.yaml:11: rollouts.models[0]: baseline and candidate are the same model on the same "
        "backends; give the candidate another tag or other backends");
  CHECK(ErrorsOf(With(R"(rollouts:
  models:
    - {model: bot, baseline: {model: bot:v7}, candidate: {model: bot:v8}, weight: 101}
)")) == "test.yaml:11: rollouts.models[0].weight: must be an integer from 0 to 100, got \"101\"");
  CHECK(ErrorsOf(With(R"(rollouts:
  models:
    - model: bot
      baseline: {model: bot:v7}
      candidate: {model: bot:v8}
      steps: {start: 60, max: 50, interval: 1m, then: later}
)")) == "test.yaml:14: rollouts.models[0].steps.then: must be one of promote, hold, got "
        "\"later\"\ntest.yaml:14: rollouts.models[0].steps: max (50) is below start (60)");
  CHECK(ErrorsOf(With(R"(rollouts:
  models:
    - {model: bot, hash_key: model, baseline: {model: bot:v7}, candidate: {model: bot:v8}}
)")) == "test.yaml:11: rollouts.models[0].hash_key: cannot be model: every call of the rollout "
        "has the same model, so all would go to one target; use hash_key, metadata:NAME or "
        "header:NAME");
  CHECK(ErrorsOf(With(R"(rollouts:
  models:
    - {model: bot, baseline: {model: bot:v7}, candidate: {model: bot:v8}}
    - {model: BOT, baseline: {model: bot:v7}, candidate: {model: bot:v8}}
)")) == "test.yaml:12: rollouts.models[1].model: a rollout of \"BOT\" is already configured at "
        "line 11");
  CHECK(ErrorsOf(With(R"(rollouts:
  models:
    - model: bot
      baseline: {model: bot:v7}
      candidate: {model: bot:v8}
      analysis: {queries: {calls: "up"}, prometheus_url: "prom:9090"}
)")) == "test.yaml:14: rollouts.models[0].analysis.prometheus_url: must be an http:// or "
        "https:// URL, got \"prom:9090\"");
}

}  // namespace
}  // namespace og
