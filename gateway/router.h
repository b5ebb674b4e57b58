// The router: which backends may serve a model, and which one serves this call.
//
// Configuration becomes an immutable RoutingTable (per-model pools, each with its balancer
// picker), published through an atomic shared_ptr: request threads load it and pick without
// locks; a new config builds a new table and swaps it in. Per-backend state (in-flight count,
// connect back-off) lives in BackendState objects keyed by name that survive table swaps, so a
// reload does not reset what the gateway knows about a backend.
#ifndef OLLAMA_GATEWAY_GATEWAY_ROUTER_H_
#define OLLAMA_GATEWAY_GATEWAY_ROUTER_H_

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "balancer/policy.h"
#include "gateway/config.h"
#include "gateway/upstream_client.h"
#include "health/clock.h"
#include "health/connect_backoff.h"

namespace og {

// What the gateway knows about one backend, across config reloads. Thread-safe.
class BackendState {
 public:
  BackendState(std::string name, const Clock& clock) : name_(std::move(name)), backoff_(clock) {}
  const std::string& name() const { return name_; }
  std::atomic<std::int64_t>& in_flight() { return in_flight_; }
  health::ConnectBackoff& connect_backoff() { return backoff_; }

  // Admission: the most requests in flight at once; 0 is unlimited. Set from the config.
  void set_max_in_flight(std::int64_t limit) {
    max_in_flight_.store(limit, std::memory_order_relaxed);
  }
  std::int64_t max_in_flight() const { return max_in_flight_.load(std::memory_order_relaxed); }
  // True when the backend is at its max_in_flight.
  bool Full() const {
    const std::int64_t limit = max_in_flight();
    return limit > 0 && in_flight_.load(std::memory_order_relaxed) >= limit;
  }
  // Takes one in-flight slot unless the backend is full; never exceeds max_in_flight, however
  // many threads race for the last slot.
  bool TryAcquire() {
    const std::int64_t limit = max_in_flight();
    std::int64_t current = in_flight_.load(std::memory_order_relaxed);
    do {
      if (limit > 0 && current >= limit) return false;
    } while (!in_flight_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
    return true;
  }

 private:
  const std::string name_;
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::int64_t> max_in_flight_{0};
  health::ConnectBackoff backoff_;
};

// One backend as a pool holds it.
struct PoolMember {
  std::shared_ptr<BackendState> state;
  // Base URL without a trailing slash.
  std::string url;
  // TLS toward an https:// backend; null for http:// ones.
  std::shared_ptr<const UpstreamTls> tls;
};

// The backends that may serve one model, and the policy choosing among them.
struct Pool {
  // The metric label for the pool's model: the canonical model name, or "_other" for the pool
  // of backends that take any model (so caller-chosen names never become label values).
  std::string model_label;
  PolicyConfig policy;
  std::vector<PoolMember> members;  // indexed like *hosts
  std::shared_ptr<const balancer::HostSet> hosts;
  std::unique_ptr<balancer::Picker> picker;
  // For hashing policies: the round-robin picker used when a request carries no key.
  std::unique_ptr<balancer::Picker> fallback;
};

// What the router may read of a request to find its affinity key. Each front door implements
// it over its own request type, so the router never sees gRPC or HTTP.
class RequestKeys {
 public:
  virtual ~RequestKeys() = default;
  virtual std::string_view Model() const = 0;
  // The request's explicit hash key field.
  virtual std::string_view HashKeyField() const = 0;
  // An entry of the request's metadata map, or "" when absent.
  virtual std::string_view Metadata(std::string_view name) const = 0;
  // A request header (name in lower case), or "" when absent.
  virtual std::string_view Header(std::string_view name) const = 0;
};

class RoutingTable {
 public:
  // The pool for a canonical model name: backends that list it plus backends that list no
  // models; null when no backend may serve it.
  const Pool* Find(std::string_view canonical_model) const;
  // The models named in the configuration, canonical, sorted (for error messages).
  const std::vector<std::string>& known_models() const { return known_models_; }
  // Every configured backend once, in config order (for metrics and readiness).
  const std::vector<PoolMember>& backends() const { return backends_; }

 private:
  friend class Router;
  std::map<std::string, Pool, std::less<>> pools_;
  std::unique_ptr<Pool> any_model_pool_;
  std::vector<std::string> known_models_;
  std::vector<PoolMember> backends_;
};

// The outcome of choosing a backend for one attempt.
struct Choice {
  // Index into the pool's members, or kNone.
  std::size_t index = balancer::PickResult::kNone;
  // When none: how many members were already tried and how many are held out after failing to
  // connect, for the caller's error message.
  std::size_t tried = 0;
  std::size_t unavailable = 0;
  // How many were skipped for being at their max_in_flight (the call may wait for them).
  std::size_t full = 0;
  // The pool hashes but the request had no key: the fallback policy chose.
  bool hash_key_missing = false;
  // Every candidate was held out, and this call probes one of them (it holds that backend's
  // probe, which the attempt's end releases).
  bool probe = false;
  bool ok() const { return index != balancer::PickResult::kNone; }
};

class Router {
 public:
  explicit Router(const Clock& clock) : clock_(clock) {}

  // Builds the routing table of `config` and publishes it. Backend state is kept for names that
  // remain. Fails (and keeps the current table) if a pool's policy cannot be built.
  absl::Status Apply(const Config& config);

  // The current table. Thread-safe, lock-free.
  std::shared_ptr<const RoutingTable> table() const { return table_.load(); }

  // Chooses a member of `pool` for one attempt, skipping those in `tried`, those held out
  // after connect failures and those at their max_in_flight. Hashing pools take the key from
  // `request` as configured. Thread-safe, lock-free.
  Choice Choose(const Pool& pool, const balancer::HostMask& tried, const RequestKeys& request,
                std::uint64_t random) const;

 private:
  std::shared_ptr<BackendState> StateFor(const std::string& name);
  void ProbeHeldOut(const Pool& pool, const balancer::HostMask& tried, std::uint64_t random,
                    Choice* choice) const;

  const Clock& clock_;
  std::atomic<std::shared_ptr<const RoutingTable>> table_;
  std::mutex states_mu_;  // guards states_, used only while applying a config
  std::map<std::string, std::shared_ptr<BackendState>> states_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_ROUTER_H_
