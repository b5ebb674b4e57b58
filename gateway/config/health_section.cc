// The `health` section (active checks in three tiers: connect, api, inference) and the
// `outlier_detection` section (passive ejection from live traffic).
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fmt/format.h"
#include "gateway/config/config.h"
#include "gateway/config/sections.h"
#include "gateway/config/values.h"
#include "gateway/config/yaml_reader.h"

namespace og::config_internal {
namespace {

using std::chrono::milliseconds;

constexpr std::array<std::string_view, 5> kHealthKeys = {"discovery", "panic_threshold", "connect",
                                                         "api", "inference"};
constexpr std::array<std::string_view, 6> kConnectKeys = {
    "enabled", "interval", "timeout", "jitter", "healthy_threshold", "unhealthy_threshold"};
constexpr std::array<std::string_view, 7> kApiKeys = {
    "enabled",   "interval", "timeout", "jitter", "healthy_threshold", "unhealthy_threshold",
    "ps_timeout"};
constexpr std::array<std::string_view, 9> kInferenceKeys = {
    "enabled", "interval", "timeout",   "jitter", "healthy_threshold", "unhealthy_threshold",
    "models",  "prompt",   "keep_alive"};
constexpr std::array<std::string_view, 4> kOutlierKeys = {
    "consecutive_failures", "base_ejection_time", "max_ejection_time", "max_ejection_percent"};

constexpr std::int64_t kMaxThreshold = 100;
constexpr std::int64_t kMaxConsecutiveFailures = 1000;
constexpr std::size_t kMaxPromptBytes = 4096;

// A duration for a message, in the largest unit that divides it: 30s, 5m, 1500ms.
std::string DurationText(milliseconds duration) {
  const std::int64_t ms = duration.count();
  if (ms != 0 && ms % 3600000 == 0) return fmt::format("{}h", ms / 3600000);
  if (ms != 0 && ms % 60000 == 0) return fmt::format("{}m", ms / 60000);
  if (ms != 0 && ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

// Reads a duration that must be above 0. Returns false when the key is present but refused, so
// that cross-checks against it are skipped rather than made against the default.
bool PositiveDuration(const MapReader& map, std::string_view name, milliseconds* out) {
  const Field* field = map.Find(name);
  if (field == nullptr) return true;
  milliseconds value{0};
  if (!map.Duration(name, /*allow_zero=*/true, &value)) return false;
  if (value.count() == 0) {
    map.Error(*field, "must be above 0, got " + Describe(field->value));
    return false;
  }
  *out = value;
  return true;
}

// Like PositiveDuration, for a duration that may be 0.
bool AnyDuration(const MapReader& map, std::string_view name, milliseconds* out) {
  return map.Find(name) == nullptr || map.Duration(name, /*allow_zero=*/true, out);
}

bool IntegerInto(const MapReader& map, std::string_view name, std::int64_t min, std::int64_t max,
                 int* out) {
  std::int64_t number = 0;
  if (!map.Integer(name, min, max, &number)) return false;
  *out = static_cast<int>(number);
  return true;
}

// A pair of durations that must be ordered, with the values in force, defaults included:
// `inference: {interval: 10s}` keeps the 30s default timeout and is refused. The error carries
// the path of `key` and goes to its line when written, else to the line of `other`, which then
// made the pair invalid (the defaults of one map are always ordered).
void ReportOrder(const MapReader& map, std::string_view key, milliseconds value,
                 std::string_view relation, std::string_view other, milliseconds other_value) {
  const Field* field = map.Find(key);
  const Field* other_field = map.Find(other);
  const Field* blamed = field != nullptr ? field : other_field;
  const int line = blamed != nullptr ? blamed->line : map.line();
  map.errors()->Add(
      line,
      fmt::format("{}: must be {} {}, got {} {}{} and {} {}{}", map.PathOf(key), relation, other,
                  key, DurationText(value), field == nullptr ? " (the default)" : "", other,
                  DurationText(other_value), other_field == nullptr ? " (the default)" : ""));
}

// Reads the keys every tier has over `tier` (which holds the tier's defaults).
void ReadTier(const MapReader& map, HealthTierConfig* tier) {
  map.Bool("enabled", &tier->enabled);
  bool timing_valid = PositiveDuration(map, "interval", &tier->interval);
  timing_valid &= PositiveDuration(map, "timeout", &tier->timeout);
  timing_valid &= AnyDuration(map, "jitter", &tier->jitter);
  IntegerInto(map, "healthy_threshold", 1, kMaxThreshold, &tier->healthy_threshold);
  IntegerInto(map, "unhealthy_threshold", 1, kMaxThreshold, &tier->unhealthy_threshold);
  // A refused key kept its default: comparing that would add a second, misleading error.
  if (!timing_valid) return;
  if (tier->timeout >= tier->interval) {
    ReportOrder(map, "timeout", tier->timeout, "below", "interval", tier->interval);
  }
  if (tier->jitter >= tier->interval) {
    ReportOrder(map, "jitter", tier->jitter, "below", "interval", tier->interval);
  }
}

// Ollama's keep_alive: a Go duration, "0" (unload at once), or a negative one ("-1", "-1s":
// keep the model loaded forever).
void ReadKeepAlive(const MapReader& map, std::string* out) {
  std::string text;
  if (!map.String("keep_alive", &text)) return;
  const std::string_view magnitude =
      text.starts_with('-') ? std::string_view(text).substr(1) : std::string_view(text);
  const absl::StatusOr<milliseconds> duration = ParseDuration(magnitude);
  if (!duration.ok()) {
    map.Error(*map.Find("keep_alive"),
              fmt::format("must be a duration such as 5m, 0 (unload after the probe) or -1 (keep "
                          "loaded), got {}",
                          Quoted(text)));
    return;
  }
  *out = std::move(text);
}

// Probe models must be in some pool, or the probe could run nowhere.
void ReadProbeModels(const MapReader& map, const std::vector<BackendConfig>& backends,
                     HealthConfig* health) {
  std::vector<ListItem> entries;
  ReadModelList(map, "models", &health->inference_models, &health->canonical_inference_models,
                &entries);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (ModelIsServed(backends, health->canonical_inference_models[i])) continue;
    map.errors()->Add(entries[i].line,
                      fmt::format("{}: probe model {} is in no pool: no backend serves it (add it "
                                  "to a backend's models)",
                                  entries[i].path, Quoted(health->inference_models[i])));
  }
}

void ReadInference(const MapReader& health_map, const std::vector<BackendConfig>& backends,
                   HealthConfig* health) {
  const MapReader map = health_map.Child("inference", kInferenceKeys, &health->inference.line);
  if (!map.ok()) return;
  ReadTier(map, &health->inference);
  ReadProbeModels(map, backends, health);
  if (map.String("prompt", &health->inference_prompt) &&
      health->inference_prompt.size() > kMaxPromptBytes) {
    map.Error(*map.Find("prompt"), fmt::format("must be at most {} bytes, got {}", kMaxPromptBytes,
                                               health->inference_prompt.size()));
  }
  ReadKeepAlive(map, &health->inference_keep_alive);
}

}  // namespace

void ParseHealth(const MapReader& top, const std::vector<BackendConfig>& backends,
                 HealthConfig* health) {
  const MapReader map = top.Child("health", kHealthKeys, &health->line);
  if (!map.ok()) return;
  map.Bool("discovery", &health->discovery);
  IntegerInto(map, "panic_threshold", 0, 100, &health->panic_threshold);
  if (const MapReader connect = map.Child("connect", kConnectKeys, &health->connect.line);
      connect.ok()) {
    ReadTier(connect, &health->connect);
  }
  if (const MapReader api = map.Child("api", kApiKeys, &health->api.line); api.ok()) {
    ReadTier(api, &health->api);
    PositiveDuration(api, "ps_timeout", &health->ps_timeout);
  }
  ReadInference(map, backends, health);
}

void ParseOutlierDetection(const MapReader& top, OutlierDetectionConfig* outlier_detection) {
  OutlierDetectionConfig& config = *outlier_detection;
  const MapReader map = top.Child("outlier_detection", kOutlierKeys, &config.line);
  if (!map.ok()) return;
  IntegerInto(map, "consecutive_failures", 0, kMaxConsecutiveFailures,
              &config.consecutive_failures);
  IntegerInto(map, "max_ejection_percent", 0, 100, &config.max_ejection_percent);
  const bool times_valid = PositiveDuration(map, "base_ejection_time", &config.base_ejection_time) &
                           PositiveDuration(map, "max_ejection_time", &config.max_ejection_time);
  if (times_valid && config.max_ejection_time < config.base_ejection_time) {
    ReportOrder(map, "max_ejection_time", config.max_ejection_time, "at least",
                "base_ejection_time", config.base_ejection_time);
  }
}

}  // namespace og::config_internal
