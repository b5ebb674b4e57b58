// The router: which backends may serve a model, and which one serves this call.
//
// Configuration becomes an immutable RoutingTable (per-model pools, each with its balancer
// picker), published through an atomic shared_ptr: request threads load it and pick without
// locks; a new config builds a new table and swaps it in. Per-backend state (in-flight count,
// connect back-off) lives in BackendState objects keyed by name that survive table swaps, so a
// reload does not reset what the gateway knows about a backend.
//
// Health reaches routing here: the active checks (through gateway/routing/health_bridge.h) say
// which backends pass tiers 1 and 2, which models each serves (/api/tags; with discovery on, pools
// follow it and the table is rebuilt when it changes), which are loaded (/api/ps) and which fail
// tier 3; the outcome of every attempt feeds passive outlier detection. A pick skips unhealthy
// members unless too few are healthy (the panic threshold), and prefers members where the model
// is loaded when the policy has a choice.
#ifndef OLLAMA_GATEWAY_GATEWAY_ROUTING_ROUTER_H_
#define OLLAMA_GATEWAY_GATEWAY_ROUTING_ROUTER_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "balancer/policy.h"
#include "common/clock.h"
#include "gateway/config/config.h"
#include "gateway/routing/rollout.h"
#include "gateway/upstream/request.h"
#include "health/connect_backoff.h"
#include "health/outlier.h"

namespace og {

// Requests in flight of one kind on one backend, and their limit (admission). Thread-safe,
// lock-free.
class Slots {
 public:
  std::atomic<std::int64_t>& in_flight() { return in_flight_; }
  const std::atomic<std::int64_t>& in_flight() const { return in_flight_; }
  // The most in flight at once; 0 is unlimited. Set from the config.
  void set_limit(std::int64_t limit) { limit_.store(limit, std::memory_order_relaxed); }
  std::int64_t limit() const { return limit_.load(std::memory_order_relaxed); }
  // True when at the limit.
  bool Full() const {
    const std::int64_t limit = this->limit();
    return limit > 0 && in_flight_.load(std::memory_order_relaxed) >= limit;
  }
  // Takes one slot unless full; never exceeds the limit, however many threads race for the last
  // slot.
  bool TryAcquire() {
    const std::int64_t limit = this->limit();
    std::int64_t current = in_flight_.load(std::memory_order_relaxed);
    do {
      if (limit > 0 && current >= limit) return false;
    } while (!in_flight_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed));
    return true;
  }
  void Release() { in_flight_.fetch_sub(1, std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> in_flight_{0};
  std::atomic<std::int64_t> limit_{0};
};

// Which slots a call takes on its backend. Ollama's parallelism (OLLAMA_NUM_PARALLEL) is for
// generations; its model listings and /api/show answer at once whatever runs.
enum class SlotKind {
  kGeneration,  // max_in_flight, and the model's own limit there if it has one
  kEmbedding,   // max_embed_in_flight
  kNone,        // /api/show: no slot
};

// What the gateway knows about one backend, across config reloads. Thread-safe.
class BackendState {
 public:
  BackendState(std::string name, const Clock& clock)
      : name_(std::move(name)), backoff_(clock), outlier_(clock) {}
  const std::string& name() const { return name_; }
  // Generations in flight (what least-connections balances on) and their max_in_flight.
  Slots& generations() { return generations_; }
  const Slots& generations() const { return generations_; }
  Slots& embeddings() { return embeddings_; }
  const Slots& embeddings() const { return embeddings_; }
  std::atomic<std::int64_t>& in_flight() { return generations_.in_flight(); }
  const std::atomic<std::int64_t>& in_flight() const { return generations_.in_flight(); }
  health::ConnectBackoff& connect_backoff() { return backoff_; }
  const health::ConnectBackoff& connect_backoff() const { return backoff_; }
  health::OutlierDetector& outlier() { return outlier_; }
  const health::OutlierDetector& outlier() const { return outlier_; }

  // Whether tiers 1 and 2 of the active checks pass (true when both are disabled).
  bool active_ok() const { return active_ok_.load(std::memory_order_relaxed); }
  void set_active_ok(bool ok) { active_ok_.store(ok, std::memory_order_relaxed); }
  // Passes the active checks and is not ejected by outlier detection. Lock-free.
  bool Healthy() const { return active_ok() && !outlier_.Ejected(); }

  // Admission of generations: the most in flight at once; 0 is unlimited.
  void set_max_in_flight(std::int64_t limit) { generations_.set_limit(limit); }
  std::int64_t max_in_flight() const { return generations_.limit(); }
  // True when the backend is at its max_in_flight.
  bool Full() const { return generations_.Full(); }
  bool TryAcquire() { return generations_.TryAcquire(); }

  // The slots of generations of one model here (backends[].max_in_flight_by_model), kept
  // across table rebuilds so calls in flight stay counted. The router's, under its lock.
  std::shared_ptr<Slots> ModelSlots(const std::string& canonical_model) {
    std::shared_ptr<Slots>& slots = model_slots_[canonical_model];
    if (slots == nullptr) slots = std::make_shared<Slots>();
    return slots;
  }

 private:
  const std::string name_;
  Slots generations_;
  Slots embeddings_;
  std::map<std::string, std::shared_ptr<Slots>> model_slots_;
  // Unknown until the first checks: not routable before the backend was seen to work.
  std::atomic<bool> active_ok_{false};
  health::ConnectBackoff backoff_;
  health::OutlierDetector outlier_;
};

// One backend as a pool holds it.
struct PoolMember {
  std::shared_ptr<BackendState> state;
  // Base URL without a trailing slash.
  std::string url;
  // TLS toward an https:// backend; null for http:// ones.
  std::shared_ptr<const UpstreamTls> tls;
  // The limit of the pool's model on this backend (max_in_flight_by_model); null without one.
  std::shared_ptr<Slots> model_slots;
};

// Whether `member` has no free slot of `kind` for the pool's model. Lock-free.
inline bool MemberFull(const PoolMember& member, SlotKind kind) {
  switch (kind) {
    case SlotKind::kGeneration:
      return member.state->Full() || (member.model_slots != nullptr && member.model_slots->Full());
    case SlotKind::kEmbedding:
      return member.state->embeddings().Full();
    case SlotKind::kNone:
      return false;
  }
  return false;
}

// The metric label (Pool::model_label) of the pool of backends that take any model.
inline constexpr std::string_view kAnyModelLabel = "_other";

// Per-member facts about a pool's model, kept in Pool::flags.
enum PoolMemberFlag : std::uint8_t {
  kProbeFailing = 1,  // tier 3 for this model fails on the member
  kModelLoaded = 2,   // /api/ps lists the model on the member
  // The member refused the model (Ollama's 404 "not found", a 500 out of memory at load) until
  // the next tier-2 check lists it there again.
  kModelRefused = 4,
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
  // PoolMemberFlag bits per member, written by health updates while the table is in use.
  std::unique_ptr<std::atomic<std::uint8_t>[]> flags;
  // Below this percentage of healthy members, route to all of them (0: never).
  int panic_threshold = 0;
  // Round-robin and least-connections pools of one model try first the members that have it
  // loaded and a free slot.
  bool prefer_loaded = false;
  // Whether the last pick found the pool in panic (to log and count each change once).
  mutable std::atomic<bool> panic{false};
};

// Whether member `i` of `pool` may take traffic outside panic: healthy, tier 3 passes for the
// pool's model there, and it has not just refused the model. Lock-free.
inline bool MemberHealthy(const Pool& pool, std::size_t i) {
  return pool.members[i].state->Healthy() &&
         (pool.flags[i].load(std::memory_order_relaxed) & (kProbeFailing | kModelRefused)) == 0;
}

// Healthy, and not held out after a failed connect: what the panic threshold counts. A backend
// that just refused a connection is down now, whatever its last check said, so a pool whose
// only "healthy" members just died routes to the rest (which may be back before their checks
// say so) instead of failing every call. Lock-free.
inline bool MemberAvailable(const Pool& pool, std::size_t i) {
  return MemberHealthy(pool, i) && pool.members[i].state->connect_backoff().Available();
}

// How many members of `pool` are available (the count the panic threshold compares).
inline std::size_t AvailableMembers(const Pool& pool) {
  std::size_t available = 0;
  for (std::size_t i = 0; i < pool.members.size(); ++i) available += MemberAvailable(pool, i);
  return available;
}

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

// The affinity key `source` names in `request` ("" when it has none).
std::string_view AffinityKey(const HashKeySource& source, const RequestKeys& request);

// A model name split between two targets (rollout.h), as a table routes it.
struct RolloutRoute {
  std::shared_ptr<Rollout> rollout;
  // Each target's pool, by RolloutTarget; null while no backend of the target serves its model.
  std::array<const Pool*, 2> pools{};
  // Each target's model as written: what the backend gets.
  std::array<std::string, 2> models;
};

class RoutingTable {
 public:
  // The rollout of a canonical model name callers use, or null.
  const RolloutRoute* FindRollout(std::string_view canonical_model) const {
    auto it = rollouts_.find(canonical_model);
    return it == rollouts_.end() ? nullptr : &it->second;
  }
  const std::map<std::string, RolloutRoute, std::less<>>& rollouts() const { return rollouts_; }
  // The pool for a canonical model name: backends that list it plus backends that list no
  // models; null when no backend may serve it.
  const Pool* Find(std::string_view canonical_model) const;
  // The models with a pool (configured or discovered), canonical, sorted (for error messages).
  const std::vector<std::string>& known_models() const { return known_models_; }
  // True when a backend's `models` list names the model (even if no backend reports it now).
  bool Configured(std::string_view canonical_model) const {
    return configured_models_.find(canonical_model) != configured_models_.end();
  }
  // Every configured backend once, in config order (for metrics and readiness).
  const std::vector<PoolMember>& backends() const { return backends_; }
  // The configured backend named `name`, or null.
  const PoolMember* FindBackend(std::string_view name) const {
    auto it = backend_index_.find(name);
    return it == backend_index_.end() ? nullptr : &backends_[it->second];
  }
  // Every pool (the pool of backends taking any model last, if there is one).
  std::vector<const Pool*> pools() const;
  const health::OutlierOptions& outlier_options() const { return outlier_; }
  int max_ejection_percent() const { return max_ejection_percent_; }

 private:
  friend class Router;
  std::map<std::string, std::unique_ptr<Pool>, std::less<>> pools_;
  std::unique_ptr<Pool> any_model_pool_;
  // Pools of rollout targets limited to some backends, by canonical model.
  std::multimap<std::string, std::unique_ptr<Pool>, std::less<>> target_pools_;
  std::map<std::string, RolloutRoute, std::less<>> rollouts_;
  std::vector<std::string> known_models_;
  std::set<std::string, std::less<>> configured_models_;
  std::vector<PoolMember> backends_;
  std::map<std::string, std::size_t, std::less<>> backend_index_;  // name -> backends_ index
  health::OutlierOptions outlier_;
  int max_ejection_percent_ = 0;
};

// Hears routing events worth a log line and a metric. Calls may come from any thread, rarely.
class RouterListener {
 public:
  virtual ~RouterListener() = default;
  // A pool entered (or left) panic: fewer than panic_threshold percent of it is healthy.
  virtual void OnPanic(const Pool& pool, bool panic, std::size_t healthy) = 0;
  // Outlier detection ejected a backend for `hold` after `failures` failures in a row.
  virtual void OnEjected(const BackendState& backend, std::chrono::milliseconds hold,
                         int failures) = 0;
  // It would have, but max_ejection_percent of `pool` is ejected already.
  virtual void OnEjectionRefused(const BackendState& backend, const Pool& pool) = 0;
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
  // How many were skipped as unhealthy (active checks or outlier ejection).
  std::size_t unhealthy = 0;
  // Too few members were healthy, so health was ignored.
  bool panic = false;
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

  // Health inputs, from the active checks. Thread-safe; not for the request path.
  // Tiers 1 and 2 pass (or not) on `backend`.
  void SetActiveHealth(const std::string& backend, bool ok);
  // The models `backend` reports serving (canonical names). With discovery on, pools follow
  // them: the table is rebuilt when they change.
  void SetServedModels(const std::string& backend, std::vector<std::string> canonical_models);
  // The models loaded on `backend` now (canonical names).
  void SetLoadedModels(const std::string& backend,
                       const std::vector<std::string>& canonical_models);
  // A connect check reached `backend`: a hold-out after refused connects ends now, rather than
  // when its time runs out or a call happens to probe it (a restarted backend that took no
  // traffic meanwhile would otherwise stay held out for up to 10 s).
  void NoteConnected(const std::string& backend);
  // Whether tier 3 for `canonical_model` fails on `backend`.
  void SetProbeFailing(const std::string& backend, const std::string& canonical_model,
                       bool failing);
  // Fleet operations' results, ahead of the next tier-2 check: `backend` now has (pull, create,
  // copy) or no longer has (delete) `canonical_model`. With discovery on, pools follow at once.
  void NoteModelInstalled(const std::string& backend, const std::string& canonical_model);
  void NoteModelRemoved(const std::string& backend, const std::string& canonical_model);

  // Member `index` of `pool` refused the pool's model (ModelRefusal): it takes no more calls for
  // it outside panic until a tier-2 check lists the model there again. Not for the pool of
  // backends taking any model (the mark would cover every model), nor without tier-2 checks
  // (nothing would lift it). Thread-safe; takes the router's lock (rare).
  void MarkModelRefused(const Pool& pool, std::size_t index);

  // How one attempt on a pool member ended, for outlier detection: kFailure is a connect error,
  // a timeout, a 5xx or a broken stream; kSuccess any other answer; kNeutral says nothing about
  // the backend (the caller cancelled, or its deadline expired). Thread-safe, lock-free unless
  // the backend reaches its ejection threshold.
  enum class Outcome { kSuccess, kFailure, kNeutral };
  void RecordOutcome(const Pool& pool, std::size_t index, Outcome outcome);

  // Backends that are healthy now (active checks pass, not ejected). Thread-safe.
  std::size_t HealthyBackends() const;

  // Re-evaluates the panic state of every pool, so it follows health changes (and the end of
  // ejections) without waiting for a call to be routed. Thread-safe.
  void RefreshPanic() const;

  // Receives panic and ejection events; must outlive the router. Set before traffic.
  void SetListener(RouterListener* listener) { listener_ = listener; }

  // The rollouts of the current configuration, in config order. Thread-safe.
  std::vector<std::shared_ptr<Rollout>> rollouts() const;

  // The configuration the current table was built from. Thread-safe.
  std::shared_ptr<const Config> config() const {
    std::lock_guard<std::mutex> lock(states_mu_);
    return config_;
  }

  // The current table. Thread-safe, lock-free.
  std::shared_ptr<const RoutingTable> table() const { return table_.load(); }

  // Chooses a member of `pool` for one attempt, skipping those in `tried`, those held out
  // after connect failures and those without a free slot of `slots`. Hashing pools take the key
  // from `request` as configured. Thread-safe, lock-free.
  Choice Choose(const Pool& pool, const balancer::HostMask& tried, const RequestKeys& request,
                std::uint64_t random, SlotKind slots = SlotKind::kGeneration) const;

 private:
  // What the active checks said of a backend, for building tables.
  struct Facts {
    std::optional<std::set<std::string>> served;  // /api/tags, once known
    std::set<std::string> loaded;
    std::set<std::string> probe_failing;
    std::set<std::string> refused;  // MarkModelRefused, until tier 2 lists the model again
  };

  std::shared_ptr<BackendState> StateFor(const std::string& name);
  // Builds and publishes the table of config_, facts_ and rollouts_. Requires states_mu_.
  absl::Status Rebuild();
  void ProbeHeldOut(const Pool& pool, const balancer::HostMask& skip, std::uint64_t random,
                    SlotKind slots, Choice* choice) const;
  void NotePanic(const Pool& pool, bool panic, std::size_t healthy) const;
  void TryEject(BackendState& state);
  // Sets or clears `flag` of `backend` in every pool of `canonical_model` of the current table.
  void SetFlag(const std::string& backend, const std::string& canonical_model, PoolMemberFlag flag,
               bool on);

  const Clock& clock_;
  std::atomic<std::shared_ptr<const RoutingTable>> table_;
  std::atomic<RouterListener*> listener_{nullptr};
  // Guards config_, facts_ and states_ (config and health updates, never the request path).
  mutable std::mutex states_mu_;
  std::shared_ptr<const Config> config_;
  std::map<std::string, Facts> facts_;
  std::map<std::string, std::shared_ptr<BackendState>> states_;
  // Rollouts by canonical name, kept across reloads while their definition is unchanged.
  std::map<std::string, std::shared_ptr<Rollout>> rollouts_;
  std::mutex eject_mu_;  // serializes ejection decisions
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_ROUTING_ROUTER_H_
