#include "gateway/admin/backends_view.h"

#include <map>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/time_format.h"
#include "nlohmann/json.hpp"

namespace og {
namespace {

using json = nlohmann::ordered_json;

// Wall-clock time of a steady `point`, or null for "never".
json TimeOf(Clock::TimePoint point, const Clock& clock) {
  if (point == Clock::TimePoint{}) return nullptr;
  return Rfc3339Millis(
      std::chrono::system_clock::now() -
      std::chrono::duration_cast<std::chrono::system_clock::duration>(clock.Now() - point));
}

json TierJson(const health::TierStatus& s, const Clock& clock) {
  json t = {{"enabled", s.enabled},
            {"state", s.enabled ? health::StateName(s.state) : "disabled"},
            {"checks", s.checks},
            {"failures", s.failures},
            {"consecutive_successes", s.consecutive_successes},
            {"consecutive_failures", s.consecutive_failures},
            {"last_change", TimeOf(s.last_change, clock)}};
  if (s.checks > 0) {
    t["last_result"] = s.last_ok ? "ok" : "failed";
    t["last_error"] = s.last_error;
    t["latency_ms"] = std::chrono::duration<double, std::milli>(s.last_latency).count();
    t["last_check"] = TimeOf(s.last_check, clock);
  } else {
    t["last_result"] = nullptr;
  }
  if (s.skipped) t["skipped"] = "the backend does not list this model";
  return t;
}

// Why a tier keeps a backend out, or "".
std::string TierReason(const char* tier, const health::TierStatus& s) {
  if (!s.enabled || s.state == health::State::kHealthy) return {};
  if (s.state == health::State::kUnknown) return absl::StrCat(tier, " check: no result yet");
  return absl::StrCat(tier, " check failing: ", s.last_error);
}

}  // namespace

std::string BackendsJson(const RoutingTable& table,
                         const std::vector<health::BackendHealth>& health, const Clock& clock) {
  std::map<std::string_view, const health::BackendHealth*> by_name;
  for (const health::BackendHealth& h : health) by_name.emplace(h.name, &h);
  json backends = json::array();
  for (const PoolMember& member : table.backends()) {
    const BackendState& state = *member.state;
    json b = {{"name", state.name()},
              {"url", member.url},
              {"healthy", state.Healthy()},
              {"in_flight", state.in_flight().load(std::memory_order_relaxed)},
              {"max_in_flight", state.max_in_flight()},
              {"embed_in_flight", state.embeddings().in_flight().load(std::memory_order_relaxed)},
              {"max_embed_in_flight", state.embeddings().limit()}};
    std::vector<std::string> reasons;
    auto it = by_name.find(state.name());
    if (it != by_name.end()) {
      const health::BackendHealth& h = *it->second;
      json tiers = {{"connect", TierJson(h.connect, clock)}, {"api", TierJson(h.api, clock)}};
      tiers["api"]["version"] = h.version;
      json inference = json::object();
      for (const auto& [model, status] : h.inference) {
        inference[model] = TierJson(status, clock);
        if (status.state == health::State::kUnhealthy && status.enabled && !status.skipped) {
          reasons.push_back(
              absl::StrCat("inference check of ", model,
                           " failing (not used for that model): ", status.last_error));
        }
      }
      tiers["inference"] = std::move(inference);
      b["tiers"] = std::move(tiers);
      b["models"] = h.models.has_value() ? json(*h.models) : json(nullptr);
      b["loaded_models"] = h.loaded.has_value() ? json(*h.loaded) : json(nullptr);
      for (std::string r : {TierReason("connect", h.connect), TierReason("api", h.api)}) {
        if (!r.empty()) reasons.insert(reasons.begin(), std::move(r));
      }
    }
    const health::OutlierDetector& outlier = state.outlier();
    const bool ejected = outlier.Ejected();
    b["outlier"] = {{"ejected", ejected},
                    {"ejected_until", ejected ? TimeOf(outlier.ejected_until(), clock) : json()},
                    {"times_ejected", outlier.times_ejected()},
                    {"ejections_total", outlier.total_ejections()},
                    {"consecutive_failures", outlier.consecutive_failures()}};
    if (ejected) {
      reasons.push_back(absl::StrCat("ejected by outlier detection until ",
                                     TimeOf(outlier.ejected_until(), clock).get<std::string>()));
    }
    const bool held_out = !state.connect_backoff().Available();
    b["connect_backoff"] = {
        {"held_out", held_out},
        {"consecutive_failures", state.connect_backoff().consecutive_failures()}};
    if (held_out) reasons.push_back("held out after failing to connect");
    b["reasons"] = reasons;
    backends.push_back(std::move(b));
  }
  json pools = json::array();
  for (const Pool* pool : table.pools()) {
    json names = json::array();
    for (const PoolMember& member : pool->members) names.push_back(member.state->name());
    pools.push_back({{"model", pool->model_label},
                     {"backends", std::move(names)},
                     {"healthy", AvailableMembers(*pool)},
                     {"panic_threshold", pool->panic_threshold},
                     {"panic", pool->panic.load(std::memory_order_relaxed)}});
  }
  // Backend error bodies in last errors may be any bytes: invalid UTF-8 is replaced, not fatal.
  return json{{"backends", std::move(backends)}, {"pools", std::move(pools)}}.dump(
             2, ' ', false, json::error_handler_t::replace) +
         "\n";
}

std::string NotReadyReason(const RoutingTable& table) {
  if (table.backends().empty()) return "no backend configured";
  std::vector<std::string> out;
  for (const PoolMember& member : table.backends()) {
    const BackendState& state = *member.state;
    if (state.Healthy()) return {};
    out.push_back(
        absl::StrCat(state.name(), state.outlier().Ejected() ? " (ejected)" : " (failing checks)"));
  }
  return absl::StrCat("no healthy backend: ", absl::StrJoin(out, ", "));
}

}  // namespace og
