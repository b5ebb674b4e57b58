#include "gateway/routing/health_bridge.h"

#include <algorithm>
#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gateway/config/values.h"
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

void MirrorRoutingGauges(const Router& router, Metrics& metrics) {
  const std::shared_ptr<const RoutingTable> table = router.table();
  for (const PoolMember& member : table->backends()) {
    const BackendState& state = *member.state;
    const prometheus::Labels labels{{"backend", state.name()}};
    metrics.backend_in_flight().Add(labels).Set(
        double(state.in_flight().load(std::memory_order_relaxed)));
    metrics.backend_healthy().Add(labels).Set(state.Healthy() ? 1 : 0);
    metrics.backend_ejected().Add(labels).Set(state.outlier().Ejected() ? 1 : 0);
  }
  std::map<std::string, Metrics::PoolCount> pools;
  for (const Pool* pool : table->pools()) {
    Metrics::PoolCount& count = pools[pool->model_label];
    count.backends = pool->members.size();
    count.healthy = AvailableMembers(*pool);
  }
  metrics.SetModelBackends(pools);
}

}  // namespace og
