#include "gateway/frontdoor/grpc/serving_status.h"

#include <set>
#include <string_view>

namespace og {

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
