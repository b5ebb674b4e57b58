#include "gateway/router.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

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
  return pool;
}

std::shared_ptr<const UpstreamTls> UpstreamTlsOf(const BackendConfig& backend) {
  if (!backend.url.starts_with("https://")) return nullptr;
  const BackendTlsConfig& c = backend.tls;
  return std::make_shared<const UpstreamTls>(
      UpstreamTls{c.ca_file, c.cert_file, c.key_file, c.verify});
}

std::string_view KeyOf(const HashKeySource& source, const RequestKeys& request) {
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

bool InConfig(const Config& config, const std::string& name) {
  for (const BackendConfig& b : config.backends) {
    if (b.name == name) return true;
  }
  return false;
}

}  // namespace

const Pool* RoutingTable::Find(std::string_view canonical_model) const {
  auto it = pools_.find(canonical_model);
  if (it != pools_.end()) return &it->second;
  return any_model_pool_.get();
}

std::shared_ptr<BackendState> Router::StateFor(const std::string& name) {
  auto& state = states_[name];
  if (state == nullptr) state = std::make_shared<BackendState>(name, clock_);
  return state;
}

absl::Status Router::Apply(const Config& config) {
  std::lock_guard<std::mutex> lock(states_mu_);
  auto table = std::make_shared<RoutingTable>();

  // Backends with no model list serve every model, so they join every pool.
  std::vector<MemberSpec> any_model;
  std::map<std::string, std::vector<MemberSpec>> by_model;
  for (const BackendConfig& b : config.backends) {
    MemberSpec spec{{StateFor(b.name), b.url, UpstreamTlsOf(b)}, b.weight, HashLabel(b)};
    table->backends_.push_back(spec.member);
    if (b.canonical_models.empty()) {
      any_model.push_back(spec);
      continue;
    }
    for (const std::string& model : b.canonical_models) by_model[model].push_back(spec);
  }
  for (auto& [model, specs] : by_model) {
    specs.insert(specs.end(), any_model.begin(), any_model.end());
    auto pool = BuildPool(model, config.balancer.ForModel(model), std::move(specs));
    if (!pool.ok()) return pool.status();
    table->pools_.emplace(model, std::move(**pool));
    table->known_models_.push_back(model);
  }
  if (!any_model.empty()) {
    const PolicyConfig defaults = config.balancer.ForModel("");
    auto pool = BuildPool("_other", defaults, std::move(any_model));
    if (!pool.ok()) return pool.status();
    table->any_model_pool_ = std::move(*pool);
  }
  // Forget backends that are gone, so a long-lived gateway does not accumulate state.
  for (auto it = states_.begin(); it != states_.end();) {
    it = it->second.use_count() == 1 && !InConfig(config, it->first) ? states_.erase(it)
                                                                     : std::next(it);
  }
  // Limits change only with a table that was published.
  for (const BackendConfig& b : config.backends) {
    states_[b.name]->set_max_in_flight(b.max_in_flight);
  }
  table_.store(std::move(table));
  return absl::OkStatus();
}

Choice Router::Choose(const Pool& pool, const balancer::HostMask& tried, const RequestKeys& request,
                      std::uint64_t random) const {
  Choice choice;
  balancer::HostMask excluded(pool.members.size());
  for (std::size_t i = 0; i < pool.members.size(); ++i) {
    if (tried.Test(i)) {
      excluded.Set(i);
      ++choice.tried;
    } else if (!pool.members[i].state->connect_backoff().Available()) {
      excluded.Set(i);
      ++choice.unavailable;
    } else if (pool.members[i].state->Full()) {
      excluded.Set(i);
      ++choice.full;
    }
  }
  const balancer::Picker* picker = pool.picker.get();
  std::string_view key;
  if (pool.fallback != nullptr) {
    key = KeyOf(pool.policy.hash_key, request);
    if (key.empty()) {
      choice.hash_key_missing = true;
      picker = pool.fallback.get();
    }
  }
  balancer::PickContext context{key, &excluded, random};
  choice.index = picker->Pick(context).index;
  if (!choice.ok() && choice.unavailable > 0) ProbeHeldOut(pool, tried, random, &choice);
  return choice;
}

void Router::ProbeHeldOut(const Pool& pool, const balancer::HostMask& tried, std::uint64_t random,
                          Choice* choice) const {
  const std::size_t n = pool.members.size();
  for (std::size_t step = 0; step < n; ++step) {
    const std::size_t i = (random + step) % n;
    BackendState& state = *pool.members[i].state;
    if (tried.Test(i) || state.connect_backoff().Available() || state.Full()) continue;
    if (state.connect_backoff().TryAcquireProbe()) {
      choice->index = i;
      choice->probe = true;
      return;
    }
  }
}

}  // namespace og
