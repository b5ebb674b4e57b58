#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/clock.h"
#include "health/checker.h"
#include "tests/fakes/health_fakes.h"

namespace og::health {
namespace {

using std::chrono::milliseconds;
using testing::AdvanceTo;
using testing::Broken;
using testing::Connected;
using testing::FakeTransport;
using testing::Http;
using testing::RecordingObserver;
using Method = ProbeRequest::Method;

constexpr const char* kVersion = R"({"version":"0.12.3"})";
constexpr const char* kTags = R"({"models":[{"name":"llama3.2:latest"},{"model":"qwen2.5:7b"}]})";

TierOptions TierOf(milliseconds interval, milliseconds timeout, int healthy = 2,
                   int unhealthy = 3) {
  TierOptions t;
  t.enabled = true;
  t.interval = interval;
  t.timeout = timeout;
  t.jitter = milliseconds(0);
  t.healthy_threshold = healthy;
  t.unhealthy_threshold = unhealthy;
  return t;
}

// Connect every 5 s (timeout 1 s), API every 5 s (timeout 2 s), no inference.
CheckerOptions Options() {
  CheckerOptions o;
  o.connect = TierOf(milliseconds(5000), milliseconds(1000));
  o.api = TierOf(milliseconds(5000), milliseconds(2000));
  o.ps_timeout = milliseconds(2000);
  o.inference = TierOf(milliseconds(30000), milliseconds(10000));
  o.inference.enabled = false;
  return o;
}

std::vector<BackendSpec> Backends(std::vector<std::string> names) {
  std::vector<BackendSpec> out;
  for (auto& n : names) out.push_back({n, {}});
  return out;
}

const BackendHealth* Find(const std::vector<BackendHealth>& snapshot, const std::string& name) {
  for (const BackendHealth& h : snapshot) {
    if (h.name == name) return &h;
  }
  return nullptr;
}

// Answers the pending /api/version and then /api/tags of `backend` with success.
void PassApi(FakeTransport& t, const std::string& backend, const std::string& tags = kTags) {
  REQUIRE(t.AnswerPending(backend, Method::kGet, "/api/version", Http(200, kVersion)));
  REQUIRE(t.AnswerPending(backend, Method::kGet, "/api/tags", Http(200, tags)));
}

// Ollama's naming: case-insensitive, with an implicit ":latest".
std::string OllamaKey(std::string_view name) {
  std::string key(name);
  std::transform(key.begin(), key.end(), key.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (key.find(':') == std::string::npos) key += ":latest";
  return key;
}

struct Fixture {
  FakeClock clock;
  FakeTransport transport;
  RecordingObserver observer;
  Checker checker{clock, transport, observer, 42};
};

// ---- first round ----

TEST_CASE("the first RunDue checks connect, API and loaded models of every backend at once",
          "[health]") {
  Fixture f;
  f.checker.Configure(Options(), Backends({"a", "b"}));
  const Clock::TimePoint start = f.clock.Now();
  const Clock::TimePoint next = f.checker.RunDue();
  for (const char* b : {"a", "b"}) {
    CHECK(f.transport.Count(b, Method::kConnect) == 1);
    CHECK(f.transport.Count(b, Method::kGet, "/api/version") == 1);
    CHECK(f.transport.Count(b, Method::kGet, "/api/ps") == 1);
    CHECK(f.transport.Count(b, Method::kGet, "/api/tags") == 0);
  }
  CHECK(f.transport.size() == 6);
  // The earliest deadline: the connect timeout.
  CHECK(next == start + milliseconds(1000));
}

TEST_CASE("probes carry their tier's timeout", "[health]") {
  Fixture f;
  f.checker.Configure(Options(), Backends({"a"}));
  f.checker.RunDue();
  CHECK(f.transport.at(*f.transport.Pending("a", Method::kConnect)).request.timeout ==
        milliseconds(1000));
  CHECK(f.transport.at(*f.transport.Pending("a", Method::kGet, "/api/version")).request.timeout ==
        milliseconds(2000));
  CHECK(f.transport.at(*f.transport.Pending("a", Method::kGet, "/api/ps")).request.timeout ==
        milliseconds(2000));
}

TEST_CASE(
    "the first passing connect check makes the tier healthy, and active_ok waits for the "
    "API tier",
    "[health]") {
  Fixture f;
  f.checker.Configure(Options(), Backends({"a"}));
  f.checker.RunDue();
  REQUIRE(f.transport.AnswerPending("a", Method::kConnect, "", Connected()));
  auto connect = f.observer.ChangesOf("a", Tier::kConnect);
  REQUIRE(connect.size() == 1);
  CHECK(connect[0].from == State::kUnknown);
  CHECK(connect[0].to == State::kHealthy);
  CHECK_FALSE(connect[0].active_ok);
  CHECK(f.observer.ChangesOf("a", Tier::kApi).empty());

  PassApi(f.transport, "a");
  auto api = f.observer.ChangesOf("a", Tier::kApi);
  REQUIRE(api.size() == 1);
  CHECK(api[0].from == State::kUnknown);
  CHECK(api[0].to == State::kHealthy);
  CHECK(api[0].active_ok);
  const auto snap = f.checker.Snapshot();
  REQUIRE(Find(snap, "a") != nullptr);
  CHECK(Find(snap, "a")->version == "0.12.3");
  CHECK(ActiveChecksPass(Find(snap, "a")->connect, Find(snap, "a")->api));
}

TEST_CASE("FirstRoundDone waits for a connect and an API result of every backend", "[health]") {
  Fixture f;
  f.checker.Configure(Options(), Backends({"a", "b"}));
  CHECK_FALSE(f.checker.FirstRoundDone());
  f.checker.RunDue();
  CHECK_FALSE(f.checker.FirstRoundDone());
  f.transport.AnswerPending("a", Method::kConnect, "", Connected());
  PassApi(f.transport, "a");
  CHECK_FALSE(f.checker.FirstRoundDone());
  f.transport.AnswerPending("b", Method::kConnect, "", Broken("connection refused"));
  CHECK_FALSE(f.checker.FirstRoundDone());
  // A failing result counts as a result.
  f.transport.AnswerPending("b", Method::kGet, "/api/version", Http(500, ""));
  CHECK(f.checker.FirstRoundDone());
}

TEST_CASE("FirstRoundDone is true at once when tiers 1 and 2 are disabled", "[health]") {
  Fixture f;
  CheckerOptions o = Options();
  o.connect.enabled = false;
  o.api.enabled = false;
  f.checker.Configure(o, Backends({"a", "b"}));
  CHECK(f.checker.FirstRoundDone());
}

// ---- timeouts ----

TEST_CASE("a check not answered within its timeout fails at the next RunDue", "[health]") {
  Fixture f;
  f.checker.Configure(Options(), Backends({"a"}));
  f.checker.RunDue();
  f.clock.Advance(milliseconds(999));
  f.checker.RunDue();
  CHECK(f.observer.CheckCount("a", Tier::kConnect) == 0);
  f.clock.Advance(milliseconds(1));
  f.checker.RunDue();
  REQUIRE(f.observer.CheckCount("a", Tier::kConnect) == 1);
  CHECK_FALSE(f.observer.checks.back().ok);
  const auto snap = f.checker.Snapshot();
  CHECK(Find(snap, "a")->connect.state == State::kUnhealthy);
  CHECK(Find(snap, "a")->connect.last_error == "timed out after 1000 ms");
  auto changes = f.observer.ChangesOf("a", Tier::kConnect);
  REQUIRE(changes.size() == 1);
  CHECK_THAT(changes[0].reason, Catch::Contains("timed out after 1000 ms"));
}

TEST_CASE("a late answer to a timed-out check is ignored", "[health]") {
  Fixture f;
  f.checker.Configure(Options(), Backends({"a"}));
  f.checker.RunDue();
  f.clock.Advance(milliseconds(1500));
  f.checker.RunDue();
  REQUIRE(f.observer.CheckCount("a", Tier::kConnect) == 1);
  REQUIRE(f.transport.AnswerPending("a", Method::kConnect, "", Connected()));
  CHECK(f.observer.CheckCount("a", Tier::kConnect) == 1);
  const auto snap = f.checker.Snapshot();
  CHECK(Find(snap, "a")->connect.state == State::kUnhealthy);
  CHECK(Find(snap, "a")->connect.checks == 1);
}

TEST_CASE("an API check whose /api/tags comes after the timeout fails and stays failed",
          "[health]") {
  Fixture f;
  f.checker.Configure(Options(), Backends({"a"}));
  f.checker.RunDue();
  REQUIRE(f.transport.AnswerPending("a", Method::kGet, "/api/version", Http(200, kVersion)));
  f.clock.Advance(milliseconds(2000));
  f.checker.RunDue();
  REQUIRE(f.observer.CheckCount("a", Tier::kApi) == 1);
  REQUIRE(f.transport.AnswerPending("a", Method::kGet, "/api/tags", Http(200, kTags)));
  CHECK(f.observer.CheckCount("a", Tier::kApi) == 1);
  CHECK(f.observer.models.empty());
  CHECK(Find(f.checker.Snapshot(), "a")->api.state == State::kUnhealthy);
}

// ---- schedule ----

TEST_CASE("the next check starts one interval after the previous one started", "[health]") {
  Fixture f;
  CheckerOptions o = Options();
  o.api.enabled = false;
  f.checker.Configure(o, Backends({"a"}));
  const Clock::TimePoint start = f.clock.Now();
  f.checker.RunDue();
  f.clock.Advance(milliseconds(300));
  f.transport.AnswerPending("a", Method::kConnect, "", Connected());
  CHECK(f.checker.RunDue() == start + milliseconds(5000));
  AdvanceTo(f.clock, start + milliseconds(4999));
  f.checker.RunDue();
  CHECK(f.transport.Count("a", Method::kConnect) == 1);
  f.clock.Advance(milliseconds(1));
  f.checker.RunDue();
  CHECK(f.transport.Count("a", Method::kConnect) == 2);
}

TEST_CASE("with jitter, each wait between starts lies in [interval - jitter, interval]",
          "[health]") {
  const milliseconds interval(5000);
  const milliseconds jitter(1000);
  std::vector<milliseconds> waits;
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    FakeClock clock;
    FakeTransport transport;
    RecordingObserver observer;
    Checker checker(clock, transport, observer, seed);
    CheckerOptions o = Options();
    o.api.enabled = false;
    o.connect = TierOf(interval, milliseconds(100));
    o.connect.jitter = jitter;
    checker.Configure(o, Backends({"a"}));
    std::optional<Clock::TimePoint> last_start;
    for (int step = 0; step < 200 && waits.size() < seed * 10; ++step) {
      const std::size_t before = transport.size();
      const Clock::TimePoint next = checker.RunDue();
      if (transport.size() > before) {
        const Clock::TimePoint now = clock.Now();
        if (last_start) {
          waits.push_back(std::chrono::duration_cast<milliseconds>(now - *last_start));
        }
        last_start = now;
        transport.AnswerAll(Connected());
        continue;  // RunDue again now, for the next deadline
      }
      REQUIRE(next != Clock::TimePoint::max());
      AdvanceTo(clock, next);
    }
  }
  REQUIRE(waits.size() == 200);
  for (milliseconds w : waits) {
    CHECK(w >= interval - jitter);
    CHECK(w <= interval);
  }
  // The jitter is used at all: not every wait is the full interval.
  const auto shortest = *std::min_element(waits.begin(), waits.end());
  const auto longest = *std::max_element(waits.begin(), waits.end());
  CHECK(shortest < interval - milliseconds(500));
  CHECK(longest > interval - milliseconds(500));
}

// ---- thresholds ----

// One connect-only round: advances to the next start, runs it and answers it.
void ConnectRound(Fixture& f, const ProbeResponse& response) {
  for (int i = 0; i < 10 && !f.transport.Pending("a", Method::kConnect); ++i) {
    AdvanceTo(f.clock, f.checker.RunDue());
    f.checker.RunDue();
  }
  REQUIRE(f.transport.AnswerPending("a", Method::kConnect, "", response));
}

TEST_CASE(
    "a healthy backend turns unhealthy exactly at the unhealthy_threshold-th failure "
    "and back at the healthy_threshold-th success",
    "[health]") {
  Fixture f;
  CheckerOptions o = Options();
  o.api.enabled = false;
  o.connect = TierOf(milliseconds(1000), milliseconds(500), /*healthy=*/2, /*unhealthy=*/3);
  f.checker.Configure(o, Backends({"a"}));
  f.checker.RunDue();
  ConnectRound(f, Connected());
  REQUIRE(f.observer.ChangesOf("a", Tier::kConnect).size() == 1);

  ConnectRound(f, Broken("connection refused"));
  ConnectRound(f, Broken("connection refused"));
  CHECK(f.observer.ChangesOf("a", Tier::kConnect).size() == 1);
  CHECK(Find(f.checker.Snapshot(), "a")->connect.state == State::kHealthy);
  CHECK(Find(f.checker.Snapshot(), "a")->connect.consecutive_failures == 2);
  ConnectRound(f, Broken("connection reset by peer"));
  auto changes = f.observer.ChangesOf("a", Tier::kConnect);
  REQUIRE(changes.size() == 2);
  CHECK(changes[1].from == State::kHealthy);
  CHECK(changes[1].to == State::kUnhealthy);
  CHECK_THAT(changes[1].reason, Catch::Contains("connection reset by peer"));
  CHECK_FALSE(changes[1].active_ok);

  ConnectRound(f, Connected());
  CHECK(f.observer.ChangesOf("a", Tier::kConnect).size() == 2);
  CHECK(Find(f.checker.Snapshot(), "a")->connect.state == State::kUnhealthy);
  ConnectRound(f, Connected());
  changes = f.observer.ChangesOf("a", Tier::kConnect);
  REQUIRE(changes.size() == 3);
  CHECK(changes[2].from == State::kUnhealthy);
  CHECK(changes[2].to == State::kHealthy);
  CHECK(changes[2].active_ok);
  const TierStatus s = Find(f.checker.Snapshot(), "a")->connect;
  CHECK(s.checks == 6);
  CHECK(s.failures == 3);
}

TEST_CASE("a backend that dies is marked unhealthy within threshold * interval + timeout",
          "[health]") {
  const milliseconds interval(1000);
  const milliseconds timeout(300);
  const int threshold = 3;
  const bool answers_with_error = GENERATE(false, true);
  const bool with_api = GENERATE(false, true);
  Fixture f;
  CheckerOptions o = Options();
  o.connect = TierOf(interval, timeout, 2, threshold);
  o.api = TierOf(interval, timeout, 2, threshold);
  o.api.enabled = with_api;
  f.checker.Configure(o, Backends({"a"}));
  f.checker.RunDue();
  f.clock.Advance(milliseconds(10));
  f.transport.AnswerPending("a", Method::kConnect, "", Connected());
  if (with_api) PassApi(f.transport, "a");
  f.transport.AnswerAll(Http(200, R"({"models":[]})"));  // /api/ps
  const Clock::TimePoint death = f.clock.Now();
  const Tier tier = with_api ? Tier::kApi : Tier::kConnect;
  REQUIRE(f.observer.ChangesOf("a", tier).size() == 1);

  std::optional<Clock::TimePoint> detected;
  for (int step = 0; step < 100 && !detected; ++step) {
    const Clock::TimePoint next = f.checker.RunDue();
    if (answers_with_error) f.transport.AnswerAll(Broken("connection refused"));
    if (f.observer.ChangesOf("a", tier).size() == 2) {
      detected = f.clock.Now();
      break;
    }
    AdvanceTo(f.clock, next);
  }
  REQUIRE(detected.has_value());
  CHECK(f.observer.ChangesOf("a", tier)[1].to == State::kUnhealthy);
  CHECK(*detected - death <= threshold * interval + timeout);
}

// ---- models ----

TEST_CASE("OnModels reports the model list when first seen and again only when it changes",
          "[health]") {
  Fixture f;
  CheckerOptions o = Options();
  o.connect.enabled = false;
  o.api = TierOf(milliseconds(1000), milliseconds(500));
  f.checker.Configure(o, Backends({"a"}));
  f.checker.RunDue();
  PassApi(f.transport, "a");
  REQUIRE(f.observer.models.size() == 1);
  CHECK(f.observer.models[0].first == "a");
  CHECK(f.observer.models[0].second == std::vector<std::string>{"llama3.2:latest", "qwen2.5:7b"});

  f.clock.Advance(milliseconds(1000));
  f.checker.RunDue();
  PassApi(f.transport, "a");
  CHECK(f.observer.models.size() == 1);

  f.clock.Advance(milliseconds(1000));
  f.checker.RunDue();
  PassApi(f.transport, "a", R"({"models":[{"name":"llama3.2:latest"}]})");
  REQUIRE(f.observer.models.size() == 2);
  CHECK(f.observer.models[1].second == std::vector<std::string>{"llama3.2:latest"});
  CHECK(*Find(f.checker.Snapshot(), "a")->models == std::vector<std::string>{"llama3.2:latest"});
}

TEST_CASE("OnLoaded reports /api/ps when first seen and again only when it changes", "[health]") {
  Fixture f;
  CheckerOptions o = Options();
  o.connect.enabled = false;
  o.api = TierOf(milliseconds(1000), milliseconds(500));
  f.checker.Configure(o, Backends({"a"}));
  const char* ps1 = R"({"models":[{"name":"llama3.2:latest"}]})";
  const char* ps2 = R"({"models":[{"name":"llama3.2:latest"},{"name":"qwen2.5:7b"}]})";
  for (const char* ps : {ps1, ps1, ps2}) {
    f.checker.RunDue();
    REQUIRE(f.transport.AnswerPending("a", Method::kGet, "/api/ps", Http(200, ps)));
    PassApi(f.transport, "a");
    f.clock.Advance(milliseconds(1000));
  }
  REQUIRE(f.observer.loaded.size() == 2);
  CHECK(f.observer.loaded[0].second == std::vector<std::string>{"llama3.2:latest"});
  CHECK(f.observer.loaded[1].second == std::vector<std::string>{"llama3.2:latest", "qwen2.5:7b"});
  CHECK(f.transport.Count("a", Method::kGet, "/api/ps") == 3);
}

TEST_CASE("a failing /api/ps never fails the API tier", "[health]") {
  const ProbeResponse ps = GENERATE(Broken("timed out"), Http(500, ""), Http(200, "garbage"));
  Fixture f;
  CheckerOptions o = Options();
  o.connect.enabled = false;
  o.api = TierOf(milliseconds(1000), milliseconds(500));
  f.checker.Configure(o, Backends({"a"}));
  for (int round = 0; round < 3; ++round) {
    f.checker.RunDue();
    REQUIRE(f.transport.AnswerPending("a", Method::kGet, "/api/ps", ps));
    PassApi(f.transport, "a");
    f.clock.Advance(milliseconds(1000));
  }
  const BackendHealth h = *Find(f.checker.Snapshot(), "a");
  CHECK(h.api.state == State::kHealthy);
  CHECK(h.api.failures == 0);
  CHECK(h.api.checks == 3);
  CHECK_FALSE(h.loaded.has_value());
  CHECK(f.observer.loaded.empty());
}

// ---- tier 3 ----

CheckerOptions InferenceOptions() {
  CheckerOptions o = Options();
  o.connect.enabled = false;
  o.api = TierOf(milliseconds(1000), milliseconds(500));
  o.inference = TierOf(milliseconds(3000), milliseconds(2000));
  o.inference_probe.keep_alive = "5m";
  o.model_key = OllamaKey;
  return o;
}

// Runs the checker for `span` of simulated time, answering every API check with `tags`.
void RunFor(Fixture& f, milliseconds span, const std::string& tags) {
  const Clock::TimePoint end = f.clock.Now() + span;
  for (int step = 0; step < 10000 && f.clock.Now() < end; ++step) {
    const Clock::TimePoint next = f.checker.RunDue();
    while (f.transport.Pending("a", Method::kGet, "/api/version")) PassApi(f.transport, "a", tags);
    while (f.transport.AnswerPending("a", Method::kGet, "/api/ps", Http(200, R"({"models":[]})"))) {
    }
    AdvanceTo(f.clock, std::min(f.checker.RunDue(), std::min(next, end)));
  }
}

TEST_CASE("tier 3 sends a generation of the probe model the backend lists", "[health]") {
  Fixture f;
  f.checker.Configure(InferenceOptions(), {{"a", {"llama3.2"}}});
  RunFor(f, milliseconds(2000), kTags);
  REQUIRE(f.transport.Count("a", Method::kPost, "/api/generate") >= 1);
  const auto& post = f.transport.at(*f.transport.Pending("a", Method::kPost, "/api/generate"));
  CHECK_THAT(post.request.body, Catch::Contains("\"model\":\"llama3.2\""));
  CHECK(post.request.timeout == milliseconds(2000));
  f.transport.AnswerPending("a", Method::kPost, "/api/generate",
                            Http(200, R"({"response":"OK","done":true})"));
  const auto snap = f.checker.Snapshot();
  const TierStatus s = Find(snap, "a")->inference.at("llama3.2");
  CHECK(s.enabled);
  CHECK(s.state == State::kHealthy);
  CHECK_FALSE(s.skipped);
  auto changes = f.observer.ChangesOf("a", Tier::kInference);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].model == "llama3.2");
}

TEST_CASE("tier 3 does not probe before the backend's model list is known", "[health]") {
  Fixture f;
  f.checker.Configure(InferenceOptions(), {{"a", {"llama3.2"}}});
  f.checker.RunDue();
  CHECK(f.transport.Count("a", Method::kPost, "/api/generate") == 0);
  f.clock.Advance(milliseconds(400));
  f.checker.RunDue();
  CHECK(f.transport.Count("a", Method::kPost, "/api/generate") == 0);
}

TEST_CASE("tier 3 skips a probe model the backend does not list", "[health]") {
  Fixture f;
  f.checker.Configure(InferenceOptions(), {{"a", {"llama3.2"}}});
  RunFor(f, milliseconds(10000), R"({"models":[{"name":"qwen2.5:7b"}]})");
  CHECK(f.transport.Count("a", Method::kPost, "/api/generate") == 0);
  const auto snap = f.checker.Snapshot();
  const TierStatus s = Find(snap, "a")->inference.at("llama3.2");
  CHECK(s.skipped);
  CHECK(s.checks == 0);
  CHECK(s.state == State::kUnknown);
  CHECK(f.observer.ChangesOf("a", Tier::kInference).empty());
}

TEST_CASE("a disabled tier 3 never sends a generation and shows disabled", "[health]") {
  Fixture f;
  CheckerOptions o = InferenceOptions();
  o.inference.enabled = false;
  f.checker.Configure(o, {{"a", {"llama3.2"}}});
  RunFor(f, milliseconds(10000), kTags);
  CHECK(f.transport.Count("a", Method::kPost, "/api/generate") == 0);
  CHECK_FALSE(Find(f.checker.Snapshot(), "a")->inference.at("llama3.2").enabled);
}

// ---- reconfiguration ----

TEST_CASE("a removed backend leaves the snapshot and its late answers are ignored", "[health]") {
  Fixture f;
  f.checker.Configure(Options(), Backends({"a", "b"}));
  f.checker.RunDue();
  f.checker.Configure(Options(), Backends({"a"}));
  const auto snap = f.checker.Snapshot();
  CHECK(snap.size() == 1);
  CHECK(Find(snap, "b") == nullptr);
  REQUIRE(f.transport.AnswerPending("b", Method::kConnect, "", Connected()));
  REQUIRE(f.transport.AnswerPending("b", Method::kGet, "/api/version", Http(200, kVersion)));
  REQUIRE(f.transport.AnswerPending("b", Method::kGet, "/api/tags", Http(200, kTags)));
  REQUIRE(f.transport.AnswerPending("b", Method::kGet, "/api/ps", Http(200, kTags)));
  CHECK(f.observer.CheckCount("b", Tier::kConnect) == 0);
  CHECK(f.observer.CheckCount("b", Tier::kApi) == 0);
  CHECK(f.observer.models.empty());
  CHECK(f.observer.loaded.empty());
  CHECK(f.checker.Snapshot().size() == 1);
}

TEST_CASE("a late answer from before a backend was removed and added back is ignored", "[health]") {
  Fixture f;
  f.checker.Configure(Options(), Backends({"a"}));
  f.checker.RunDue();
  const std::size_t old_connect = *f.transport.Pending("a", Method::kConnect);
  f.checker.Configure(Options(), Backends({}));
  f.checker.Configure(Options(), Backends({"a"}));
  f.checker.RunDue();
  REQUIRE(f.transport.Count("a", Method::kConnect) == 2);
  f.transport.Answer(old_connect, Connected());
  CHECK(f.observer.CheckCount("a", Tier::kConnect) == 0);
  CHECK(Find(f.checker.Snapshot(), "a")->connect.checks == 0);
}

TEST_CASE("an added backend is checked at the next RunDue and a kept one keeps its state",
          "[health]") {
  Fixture f;
  f.checker.Configure(Options(), Backends({"a"}));
  f.checker.RunDue();
  f.transport.AnswerPending("a", Method::kConnect, "", Connected());
  PassApi(f.transport, "a");
  f.clock.Advance(milliseconds(100));
  f.checker.Configure(Options(), Backends({"a", "c"}));
  CHECK_FALSE(f.checker.FirstRoundDone());
  f.checker.RunDue();
  CHECK(f.transport.Count("c", Method::kConnect) == 1);
  CHECK(f.transport.Count("c", Method::kGet, "/api/version") == 1);
  CHECK(f.transport.Count("a", Method::kConnect) == 1);
  CHECK(f.transport.Count("a", Method::kGet, "/api/version") == 1);
  const auto snap = f.checker.Snapshot();
  const BackendHealth* a = Find(snap, "a");
  REQUIRE(a != nullptr);
  CHECK(a->connect.state == State::kHealthy);
  CHECK(a->api.state == State::kHealthy);
  CHECK(a->connect.checks == 1);
  CHECK(a->version == "0.12.3");
  REQUIRE(a->models.has_value());
  REQUIRE(Find(snap, "c") != nullptr);
  CHECK(Find(snap, "c")->connect.state == State::kUnknown);
}

// ---- disabled tiers ----

TEST_CASE("a disabled connect tier never sends a request and shows disabled", "[health]") {
  Fixture f;
  CheckerOptions o = Options();
  o.connect.enabled = false;
  f.checker.Configure(o, Backends({"a"}));
  for (int i = 0; i < 10; ++i) {
    f.checker.RunDue();
    f.transport.AnswerAll(Http(200, kVersion));
    f.clock.Advance(milliseconds(5000));
  }
  CHECK(f.transport.Count("a", Method::kConnect) == 0);
  CHECK(f.transport.Count("a", Method::kGet, "/api/version") == 10);
  const BackendHealth h = *Find(f.checker.Snapshot(), "a");
  CHECK_FALSE(h.connect.enabled);
  CHECK(h.connect.checks == 0);
  CHECK(h.api.enabled);
}

TEST_CASE("a disabled API tier never sends a request and shows disabled", "[health]") {
  Fixture f;
  CheckerOptions o = Options();
  o.api.enabled = false;
  f.checker.Configure(o, Backends({"a"}));
  for (int i = 0; i < 10; ++i) {
    f.checker.RunDue();
    f.transport.AnswerAll(Connected());
    f.clock.Advance(milliseconds(5000));
  }
  CHECK(f.transport.Count("a", Method::kConnect) == 10);
  CHECK(f.transport.size() == 10);
  const BackendHealth h = *Find(f.checker.Snapshot(), "a");
  CHECK_FALSE(h.api.enabled);
  CHECK(h.connect.state == State::kHealthy);
  // Only the connect change, and with the API tier disabled, it alone decides.
  auto changes = f.observer.ChangesOf("a", Tier::kConnect);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].active_ok);
}

TEST_CASE("a connect result that arrives after the tier was disabled is dropped", "[health]") {
  // A disabled tier "is never checked": a check started before it was disabled must not
  // change its state or reach the observer (the bridge would log and export it).
  Fixture f;
  f.checker.Configure(Options(), Backends({"a"}));
  f.checker.RunDue();
  CheckerOptions o = Options();
  o.connect.enabled = false;
  f.checker.Configure(o, Backends({"a"}));
  REQUIRE(f.transport.AnswerPending("a", Method::kConnect, "", Broken("connection refused")));
  CHECK(f.observer.CheckCount("a", Tier::kConnect) == 0);
  CHECK(f.observer.ChangesOf("a", Tier::kConnect).empty());
  CHECK(Find(f.checker.Snapshot(), "a")->connect.state == State::kUnknown);
}

TEST_CASE("a generation result that arrives after tier 3 was disabled is dropped", "[health]") {
  // Otherwise a failing late result marks the model failing on the backend (the bridge calls
  // Router::SetProbeFailing) and, tier 3 being off, no probe ever clears it.
  Fixture f;
  f.checker.Configure(InferenceOptions(), {{"a", {"llama3.2"}}});
  RunFor(f, milliseconds(1000), kTags);
  REQUIRE(f.transport.Pending("a", Method::kPost, "/api/generate"));
  CheckerOptions o = InferenceOptions();
  o.inference.enabled = false;
  f.checker.Configure(o, {{"a", {"llama3.2"}}});
  REQUIRE(f.transport.AnswerPending("a", Method::kPost, "/api/generate",
                                    Http(500, R"({"error":"out of memory"})")));
  CHECK(f.observer.CheckCount("a", Tier::kInference) == 0);
  CHECK(f.observer.ChangesOf("a", Tier::kInference).empty());
  CHECK(Find(f.checker.Snapshot(), "a")->inference.at("llama3.2").state == State::kUnknown);
}

TEST_CASE("disabling tier 3 reports a failing model's state as unknown", "[health]") {
  // So the router stops treating the model as failing there.
  Fixture f;
  f.checker.Configure(InferenceOptions(), {{"a", {"llama3.2"}}});
  RunFor(f, milliseconds(1000), kTags);
  REQUIRE(f.transport.AnswerPending("a", Method::kPost, "/api/generate",
                                    Http(500, R"({"error":"out of memory"})")));
  REQUIRE(f.observer.ChangesOf("a", Tier::kInference).back().to == State::kUnhealthy);
  CheckerOptions o = InferenceOptions();
  o.inference.enabled = false;
  f.checker.Configure(o, {{"a", {"llama3.2"}}});
  const StateChange last = f.observer.ChangesOf("a", Tier::kInference).back();
  CHECK(last.from == State::kUnhealthy);
  CHECK(last.to == State::kUnknown);
  CHECK(last.reason == "the tier was disabled");
}

TEST_CASE("a probe model dropped from the config reports its state as unknown", "[health]") {
  Fixture f;
  f.checker.Configure(InferenceOptions(), {{"a", {"llama3.2"}}});
  RunFor(f, milliseconds(1000), kTags);
  REQUIRE(f.transport.AnswerPending("a", Method::kPost, "/api/generate",
                                    Http(500, R"({"error":"out of memory"})")));
  f.checker.Configure(InferenceOptions(), {{"a", {}}});
  const StateChange last = f.observer.ChangesOf("a", Tier::kInference).back();
  CHECK(last.model == "llama3.2");
  CHECK(last.to == State::kUnknown);
  CHECK(last.reason == "no longer probed");
  CHECK(Find(f.checker.Snapshot(), "a")->inference.empty());
}

// ---- lifetime ----

TEST_CASE("answers that arrive after the checker is destroyed are dropped", "[health]") {
  FakeClock clock;
  FakeTransport transport;
  RecordingObserver observer;
  CheckerOptions o = InferenceOptions();
  o.connect.enabled = true;
  auto checker = std::make_unique<Checker>(clock, transport, observer, 7);
  checker->Configure(o, {{"a", {"llama3.2"}}, {"b", {}}});
  checker->RunDue();
  transport.AnswerPending("a", Method::kGet, "/api/version", Http(200, kVersion));
  REQUIRE(transport.Pending("a", Method::kGet, "/api/tags"));
  const std::size_t calls = observer.Calls();
  checker.reset();
  transport.AnswerAll(Http(200, kTags));
  CHECK(observer.Calls() == calls);
}

// ---- CheckerThread ----

// Answers every probe at once, inside Send, as a healthy Ollama would.
class HealthyTransport final : public Transport {
 public:
  void Send(const std::string&, ProbeRequest request, Done done) override {
    if (request.method == ProbeRequest::Method::kConnect) return done(Connected());
    if (request.path == "/api/version") return done(Http(200, kVersion));
    done(Http(200, kTags));
  }
};

class WaitingObserver final : public Observer {
 public:
  void OnCheck(const std::string&, Tier, bool, std::chrono::nanoseconds) override {}
  void OnStateChange(const StateChange& change) override {
    std::lock_guard<std::mutex> lock(mu);
    if (change.to == State::kHealthy && change.tier == Tier::kConnect) connect_ok = true;
    if (change.to == State::kHealthy && change.tier == Tier::kApi) api_ok = true;
    cv.notify_all();
  }
  void OnModels(const std::string&, const std::vector<std::string>&) override {}
  void OnLoaded(const std::string&, const std::vector<std::string>&) override {}

  std::mutex mu;
  std::condition_variable cv;
  bool connect_ok = false;
  bool api_ok = false;
};

TEST_CASE("CheckerThread finds a healthy backend healthy in real time", "[health]") {
  HealthyTransport transport;
  WaitingObserver observer;
  Checker checker(SystemClock::Get(), transport, observer, 1);
  checker.Configure(Options(), Backends({"a"}));
  bool seen = false;
  {
    CheckerThread thread(checker, SystemClock::Get());
    std::unique_lock<std::mutex> lock(observer.mu);
    seen = observer.cv.wait_for(lock, std::chrono::seconds(5),
                                [&] { return observer.connect_ok && observer.api_ok; });
  }
  CHECK(seen);
  CHECK(checker.FirstRoundDone());
}

}  // namespace
}  // namespace og::health
