#include <catch2/catch.hpp>
#include <map>
#include <set>

#include "gateway/config/balancer_section.h"
#include "gateway/config/values.h"
#include "gateway/routing/router.h"

namespace og {
namespace {

BackendConfig Backend(const std::string& name, std::vector<std::string> models, int weight = 1) {
  BackendConfig b;
  b.name = name;
  b.url = "http://127.0.0.1:1";
  b.weight = weight;
  for (const auto& m : models) b.canonical_models.push_back(CanonicalModelName(m));
  b.models = std::move(models);
  return b;
}

Config TwoModels() {
  Config c;
  c.backends = {Backend("a", {"llama3.2"}), Backend("b", {"llama3.2", "qwen2.5:7b"}),
                Backend("c", {"qwen2.5:7b"})};
  return c;
}

// A request as the router sees it, without gRPC.
struct FakeRequest : RequestKeys {
  std::string model = "llama3.2", hash_key;
  std::map<std::string, std::string> metadata, headers;
  std::string_view Model() const override { return model; }
  std::string_view HashKeyField() const override { return hash_key; }
  std::string_view Metadata(std::string_view n) const override { return Find(metadata, n); }
  std::string_view Header(std::string_view n) const override { return Find(headers, n); }
  static std::string_view Find(const std::map<std::string, std::string>& m, std::string_view n) {
    auto it = m.find(std::string(n));
    return it == m.end() ? std::string_view() : std::string_view(it->second);
  }
};
const FakeRequest kNoKeys;

std::set<std::string> Names(const Pool& pool) {
  std::set<std::string> out;
  for (const auto& m : pool.members) out.insert(m.state->name());
  return out;
}

TEST_CASE("a model is routed only to backends that list it", "[router]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(TwoModels()).ok());
  auto table = router.table();
  const Pool* llama = table->Find(CanonicalModelName("Llama3.2"));
  REQUIRE(llama != nullptr);
  CHECK(Names(*llama) == std::set<std::string>{"a", "b"});
  const Pool* qwen = table->Find(CanonicalModelName("qwen2.5:7b"));
  REQUIRE(qwen != nullptr);
  CHECK(Names(*qwen) == std::set<std::string>{"b", "c"});
  CHECK(table->Find(CanonicalModelName("mistral")) == nullptr);
  CHECK(table->known_models() == std::vector<std::string>{"llama3.2:latest", "qwen2.5:7b"});
}

TEST_CASE("backends without a model list serve every model", "[router]") {
  FakeClock clock;
  Router router(clock);
  Config c = TwoModels();
  c.backends.push_back(Backend("any", {}));
  REQUIRE(router.Apply(c).ok());
  auto table = router.table();
  CHECK(Names(*table->Find("llama3.2:latest")) == std::set<std::string>{"a", "b", "any"});
  const Pool* other = table->Find("mistral:latest");
  REQUIRE(other != nullptr);
  CHECK(Names(*other) == std::set<std::string>{"any"});
  CHECK(other->model_label == "_other");
}

TEST_CASE("the table lists every backend once, including those serving any model", "[router]") {
  FakeClock clock;
  Router router(clock);
  Config c = TwoModels();
  c.backends.push_back(Backend("any", {}));
  REQUIRE(router.Apply(c).ok());
  std::vector<std::string> names;
  for (const auto& m : router.table()->backends()) names.push_back(m.state->name());
  CHECK(names == std::vector<std::string>{"a", "b", "c", "any"});
}

TEST_CASE("choose skips tried backends and then reports none with the counts", "[router]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(TwoModels()).ok());
  auto table = router.table();
  const Pool& pool = *table->Find("llama3.2:latest");
  balancer::HostMask tried(pool.members.size());
  Choice first = router.Choose(pool, tried, kNoKeys, 0);
  REQUIRE(first.ok());
  tried.Set(first.index);
  Choice second = router.Choose(pool, tried, kNoKeys, 0);
  REQUIRE(second.ok());
  CHECK(second.index != first.index);
  tried.Set(second.index);
  Choice none = router.Choose(pool, tried, kNoKeys, 0);
  CHECK_FALSE(none.ok());
  CHECK(none.tried == 2);
  CHECK(none.unavailable == 0);
}

TEST_CASE("a backend at its max_in_flight is skipped and counted as full", "[router]") {
  FakeClock clock;
  Router router(clock);
  Config config = TwoModels();
  for (BackendConfig& b : config.backends) b.max_in_flight = 1;
  REQUIRE(router.Apply(config).ok());
  auto table = router.table();
  const Pool& pool = *table->Find("llama3.2:latest");
  balancer::HostMask tried(pool.members.size());
  for (const PoolMember& m : pool.members) REQUIRE(m.state->TryAcquire());
  for (const PoolMember& m : pool.members) CHECK_FALSE(m.state->TryAcquire());
  Choice none = router.Choose(pool, tried, kNoKeys, 0);
  CHECK_FALSE(none.ok());
  CHECK(none.full == pool.members.size());
  pool.members[0].state->in_flight().fetch_sub(1);
  Choice one = router.Choose(pool, tried, kNoKeys, 0);
  REQUIRE(one.ok());
  CHECK(one.index == 0);
}

TEST_CASE("a backend held out after a connect failure is not chosen until it may retry",
          "[router]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(TwoModels()).ok());
  auto table = router.table();
  const Pool& pool = *table->Find("llama3.2:latest");
  pool.members[0].state->connect_backoff().OnConnectFailure();
  balancer::HostMask tried(pool.members.size());
  for (int i = 0; i < 4; ++i) {
    Choice c = router.Choose(pool, tried, kNoKeys, 0);
    REQUIRE(c.ok());
    CHECK(pool.members[c.index].state->name() == "b");
  }
  clock.Advance(std::chrono::seconds(1));
  std::set<std::string> seen;
  for (int i = 0; i < 4; ++i)
    seen.insert(pool.members[router.Choose(pool, tried, kNoKeys, 0).index].state->name());
  CHECK(seen == std::set<std::string>{"a", "b"});
}

TEST_CASE("with every backend held out, one call at a time probes one of them", "[router]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(TwoModels()).ok());
  auto table = router.table();
  const Pool& pool = *table->Find("llama3.2:latest");
  for (const auto& m : pool.members) m.state->connect_backoff().OnConnectFailure();
  balancer::HostMask tried(pool.members.size());
  Choice first = router.Choose(pool, tried, kNoKeys, 0);
  REQUIRE(first.ok());
  CHECK(first.probe);
  Choice second = router.Choose(pool, tried, kNoKeys, 0);  // the other backend's probe
  REQUIRE(second.ok());
  CHECK(second.index != first.index);
  Choice third = router.Choose(pool, tried, kNoKeys, 0);  // both probes taken: fail fast
  CHECK_FALSE(third.ok());
  CHECK(third.unavailable == 2);
  // The probe connects: the backend is back at once, for everyone.
  pool.members[first.index].state->connect_backoff().OnSuccess();
  Choice after = router.Choose(pool, tried, kNoKeys, 0);
  REQUIRE(after.ok());
  CHECK_FALSE(after.probe);
  CHECK(after.index == first.index);
}

TEST_CASE("a failed probe frees the probe for the next call", "[router]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(TwoModels()).ok());
  auto table = router.table();
  const Pool& pool = *table->Find("qwen2.5:7b");
  for (const auto& m : pool.members) m.state->connect_backoff().OnConnectFailure();
  balancer::HostMask tried(pool.members.size());
  tried.Set(1);  // only member 0 is a candidate
  Choice probe = router.Choose(pool, tried, kNoKeys, 0);
  REQUIRE(probe.probe);
  CHECK_FALSE(router.Choose(pool, tried, kNoKeys, 0).ok());
  pool.members[probe.index].state->connect_backoff().OnConnectFailure();
  CHECK(router.Choose(pool, tried, kNoKeys, 0).probe);
}

TEST_CASE("backend state survives a new config and is shared between pools", "[router]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(TwoModels()).ok());
  auto old_table = router.table();
  old_table->Find("llama3.2:latest")->members[1].state->in_flight() = 7;  // backend b
  REQUIRE(router.Apply(TwoModels()).ok());
  auto table = router.table();
  CHECK(table != old_table);
  for (const char* model : {"llama3.2:latest", "qwen2.5:7b"}) {
    for (const auto& m : table->Find(model)->members) {
      if (m.state->name() == "b") CHECK(m.state->in_flight().load() == 7);
    }
  }
}

Config KetamaOnLlama(const std::string& source) {
  Config c = TwoModels();
  PoolConfig pool;
  pool.model = "llama3.2";
  pool.canonical_model = "llama3.2:latest";
  pool.policy.policy = "ketama";
  pool.policy.hash_key = *ParseHashKeySource(source);
  c.balancer.pools.push_back(pool);
  c.backends[0].url = "http://10.0.0.1:11434";
  c.backends[1].url = "http://10.0.0.2:11434";
  return c;
}

TEST_CASE("a pool override sets the policy of one model only", "[router]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(KetamaOnLlama("metadata:session-id")).ok());
  auto table = router.table();
  CHECK(table->Find("llama3.2:latest")->policy.policy == "ketama");
  CHECK(table->Find("llama3.2:latest")->fallback != nullptr);
  CHECK(table->Find("qwen2.5:7b")->policy.policy == "round_robin");
  CHECK(table->Find("qwen2.5:7b")->fallback == nullptr);
  CHECK((*table->Find("llama3.2:latest")->hosts)[0].hash_label == "10.0.0.1:11434");
}

TEST_CASE("a hashing pool sends one metadata key to one backend every time", "[router]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(KetamaOnLlama("metadata:session-id")).ok());
  auto table = router.table();
  const Pool& pool = *table->Find("llama3.2:latest");
  balancer::HostMask tried(pool.members.size());
  std::set<std::size_t> owners_of_key;
  std::set<std::size_t> owners_overall;
  for (int i = 0; i < 20; ++i) {
    FakeRequest request;
    request.metadata["session-id"] = "user-42";
    Choice c = router.Choose(pool, tried, request, std::uint64_t(i));
    REQUIRE(c.ok());
    CHECK_FALSE(c.hash_key_missing);
    owners_of_key.insert(c.index);
    request.metadata["session-id"] = "user-" + std::to_string(i);
    owners_overall.insert(router.Choose(pool, tried, request, 0).index);
  }
  CHECK(owners_of_key.size() == 1);
  CHECK(owners_overall.size() == 2);
}

TEST_CASE("a hashing pool takes its key from the configured header", "[router]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(KetamaOnLlama("header:x-session")).ok());
  auto table = router.table();
  const Pool& pool = *table->Find("llama3.2:latest");
  balancer::HostMask tried(pool.members.size());
  FakeRequest request;
  request.metadata["x-session"] = "ignored: not a header";
  CHECK(router.Choose(pool, tried, request, 0).hash_key_missing);
  request.headers["x-session"] = "abc";
  CHECK_FALSE(router.Choose(pool, tried, request, 0).hash_key_missing);
}

TEST_CASE("a request without a key falls back to round-robin and says so", "[router]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(KetamaOnLlama("hash_key")).ok());
  auto table = router.table();
  const Pool& pool = *table->Find("llama3.2:latest");
  balancer::HostMask tried(pool.members.size());
  std::set<std::size_t> seen;
  for (int i = 0; i < 4; ++i) {
    Choice c = router.Choose(pool, tried, kNoKeys, 0);
    REQUIRE(c.ok());
    CHECK(c.hash_key_missing);
    seen.insert(c.index);
  }
  CHECK(seen.size() == 2);
}

TEST_CASE("a retry on a hashing pool moves the key to another backend", "[router]") {
  FakeClock clock;
  Router router(clock);
  REQUIRE(router.Apply(KetamaOnLlama("hash_key")).ok());
  auto table = router.table();
  const Pool& pool = *table->Find("llama3.2:latest");
  FakeRequest request;
  request.hash_key = "k";
  balancer::HostMask tried(pool.members.size());
  Choice first = router.Choose(pool, tried, request, 0);
  tried.Set(first.index);
  Choice second = router.Choose(pool, tried, request, 0);
  REQUIRE(second.ok());
  CHECK(second.index != first.index);
}

}  // namespace
}  // namespace og
