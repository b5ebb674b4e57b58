// The `rollouts` section: weighted splits of a model name between a baseline and a candidate
// target, their step schedules and their analysis (docs/rollouts.md).
#include <map>
#include <set>

#include "gateway/config/balancer_section.h"
#include "gateway/config/config.h"
#include "gateway/config/sections.h"
#include "gateway/config/values.h"
#include "gateway/config/yaml_reader.h"

namespace og::config_internal {
namespace {

constexpr std::array<std::string_view, 2> kRolloutsKeys = {"state_file", "models"};
constexpr std::array<std::string_view, 7> kRolloutKeys = {
    "model", "hash_key", "baseline", "candidate", "weight", "steps", "analysis"};
constexpr std::array<std::string_view, 2> kTargetKeys = {"model", "backends"};
constexpr std::array<std::string_view, 5> kStepsKeys = {"start", "step", "interval", "max", "then"};
constexpr std::array<std::string_view, 10> kAnalysisKeys = {"interval",
                                                            "min_calls",
                                                            "max_error_rate_increase",
                                                            "max_ttft_p99_ratio",
                                                            "min_ttft_p99_increase",
                                                            "max_token_latency_p99_ratio",
                                                            "min_token_latency_p99_increase",
                                                            "prometheus_url",
                                                            "timeout",
                                                            "queries"};
constexpr std::array<std::string_view, 4> kQueryKeys = {"calls", "error_rate", "ttft_p99",
                                                        "token_latency_p99"};
constexpr std::array<std::string_view, 2> kThen = {"promote", "hold"};
constexpr std::int64_t kMaxMinCalls = 1'000'000;
constexpr double kMaxRatio = 1000;

// The default queries read the series every replica exports (gateway_rollout_*), summed over
// the replicas Prometheus scrapes.
constexpr std::string_view kCallsQuery =
    R"(sum(increase(gateway_rollout_requests_total{rollout="$rollout",target="$target"}[$window])))";
constexpr std::string_view kErrorRateQuery =
    R"(sum(rate(gateway_rollout_requests_total{rollout="$rollout",target="$target",result="error"}[$window])) / sum(rate(gateway_rollout_requests_total{rollout="$rollout",target="$target"}[$window])))";
constexpr std::string_view kTtftQuery =
    R"(histogram_quantile(0.99, sum by (le) (rate(gateway_rollout_time_to_first_token_seconds_bucket{rollout="$rollout",target="$target"}[$window]))))";
constexpr std::string_view kTokenLatencyQuery =
    R"(histogram_quantile(0.99, sum by (le) (rate(gateway_rollout_token_latency_seconds_bucket{rollout="$rollout",target="$target"}[$window]))))";

bool ServesModel(const BackendConfig& backend, const std::string& canonical) {
  return backend.canonical_models.empty() ||
         std::find(backend.canonical_models.begin(), backend.canonical_models.end(), canonical) !=
             backend.canonical_models.end();
}

void ReadTarget(const MapReader& rollout, std::string_view name,
                const std::vector<BackendConfig>& backends, RolloutTargetConfig* target) {
  int line = 0;
  if (rollout.Find(name) == nullptr) {
    rollout.errors()->Add(rollout.line(),
                          fmt::format("{}: missing required field '{}'", rollout.path(), name));
    return;
  }
  const MapReader map = rollout.Child(name, kTargetKeys, &line);
  if (!map.ok()) return;
  map.Require({"model"});
  if (!map.String("model", &target->model)) return;
  if (const absl::Status valid = ParseModelName(target->model).status(); !valid.ok()) {
    map.Error(*map.Find("model"),
              fmt::format("must be a model name such as llama3.2 or qwen2.5:7b, got {} ({})",
                          Quoted(target->model), MessageOf(valid)));
    return;
  }
  target->canonical_model = CanonicalModelName(target->model);
  std::set<std::string> seen;
  const std::vector<ListItem> items = map.List("backends", "backend names");
  for (const ListItem& item : items) {
    if (!item.value.IsScalar()) {
      map.errors()->Add(item.line, fmt::format("{}: must be a backend name, got {}", item.path,
                                               Describe(item.value)));
      continue;
    }
    const std::string backend_name = item.value.Scalar();
    const auto backend =
        std::find_if(backends.begin(), backends.end(),
                     [&](const BackendConfig& b) { return b.name == backend_name; });
    if (backend == backends.end()) {
      map.errors()->Add(item.line,
                        fmt::format("{}: no backend is named {}", item.path, Quoted(backend_name)));
      continue;
    }
    if (!seen.insert(backend_name).second) {
      map.errors()->Add(item.line,
                        fmt::format("{}: {} is listed twice", item.path, Quoted(backend_name)));
      continue;
    }
    if (!ServesModel(*backend, target->canonical_model)) {
      map.errors()->Add(item.line,
                        fmt::format("{}: backend {} does not serve {} (add it to its models)",
                                    item.path, Quoted(backend_name), Quoted(target->model)));
      continue;
    }
    target->backends.push_back(backend_name);
  }
  if (map.Find("backends") != nullptr && map.Find("backends")->value.IsSequence() &&
      items.empty()) {
    map.Error(*map.Find("backends"), "must name at least one backend (or be left out)");
  }
  if (map.Find("backends") == nullptr && !ModelIsServed(backends, target->canonical_model)) {
    map.Error(*map.Find("model"), fmt::format("no backend serves {} (add it to a backend's models)",
                                              Quoted(target->model)));
  }
}

void ReadSteps(const MapReader& rollout, RolloutStepsConfig* steps) {
  if (rollout.Find("steps") == nullptr) return;
  const MapReader map = rollout.Child("steps", kStepsKeys, &steps->line);
  if (!map.ok()) return;
  steps->enabled = true;
  map.Require({"interval"});
  std::int64_t value = 0;
  if (map.Integer("start", 1, 100, &value)) steps->start = static_cast<int>(value);
  if (map.Integer("step", 1, 100, &value)) steps->step = static_cast<int>(value);
  if (map.Integer("max", 1, 100, &value)) steps->max = static_cast<int>(value);
  map.Duration("interval", /*allow_zero=*/false, &steps->interval);
  std::string then;
  if (map.OneOf("then", kThen, &then)) steps->promote = then == "promote";
  if (steps->max < steps->start) {
    const Field* max = map.Find("max");
    map.errors()->Add(
        max != nullptr ? max->line : map.line(),
        fmt::format("{}: max ({}) is below start ({})", map.path(), steps->max, steps->start));
  }
}

void ReadAnalysis(const MapReader& rollout, RolloutAnalysisConfig* analysis) {
  analysis->calls_query = kCallsQuery;
  analysis->error_rate_query = kErrorRateQuery;
  analysis->ttft_p99_query = kTtftQuery;
  analysis->token_latency_p99_query = kTokenLatencyQuery;
  if (rollout.Find("analysis") == nullptr) return;
  const MapReader map = rollout.Child("analysis", kAnalysisKeys, &analysis->line);
  if (!map.ok()) return;
  analysis->enabled = true;
  map.Duration("interval", /*allow_zero=*/false, &analysis->interval);
  map.Integer("min_calls", 1, kMaxMinCalls, &analysis->min_calls);
  map.Number("max_error_rate_increase", 0, 1, &analysis->max_error_rate_increase);
  map.Number("max_ttft_p99_ratio", 1, kMaxRatio, &analysis->max_ttft_p99_ratio);
  map.Duration("min_ttft_p99_increase", /*allow_zero=*/true, &analysis->min_ttft_p99_increase);
  map.Number("max_token_latency_p99_ratio", 1, kMaxRatio, &analysis->max_token_latency_p99_ratio);
  map.Duration("min_token_latency_p99_increase", /*allow_zero=*/true,
               &analysis->min_token_latency_p99_increase);
  map.Duration("timeout", /*allow_zero=*/false, &analysis->timeout);
  if (map.String("prometheus_url", &analysis->prometheus_url)) {
    std::string& url = analysis->prometheus_url;
    if (!url.starts_with("http://") && !url.starts_with("https://")) {
      map.Error(*map.Find("prometheus_url"),
                fmt::format("must be an http:// or https:// URL, got {}", Quoted(url)));
    }
    while (url.ends_with('/')) url.pop_back();
  }
  int line = 0;
  if (map.Find("queries") != nullptr) {
    const MapReader queries = map.Child("queries", kQueryKeys, &line);
    if (queries.ok()) {
      queries.String("calls", &analysis->calls_query);
      queries.String("error_rate", &analysis->error_rate_query);
      queries.String("ttft_p99", &analysis->ttft_p99_query);
      queries.String("token_latency_p99", &analysis->token_latency_p99_query);
      if (analysis->prometheus_url.empty()) {
        map.Error(*map.Find("queries"), "only applies with prometheus_url");
      }
    }
  }
}

}  // namespace

void ParseRollouts(const MapReader& top, const std::vector<BackendConfig>& backends,
                   const BalancerConfig& balancer, RolloutsConfig* rollouts) {
  const MapReader map = top.Child("rollouts", kRolloutsKeys, &rollouts->line);
  if (!map.ok()) return;
  map.String("state_file", &rollouts->state_file);
  std::map<std::string, int> first_lines;
  for (const ListItem& item : map.List("models", "rollouts")) {
    const MapReader entry(item.value, item.path, item.line, kRolloutKeys, map.errors());
    if (!entry.ok()) continue;
    RolloutConfig rollout;
    rollout.line = item.line;
    entry.Require({"model"});
    if (!entry.String("model", &rollout.model)) continue;
    const Field& model_field = *entry.Find("model");
    if (const absl::Status valid = ParseModelName(rollout.model).status(); !valid.ok()) {
      entry.Error(model_field,
                  fmt::format("must be a model name such as llama3.2 or support-bot, got {} ({})",
                              Quoted(rollout.model), MessageOf(valid)));
      continue;
    }
    rollout.canonical_model = CanonicalModelName(rollout.model);
    if (const auto [first, inserted] = first_lines.emplace(rollout.canonical_model, item.line);
        !inserted) {
      entry.Error(model_field, fmt::format("a rollout of {} is already configured at line {}",
                                           Quoted(rollout.model), first->second));
      continue;
    }
    rollout.hash_key = balancer.ForModel(rollout.canonical_model).hash_key;
    if (rollout.hash_key.kind == HashKeySource::Kind::kModel) rollout.hash_key = HashKeySource{};
    std::string source;
    if (entry.String("hash_key", &source)) {
      absl::StatusOr<HashKeySource> parsed = ParseHashKeySource(source);
      if (parsed.ok() && parsed->kind == HashKeySource::Kind::kModel) {
        entry.Error(*entry.Find("hash_key"),
                    "cannot be model: every call of the rollout has the same model, so all would "
                    "go to one target; use hash_key, metadata:NAME or header:NAME");
      } else if (parsed.ok()) {
        rollout.hash_key = *parsed;
      } else {
        entry.Error(*entry.Find("hash_key"), MessageOf(parsed.status()));
      }
    }
    ReadTarget(entry, "baseline", backends, &rollout.baseline);
    ReadTarget(entry, "candidate", backends, &rollout.candidate);
    if (!rollout.baseline.model.empty() &&
        rollout.baseline.canonical_model == rollout.candidate.canonical_model &&
        rollout.baseline.backends == rollout.candidate.backends) {
      entry.errors()->Add(item.line,
                          fmt::format("{}: baseline and candidate are the same model on the same "
                                      "backends; give the candidate another tag or other backends",
                                      item.path));
    }
    std::int64_t weight = 0;
    if (entry.Integer("weight", 0, 100, &weight)) rollout.weight = static_cast<int>(weight);
    ReadSteps(entry, &rollout.steps);
    if (rollout.steps.enabled && entry.Find("weight") != nullptr) {
      entry.Error(*entry.Find("weight"),
                  "is set by steps (start, step, max); leave one of them out");
    }
    ReadAnalysis(entry, &rollout.analysis);
    rollouts->models.push_back(std::move(rollout));
  }
}

}  // namespace og::config_internal
