// How health reaches routing: active check results, discovered and loaded models, tier 3
// failures, outlier ejection and the panic threshold, all in simulated time.
#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <vector>

#include "gateway/config/values.h"
#include "gateway/routing/router.h"

namespace og {
namespace {

using std::chrono::milliseconds;

BackendConfig Backend(const std::string& name, std::vector<std::string> models = {}) {
  BackendConfig b;
  b.name = name;
  b.url = "http://127.0.0.1:" + std::to_string(10000 + name[0]);  // distinct ring labels
  for (const auto& m : models) b.canonical_models.push_back(CanonicalModelName(m));
  b.models = std::move(models);
  return b;
}

Config Backends(std::vector<BackendConfig> backends, int panic_threshold = 0) {
  Config c;
  c.backends = std::move(backends);
  c.health.panic_threshold = panic_threshold;
  c.outlier_detection.consecutive_failures = 3;
  c.outlier_detection.base_ejection_time = milliseconds(1000);
  c.outlier_detection.max_ejection_time = milliseconds(5000);
  return c;
}

struct Request : RequestKeys {
  std::string model = "llama3.2";
  std::string key;
  std::string_view Model() const override { return model; }
  std::string_view HashKeyField() const override { return key; }
  std::string_view Metadata(std::string_view) const override { return {}; }
  std::string_view Header(std::string_view) const override { return {}; }
};

struct Listener : RouterListener {
  std::vector<std::pair<std::string, bool>> panics;
  std::vector<std::string> ejected;
  std::vector<std::string> refused;
  void OnPanic(const Pool& pool, bool panic, std::size_t) override {
    panics.emplace_back(pool.model_label, panic);
  }
  void OnEjected(const BackendState& b, milliseconds, int) override { ejected.push_back(b.name()); }
  void OnEjectionRefused(const BackendState& b, const Pool&) override {
    refused.push_back(b.name());
  }
};

const Pool& PoolOf(const Router& router, const std::string& model = "llama3.2") {
  const Pool* pool = router.table()->Find(CanonicalModelName(model));
  REQUIRE(pool != nullptr);
  return *pool;
}

// The index of the member named `name` in `pool`.
std::size_t IndexOf(const Pool& pool, const std::string& name) {
  std::size_t i = 0;
  while (i < pool.members.size() && pool.members[i].state->name() != name) ++i;
  REQUIRE(i < pool.members.size());
  return i;
}

std::set<std::string> Members(const Router& router, const std::string& model) {
  std::set<std::string> out;
  const Pool* pool = router.table()->Find(CanonicalModelName(model));
  if (pool == nullptr) return out;
  for (const auto& m : pool->members) out.insert(m.state->name());
  return out;
}

// The backends chosen over `n` picks.
std::map<std::string, int> Picks(const Router& router, int n,
                                 const std::string& model = "llama3.2") {
  std::map<std::string, int> out;
  const Pool& pool = PoolOf(router, model);
  Request request;
  request.model = model;
  for (int i = 0; i < n; ++i) {
    Choice c = router.Choose(pool, balancer::HostMask(pool.members.size()), request, i);
    out[c.ok() ? pool.members[c.index].state->name() : "none"]++;
  }
  return out;
}

// Tiers 1 and 2 pass on each backend, and each lists llama3.2 in /api/tags.
void AllHealthy(Router& router, const std::vector<std::string>& names) {
  for (const auto& n : names) {
    router.SetActiveHealth(n, true);
    router.SetServedModels(n, {"llama3.2:latest"});
  }
}

std::set<std::string> Keys(const std::map<std::string, int>& picks) {
  std::set<std::string> out;
  for (const auto& [name, count] : picks) out.insert(name);
  return out;
}

TEST_CASE("a backend not yet seen to pass its checks takes no traffic", "[router][health]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(Backends({Backend("a"), Backend("b")})).ok());
  router.SetActiveHealth("a", true);
  CHECK(Picks(router, 10) == std::map<std::string, int>{{"a", 10}});
  CHECK(router.HealthyBackends() == 1);
}

TEST_CASE("with every backend unhealthy and no panic, the pick fails counting them",
          "[router][health]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(Backends({Backend("a"), Backend("b")})).ok());
  const Pool& pool = PoolOf(router);
  Choice c = router.Choose(pool, balancer::HostMask(2), Request{}, 0);
  CHECK_FALSE(c.ok());
  CHECK(c.unhealthy == 2);
  CHECK_FALSE(c.panic);
}

TEST_CASE("with both active tiers disabled, backends are routable at once", "[router][health]") {
  FakeClock clock;
  Router router(clock);
  Config config = Backends({Backend("a")});
  config.health.connect.enabled = false;
  config.health.api.enabled = false;
  REQUIRE(router.Apply(config).ok());
  CHECK(Picks(router, 3) == std::map<std::string, int>{{"a", 3}});
}

TEST_CASE("below the panic threshold the pool routes to every member and says so once",
          "[router][health]") {
  FakeClock clock;
  Router router(clock);
  Listener listener;
  router.SetListener(&listener);
  REQUIRE(router.Apply(Backends({Backend("a"), Backend("b"), Backend("c")}, 50)).ok());
  AllHealthy(router, {"a", "b", "c"});
  router.SetActiveHealth("b", false);
  router.SetActiveHealth("c", false);  // 1 of 3 healthy: 33% < 50%
  CHECK(Picks(router, 30).size() == 3);
  CHECK(listener.panics == std::vector<std::pair<std::string, bool>>{{"llama3.2:latest", true}});
  router.SetActiveHealth("b", true);  // 2 of 3: out of panic
  CHECK(Keys(Picks(router, 30)) == std::set<std::string>{"a", "b"});
  CHECK(listener.panics.back() == std::make_pair(std::string("llama3.2:latest"), false));
  CHECK(listener.panics.size() == 2);
}

TEST_CASE("a healthy member held out after a refused connect counts as down for panic",
          "[router][health]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(Backends({Backend("a"), Backend("b")}, 50)).ok());
  AllHealthy(router, {"a", "b"});
  router.SetActiveHealth("b", false);  // b's checks still fail, but it is back
  const Pool& pool = PoolOf(router);
  const std::size_t a = IndexOf(pool, "a");
  pool.members[a].state->connect_backoff().OnConnectFailure();  // a just died
  Choice c = router.Choose(pool, balancer::HostMask(2), Request{}, 0);
  REQUIRE(c.ok());
  CHECK(c.panic);
  CHECK(pool.members[c.index].state->name() == "b");
}

TEST_CASE("a passed connect check ends a hold-out after refused connects", "[router][health]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(Backends({Backend("a"), Backend("b")})).ok());
  AllHealthy(router, {"a", "b"});
  const Pool& pool = PoolOf(router);
  BackendState& a = *pool.members[IndexOf(pool, "a")].state;
  for (int i = 0; i < 5; ++i) a.connect_backoff().OnConnectFailure();  // held out 8 s
  CHECK(Picks(router, 10) == std::map<std::string, int>{{"b", 10}});
  router.NoteConnected("a");
  CHECK(a.connect_backoff().Available());
  CHECK(Picks(router, 10).count("a") == 1);
  router.NoteConnected("gone");  // an unknown name is ignored
}

TEST_CASE("with discovery, a backend serves the models its /api/tags lists", "[router][health]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(Backends({Backend("a"), Backend("b")})).ok());
  // Before anything is known, a backend without a models list takes every model.
  CHECK(Members(router, "qwen2.5:7b") == std::set<std::string>{"a", "b"});
  router.SetServedModels("a", {"llama3.2:latest"});
  router.SetServedModels("b", {"qwen2.5:7b", "llama3.2:latest"});
  CHECK(Members(router, "llama3.2") == std::set<std::string>{"a", "b"});
  CHECK(Members(router, "qwen2.5:7b") == std::set<std::string>{"b"});
  CHECK(router.table()->Find(CanonicalModelName("mistral")) == nullptr);
  CHECK(router.table()->known_models() ==
        std::vector<std::string>{"llama3.2:latest", "qwen2.5:7b"});
  router.SetServedModels("b", {"qwen2.5:7b"});  // llama3.2 removed from b
  CHECK(Members(router, "llama3.2") == std::set<std::string>{"a"});
}

TEST_CASE("a backend's models list limits what discovery lets it serve", "[router][health]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(Backends({Backend("a", {"llama3.2", "qwen2.5"}), Backend("b")})).ok());
  router.SetServedModels("a", {"llama3.2:latest", "mistral:latest"});
  router.SetServedModels("b", {"mistral:latest"});
  CHECK(Members(router, "llama3.2") == std::set<std::string>{"a"});
  CHECK(Members(router, "mistral") == std::set<std::string>{"b"});
  // Configured on a, but a lacks it: no pool, and the table knows it was configured.
  CHECK(router.table()->Find(CanonicalModelName("qwen2.5")) == nullptr);
  CHECK(router.table()->Configured(CanonicalModelName("qwen2.5")));
}

TEST_CASE("without discovery, the configured models decide and /api/tags is ignored",
          "[router][health]") {
  FakeClock clock;
  Router router(clock);
  Config config = Backends({Backend("a", {"llama3.2"}), Backend("b")});
  config.health.discovery = false;
  REQUIRE(router.Apply(config).ok());
  router.SetServedModels("a", {"qwen2.5:latest"});
  CHECK(Members(router, "llama3.2") == std::set<std::string>{"a", "b"});
  CHECK(Members(router, "anything") == std::set<std::string>{"b"});
}

TEST_CASE("a failing tier 3 probe keeps a backend out for that model only", "[router][health]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router
              .Apply(Backends(
                  {Backend("a", {"llama3.2", "qwen2.5"}), Backend("b", {"llama3.2", "qwen2.5"})}))
              .ok());
  AllHealthy(router, {"a", "b"});
  for (const char* b : {"a", "b"}) router.SetServedModels(b, {"llama3.2:latest", "qwen2.5:latest"});
  router.SetProbeFailing("a", "llama3.2:latest", true);
  CHECK(Picks(router, 10) == std::map<std::string, int>{{"b", 10}});
  CHECK(Picks(router, 10, "qwen2.5").size() == 2);
  router.SetProbeFailing("a", "llama3.2:latest", false);
  CHECK(Picks(router, 10).size() == 2);
}

TEST_CASE("a tier 3 failure survives a table rebuild", "[router][health]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(Backends({Backend("a"), Backend("b")})).ok());
  AllHealthy(router, {"a", "b"});
  router.SetProbeFailing("a", "llama3.2:latest", true);
  router.SetServedModels("a", {"llama3.2:latest"});  // rebuilds the table
  router.SetServedModels("b", {"llama3.2:latest"});
  CHECK(Picks(router, 10) == std::map<std::string, int>{{"b", 10}});
}

TEST_CASE("round-robin prefers members with the model loaded, others still serve",
          "[router][health]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(Backends({Backend("a"), Backend("b"), Backend("c")})).ok());
  AllHealthy(router, {"a", "b", "c"});
  router.SetLoadedModels("b", {"llama3.2:latest"});
  CHECK(Picks(router, 12) == std::map<std::string, int>{{"b", 12}});
  // A retry that already tried b goes to a cold member.
  const Pool& pool = PoolOf(router);
  balancer::HostMask tried(3);
  tried.Set(IndexOf(pool, "b"));
  Choice c = router.Choose(pool, tried, Request{}, 0);
  REQUIRE(c.ok());
  CHECK(pool.members[c.index].state->name() != "b");
  router.SetLoadedModels("b", {});
  CHECK(Picks(router, 12).size() == 3);
}

TEST_CASE("once the members with the model loaded are busy, calls spread over all",
          "[router][health]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(Backends({Backend("a"), Backend("b"), Backend("c")})).ok());
  AllHealthy(router, {"a", "b", "c"});
  router.SetLoadedModels("b", {"llama3.2:latest"});
  const Pool& pool = PoolOf(router);
  const std::size_t b = IndexOf(pool, "b");
  // Without max_in_flight only an idle backend has a free slot.
  pool.members[b].state->in_flight().store(1);
  CHECK(Picks(router, 12).size() == 3);
  // With max_in_flight, a free slot is one below it.
  Config limited = Backends({Backend("a"), Backend("b"), Backend("c")});
  for (auto& backend : limited.backends) backend.max_in_flight = 4;
  REQUIRE(router.Apply(limited).ok());
  const Pool& again = PoolOf(router);
  CHECK(Picks(router, 12) == std::map<std::string, int>{{"b", 12}});
  again.members[b].state->in_flight().store(4);  // full
  CHECK(Keys(Picks(router, 12)) == std::set<std::string>{"a", "c"});
  again.members[b].state->in_flight().store(0);
}

TEST_CASE("ketama keeps key affinity rather than chasing loaded models", "[router][health]") {
  FakeClock clock;
  Router router(clock);
  Config config = Backends({Backend("a"), Backend("b"), Backend("c")});
  config.balancer.policy = "ketama";
  REQUIRE(router.Apply(config).ok());
  AllHealthy(router, {"a", "b", "c"});
  router.SetLoadedModels("b", {"llama3.2:latest"});
  const Pool& pool = PoolOf(router);
  std::set<std::string> owners;
  for (int k = 0; k < 50; ++k) {
    Request request;
    request.key = "session-" + std::to_string(k);
    Choice c = router.Choose(pool, balancer::HostMask(3), request, 0);
    REQUIRE(c.ok());
    owners.insert(pool.members[c.index].state->name());
  }
  CHECK(owners.size() == 3);
}

TEST_CASE("a refused model keeps its backend out for that model until tier 2 lists it again",
          "[router][health]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(Backends({Backend("a"), Backend("b")})).ok());
  AllHealthy(router, {"a", "b"});
  router.SetServedModels("a", {"llama3.2:latest", "qwen3:latest"});
  router.MarkModelRefused(PoolOf(router), IndexOf(PoolOf(router), "a"));
  CHECK(Picks(router, 10) == std::map<std::string, int>{{"b", 10}});
  // Only that model, and not the backend: it is neither ejected nor out for other models.
  CHECK(Picks(router, 4, "qwen3") == std::map<std::string, int>{{"a", 4}});
  CHECK(router.HealthyBackends() == 2);
  // A rebuild (discovery sees b change) keeps the mark.
  router.SetServedModels("b", {"llama3.2:latest", "phi3:latest"});
  CHECK(Picks(router, 10) == std::map<std::string, int>{{"b", 10}});
  // The next tier-2 answer that lists the model on a lifts it.
  router.SetServedModels("a", {"llama3.2:latest", "qwen3:latest"});
  CHECK(Keys(Picks(router, 10)) == std::set<std::string>{"a", "b"});
}

TEST_CASE("without tier-2 checks a refusal marks nothing (nothing would lift it)",
          "[router][health]") {
  FakeClock clock;
  Router router(clock);
  Config config = Backends({Backend("a"), Backend("b")});
  config.health.api.enabled = false;
  REQUIRE(router.Apply(config).ok());
  AllHealthy(router, {"a", "b"});
  router.MarkModelRefused(PoolOf(router), IndexOf(PoolOf(router), "a"));
  CHECK(Keys(Picks(router, 10)) == std::set<std::string>{"a", "b"});
}

TEST_CASE("a model installed or removed by a fleet operation routes at once", "[router][health]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(Backends({Backend("a"), Backend("b")})).ok());
  AllHealthy(router, {"a", "b"});
  CHECK(Members(router, "phi3").empty());
  router.NoteModelInstalled("a", "phi3:latest");
  router.NoteModelInstalled("b", "phi3:latest");
  CHECK(Members(router, "phi3") == std::set<std::string>{"a", "b"});
  router.NoteModelRemoved("a", "phi3:latest");
  CHECK(Members(router, "phi3") == std::set<std::string>{"b"});
  // The next tier-2 answer is the truth again.
  router.SetServedModels("a", {"llama3.2:latest", "phi3:latest"});
  CHECK(Members(router, "phi3") == std::set<std::string>{"a", "b"});
}

TEST_CASE("slots: a model's own limit on a backend, embeddings apart, show without one",
          "[router][health]") {
  FakeClock clock;
  Router router(clock);
  BackendConfig a = Backend("a");
  a.max_in_flight = 4;
  a.max_in_flight_by_model = {{"llama3.2:latest", 1}};
  a.max_embed_in_flight = 1;
  REQUIRE(router.Apply(Backends({a})).ok());
  AllHealthy(router, {"a"});
  router.SetServedModels("a", {"llama3.2:latest", "qwen3:latest"});
  const std::shared_ptr<const RoutingTable> held = router.table();  // as a call holds it
  const Pool& llama = PoolOf(router);
  const Pool& qwen = PoolOf(router, "qwen3");
  REQUIRE(llama.members[0].model_slots != nullptr);
  CHECK(qwen.members[0].model_slots == nullptr);
  REQUIRE(llama.members[0].model_slots->TryAcquire());
  CHECK(MemberFull(llama.members[0], SlotKind::kGeneration));
  CHECK_FALSE(MemberFull(qwen.members[0], SlotKind::kGeneration));  // another model: free
  const Choice full = router.Choose(llama, balancer::HostMask(1), Request{}, 0);
  CHECK_FALSE(full.ok());
  CHECK(full.full == 1);
  // Embeddings and /api/show do not wait for generations.
  CHECK(router.Choose(llama, balancer::HostMask(1), Request{}, 0, SlotKind::kEmbedding).ok());
  CHECK(router.Choose(llama, balancer::HostMask(1), Request{}, 0, SlotKind::kNone).ok());
  REQUIRE(llama.members[0].state->embeddings().TryAcquire());
  CHECK(MemberFull(llama.members[0], SlotKind::kEmbedding));
  CHECK_FALSE(MemberFull(llama.members[0], SlotKind::kNone));
  // The model's count survives a rebuild: a call in flight stays counted.
  router.SetServedModels("a", {"llama3.2:latest", "phi3:latest"});
  CHECK(MemberFull(PoolOf(router).members[0], SlotKind::kGeneration));
  llama.members[0].model_slots->Release();
  CHECK_FALSE(MemberFull(PoolOf(router).members[0], SlotKind::kGeneration));
}

TEST_CASE("consecutive failures eject a backend for the base time", "[router][health]") {
  FakeClock clock;
  Router router(clock);
  Listener listener;
  router.SetListener(&listener);
  REQUIRE(router.Apply(Backends({Backend("a"), Backend("b"), Backend("c")})).ok());
  AllHealthy(router, {"a", "b", "c"});
  const Pool& pool = PoolOf(router);
  const std::size_t a = IndexOf(pool, "a");
  router.RecordOutcome(pool, a, Router::Outcome::kFailure);
  router.RecordOutcome(pool, a, Router::Outcome::kFailure);
  CHECK(listener.ejected.empty());
  router.RecordOutcome(pool, a, Router::Outcome::kFailure);
  CHECK(listener.ejected == std::vector<std::string>{"a"});
  CHECK(Picks(router, 10).count("a") == 0);
  clock.Advance(milliseconds(1000));
  CHECK(Picks(router, 30).count("a") == 1);
}

TEST_CASE("a success or a neutral outcome between failures keeps a backend in",
          "[router][health]") {
  FakeClock clock;
  Router router(clock);
  Listener listener;
  router.SetListener(&listener);
  REQUIRE(router.Apply(Backends({Backend("a"), Backend("b")})).ok());
  AllHealthy(router, {"a", "b"});
  const Pool& pool = PoolOf(router);
  for (int round = 0; round < 5; ++round) {
    router.RecordOutcome(pool, 0, Router::Outcome::kFailure);
    router.RecordOutcome(pool, 0, Router::Outcome::kFailure);
    router.RecordOutcome(pool, 0, Router::Outcome::kNeutral);
    router.RecordOutcome(pool, 0, Router::Outcome::kSuccess);
  }
  CHECK(listener.ejected.empty());
}

TEST_CASE("ejection never exceeds max_ejection_percent of a pool beyond one backend",
          "[router][health]") {
  FakeClock clock;
  Router router(clock);
  Listener listener;
  router.SetListener(&listener);
  Config config = Backends({Backend("a"), Backend("b"), Backend("c"), Backend("d")});
  config.outlier_detection.max_ejection_percent = 50;
  REQUIRE(router.Apply(config).ok());
  AllHealthy(router, {"a", "b", "c", "d"});
  const Pool& pool = PoolOf(router);
  for (std::size_t i = 0; i < 4; ++i) {
    for (int f = 0; f < 3; ++f) router.RecordOutcome(pool, i, Router::Outcome::kFailure);
  }
  CHECK(listener.ejected.size() == 2);  // 2 of 4 is 50%
  CHECK(listener.refused.size() == 2);
  CHECK(router.HealthyBackends() == 2);
}

TEST_CASE("one backend of a small pool may always be ejected, unless the percent is 0",
          "[router][health]") {
  FakeClock clock;
  Router router(clock);
  Listener listener;
  router.SetListener(&listener);
  Config config = Backends({Backend("a"), Backend("b")});
  config.outlier_detection.max_ejection_percent = 10;
  REQUIRE(router.Apply(config).ok());
  AllHealthy(router, {"a", "b"});
  const Pool& pool = PoolOf(router);
  for (int f = 0; f < 3; ++f) router.RecordOutcome(pool, 0, Router::Outcome::kFailure);
  CHECK(listener.ejected.size() == 1);

  config.outlier_detection.max_ejection_percent = 0;
  Router off(clock);
  Listener quiet;
  off.SetListener(&quiet);
  REQUIRE(off.Apply(config).ok());
  const Pool& off_pool = PoolOf(off);
  for (int f = 0; f < 5; ++f) off.RecordOutcome(off_pool, 0, Router::Outcome::kFailure);
  CHECK(quiet.ejected.empty());
}

TEST_CASE("repeated ejections last longer, up to the maximum", "[router][health]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(Backends({Backend("a"), Backend("b")})).ok());
  AllHealthy(router, {"a", "b"});
  const Pool& pool = PoolOf(router);
  auto eject = [&] {
    for (int f = 0; f < 3; ++f) router.RecordOutcome(pool, 0, Router::Outcome::kFailure);
  };
  const BackendState& state = *pool.members[0].state;
  eject();
  CHECK(state.outlier().ejected_until() == clock.Now() + milliseconds(1000));
  clock.Advance(milliseconds(1000));
  eject();
  CHECK(state.outlier().ejected_until() == clock.Now() + milliseconds(2000));
  clock.Advance(milliseconds(2000));
  for (int i = 0; i < 4; ++i) {
    eject();
    clock.Advance(state.outlier().ejected_until() - clock.Now());
  }
  eject();
  CHECK(state.outlier().ejected_until() == clock.Now() + milliseconds(5000));  // capped
}

}  // namespace
}  // namespace og
