// The health and outlier_detection sections: defaults, every key, the ordering of each tier's
// durations (with defaults in force), thresholds, probe models and their pools.
#include <catch2/catch.hpp>
#include <chrono>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "gateway/config/load.h"
#include "tests/fakes/config_testing.h"

namespace og {
namespace {

using std::chrono::milliseconds;

using testing::ErrorsOf;
using testing::Valid;
using testing::With;

void CheckTier(const HealthTierConfig& tier, const HealthTierConfig& expected) {
  CHECK(tier.enabled == expected.enabled);
  CHECK(tier.interval == expected.interval);
  CHECK(tier.timeout == expected.timeout);
  CHECK(tier.jitter == expected.jitter);
  CHECK(tier.healthy_threshold == expected.healthy_threshold);
  CHECK(tier.unhealthy_threshold == expected.unhealthy_threshold);
  CHECK(tier.line == expected.line);
}

TEST_CASE("without health and outlier_detection sections the struct defaults apply", "[config]") {
  const Config config = Valid(testing::kTwoBackends);
  const HealthConfig defaults;
  CheckTier(config.health.connect, defaults.connect);
  CheckTier(config.health.api, defaults.api);
  CheckTier(config.health.inference, defaults.inference);
  CHECK(config.health.connect.interval == milliseconds(5000));
  CHECK(config.health.api.timeout == milliseconds(2000));
  CHECK(config.health.inference.timeout == milliseconds(30000));
  CHECK(config.health.ps_timeout == milliseconds(2000));
  CHECK(config.health.inference_models.empty());
  CHECK(config.health.canonical_inference_models.empty());
  CHECK(config.health.inference_prompt == "Say OK.");
  CHECK(config.health.inference_keep_alive == "5m");
  CHECK(config.health.discovery);
  CHECK(config.health.panic_threshold == 50);
  CHECK(config.health.line == 0);
  CHECK(config.outlier_detection.consecutive_failures == 5);
  CHECK(config.outlier_detection.base_ejection_time == milliseconds(30000));
  CHECK(config.outlier_detection.max_ejection_time == milliseconds(300000));
  CHECK(config.outlier_detection.max_ejection_percent == 50);
  CHECK(config.outlier_detection.line == 0);
}

TEST_CASE("sections written with nothing under them take the defaults", "[config]") {
  const Config config = Valid(With("health:\n  connect:\n  api:\noutlier_detection:\n"));
  CHECK(config.health.line == 9);
  CHECK(config.health.connect.line == 10);
  CHECK(config.health.connect.interval == milliseconds(5000));
  CHECK(config.health.api.line == 11);
  CHECK(config.health.api.interval == milliseconds(10000));
  CHECK(config.outlier_detection.line == 12);
  CHECK(config.outlier_detection.consecutive_failures == 5);
}

TEST_CASE("every health and outlier_detection key is read", "[config]") {
  const Config config = Valid(With(R"(health:
  discovery: false
  panic_threshold: 0
  connect:
    enabled: false
    interval: 3s
    timeout: 500ms
    jitter: 0
    healthy_threshold: 1
    unhealthy_threshold: 100
  api:
    interval: 20s
    timeout: 4s
    jitter: 2s
    healthy_threshold: 3
    unhealthy_threshold: 4
    ps_timeout: 1500ms
  inference:
    enabled: true
    interval: 2m
    timeout: 45s
    jitter: 10s
    healthy_threshold: 2
    unhealthy_threshold: 5
    models: [Llama3.2, "qwen2.5:latest"]
    prompt: "Reply with one word."
    keep_alive: 10m
outlier_detection:
  consecutive_failures: 7
  base_ejection_time: 10s
  max_ejection_time: 2m
  max_ejection_percent: 100
)"));
  const HealthConfig& health = config.health;
  CHECK(health.line == 9);
  CHECK_FALSE(health.discovery);
  CHECK(health.panic_threshold == 0);
  CheckTier(health.connect,
            {false, milliseconds(3000), milliseconds(500), milliseconds(0), 1, 100, 12});
  CheckTier(health.api,
            {true, milliseconds(20000), milliseconds(4000), milliseconds(2000), 3, 4, 19});
  CHECK(health.ps_timeout == milliseconds(1500));
  CheckTier(health.inference,
            {true, milliseconds(120000), milliseconds(45000), milliseconds(10000), 2, 5, 26});
  CHECK(health.inference_models == std::vector<std::string>{"Llama3.2", "qwen2.5:latest"});
  CHECK(health.canonical_inference_models ==
        std::vector<std::string>{"llama3.2:latest", "qwen2.5:latest"});
  CHECK(health.inference_prompt == "Reply with one word.");
  CHECK(health.inference_keep_alive == "10m");
  const OutlierDetectionConfig& outlier = config.outlier_detection;
  CHECK(outlier.line == 36);
  CHECK(outlier.consecutive_failures == 7);
  CHECK(outlier.base_ejection_time == milliseconds(10000));
  CHECK(outlier.max_ejection_time == milliseconds(120000));
  CHECK(outlier.max_ejection_percent == 100);
}

TEST_CASE("a tier given only an interval keeps its own defaults for the other keys", "[config]") {
  const Config config = Valid(With("health:\n  api: {interval: 3s}\n"));
  CHECK(config.health.api.interval == milliseconds(3000));
  CHECK(config.health.api.timeout == milliseconds(2000));
  CHECK(config.health.api.jitter == milliseconds(1000));
  CHECK(config.health.api.healthy_threshold == 2);
  CHECK(config.health.api.unhealthy_threshold == 3);
  CHECK(config.health.api.line == 10);
  CHECK(config.health.connect.interval == milliseconds(5000));
}

TEST_CASE("an interval of 0 is refused as not above 0", "[config]") {
  CHECK(ErrorsOf(With("health:\n  connect:\n    interval: 0s\n")) ==
        "test.yaml:11: health.connect.interval: must be above 0, got \"0s\"");
  CHECK(ErrorsOf(With("health:\n  inference:\n    interval: 0\n")) ==
        "test.yaml:11: health.inference.interval: must be above 0, got \"0\"");
}

TEST_CASE("a negative interval is refused by the duration syntax", "[config]") {
  CHECK(ErrorsOf(With("health:\n  api:\n    interval: -5s\n")) ==
        "test.yaml:11: health.api.interval: invalid duration \"-5s\": must not be negative");
}

TEST_CASE("timeout and ps_timeout of 0 are refused", "[config]") {
  CHECK(ErrorsOf(With("health:\n  connect:\n    timeout: 0ms\n")) ==
        "test.yaml:11: health.connect.timeout: must be above 0, got \"0ms\"");
  CHECK(ErrorsOf(With("health:\n  api:\n    ps_timeout: 0\n")) ==
        "test.yaml:11: health.api.ps_timeout: must be above 0, got \"0\"");
}

TEST_CASE("a timeout not below the interval is refused at the timeout, naming both", "[config]") {
  CHECK(ErrorsOf(With("health:\n  connect:\n    interval: 2s\n    timeout: 2s\n")) ==
        "test.yaml:12: health.connect.timeout: must be below interval, got timeout 2s and "
        "interval 2s");
  CHECK(ErrorsOf(With("health:\n  api:\n    timeout: 1m\n")) ==
        "test.yaml:11: health.api.timeout: must be below interval, got timeout 1m and interval "
        "10s (the default)");
}

TEST_CASE("an interval below the default timeout is refused at the interval, naming both",
          "[config]") {
  CHECK(ErrorsOf(With("health:\n  inference: {interval: 10s}\n")) ==
        "test.yaml:10: health.inference.timeout: must be below interval, got timeout 30s (the "
        "default) and interval 10s");
}

TEST_CASE("a jitter not below the interval is refused; a jitter of 0 is accepted", "[config]") {
  CHECK(ErrorsOf(With("health:\n  connect:\n    jitter: 5s\n")) ==
        "test.yaml:11: health.connect.jitter: must be below interval, got jitter 5s and "
        "interval 5s (the default)");
  CHECK(ErrorsOf(With("health:\n  connect:\n    interval: 400ms\n    timeout: 300ms\n")) ==
        "test.yaml:11: health.connect.jitter: must be below interval, got jitter 500ms (the "
        "default) and interval 400ms");
  CHECK(Valid(With("health:\n  connect: {jitter: 0}\n")).health.connect.jitter == milliseconds(0));
}

TEST_CASE("a refused duration is not also compared with the interval", "[config]") {
  CHECK(ErrorsOf(With("health:\n  connect:\n    interval: 100ms\n    timeout: soon\n"
                      "    jitter: 50ms\n")) ==
        "test.yaml:12: health.connect.timeout: invalid duration \"soon\": expected numbers "
        "with units (ms, s, m, h), as in 250ms, 2s, 1m30s or 1h");
}

TEST_CASE("thresholds are integers from 1 to 100", "[config]") {
  CHECK(ErrorsOf(With("health:\n  connect:\n    healthy_threshold: 0\n")) ==
        "test.yaml:11: health.connect.healthy_threshold: must be an integer from 1 to 100, got "
        "\"0\"");
  CHECK(ErrorsOf(With("health:\n  inference:\n    unhealthy_threshold: 0\n")) ==
        "test.yaml:11: health.inference.unhealthy_threshold: must be an integer from 1 to 100, "
        "got \"0\"");
  CHECK(ErrorsOf(With("health:\n  api:\n    unhealthy_threshold: 101\n")) ==
        "test.yaml:11: health.api.unhealthy_threshold: must be an integer from 1 to 100, got "
        "\"101\"");
}

TEST_CASE("panic_threshold is an integer from 0 to 100 and discovery a boolean", "[config]") {
  CHECK(ErrorsOf(With("health:\n  panic_threshold: 101\n")) ==
        "test.yaml:10: health.panic_threshold: must be an integer from 0 to 100, got \"101\"");
  CHECK(ErrorsOf(With("health:\n  discovery: yes\n")) ==
        "test.yaml:10: health.discovery: must be true or false, got \"yes\"");
  CHECK(Valid(With("health: {panic_threshold: 100}\n")).health.panic_threshold == 100);
}

TEST_CASE("keys of another tier or a misspelt key are refused with the valid ones", "[config]") {
  CHECK(ErrorsOf(With("health:\n  connect:\n    ps_timeout: 1s\n")) ==
        "test.yaml:11: unknown field 'ps_timeout' in health.connect (valid: enabled, interval, "
        "timeout, jitter, healthy_threshold, unhealthy_threshold)");
  CHECK(ErrorsOf(With("health:\n  api:\n    models: [llama3.2]\n")) ==
        "test.yaml:11: unknown field 'models' in health.api (valid: enabled, interval, timeout, "
        "jitter, healthy_threshold, unhealthy_threshold, ps_timeout)");
  CHECK(ErrorsOf(With("health:\n  conect: {}\n")) ==
        "test.yaml:10: unknown field 'conect' in health (valid: discovery, panic_threshold, "
        "connect, api, inference); did you mean 'connect'?");
  CHECK(ErrorsOf(With("outlier_detection:\n  max_ejection_percnt: 10\n")) ==
        "test.yaml:10: unknown field 'max_ejection_percnt' in outlier_detection (valid: "
        "consecutive_failures, base_ejection_time, max_ejection_time, max_ejection_percent); did "
        "you mean 'max_ejection_percent'?");
}

TEST_CASE("a health section or tier that is not a map is refused", "[config]") {
  CHECK(ErrorsOf(With("health: on\n")) == "test.yaml:9: health: must be a map, got \"on\"");
  CHECK(ErrorsOf(With("health:\n  inference: [llama3.2]\n")) ==
        "test.yaml:10: health.inference: must be a map, got a list");
}

TEST_CASE("probe models served by a backend are accepted under any spelling", "[config]") {
  const Config config = Valid(With("health:\n  inference:\n    models: [QWEN2.5:latest]\n"));
  CHECK(config.health.inference_models == std::vector<std::string>{"QWEN2.5:latest"});
  CHECK(config.health.canonical_inference_models == std::vector<std::string>{"qwen2.5:latest"});
}

TEST_CASE("a probe model in no pool is refused at its list entry", "[config]") {
  CHECK(ErrorsOf(With("health:\n  inference:\n    models:\n      - llama3.2\n"
                      "      - mistral\n")) ==
        "test.yaml:13: health.inference.models[1]: probe model \"mistral\" is in no pool: no "
        "backend serves it (add it to a backend's models)");
}

TEST_CASE("a probe model is in a pool when some backend lists no models", "[config]") {
  const std::string yaml = With(
      "  - name: any\n    url: http://10.0.0.3:11434\n"
      "health:\n  inference:\n    models: [mistral]\n");
  CHECK(Valid(yaml).health.canonical_inference_models ==
        std::vector<std::string>{"mistral:latest"});
}

TEST_CASE("probe models must be valid and distinct after canonicalization", "[config]") {
  CHECK(ErrorsOf(With("health:\n  inference:\n    models: [llama3.2, Llama3.2:latest]\n")) ==
        "test.yaml:11: health.inference.models[1]: duplicate model \"Llama3.2:latest\" (same as "
        "\"llama3.2\")");
  CHECK(ErrorsOf(With("health:\n  inference:\n    models: [\"bad name\"]\n")) ==
        "test.yaml:11: health.inference.models[0]: must be a model name such as llama3.2 or "
        "qwen2.5:7b, got \"bad name\" (the model \"bad name\" of the model name must be 1 to 80 "
        "characters of letters, digits, '_', '-' and '.', starting with a letter, a digit or '_')");
  CHECK(ErrorsOf(With("health:\n  inference:\n    models: llama3.2\n")) ==
        "test.yaml:11: health.inference.models: must be a list of model names, got \"llama3.2\"");
}

TEST_CASE("the probe prompt is a non-empty string of at most 4096 bytes", "[config]") {
  CHECK(ErrorsOf(With("health:\n  inference:\n    prompt: \"\"\n")) ==
        "test.yaml:11: health.inference.prompt: must be a non-empty string, got \"\"");
  const std::string longest(4096, 'x');
  CHECK(
      Valid(With("health:\n  inference:\n    prompt: " + longest + "\n")).health.inference_prompt ==
      longest);
  CHECK(ErrorsOf(With("health:\n  inference:\n    prompt: " + longest + "y\n")) ==
        "test.yaml:11: health.inference.prompt: must be at most 4096 bytes, got 4097");
}

TEST_CASE("keep_alive takes a duration, 0 or a negative duration", "[config]") {
  for (const std::string text : {"5m", "1h30m", "0", "-1", "-1s", "\"-1\"", "300"}) {
    INFO(text);
    const Config config = Valid(With("health:\n  inference:\n    keep_alive: " + text + "\n"));
    CHECK(config.health.inference_keep_alive == (text == "\"-1\"" ? "-1" : text));
  }
  for (const std::string text : {"forever", "-x", "--1", "5x", "-1d"}) {
    INFO(text);
    CHECK(ErrorsOf(With("health:\n  inference:\n    keep_alive: " + text + "\n")) ==
          "test.yaml:11: health.inference.keep_alive: must be a duration such as 5m, 0 (unload "
          "after the probe) or -1 (keep loaded), got \"" +
              text + "\"");
  }
}

TEST_CASE("outlier_detection bounds consecutive_failures and max_ejection_percent", "[config]") {
  CHECK(Valid(With("outlier_detection: {consecutive_failures: 0}\n"))
            .outlier_detection.consecutive_failures == 0);
  CHECK(ErrorsOf(With("outlier_detection:\n  consecutive_failures: 1001\n")) ==
        "test.yaml:10: outlier_detection.consecutive_failures: must be an integer from 0 to "
        "1000, got \"1001\"");
  CHECK(ErrorsOf(With("outlier_detection:\n  max_ejection_percent: 101\n")) ==
        "test.yaml:10: outlier_detection.max_ejection_percent: must be an integer from 0 to 100, "
        "got \"101\"");
}

TEST_CASE("ejection times must be above 0", "[config]") {
  CHECK(ErrorsOf(With("outlier_detection:\n  base_ejection_time: 0s\n")) ==
        "test.yaml:10: outlier_detection.base_ejection_time: must be above 0, got \"0s\"");
  CHECK(ErrorsOf(With("outlier_detection:\n  max_ejection_time: 0\n")) ==
        "test.yaml:10: outlier_detection.max_ejection_time: must be above 0, got \"0\"");
}

TEST_CASE("a max_ejection_time below base_ejection_time is refused, naming both", "[config]") {
  CHECK(
      ErrorsOf(With("outlier_detection:\n  base_ejection_time: 1m\n  max_ejection_time: 30s\n")) ==
      "test.yaml:11: outlier_detection.max_ejection_time: must be at least base_ejection_time, "
      "got max_ejection_time 30s and base_ejection_time 1m");
  CHECK(ErrorsOf(With("outlier_detection:\n  base_ejection_time: 10m\n")) ==
        "test.yaml:10: outlier_detection.max_ejection_time: must be at least base_ejection_time, "
        "got max_ejection_time 5m (the default) and base_ejection_time 10m");
  const Config equal = Valid(With("outlier_detection: {base_ejection_time: 5m}\n"));
  CHECK(equal.outlier_detection.max_ejection_time == milliseconds(300000));
}

// The docs' complete example and deploy/examples/gateway.yaml (the same file with comments) set
// health and outlier_detection alike.
TEST_CASE("the docs' complete example and gateway.yaml agree on health and outlier_detection",
          "[config]") {
  std::string root = __FILE__;
  root.erase(root.rfind("/tests/unit/"));
  std::ifstream file(root + "/docs/configuration.md");
  REQUIRE(file);
  const std::string doc((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  const std::size_t section = doc.find("## Complete example");
  const std::size_t begin = doc.find("```yaml\n", section);
  REQUIRE(begin != std::string::npos);
  const std::size_t end = doc.find("```", begin + 8);
  const Config documented = Valid(doc.substr(begin + 8, end - begin - 8));
  const absl::StatusOr<Config> example = LoadConfigFile(root + "/deploy/examples/gateway.yaml");
  REQUIRE(example.ok());
  const HealthConfig& a = documented.health;
  const HealthConfig& b = example->health;
  CHECK(a.discovery == b.discovery);
  CHECK(a.panic_threshold == b.panic_threshold);
  for (const auto& [x, y] : {std::pair(a.connect, b.connect), std::pair(a.api, b.api),
                             std::pair(a.inference, b.inference)}) {
    CHECK(x.enabled == y.enabled);
    CHECK(x.interval == y.interval);
    CHECK(x.timeout == y.timeout);
    CHECK(x.jitter == y.jitter);
    CHECK(x.healthy_threshold == y.healthy_threshold);
    CHECK(x.unhealthy_threshold == y.unhealthy_threshold);
  }
  CHECK(a.ps_timeout == b.ps_timeout);
  CHECK(a.inference_models == b.inference_models);
  CHECK(a.inference_prompt == b.inference_prompt);
  CHECK(a.inference_keep_alive == b.inference_keep_alive);
  CHECK_FALSE(a.inference_models.empty());
  const OutlierDetectionConfig& c = documented.outlier_detection;
  const OutlierDetectionConfig& d = example->outlier_detection;
  CHECK(c.consecutive_failures == d.consecutive_failures);
  CHECK(c.base_ejection_time == d.base_ejection_time);
  CHECK(c.max_ejection_time == d.max_ejection_time);
  CHECK(c.max_ejection_percent == d.max_ejection_percent);
  CHECK(c.line != 0);
}

}  // namespace
}  // namespace og
