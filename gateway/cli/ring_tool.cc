#include "gateway/cli/ring_tool.h"

#include <istream>
#include <memory>
#include <optional>
#include <ostream>

#include "balancer/ketama.h"
#include "fmt/format.h"
#include "fmt/ostream.h"
#include "gateway/config/balancer_section.h"
#include "gateway/config/load.h"
#include "gateway/config/values.h"

namespace og {
namespace {

constexpr const char* kUsage = R"(usage:
  ollama-gateway ring --config FILE [--model MODEL] < keys
      prints KEY<TAB>BACKEND for every key (one per line on stdin)
  ollama-gateway ring --config OLD --compare NEW [--model MODEL] < keys
      prints how many keys, and what share, would move from OLD's ring to NEW's

The ring is the ketama continuum of the backends serving MODEL (every backend when no model is
given), all of them healthy, with each backend's weight and hash_id (or host:port).
)";

// A ring and the backend names its host indices stand for.
struct Ring {
  std::vector<std::string> names;
  std::unique_ptr<balancer::KetamaPicker> picker;

  const std::string& Owner(std::string_view key) const {
    static const std::string kNone = "-";
    const balancer::PickResult r = picker->OwnerOf(key);
    return r.has_host() ? names[r.index] : kNone;
  }
};

std::optional<Ring> BuildRing(const std::string& path, const std::string& model,
                              std::ostream& err) {
  auto config = LoadConfigFile(path);
  if (!config.ok()) {
    fmt::print(err, "{}\n", std::string(config.status().message()));
    return std::nullopt;
  }
  const std::string canonical = model.empty() ? "" : CanonicalModelName(model);
  auto hosts = std::make_shared<balancer::HostSet>();
  Ring ring;
  for (const BackendConfig& b : config->backends) {
    bool serves = canonical.empty() || b.canonical_models.empty();
    for (const std::string& m : b.canonical_models) serves |= m == canonical;
    if (!serves) continue;
    hosts->emplace_back(b.name, b.weight, nullptr, HashLabel(b));
    ring.names.push_back(b.name);
  }
  if (hosts->empty()) {
    fmt::print(err, "{}: no backend serves model '{}'\n", path, model);
    return std::nullopt;
  }
  if (!canonical.empty()) {
    const std::string policy = config->balancer.ForModel(canonical).policy;
    if (policy != "ketama") {
      fmt::print(err, "note: {} routes '{}' with {}, not ketama; showing its ring anyway\n", path,
                 model, policy);
    }
  }
  ring.picker = std::make_unique<balancer::KetamaPicker>(std::move(hosts));
  return ring;
}

}  // namespace

int RunRingTool(const std::vector<std::string>& args, std::istream& in, std::ostream& out,
                std::ostream& err) {
  std::string config, compare, model;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    std::string* target = flag == "--config"    ? &config
                          : flag == "--compare" ? &compare
                          : flag == "--model"   ? &model
                                                : nullptr;
    if (target == nullptr || i + 1 >= args.size()) {
      fmt::print(err, "ring: {}\n{}",
                 target == nullptr ? "unknown argument " + flag : flag + " needs a value", kUsage);
      return 2;
    }
    *target = args[++i];
  }
  if (config.empty()) {
    fmt::print(err, "ring: --config is required\n{}", kUsage);
    return 2;
  }
  std::optional<Ring> old_ring = BuildRing(config, model, err);
  if (!old_ring) return 1;
  std::optional<Ring> new_ring;
  if (!compare.empty()) {
    new_ring = BuildRing(compare, model, err);
    if (!new_ring) return 1;
  }

  std::uint64_t keys = 0, moved = 0;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    ++keys;
    const std::string& owner = old_ring->Owner(line);
    if (!new_ring) {
      out << line << '\t' << owner << '\n';
      continue;
    }
    if (new_ring->Owner(line) != owner) ++moved;
  }
  if (new_ring) {
    const double share = keys == 0 ? 0.0 : 100.0 * double(moved) / double(keys);
    fmt::print(out, "{} of {} keys move ({:.2f}%)\n", moved, keys, share);
  }
  return 0;
}

}  // namespace og
