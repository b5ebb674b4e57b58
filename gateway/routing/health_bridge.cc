#include "gateway/routing/health_bridge.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/time_format.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace og {
namespace {

using json = nlohmann::ordered_json;

// Probe answers are small JSON documents; anything bigger is not Ollama.
constexpr std::size_t kMaxProbeReply = 8u << 20;

class ProbeExchange final : public UpstreamHandler {
 public:
  explicit ProbeExchange(health::Transport::Done done) : done_(std::move(done)) {}

  bool OnLine(std::string_view line) override {
    if (body_.size() + line.size() + 1 > kMaxProbeReply) return false;
    if (!body_.empty()) body_ += '\n';
    body_.append(line);
    return true;
  }

  void OnComplete(UpstreamResult result) override {
    health::ProbeResponse response;
    switch (result.outcome) {
      case UpstreamOutcome::kOk:
        response.completed = true;
        response.status = result.http_status != 0 ? result.http_status : 200;
        response.body = std::move(body_);
        break;
      case UpstreamOutcome::kHttpError:
        response.completed = true;
        response.status = result.http_status;
        response.body = std::move(result.body);
        break;
      default:
        response.error = result.message.empty() ? std::string(UpstreamOutcomeName(result.outcome))
                                                : std::move(result.message);
        break;
    }
    health::Transport::Done done = std::move(done_);
    delete this;
    done(std::move(response));
  }

 private:
  health::Transport::Done done_;
  std::string body_;
};

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

health::CheckerOptions CheckerOptionsOf(const Config& config) {
  const HealthConfig& h = config.health;
  health::CheckerOptions o;
  o.connect = h.connect;
  o.api = h.api;
  o.ps_timeout = h.ps_timeout;
  o.inference = h.inference;
  o.inference.enabled = h.inference.enabled && !h.inference_models.empty();
  o.inference_probe = {h.inference_prompt, h.inference_keep_alive};
  o.model_key = [](std::string_view name) { return CanonicalModelName(name); };
  return o;
}

std::vector<health::BackendSpec> CheckedBackends(const Config& config) {
  std::vector<health::BackendSpec> specs;
  for (const BackendConfig& b : config.backends) {
    health::BackendSpec& spec = specs.emplace_back();
    spec.name = b.name;
    const auto& probes = config.health.inference_models;
    const auto& canonical = config.health.canonical_inference_models;
    for (std::size_t i = 0; i < probes.size() && i < canonical.size(); ++i) {
      const bool may_serve = b.canonical_models.empty() ||
                             std::find(b.canonical_models.begin(), b.canonical_models.end(),
                                       canonical[i]) != b.canonical_models.end();
      if (may_serve) spec.probe_models.push_back(probes[i]);
    }
  }
  return specs;
}

std::chrono::milliseconds FirstRoundWait(const Config& config) {
  std::chrono::milliseconds longest{0};
  for (const HealthTierConfig* tier : {&config.health.connect, &config.health.api}) {
    if (tier->enabled) longest = std::max(longest, tier->jitter + tier->timeout);
  }
  return longest.count() == 0 ? longest : longest + std::chrono::seconds(1);
}

void HealthTransport::Send(const std::string& backend, health::ProbeRequest request, Done done) {
  const std::shared_ptr<const RoutingTable> table = router_.table();
  const PoolMember* member = table->FindBackend(backend);
  if (member == nullptr) {
    health::ProbeResponse gone;
    gone.error = "the backend is no longer configured";
    return done(std::move(gone));
  }
  UpstreamRequest upstream;
  upstream.url = absl::StrCat(member->url, request.path);
  upstream.body = std::move(request.body);
  upstream.connect_timeout = request.timeout;
  upstream.timeout = request.timeout;
  upstream.tls = member->tls;
  upstream.max_line_bytes = kMaxProbeReply;
  switch (request.method) {
    case health::ProbeRequest::Method::kConnect:
      upstream.method = UpstreamRequest::Method::kConnectOnly;
      break;
    case health::ProbeRequest::Method::kGet:
      upstream.method = UpstreamRequest::Method::kGet;
      break;
    case health::ProbeRequest::Method::kPost:
      upstream.method = UpstreamRequest::Method::kPost;
      break;
  }
  client_.Start(std::move(upstream), new ProbeExchange(std::move(done)));
}

void HealthBridge::OnCheck(const std::string& backend, health::Tier tier, bool ok,
                           std::chrono::nanoseconds latency) {
  metrics_.RecordHealthCheck(backend, health::TierName(tier), ok, latency);
  if (ok && tier == health::Tier::kConnect) router_.NoteConnected(backend);
}

void HealthBridge::OnStateChange(const health::StateChange& change) {
  const char* tier = health::TierName(change.tier);
  const bool healthy = change.to == health::State::kHealthy;
  const std::string what =
      change.model.empty() ? std::string(tier) : absl::StrCat(tier, " (", change.model, ")");
  if (healthy) {
    spdlog::info("health: backend {} {} check {} -> {}: {}", change.backend, what,
                 health::StateName(change.from), health::StateName(change.to), change.reason);
  } else {
    spdlog::warn("health: backend {} {} check {} -> {}: {}", change.backend, what,
                 health::StateName(change.from), health::StateName(change.to), change.reason);
  }
  metrics_.SetBackendTierHealth(change.backend, tier, change.model, healthy);
  if (change.tier == health::Tier::kInference) {
    router_.SetProbeFailing(change.backend, CanonicalModelName(change.model),
                            change.to == health::State::kUnhealthy);
  } else {
    router_.SetActiveHealth(change.backend, change.active_ok);
  }
  // Not on first results: while the first round completes, pools would flap in and out of
  // panic. The main loop re-evaluates every second anyway.
  if (change.from != health::State::kUnknown) router_.RefreshPanic();
}

void HealthBridge::OnModels(const std::string& backend, const std::vector<std::string>& models) {
  std::vector<std::string> canonical;
  canonical.reserve(models.size());
  for (const std::string& m : models) canonical.push_back(CanonicalModelName(m));
  spdlog::info("health: backend {} lists {} model(s): {}", backend, canonical.size(),
               absl::StrJoin(canonical, ", "));
  router_.SetServedModels(backend, std::move(canonical));
}

void HealthBridge::OnLoaded(const std::string& backend, const std::vector<std::string>& loaded) {
  std::vector<std::string> canonical;
  canonical.reserve(loaded.size());
  for (const std::string& m : loaded) canonical.push_back(CanonicalModelName(m));
  spdlog::debug("health: backend {} has loaded: {}", backend, absl::StrJoin(canonical, ", "));
  router_.SetLoadedModels(backend, canonical);
}

void HealthBridge::OnPanic(const Pool& pool, bool panic, std::size_t healthy) {
  metrics_.SetPoolPanic(pool.model_label, panic);
  if (panic) {
    spdlog::warn(
        "health: PANIC for model {}: only {} of {} backends healthy (panic_threshold {}%); "
        "routing across all of them",
        pool.model_label, healthy, pool.members.size(), pool.panic_threshold);
  } else {
    spdlog::info("health: model {} out of panic: {} of {} backends healthy", pool.model_label,
                 healthy, pool.members.size());
  }
}

void HealthBridge::OnEjected(const BackendState& backend, std::chrono::milliseconds hold,
                             int failures) {
  metrics_.RecordEjection(backend.name());
  spdlog::warn("health: backend {} ejected for {} ms after {} failed calls in a row (ejection {})",
               backend.name(), hold.count(), failures, backend.outlier().times_ejected());
}

void HealthBridge::OnEjectionRefused(const BackendState& backend, const Pool& pool) {
  metrics_.RecordEjectionRefused(backend.name());
  spdlog::debug(
      "health: backend {} keeps failing but is not ejected: max_ejection_percent of {} "
      "is ejected already",
      backend.name(), pool.model_label);
}

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
              {"max_in_flight", state.max_in_flight()}};
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

void ServingStatus::Set(const std::string& name, bool serving) {
  auto [it, inserted] = published_.emplace(name, serving);
  if (!inserted && it->second == serving) return;
  it->second = serving;
  service_->SetServingStatus(name, serving);
}

void ServingStatus::Publish(const RoutingTable& table, bool draining) {
  std::set<std::string> seen;
  bool any = false;
  for (const Pool* pool : table.pools()) {
    bool serving = AvailableMembers(*pool) > 0;
    any = any || serving;
    if (pool->model_label == "_other") continue;  // not a model name
    serving = serving && !draining;
    seen.insert(pool->model_label);
    Set(pool->model_label, serving);
    constexpr std::string_view kLatest = ":latest";
    const std::string& m = pool->model_label;
    if (m.size() > kLatest.size() && m.ends_with(kLatest)) {
      const std::string short_name = m.substr(0, m.size() - kLatest.size());
      seen.insert(short_name);
      Set(short_name, serving);
    }
  }
  // A model whose last backend went away is no longer served.
  for (auto& [name, serving] : published_) {
    if (!name.empty() && name != "ollama_gateway.v1.ModelInference" && seen.count(name) == 0) {
      Set(name, false);
    }
  }
  Set("", any && !draining);
  Set("ollama_gateway.v1.ModelInference", any && !draining);
}

}  // namespace og
