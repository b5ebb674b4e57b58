#include "gateway/routing/router.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "balancer/factory.h"
#include "gateway/config/balancer_section.h"

namespace og {
namespace {

struct MemberSpec {
  PoolMember member;
  std::uint32_t weight;
  std::string hash_label;
};

absl::StatusOr<std::unique_ptr<Pool>> BuildPool(std::string label, const PolicyConfig& policy,
                                                std::vector<MemberSpec> specs) {
  auto pool = std::make_unique<Pool>();
  pool->model_label = std::move(label);
  pool->policy = policy;
  auto hosts = std::make_shared<balancer::HostSet>();
  for (MemberSpec& spec : specs) {
    hosts->emplace_back(spec.member.state->name(), spec.weight, &spec.member.state->in_flight(),
                        std::move(spec.hash_label));
    pool->members.push_back(std::move(spec.member));
  }
  pool->hosts = hosts;
  balancer::PolicyOptions options{policy.policy, policy.choice_count, policy.bounded_load_factor};
  auto picker = balancer::MakePicker(options, hosts);
  if (!picker.ok()) return picker.status();
  pool->picker = std::move(*picker);
  if (policy.policy == "ketama") {
    auto fallback = balancer::MakePicker(balancer::PolicyOptions{}, hosts);
    if (!fallback.ok()) return fallback.status();
    pool->fallback = std::move(*fallback);
  }
  pool->flags = std::make_unique<std::atomic<std::uint8_t>[]>(pool->members.size());
  return pool;
}

std::shared_ptr<const UpstreamTls> UpstreamTlsOf(const BackendConfig& backend) {
  if (!backend.url.starts_with("https://")) return nullptr;
  const BackendTlsConfig& c = backend.tls;
  return std::make_shared<const UpstreamTls>(
      UpstreamTls{c.ca_file, c.cert_file, c.key_file, c.verify});
}

const BackendConfig* FindBackendConfig(const Config& config, const std::string& name) {
  for (const BackendConfig& b : config.backends) {
    if (b.name == name) return &b;
  }
  return nullptr;
}

bool InConfig(const Config& config, const std::string& name) {
  return FindBackendConfig(config, name) != nullptr;
}

}  // namespace

std::string_view AffinityKey(const HashKeySource& source, const RequestKeys& request) {
  switch (source.kind) {
    case HashKeySource::Kind::kRequestField:
      return request.HashKeyField();
    case HashKeySource::Kind::kModel:
      return request.Model();
    case HashKeySource::Kind::kMetadata:
      return request.Metadata(source.name);
    case HashKeySource::Kind::kHeader:
      return request.Header(source.name);
  }
  return {};
}

const Pool* RoutingTable::Find(std::string_view canonical_model) const {
  auto it = pools_.find(canonical_model);
  if (it != pools_.end()) return it->second.get();
  return any_model_pool_.get();
}

std::vector<const Pool*> RoutingTable::pools() const {
  std::vector<const Pool*> out;
  out.reserve(pools_.size() + 1);
  for (const auto& [model, pool] : pools_) out.push_back(pool.get());
  if (any_model_pool_ != nullptr) out.push_back(any_model_pool_.get());
  return out;
}

std::shared_ptr<BackendState> Router::StateFor(const std::string& name) {
  auto& state = states_[name];
  if (state == nullptr) state = std::make_shared<BackendState>(name, clock_);
  return state;
}

absl::Status Router::Apply(const Config& config) {
  std::lock_guard<std::mutex> lock(states_mu_);
  std::shared_ptr<const Config> previous = std::move(config_);
  config_ = std::make_shared<const Config>(config);
  // A rollout whose definition did not change keeps its state (and its counters).
  std::map<std::string, std::shared_ptr<Rollout>> rollouts;
  for (const RolloutConfig& r : config.rollouts.models) {
    auto it = rollouts_.find(r.canonical_model);
    if (it != rollouts_.end() && it->second->definition() == RolloutDefinition(r)) {
      rollouts.emplace(r.canonical_model, it->second);
    } else {
      rollouts.emplace(r.canonical_model, std::make_shared<Rollout>(r, clock_.Now()));
    }
  }
  std::swap(rollouts, rollouts_);
  if (absl::Status s = Rebuild(); !s.ok()) {
    config_ = std::move(previous);
    rollouts_ = std::move(rollouts);
    return s;
  }
  // Forget backends that are gone, so a long-lived gateway does not accumulate state.
  for (auto it = states_.begin(); it != states_.end();) {
    it = it->second.use_count() == 1 && !InConfig(config, it->first) ? states_.erase(it)
                                                                     : std::next(it);
  }
  for (auto it = facts_.begin(); it != facts_.end();) {
    it = !InConfig(config, it->first) ? facts_.erase(it) : std::next(it);
  }
  // Limits change only with a table that was published.
  const bool checks_off = !config.health.connect.enabled && !config.health.api.enabled;
  for (const BackendConfig& b : config.backends) {
    BackendState& state = *states_[b.name];
    state.set_max_in_flight(b.max_in_flight);
    state.embeddings().set_limit(b.max_embed_in_flight);
    if (checks_off) state.set_active_ok(true);
  }
  return absl::OkStatus();
}

absl::Status Router::Rebuild() {
  const Config& config = *config_;
  auto table = std::make_shared<RoutingTable>();
  table->outlier_ = {config.outlier_detection.consecutive_failures,
                     config.outlier_detection.base_ejection_time,
                     config.outlier_detection.max_ejection_time};
  table->max_ejection_percent_ = config.outlier_detection.max_ejection_percent;
  const bool discovery = config.health.discovery && config.health.api.enabled;

  // Which models each backend serves: with discovery, those of its /api/tags (limited to its
  // `models` list when it has one); otherwise, or before its first answer, its list. Backends
  // with neither serve every model, so they join every pool.
  std::vector<MemberSpec> any_model;
  std::map<std::string, std::vector<MemberSpec>> by_model;
  for (const BackendConfig& b : config.backends) {
    MemberSpec spec{{StateFor(b.name), b.url, UpstreamTlsOf(b), nullptr}, b.weight, HashLabel(b)};
    table->backend_index_.emplace(b.name, table->backends_.size());
    table->backends_.push_back(spec.member);
    table->configured_models_.insert(b.canonical_models.begin(), b.canonical_models.end());
    const Facts& facts = facts_[b.name];
    if (!discovery || !facts.served.has_value()) {
      if (b.canonical_models.empty()) {
        any_model.push_back(spec);
        continue;
      }
      for (const std::string& model : b.canonical_models) by_model[model].push_back(spec);
      continue;
    }
    for (const std::string& model : *facts.served) {
      const bool listed = b.canonical_models.empty() ||
                          std::find(b.canonical_models.begin(), b.canonical_models.end(), model) !=
                              b.canonical_models.end();
      if (listed) by_model[model].push_back(spec);
    }
  }
  // A pool of `model` over `specs`, its flags and per-model limits from what is known.
  auto make_pool = [&](const std::string& model,
                       std::vector<MemberSpec> specs) -> absl::StatusOr<std::unique_ptr<Pool>> {
    const PolicyConfig policy = config.balancer.ForModel(model);
    auto pool = BuildPool(model, policy, std::move(specs));
    if (!pool.ok()) return pool.status();
    (*pool)->panic_threshold = config.health.panic_threshold;
    (*pool)->prefer_loaded = policy.policy != "ketama";
    for (std::size_t i = 0; i < (*pool)->members.size(); ++i) {
      const Facts& facts = facts_[(*pool)->members[i].state->name()];
      std::uint8_t flags = 0;
      if (facts.probe_failing.count(model) != 0) flags |= kProbeFailing;
      if (facts.loaded.count(model) != 0) flags |= kModelLoaded;
      if (facts.refused.count(model) != 0) flags |= kModelRefused;
      (*pool)->flags[i].store(flags, std::memory_order_relaxed);
    }
    for (std::size_t i = 0; i < (*pool)->members.size(); ++i) {
      PoolMember& member = (*pool)->members[i];
      const BackendConfig* b = FindBackendConfig(config, member.state->name());
      auto limit = b != nullptr ? b->max_in_flight_by_model.find(model)
                                : std::map<std::string, std::int64_t>::const_iterator();
      if (b == nullptr || limit == b->max_in_flight_by_model.end()) continue;
      member.model_slots = member.state->ModelSlots(model);
      member.model_slots->set_limit(limit->second);
    }
    return pool;
  };
  for (auto& [model, specs] : by_model) {
    specs.insert(specs.end(), any_model.begin(), any_model.end());
    auto pool = make_pool(model, specs);
    if (!pool.ok()) return pool.status();
    table->pools_.emplace(model, std::move(*pool));
    table->known_models_.push_back(model);
  }
  if (!any_model.empty()) {
    const PolicyConfig defaults = config.balancer.ForModel("");
    auto pool = BuildPool(std::string(kAnyModelLabel), defaults, any_model);
    if (!pool.ok()) return pool.status();
    (*pool)->panic_threshold = config.health.panic_threshold;
    table->any_model_pool_ = std::move(*pool);
  }
  // Rollouts: each target on its model's pool (which Find gives, the pool of backends taking any
  // model included), or on the part of it its backends name.
  for (const RolloutConfig& r : config.rollouts.models) {
    RolloutRoute& route = table->rollouts_[r.canonical_model];
    route.rollout = rollouts_.at(r.canonical_model);
    for (const RolloutTarget which : {RolloutTarget::kBaseline, RolloutTarget::kCandidate}) {
      const RolloutTargetConfig& target =
          which == RolloutTarget::kBaseline ? r.baseline : r.candidate;
      const auto i = static_cast<std::size_t>(which);
      route.models[i] = target.model;
      if (target.backends.empty()) {
        route.pools[i] = table->Find(target.canonical_model);
        continue;
      }
      std::vector<MemberSpec> specs;
      auto served = by_model.find(target.canonical_model);
      const std::vector<MemberSpec>& candidates =
          served != by_model.end() ? served->second : any_model;
      for (const MemberSpec& spec : candidates) {
        const std::string& name = spec.member.state->name();
        if (std::find(target.backends.begin(), target.backends.end(), name) !=
            target.backends.end()) {
          specs.push_back(spec);
        }
      }
      if (specs.empty()) continue;
      auto pool = make_pool(target.canonical_model, std::move(specs));
      if (!pool.ok()) return pool.status();
      route.pools[i] = pool->get();
      table->target_pools_.emplace(target.canonical_model, std::move(*pool));
    }
  }
  table_.store(std::move(table));
  return absl::OkStatus();
}

void Router::SetActiveHealth(const std::string& backend, bool ok) {
  std::lock_guard<std::mutex> lock(states_mu_);
  auto it = states_.find(backend);
  if (it != states_.end()) it->second->set_active_ok(ok);
}

void Router::NoteConnected(const std::string& backend) {
  const std::shared_ptr<const RoutingTable> table = table_.load();
  if (const PoolMember* member = table != nullptr ? table->FindBackend(backend) : nullptr) {
    member->state->connect_backoff().OnSuccess();
  }
}

void Router::SetServedModels(const std::string& backend, std::vector<std::string> models) {
  std::lock_guard<std::mutex> lock(states_mu_);
  if (config_ == nullptr || !InConfig(*config_, backend)) return;
  std::set<std::string> served(std::make_move_iterator(models.begin()),
                               std::make_move_iterator(models.end()));
  Facts& facts = facts_[backend];
  // A tier-2 check that lists a model lifts the backend's refusal of it.
  for (auto it = facts.refused.begin(); it != facts.refused.end();) {
    if (served.count(*it) == 0) {
      ++it;
      continue;
    }
    SetFlag(backend, *it, kModelRefused, false);
    it = facts.refused.erase(it);
  }
  if (facts.served == served) return;
  facts.served = std::move(served);
  if (!config_->health.discovery) return;
  // Only the pool membership changes; the policies were built before from the same config.
  if (absl::Status s = Rebuild(); !s.ok()) facts.served.reset();
}

void Router::SetLoadedModels(const std::string& backend, const std::vector<std::string>& models) {
  std::lock_guard<std::mutex> lock(states_mu_);
  if (config_ == nullptr || !InConfig(*config_, backend)) return;
  Facts& facts = facts_[backend];
  std::set<std::string> loaded(models.begin(), models.end());
  for (const std::string& model : facts.loaded) {
    if (loaded.count(model) == 0) SetFlag(backend, model, kModelLoaded, false);
  }
  for (const std::string& model : loaded) SetFlag(backend, model, kModelLoaded, true);
  facts.loaded = std::move(loaded);
}

void Router::SetProbeFailing(const std::string& backend, const std::string& model, bool failing) {
  std::lock_guard<std::mutex> lock(states_mu_);
  if (config_ == nullptr || !InConfig(*config_, backend)) return;
  Facts& facts = facts_[backend];
  if (failing) {
    facts.probe_failing.insert(model);
  } else {
    facts.probe_failing.erase(model);
  }
  SetFlag(backend, model, kProbeFailing, failing);
}

void Router::NoteModelInstalled(const std::string& backend, const std::string& model) {
  std::lock_guard<std::mutex> lock(states_mu_);
  if (config_ == nullptr || !InConfig(*config_, backend)) return;
  Facts& facts = facts_[backend];
  if (facts.refused.erase(model) != 0) SetFlag(backend, model, kModelRefused, false);
  // Before the backend's first listing the table follows its configured models anyway.
  if (!facts.served.has_value() || !facts.served->insert(model).second) return;
  if (!config_->health.discovery) return;
  if (absl::Status s = Rebuild(); !s.ok()) facts.served->erase(model);
}

void Router::NoteModelRemoved(const std::string& backend, const std::string& model) {
  std::lock_guard<std::mutex> lock(states_mu_);
  if (config_ == nullptr || !InConfig(*config_, backend)) return;
  Facts& facts = facts_[backend];
  facts.loaded.erase(model);
  SetFlag(backend, model, kModelLoaded, false);
  if (!facts.served.has_value() || facts.served->erase(model) == 0) return;
  if (!config_->health.discovery) return;
  if (absl::Status s = Rebuild(); !s.ok()) facts.served->insert(model);
}

void Router::MarkModelRefused(const Pool& pool, std::size_t index) {
  // The pool of backends taking any model is not one model's: a mark would cover all of them.
  if (pool.model_label == kAnyModelLabel) return;
  const std::string& backend = pool.members[index].state->name();
  std::lock_guard<std::mutex> lock(states_mu_);
  if (config_ == nullptr || !config_->health.api.enabled || !InConfig(*config_, backend)) return;
  facts_[backend].refused.insert(pool.model_label);
  // The call's own pool may be of an older table than the current one; both get the mark.
  pool.flags[index].fetch_or(kModelRefused, std::memory_order_relaxed);
  SetFlag(backend, pool.model_label, kModelRefused, true);
}

void Router::SetFlag(const std::string& backend, const std::string& model, PoolMemberFlag flag,
                     bool on) {
  const std::shared_ptr<const RoutingTable> table = table_.load();
  if (table == nullptr) return;
  auto set = [&](const Pool& pool) {
    for (std::size_t i = 0; i < pool.members.size(); ++i) {
      if (pool.members[i].state->name() != backend) continue;
      if (on) {
        pool.flags[i].fetch_or(flag, std::memory_order_relaxed);
      } else {
        pool.flags[i].fetch_and(static_cast<std::uint8_t>(~flag), std::memory_order_relaxed);
      }
    }
  };
  if (auto it = table->pools_.find(model); it != table->pools_.end()) set(*it->second);
  const auto [first, last] = table->target_pools_.equal_range(model);
  for (auto it = first; it != last; ++it) set(*it->second);
}

std::vector<std::shared_ptr<Rollout>> Router::rollouts() const {
  std::lock_guard<std::mutex> lock(states_mu_);
  std::vector<std::shared_ptr<Rollout>> out;
  if (config_ == nullptr) return out;
  for (const RolloutConfig& r : config_->rollouts.models) {
    out.push_back(rollouts_.at(r.canonical_model));
  }
  return out;
}

std::size_t Router::HealthyBackends() const {
  const std::shared_ptr<const RoutingTable> table = table_.load();
  if (table == nullptr) return 0;
  std::size_t healthy = 0;
  for (const PoolMember& member : table->backends()) healthy += member.state->Healthy() ? 1 : 0;
  return healthy;
}

void Router::RecordOutcome(const Pool& pool, std::size_t index, Outcome outcome) {
  BackendState& state = *pool.members[index].state;
  switch (outcome) {
    case Outcome::kSuccess:
      state.outlier().OnSuccess();
      return;
    case Outcome::kNeutral:
      return;
    case Outcome::kFailure:
      break;
  }
  const std::shared_ptr<const RoutingTable> table = table_.load();
  if (table == nullptr) return;
  if (state.outlier().OnFailure(table->outlier_options().consecutive_failures)) TryEject(state);
}

void Router::TryEject(BackendState& state) {
  std::lock_guard<std::mutex> lock(eject_mu_);
  if (state.outlier().Ejected()) return;  // another thread got here first
  const std::shared_ptr<const RoutingTable> table = table_.load();
  const int max_percent = table->max_ejection_percent();
  const int failures = state.outlier().consecutive_failures();
  // Never more than max_ejection_percent of any pool the backend is in, but one backend of a
  // pool may always go (else small pools could never eject anything).
  for (const Pool* pool : table->pools()) {
    bool member = false;
    std::size_t ejected = 0;
    for (const PoolMember& m : pool->members) {
      if (m.state.get() == &state) {
        member = true;
      } else if (m.state->outlier().Ejected()) {
        ++ejected;
      }
    }
    if (!member) continue;
    const bool allowed =
        max_percent > 0 &&
        (ejected == 0 ||
         (ejected + 1) * 100 <= static_cast<std::size_t>(max_percent) * pool->members.size());
    if (!allowed) {
      if (RouterListener* listener = listener_.load()) listener->OnEjectionRefused(state, *pool);
      return;
    }
  }
  const std::chrono::milliseconds hold = state.outlier().Eject(table->outlier_options());
  if (RouterListener* listener = listener_.load()) listener->OnEjected(state, hold, failures);
}

static bool InPanic(const Pool& pool, std::size_t healthy) {
  return healthy * 100 < static_cast<std::size_t>(pool.panic_threshold) * pool.members.size();
}

void Router::RefreshPanic() const {
  const std::shared_ptr<const RoutingTable> table = table_.load();
  if (table == nullptr) return;
  for (const Pool* pool : table->pools()) {
    const std::size_t available = AvailableMembers(*pool);
    NotePanic(*pool, InPanic(*pool, available), available);
  }
}

void Router::NotePanic(const Pool& pool, bool panic, std::size_t healthy) const {
  if (pool.panic.load(std::memory_order_relaxed) == panic) return;
  if (pool.panic.exchange(panic) == panic) return;
  if (RouterListener* listener = listener_.load()) listener->OnPanic(pool, panic, healthy);
}

Choice Router::Choose(const Pool& pool, const balancer::HostMask& tried, const RequestKeys& request,
                      std::uint64_t random, SlotKind slots) const {
  Choice choice;
  const std::size_t n = pool.members.size();
  // One look at each member's health and connect back-off (each reads the clock).
  balancer::HostMask unhealthy(n);
  balancer::HostMask held_out(n);
  std::size_t available = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const bool healthy = MemberHealthy(pool, i);
    const bool reachable = pool.members[i].state->connect_backoff().Available();
    if (!healthy) unhealthy.Set(i);
    if (!reachable) held_out.Set(i);
    available += healthy && reachable ? 1 : 0;
  }
  // Too few healthy members: the checks may be wrong about the rest, and failing every call
  // is the worst outcome, so route across the whole pool.
  choice.panic = InPanic(pool, available);
  NotePanic(pool, choice.panic, available);

  balancer::HostMask excluded(n);
  for (std::size_t i = 0; i < n; ++i) {
    if (tried.Test(i)) {
      excluded.Set(i);
      ++choice.tried;
    } else if (!choice.panic && unhealthy.Test(i)) {
      excluded.Set(i);
      ++choice.unhealthy;
    } else if (held_out.Test(i)) {
      excluded.Set(i);
      ++choice.unavailable;
    } else if (MemberFull(pool.members[i], slots)) {
      excluded.Set(i);
      ++choice.full;
    }
  }
  const balancer::Picker* picker = pool.picker.get();
  std::string_view key;
  if (pool.fallback != nullptr) {
    key = AffinityKey(pool.policy.hash_key, request);
    if (key.empty()) {
      choice.hash_key_missing = true;
      picker = pool.fallback.get();
    }
  }
  if (pool.prefer_loaded) {
    // Where the model is loaded and a slot is free, a call skips the load (seconds to minutes
    // on a GPU box) without waiting. Once every such member is busy, the policy spreads calls
    // over all members, which loads the model on more of them: preferring warm members
    // regardless would pile a busy period onto them and leave the others cold for good.
    balancer::HostMask others = excluded;
    bool any_ready = false;
    bool any_other = false;
    for (std::size_t i = 0; i < n; ++i) {
      if (excluded.Test(i)) continue;
      const BackendState& state = *pool.members[i].state;
      const bool loaded = pool.flags[i].load(std::memory_order_relaxed) & kModelLoaded;
      // Without a max_in_flight the gateway cannot know the backend's free slots: only an idle
      // backend counts as having one.
      const bool free_slot =
          state.max_in_flight() > 0 || state.in_flight().load(std::memory_order_relaxed) == 0;
      if (loaded && free_slot) {
        any_ready = true;
      } else {
        others.Set(i);
        any_other = true;
      }
    }
    if (any_ready && any_other) {
      choice.index = picker->Pick(balancer::PickContext{key, &others, random}).index;
      if (choice.ok()) return choice;
    }
  }
  balancer::PickContext context{key, &excluded, random};
  choice.index = picker->Pick(context).index;
  if (!choice.ok() && choice.unavailable > 0) {
    // Probe only among members that health allows.
    balancer::HostMask skip = tried;
    for (std::size_t i = 0; i < n; ++i) {
      if (!choice.panic && unhealthy.Test(i)) skip.Set(i);
    }
    ProbeHeldOut(pool, skip, random, slots, &choice);
  }
  return choice;
}

void Router::ProbeHeldOut(const Pool& pool, const balancer::HostMask& skip, std::uint64_t random,
                          SlotKind slots, Choice* choice) const {
  const std::size_t n = pool.members.size();
  for (std::size_t step = 0; step < n; ++step) {
    const std::size_t i = (random + step) % n;
    BackendState& state = *pool.members[i].state;
    if (skip.Test(i) || state.connect_backoff().Available() || MemberFull(pool.members[i], slots)) {
      continue;
    }
    if (state.connect_backoff().TryAcquireProbe()) {
      choice->index = i;
      choice->probe = true;
      return;
    }
  }
}

}  // namespace og
