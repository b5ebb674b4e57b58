// CallPath, the request path every front door shares, driven without sockets: a scripted
// upstream (tests/fakes/fake_upstream.h) plays the backends, a FakeClock the time and a counter
// the random source. Each case runs one behaviour of a call through the real router, security
// gate, admission queue, retry budget and metrics, and checks what the caller saw.
#include "gateway/call/call_path.h"

#include <array>
#include <catch2/catch.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/clock.h"
#include "gateway/call/call_core.h"
#include "gateway/call/security_gate.h"
#include "gateway/routing/router.h"
#include "gateway/telemetry/access_log.h"
#include "gateway/telemetry/metrics.h"
#include "ollama_gateway/v1/inference.pb.h"
#include "security/api_keys.h"
#include "spdlog/sinks/base_sink.h"
#include "tests/fakes/config_testing.h"
#include "tests/fakes/fake_upstream.h"

namespace og {
namespace {

using Catch::Matchers::Contains;
using ollama_gateway::v1::InferenceRequest;
using testing::FakeUpstream;
using namespace std::chrono_literals;

constexpr std::string_view kBackendA = "http://10.0.0.1:11434";  // testing::kTwoBackends' a
constexpr std::string_view kBackendB = "http://10.0.0.2:11434";  // and b

// Random numbers 1, 2, 3, ... so request ids and picks are the same on every run.
class CountingRandom final : public RandomSource {
 public:
  std::uint64_t Next() override { return ++count_; }

 private:
  std::uint64_t count_ = 0;
};

// The access log's lines as its writer thread hands them over.
class LineSink final : public spdlog::sinks::base_sink<std::mutex> {
 public:
  // Waits (real time: the writer is a thread of its own) for `n` lines.
  std::vector<std::string> WaitForLines(std::size_t n) {
    std::unique_lock<std::mutex> lock(lines_mu_);
    arrived_.wait_for(lock, 5s, [&] { return lines_.size() >= n; });
    return lines_;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    std::lock_guard<std::mutex> lock(lines_mu_);
    lines_.emplace_back(msg.payload.data(), msg.payload.size());
    arrived_.notify_all();
  }
  void flush_() override {}

 private:
  std::mutex lines_mu_;
  std::condition_variable arrived_;
  std::vector<std::string> lines_;
};

// What the front door saw of one call. Kept by the test, since the call deletes itself.
struct Seen {
  std::vector<std::string> lines;  // chunks delivered, as the backend sent them
  std::string text;                // their text, joined
  std::vector<absl::Status> ends;  // every End, in order
  std::map<std::string, std::string> trailers;

  // The call's one final status.
  const absl::Status& status() const {
    REQUIRE(ends.size() == 1);
    return ends.front();
  }
  bool ended() const { return !ends.empty(); }
};

// A front door of the simplest kind: it records what the path hands it.
class TestCall final : public CallPath {
 public:
  TestCall(CallCore& core, const InferenceRequest& request, Seen& seen, security::Action action)
      : CallPath(core, Frontend::kGrpc, request, "Predict", action), seen_(seen) {}

  using CallPath::attempts;
  using CallPath::Cancel;
  using CallPath::PauseUpstream;
  using CallPath::Release;
  using CallPath::ResumeUpstream;

  std::map<std::string, std::string> headers;
  std::chrono::system_clock::time_point deadline = std::chrono::system_clock::time_point::max();
  // Deliver refuses the chunk after this many (a limit of the front door's); -1 for none.
  int refuse_after = -1;
  // A stream hands each chunk to the caller at once; a unary call only at the end.
  bool streaming = false;

 protected:
  std::string_view Header(std::string_view lower_name) const override {
    auto it = headers.find(std::string(lower_name));
    return it == headers.end() ? std::string_view() : std::string_view(it->second);
  }
  std::chrono::system_clock::time_point Deadline() const override { return deadline; }
  std::string Peer() const override { return "ipv4:127.0.0.1:50000"; }
  tls::PeerIdentity PeerCertificate() const override { return {}; }
  void AddTrailer(std::string_view name, std::string value) override {
    seen_.trailers[std::string(name)] = std::move(value);
  }
  bool Deliver(OllamaChunk& chunk, std::string_view line, absl::Status* why_not) override {
    if (refuse_after >= 0 && static_cast<int>(seen_.lines.size()) >= refuse_after) {
      *why_not = absl::ResourceExhaustedError("the answer outgrew the front door's limit");
      return false;
    }
    seen_.lines.emplace_back(line);
    seen_.text += chunk.text;
    return true;
  }
  bool ForgetAnswer() override {
    if (streaming && !seen_.lines.empty()) return false;
    seen_.lines.clear();
    seen_.text.clear();
    return true;
  }
  void End(const absl::Status& status) override { seen_.ends.push_back(status); }

 private:
  Seen& seen_;
};

// The sum of the series of `name` in `metrics` that carry every label of `labels`; 0 when none.
double MetricValue(Metrics& metrics, std::string_view name,
                   const std::map<std::string, std::string>& labels = {}) {
  double sum = 0;
  std::istringstream text(metrics.Serialize());
  for (std::string line; std::getline(text, line);) {
    if (line.empty() || line[0] == '#' || !line.starts_with(name)) continue;
    const char after = line[name.size()];
    if (after != '{' && after != ' ') continue;
    const std::string series = line.substr(0, line.rfind(' '));
    bool all = true;
    for (const auto& [key, value] : labels) {
      all = all && series.find(key + "=\"" + value + "\"") != std::string::npos;
    }
    if (all) sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

InferenceRequest Generate(std::string model = "llama3.2", std::string prompt = "Say hi") {
  InferenceRequest request;
  request.set_model_name(std::move(model));
  request.set_input_data(std::move(prompt));
  return request;
}

std::string Chunk(std::string_view text) {
  return std::string(R"({"model":"llama3.2","response":")") + std::string(text) +
         R"(","done":false})";
}
constexpr std::string_view kFinalChunk =
    R"({"model":"llama3.2","response":"","done":true,"prompt_eval_count":3,"eval_count":2})";
constexpr std::string_view kBusy = R"({"error":"server busy, please try again"})";

bool On(const FakeUpstream::Call& call, std::string_view backend_url) {
  return call.request().url.starts_with(backend_url);
}

// A gateway around a CallCore: testing::kTwoBackends plus `sections`, both backends healthy,
// simulated time. Calls started through it must end before it goes.
class Gateway {
 public:
  explicit Gateway(std::string_view sections = "", bool access_log = false)
      : config_(testing::Valid(testing::With(sections))),
        router_(clock),
        security_(clock, metrics),
        access_log_(access_log ? std::make_unique<AccessLog>(sink, 1000, false) : nullptr),
        core(router_, upstream, metrics, security_, RequestPathOptionsFrom(config_),
             access_log_.get(), clock, random_) {
    REQUIRE(router_.Apply(config_).ok());
    REQUIRE(security_.Apply(config_).ok());
    for (const BackendConfig& backend : config_.backends) SetHealthy(backend.name, true);
  }

  void SetHealthy(const std::string& backend, bool healthy) {
    router_.SetActiveHealth(backend, healthy);
  }

  // Starts a call of `request` (kept here for the call's lifetime); `setup` may set the
  // caller's headers and deadline before Begin.
  template <typename Setup>
  TestCall* Start(InferenceRequest request, Seen& seen, Setup setup,
                  security::Action action = security::Action::kPredict) {
    const InferenceRequest& kept = requests_.emplace_back(std::move(request));
    auto* call = new TestCall(core, kept, seen, action);
    setup(*call);
    call->Begin();
    return call;
  }
  TestCall* Start(InferenceRequest request, Seen& seen) {
    return Start(std::move(request), seen, [](TestCall&) {});
  }

  FakeClock clock;
  Metrics metrics;
  FakeUpstream upstream;
  std::shared_ptr<LineSink> sink = std::make_shared<LineSink>();

 private:
  CountingRandom random_;
  const Config config_;
  Router router_;
  SecurityGate security_;
  std::unique_ptr<AccessLog> access_log_;
  std::list<InferenceRequest> requests_;

 public:
  CallCore core;
};

// Answers the running attempt with two chunks and the final one.
void Answer(FakeUpstream::Call& call) {
  REQUIRE(call.Line(Chunk("Hel")));
  REQUIRE(call.Line(Chunk("lo")));
  REQUIRE(call.Line(kFinalChunk));
  call.Ok();
}

// ---- Security ---------------------------------------------------------------------------------

// auth.required, with alice's key (a fixed salt, so the hash is the same on every run).
std::string AliceKeySection() {
  const std::array<std::uint8_t, 16> salt{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  return "auth:\n  required: true\n  api_keys:\n    - identity: alice\n      hash: \"" +
         security::FormatApiKeyHash(security::HashApiKey("og-test-key-alice", salt)) + "\"\n";
}

TEST_CASE(
    "without credentials where auth is required, the call is UNAUTHENTICATED and reaches "
    "no backend",
    "[call_path]") {
  Gateway gateway(AliceKeySection());
  Seen seen;
  gateway.Start(Generate(), seen)->Release();
  CHECK(seen.status().code() == absl::StatusCode::kUnauthenticated);
  CHECK_THAT(std::string(seen.status().message()), Contains("requires authentication"));
  CHECK(gateway.upstream.size() == 0);
  CHECK(MetricValue(gateway.metrics, "gateway_rejected_total", {{"reason", "unauthenticated"}}) ==
        1);
  CHECK(seen.trailers.count("x-gateway-backend") == 0);
}

TEST_CASE("an unknown API key is UNAUTHENTICATED; the configured one runs the call",
          "[call_path]") {
  Gateway gateway(AliceKeySection());
  Seen refused;
  gateway
      .Start(Generate(), refused,
             [](TestCall& c) { c.headers["authorization"] = "Bearer og-test-key-mallory"; })
      ->Release();
  CHECK(refused.status().code() == absl::StatusCode::kUnauthenticated);
  CHECK(refused.status().message() == "the API key is not valid");
  CHECK(gateway.upstream.size() == 0);

  Seen allowed;
  gateway
      .Start(Generate(), allowed,
             [](TestCall& c) { c.headers["authorization"] = "Bearer og-test-key-alice"; })
      ->Release();
  REQUIRE(gateway.upstream.size() == 1);
  Answer(gateway.upstream.call(0));
  CHECK(allowed.status().ok());
  CHECK(MetricValue(gateway.metrics, "gateway_auth_total",
                    {{"method", "api_key"}, {"result", "invalid"}}) == 1);
  CHECK(MetricValue(gateway.metrics, "gateway_auth_total",
                    {{"method", "api_key"}, {"result", "ok"}}) == 1);
}

TEST_CASE("authorization refuses a model the caller's rules do not allow", "[call_path]") {
  Gateway gateway(AliceKeySection() +
                  "authorization:\n  rules:\n    - identities: [alice]\n      models: [qwen2.5]\n");
  const auto as_alice = [](TestCall& c) {
    c.headers["authorization"] = "Bearer og-test-key-alice";
  };
  Seen denied;
  gateway.Start(Generate("llama3.2"), denied, as_alice)->Release();
  CHECK(denied.status().code() == absl::StatusCode::kPermissionDenied);
  CHECK_THAT(std::string(denied.status().message()),
             Contains("identity 'alice' may not use model 'llama3.2'"));
  CHECK(gateway.upstream.size() == 0);
  CHECK(MetricValue(gateway.metrics, "gateway_authorization_total", {{"decision", "deny"}}) == 1);
  CHECK(MetricValue(gateway.metrics, "gateway_rejected_total", {{"reason", "permission_denied"}}) ==
        1);

  Seen allowed;
  gateway.Start(Generate("qwen2.5"), allowed, as_alice)->Release();
  REQUIRE(gateway.upstream.size() == 1);
  CHECK(On(gateway.upstream.call(0), kBackendB));  // the only backend that lists qwen2.5
  Answer(gateway.upstream.call(0));
  CHECK(allowed.status().ok());
  CHECK(MetricValue(gateway.metrics, "gateway_authorization_total", {{"decision", "allow"}}) == 1);
}

// ---- Validation -------------------------------------------------------------------------------

TEST_CASE("a model name Ollama would refuse is INVALID_ARGUMENT before any routing",
          "[call_path]") {
  Gateway gateway;
  Seen seen;
  gateway.Start(Generate("no spaces allowed"), seen)->Release();
  CHECK(seen.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(seen.status().message()), Contains("is not a valid Ollama model name"));
  CHECK(gateway.upstream.size() == 0);
  CHECK(MetricValue(gateway.metrics, "gateway_rejected_total", {{"reason", "invalid_argument"}}) ==
        1);
}

TEST_CASE("a prompt past limits.max_prompt_bytes is refused naming the limit", "[call_path]") {
  Gateway gateway("limits:\n  max_prompt_bytes: 8\n");
  Seen seen;
  gateway.Start(Generate("llama3.2", "a prompt longer than eight bytes"), seen)->Release();
  CHECK(seen.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(seen.status().message()), Contains("limits.max_prompt_bytes (8)"));
  CHECK(gateway.upstream.size() == 0);
  CHECK(MetricValue(gateway.metrics, "gateway_rejected_total", {{"reason", "limit_exceeded"}}) ==
        1);
}

// ---- Routing ----------------------------------------------------------------------------------

TEST_CASE("a model no backend serves is NOT_FOUND, naming the models served", "[call_path]") {
  Gateway gateway;
  Seen seen;
  gateway.Start(Generate("mistral"), seen)->Release();
  CHECK(seen.status().code() == absl::StatusCode::kNotFound);
  CHECK(seen.status().message() ==
        "model 'mistral' is not served by any backend (served: llama3.2:latest, qwen2.5:latest)");
  CHECK(gateway.upstream.size() == 0);
  CHECK(MetricValue(gateway.metrics, "gateway_rejected_total", {{"reason", "unknown_model"}}) == 1);
}

TEST_CASE("with no healthy backend (and no panic routing) the call is UNAVAILABLE and says why",
          "[call_path]") {
  Gateway gateway("health:\n  panic_threshold: 0\n");
  gateway.SetHealthy("a", false);
  gateway.SetHealthy("b", false);
  Seen seen;
  gateway.Start(Generate(), seen)->Release();
  CHECK(seen.status().code() == absl::StatusCode::kUnavailable);
  CHECK(seen.status().message() ==
        "no backend available for model 'llama3.2': 2 in its pool, 2 unhealthy (failing health "
        "checks or ejected), 0 held out after failing to connect, 0 already tried");
  CHECK(gateway.upstream.size() == 0);
}

TEST_CASE("an unhealthy backend is passed over for a healthy one", "[call_path]") {
  Gateway gateway("health:\n  panic_threshold: 0\n");
  gateway.SetHealthy("a", false);
  for (int i = 0; i < 3; ++i) {
    Seen seen;
    gateway.Start(Generate(), seen)->Release();
    REQUIRE(gateway.upstream.size() == static_cast<std::size_t>(i + 1));
    CHECK(On(gateway.upstream.last(), kBackendB));
    Answer(gateway.upstream.last());
    CHECK(seen.status().ok());
  }
}

// ---- A call that succeeds, and the end of a call ----------------------------------------------

TEST_CASE(
    "a generation's chunks reach the caller and the call ends OK once, with its trailers "
    "and metrics",
    "[call_path]") {
  Gateway gateway;
  Seen seen;
  TestCall* call =
      gateway.Start(Generate(), seen, [](TestCall& c) { c.headers["x-request-id"] = "req-7"; });
  REQUIRE(gateway.upstream.size() == 1);
  FakeUpstream::Call& attempt = gateway.upstream.call(0);
  const bool on_a = On(attempt, kBackendA);
  CHECK((on_a || On(attempt, kBackendB)));
  CHECK(attempt.request().url.ends_with("/api/generate"));
  CHECK_THAT(attempt.request().body, Contains(R"("prompt":"Say hi")"));
  CHECK(attempt.request().timeout == 0ms);        // upstream.request_timeout's default: no total
  CHECK(attempt.request().idle_timeout == 5min);  // upstream.idle_timeout's default
  CHECK_FALSE(seen.ended());

  gateway.clock.Advance(250ms);  // the backend takes a quarter of a second to the first token
  REQUIRE(attempt.Line(Chunk("Hel")));
  gateway.clock.Advance(750ms);
  REQUIRE(attempt.Line(Chunk("lo")));
  REQUIRE(attempt.Line(kFinalChunk));
  CHECK_FALSE(seen.ended());  // the final chunk came, but the body has not ended yet
  attempt.Ok();
  call->Release();

  CHECK(seen.status().ok());
  CHECK(seen.lines.size() == 3);
  CHECK(seen.text == "Hello");
  CHECK(seen.trailers["x-request-id"] == "req-7");
  CHECK(seen.trailers["x-gateway-backend"] == (on_a ? "a" : "b"));
  CHECK(seen.trailers["x-gateway-attempts"] == "1");
  const std::string backend = on_a ? "a" : "b";
  CHECK(MetricValue(gateway.metrics, "gateway_requests_total",
                    {{"code", "OK"}, {"backend", backend}, {"model", "llama3.2:latest"}}) == 1);
  CHECK(MetricValue(gateway.metrics, "gateway_upstream_attempts_total",
                    {{"backend", backend}, {"outcome", "ok"}}) == 1);
  CHECK(MetricValue(gateway.metrics, "gateway_tokens_total") == 5);  // 3 prompt + 2 generated
  // Simulated time: exactly what the clock was moved by.
  CHECK(MetricValue(gateway.metrics, "gateway_time_to_first_token_seconds_sum") == Approx(0.25));
  CHECK(MetricValue(gateway.metrics, "gateway_request_duration_seconds_sum") == Approx(1.0));
  CHECK(gateway.core.active_calls() == 0);
}

// A templated generate stream, delivered to its caller chunk by chunk.
const auto kStreaming = [](TestCall& c) { c.streaming = true; };

TEST_CASE("a stream that ends without its final chunk is UNAVAILABLE, not OK", "[call_path]") {
  Gateway gateway;
  Seen seen;
  gateway.Start(Generate(), seen, kStreaming, security::Action::kStream)->Release();
  REQUIRE(gateway.upstream.call(0).Line(Chunk("Hel")));
  gateway.upstream.call(0).Ok();
  CHECK(seen.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(seen.status().message()),
             Contains("ended the stream without a final chunk"));
  CHECK(gateway.upstream.size() == 1);  // the caller has part of a templated generate
}

TEST_CASE("a malformed chunk stops the backend's stream and ends the call once", "[call_path]") {
  Gateway gateway;
  Seen seen;
  gateway.Start(Generate(), seen, kStreaming, security::Action::kStream)->Release();
  FakeUpstream::Call& attempt = gateway.upstream.call(0);
  REQUIRE(attempt.Line(Chunk("Hel")));
  CHECK_FALSE(attempt.Line("not json"));  // the path refuses it; the fake aborts as curl would
  CHECK(attempt.done());
  CHECK(seen.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(seen.status().message()), Contains("sent a malformed chunk"));
  CHECK(MetricValue(gateway.metrics, "gateway_upstream_attempts_total",
                    {{"outcome", "bad_stream"}}) == 1);
}

TEST_CASE("num_predict bounds the chunks, and each of a format's two passes on its own",
          "[call_path]") {
  const std::string think = R"({"model":"llama3.2","response":"","thinking":"hm","done":false})";
  for (const bool format : {false, true}) {
    Gateway gateway;
    Seen seen;
    InferenceRequest request = Generate();
    request.mutable_options()->set_num_predict(2);
    if (format) request.set_format("json");
    gateway.Start(request, seen, kStreaming, security::Action::kStream)->Release();
    FakeUpstream::Call& attempt = gateway.upstream.call(0);
    // A thinking model with a format: up to num_predict tokens of thought, then (Ollama's
    // second, constrained pass) up to num_predict of answer.
    REQUIRE(attempt.Line(think));
    REQUIRE(attempt.Line(think));
    if (!format) {
      CHECK_FALSE(attempt.Line(Chunk("{")));
      CHECK_THAT(std::string(seen.status().message()),
                 Contains("kept generating past num_predict=2"));
      continue;
    }
    REQUIRE(attempt.Line(Chunk("{")));
    REQUIRE(attempt.Line(Chunk("}")));
    CHECK_FALSE(attempt.Line(Chunk(" ")));
    CHECK(seen.status().code() == absl::StatusCode::kUnavailable);
    CHECK_THAT(std::string(seen.status().message()),
               Contains("kept generating past num_predict=2"));
  }
}

TEST_CASE("the front door's refusal of a chunk ends the call with the front door's status",
          "[call_path]") {
  Gateway gateway;
  Seen seen;
  gateway.Start(Generate(), seen, [](TestCall& c) { c.refuse_after = 1; })->Release();
  FakeUpstream::Call& attempt = gateway.upstream.call(0);
  CHECK(attempt.Line(Chunk("Hel")));
  CHECK_FALSE(attempt.Line(Chunk("lo")));
  CHECK(seen.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(seen.status().message() == "the answer outgrew the front door's limit");
  CHECK(seen.lines.size() == 1);
}

TEST_CASE("without a caller's x-request-id, the id comes from the core's random source",
          "[call_path]") {
  Gateway gateway;
  Seen seen;
  gateway.Start(Generate("mistral"), seen)->Release();  // refused at once; the id is made first
  CHECK(seen.trailers["x-request-id"] == "00000000000000010000000000000002");
}

TEST_CASE("a draining core refuses new calls as UNAVAILABLE", "[call_path]") {
  Gateway gateway;
  gateway.core.StartDraining();
  Seen seen;
  gateway.Start(Generate(), seen)->Release();
  CHECK(seen.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(seen.status().message()), Contains("shutting down"));
  CHECK(MetricValue(gateway.metrics, "gateway_rejected_total", {{"reason", "draining"}}) == 1);
  CHECK(gateway.upstream.size() == 0);
}

TEST_CASE("the access log gets one line for a call, with its outcome", "[call_path]") {
  Gateway gateway("", /*access_log=*/true);
  Seen seen;
  gateway.Start(Generate(), seen, [](TestCall& c) { c.headers["x-request-id"] = "req-log"; })
      ->Release();
  gateway.upstream.call(0).ConnectFailed();
  REQUIRE(gateway.upstream.size() == 2);
  Answer(gateway.upstream.call(1));
  REQUIRE(seen.status().ok());
  const std::vector<std::string> lines = gateway.sink->WaitForLines(1);
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], Contains(R"("request_id":"req-log")"));
  CHECK_THAT(lines[0], Contains(R"("status":"OK")"));
  CHECK_THAT(lines[0], Contains(R"("attempts":2)"));
  CHECK_THAT(lines[0], Contains(R"("input_sha256":")" + InputDigest(Generate())));
}

// ---- Rollouts ---------------------------------------------------------------------------------

// `assistant` split between llama3.2 on a and qwen2.5 on b, the candidate at `weight` percent.
std::string RolloutSection(int weight) {
  return "rollouts:\n  models:\n    - model: assistant\n"
         "      baseline: {model: llama3.2, backends: [a]}\n"
         "      candidate: {model: qwen2.5, backends: [b]}\n"
         "      weight: " +
         std::to_string(weight) + "\n";
}

TEST_CASE("a rollout's call gets its target's model and answers with the caller's name",
          "[call_path]") {
  Gateway gateway(RolloutSection(100), /*access_log=*/true);
  Seen seen;
  gateway.Start(Generate("assistant"), seen)->Release();
  REQUIRE(gateway.upstream.size() == 1);
  FakeUpstream::Call& call = gateway.upstream.call(0);
  CHECK(On(call, kBackendB));
  CHECK_THAT(call.request().body, Contains(R"("model":"qwen2.5")"));
  REQUIRE(call.Line(R"({"model":"qwen2.5","response":"Hi","done":false})"));
  REQUIRE(call.Line(R"({"model":"qwen2.5","response":"","done":true,"eval_count":1})"));
  call.Ok();
  REQUIRE(seen.status().ok());
  REQUIRE(seen.lines.size() == 2);
  CHECK(seen.lines[0] == R"({"model":"assistant","response":"Hi","done":false})");
  CHECK(MetricValue(gateway.metrics, "gateway_rollout_requests_total",
                    {{"rollout", "assistant"}, {"target", "candidate"}, {"result", "ok"}}) == 1);
  const std::vector<std::string> lines = gateway.sink->WaitForLines(1);
  REQUIRE(lines.size() == 1);
  CHECK_THAT(lines[0], Contains(R"("model":"assistant")"));
  CHECK_THAT(lines[0], Contains(R"("rollout":"assistant","target":"candidate",)"
                                R"("target_model":"qwen2.5")"));
}

TEST_CASE("a rollout's call is retried within its target only, and its failure is counted",
          "[call_path]") {
  Gateway gateway(RolloutSection(0));
  Seen seen;
  gateway.Start(Generate("assistant"), seen)->Release();
  REQUIRE(gateway.upstream.size() == 1);
  CHECK(On(gateway.upstream.call(0), kBackendA));
  gateway.upstream.call(0).ConnectFailed();
  // b serves llama3.2 too, but not for this target.
  CHECK(gateway.upstream.size() == 1);
  CHECK(seen.status().code() == absl::StatusCode::kUnavailable);
  CHECK(MetricValue(gateway.metrics, "gateway_rollout_requests_total",
                    {{"target", "baseline"}, {"result", "error"}}) == 1);
}

// ---- Retries ----------------------------------------------------------------------------------

TEST_CASE("a refused connect is retried on the other backend and the caller sees one OK",
          "[call_path]") {
  Gateway gateway;
  Seen seen;
  gateway.Start(Generate(), seen)->Release();
  REQUIRE(gateway.upstream.size() == 1);
  const bool first_on_a = On(gateway.upstream.call(0), kBackendA);
  gateway.upstream.call(0).ConnectFailed();
  CHECK_FALSE(seen.ended());
  REQUIRE(gateway.upstream.size() == 2);
  CHECK(On(gateway.upstream.call(1), first_on_a ? kBackendB : kBackendA));
  Answer(gateway.upstream.call(1));
  CHECK(seen.status().ok());
  CHECK(seen.text == "Hello");
  CHECK(seen.trailers["x-gateway-attempts"] == "2");
  CHECK(seen.trailers["x-gateway-backend"] == (first_on_a ? "b" : "a"));
  CHECK(MetricValue(gateway.metrics, "gateway_retries_total", {{"model", "llama3.2:latest"}}) == 1);
  CHECK(MetricValue(gateway.metrics, "gateway_upstream_attempts_total",
                    {{"backend", first_on_a ? "a" : "b"}, {"outcome", "connect_failed"}}) == 1);
  CHECK(MetricValue(gateway.metrics, "gateway_requests_total") == 1);
}

TEST_CASE(
    "Ollama's 503 is retried once elsewhere; when that fails too the caller gets the last "
    "error",
    "[call_path]") {
  Gateway gateway;  // upstream.max_attempts: 2
  Seen seen;
  gateway.Start(Generate(), seen)->Release();
  gateway.upstream.call(0).HttpError(503, std::string(kBusy));
  REQUIRE(gateway.upstream.size() == 2);
  const std::string second = On(gateway.upstream.call(1), kBackendA) ? "a" : "b";
  gateway.upstream.call(1).HttpError(503, std::string(kBusy));
  CHECK(gateway.upstream.size() == 2);  // no third attempt
  CHECK(seen.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(seen.status().message()),
             Contains("backend '" + second + "' answered HTTP 503"));
  CHECK(seen.trailers["x-gateway-attempts"] == "2");
}

TEST_CASE(
    "a templated generate stream cut after the caller saw part of it ends UNAVAILABLE, naming "
    "the tokens delivered",
    "[call_path]") {
  Gateway gateway;
  Seen seen;
  gateway.Start(Generate(), seen, kStreaming, security::Action::kStream)->Release();
  REQUIRE(gateway.upstream.call(0).Line(Chunk("Hel")));
  gateway.upstream.call(0).TransportError();
  CHECK(gateway.upstream.size() == 1);
  CHECK(seen.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(seen.status().message()),
             Contains("failed: Connection reset by peer after 1 token of the answer had reached "
                      "the caller; not continued: a templated generate"));
  CHECK(seen.lines.size() == 1);
  CHECK(MetricValue(gateway.metrics, "gateway_stream_continuations_total",
                    {{"outcome", "not_continuable"}}) == 1);
}

TEST_CASE("a 4xx answer is the request's fault and is not retried", "[call_path]") {
  Gateway gateway;
  Seen seen;
  gateway.Start(Generate(), seen)->Release();
  gateway.upstream.call(0).HttpError(400, R"({"error":"invalid options"})");
  CHECK(gateway.upstream.size() == 1);
  CHECK(seen.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("the retry budget refuses a retry once three calls are already retrying", "[call_path]") {
  Gateway gateway;  // upstream.retry_budget_percent: 20, so 4 calls allow max(3, 0) = 3
  std::vector<Seen> seen(4);
  for (Seen& s : seen) gateway.Start(Generate(), s)->Release();
  REQUIRE(gateway.upstream.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) gateway.upstream.call(i).HttpError(503, std::string(kBusy));
  CHECK(gateway.upstream.size() == 7);  // three retries started
  for (std::size_t i = 0; i < 3; ++i) CHECK_FALSE(seen[i].ended());
  CHECK(seen[3].status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(seen[3].status().message()), Contains("answered HTTP 503"));
  CHECK(MetricValue(gateway.metrics, "gateway_retries_refused_total", {{"reason", "budget"}}) == 1);
  CHECK(MetricValue(gateway.metrics, "gateway_retries_total") == 3);

  for (std::size_t i = 4; i < 7; ++i) Answer(gateway.upstream.call(i));
  for (std::size_t i = 0; i < 3; ++i) CHECK(seen[i].status().ok());

  // The retries ended with their calls, so the budget is whole again.
  Seen later;
  gateway.Start(Generate(), later)->Release();
  gateway.upstream.last().HttpError(503, std::string(kBusy));
  REQUIRE(gateway.upstream.size() == 9);
  Answer(gateway.upstream.last());
  CHECK(later.status().ok());
}

// ---- Failover mid-answer ------------------------------------------------------------------------

// A backend that fails at each point of a unary answer: the call runs again on the other
// backend, and the caller gets one complete answer from it.
TEST_CASE("a unary call whose backend fails part-way runs again elsewhere and ends OK",
          "[call_path]") {
  const auto fail = GENERATE(as<std::string>{}, "before headers", "after headers", "after chunks",
                             "at the final line", "error line", "no final chunk");
  CAPTURE(fail);
  Gateway gateway;
  Seen seen;
  gateway.Start(Generate(), seen)->Release();
  FakeUpstream::Call& first = gateway.upstream.call(0);
  const bool first_on_a = On(first, kBackendA);
  if (fail == "before headers") {
    first.ConnectFailed();
  } else if (fail == "after headers") {
    first.TransportError();  // a 200 and no body byte
  } else {
    REQUIRE(first.Line(Chunk("Hel")));
    REQUIRE(first.Line(Chunk("lo")));
    if (fail == "after chunks") first.TransportError();
    if (fail == "at the final line") CHECK_FALSE(first.Line(R"({"model":"llama3.2","respo)"));
    if (fail == "error line") CHECK_FALSE(first.Line(R"({"error":"llama runner process died"})"));
    if (fail == "no final chunk") first.Ok();
  }
  CHECK_FALSE(seen.ended());
  REQUIRE(gateway.upstream.size() == 2);
  CHECK(On(gateway.upstream.call(1), first_on_a ? kBackendB : kBackendA));
  CHECK(gateway.upstream.call(1).request().body == first.request().body);  // from the start
  Answer(gateway.upstream.call(1));
  CHECK(seen.status().ok());
  CHECK(seen.text == "Hello");
  CHECK(seen.lines.size() == 3);
  CHECK(seen.trailers["x-gateway-attempts"] == "2");
  CHECK(seen.trailers.count("x-gateway-continued") == 0);
  CHECK(MetricValue(gateway.metrics, "gateway_retries_total") == 1);
  CHECK(MetricValue(gateway.metrics, "gateway_tokens_total") == 5);  // the second answer's only
}

TEST_CASE("a stream whose backend fails before the caller saw a chunk runs again from the start",
          "[call_path]") {
  Gateway gateway;
  Seen seen;
  gateway.Start(Generate(), seen, kStreaming, security::Action::kStream)->Release();
  CHECK_FALSE(gateway.upstream.call(0).Line(R"({"error":"llama runner process died"})"));
  REQUIRE(gateway.upstream.size() == 2);
  Answer(gateway.upstream.call(1));
  CHECK(seen.status().ok());
  CHECK(seen.text == "Hello");
}

TEST_CASE("an error line that blames the request is neither re-run nor held against the backend",
          "[call_path]") {
  Gateway gateway;
  Seen seen;
  gateway.Start(Generate(), seen)->Release();
  CHECK_FALSE(gateway.upstream.call(0).Line(
      R"({"error":"the input length exceeds the context length","status":400})"));
  CHECK(gateway.upstream.size() == 1);
  CHECK(seen.status().code() == absl::StatusCode::kInvalidArgument);
  CHECK_THAT(std::string(seen.status().message()),
             Contains("failed during generation: the input length exceeds the context length"));
}

TEST_CASE("a unary re-run is bounded by upstream.max_attempts", "[call_path]") {
  Gateway gateway;  // max_attempts: 2
  Seen seen;
  gateway.Start(Generate(), seen)->Release();
  REQUIRE(gateway.upstream.call(0).Line(Chunk("Hel")));
  gateway.upstream.call(0).TransportError();
  REQUIRE(gateway.upstream.size() == 2);
  REQUIRE(gateway.upstream.call(1).Line(Chunk("Hel")));
  gateway.upstream.call(1).TransportError();
  CHECK(gateway.upstream.size() == 2);
  CHECK(seen.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(seen.status().message()), Contains("failed: Connection reset by peer"));
}

InferenceRequest Chat(std::int64_t num_predict = 0) {
  InferenceRequest request;
  request.set_model_name("llama3.2");
  auto* message = request.add_messages();
  message->set_role("user");
  message->set_content("Say hello");
  if (num_predict > 0) request.mutable_options()->set_num_predict(num_predict);
  return request;
}

std::string ChatChunk(std::string_view text) {
  return std::string(R"({"model":"llama3.2","message":{"role":"assistant","content":")") +
         std::string(text) + R"("},"done":false})";
}
constexpr std::string_view kChatFinal =
    R"({"model":"llama3.2","message":{"role":"assistant","content":""},"done":true,)"
    R"("done_reason":"stop","prompt_eval_count":5,"eval_count":1})";

TEST_CASE(
    "a chat stream cut after chunks reached the caller continues on another backend from the "
    "text delivered",
    "[call_path]") {
  Gateway gateway("", /*access_log=*/true);
  Seen seen;
  gateway.Start(Chat(10), seen, kStreaming, security::Action::kStream)->Release();
  FakeUpstream::Call& first = gateway.upstream.call(0);
  const bool first_on_a = On(first, kBackendA);
  REQUIRE(first.Line(ChatChunk("Hel")));
  REQUIRE(first.Line(ChatChunk("lo")));
  first.TransportError();
  CHECK_FALSE(seen.ended());
  REQUIRE(gateway.upstream.size() == 2);
  FakeUpstream::Call& second = gateway.upstream.call(1);
  CHECK(On(second, first_on_a ? kBackendB : kBackendA));
  // The same request, with the answer so far as the model's own unfinished turn, and the
  // caller's num_predict less the two tokens delivered.
  const std::string& body = second.request().body;
  CHECK_THAT(body, Contains(R"({"content":"Say hello","role":"user"},)"
                            R"({"content":"Hello","role":"assistant"}])"));
  CHECK_THAT(body, Contains(R"("num_predict":8)"));
  REQUIRE(second.Line(ChatChunk(" world")));
  REQUIRE(second.Line(kChatFinal));
  second.Ok();
  CHECK(seen.status().ok());
  CHECK(seen.text == "Hello world");  // no text twice
  REQUIRE(seen.lines.size() == 4);
  // One final chunk, whose usage counts both attempts' tokens, marked as continued.
  CHECK_THAT(seen.lines[3], Contains(R"("eval_count":3)"));
  CHECK_THAT(seen.lines[3], Contains(R"("x-gateway-continued":1)"));
  CHECK_THAT(seen.lines[3], Contains(R"("done_reason":"stop")"));
  CHECK(seen.trailers["x-gateway-continued"] == "1");
  CHECK(seen.trailers["x-gateway-attempts"] == "2");
  CHECK(MetricValue(gateway.metrics, "gateway_stream_continuations_total", {{"outcome", "ok"}}) ==
        1);
  CHECK(MetricValue(gateway.metrics, "gateway_retries_total") == 0);  // counted on its own
  const std::vector<std::string> log = gateway.sink->WaitForLines(1);
  REQUIRE(log.size() == 1);
  CHECK_THAT(log[0], Contains(R"("continued":1)"));
  CHECK_THAT(log[0], Contains(R"("completion_tokens":3)"));
}

TEST_CASE("a continuation starts paused when the caller's reading had paused the stream",
          "[call_path]") {
  Gateway gateway;
  Seen seen;
  TestCall* call = gateway.Start(Chat(), seen, kStreaming, security::Action::kStream);
  REQUIRE(gateway.upstream.call(0).Line(ChatChunk("Hel")));
  call->PauseUpstream();
  gateway.upstream.call(0).TransportError();
  REQUIRE(gateway.upstream.size() == 2);
  CHECK(gateway.upstream.call(1).paused());
  call->ResumeUpstream();
  CHECK_FALSE(gateway.upstream.call(1).paused());
  REQUIRE(gateway.upstream.call(1).Line(kChatFinal));
  gateway.upstream.call(1).Ok();
  call->Release();
  CHECK(seen.status().ok());
}

TEST_CASE("a chat stream in the middle of a tool call is not continued", "[call_path]") {
  Gateway gateway;
  Seen seen;
  gateway.Start(Chat(), seen, kStreaming, security::Action::kStream)->Release();
  REQUIRE(gateway.upstream.call(0).Line(
      R"({"model":"llama3.2","message":{"role":"assistant","content":"",)"
      R"("tool_calls":[{"function":{"name":"get_weather","arguments":{}}}]},"done":false})"));
  gateway.upstream.call(0).TransportError();
  CHECK(gateway.upstream.size() == 1);
  CHECK(seen.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(seen.status().message()),
             Contains("not continued: the stream was in a tool call"));
  CHECK(MetricValue(gateway.metrics, "gateway_stream_continuations_total",
                    {{"outcome", "tool_call"}}) == 1);
}

TEST_CASE("with upstream.continue_streams off a cut chat stream ends UNAVAILABLE", "[call_path]") {
  Gateway gateway("upstream:\n  continue_streams: \"off\"\n");
  Seen seen;
  gateway.Start(Chat(), seen, kStreaming, security::Action::kStream)->Release();
  REQUIRE(gateway.upstream.call(0).Line(ChatChunk("Hel")));
  gateway.upstream.call(0).Ok();  // no final chunk
  CHECK(gateway.upstream.size() == 1);
  CHECK(seen.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(seen.status().message()),
             Contains("not continued: upstream.continue_streams is off"));
  CHECK(MetricValue(gateway.metrics, "gateway_stream_continuations_total", {{"outcome", "off"}}) ==
        1);
}

TEST_CASE("a continuation that fails too ends the stream, counted once as failed", "[call_path]") {
  Gateway gateway;  // max_attempts: 2
  Seen seen;
  gateway.Start(Chat(), seen, kStreaming, security::Action::kStream)->Release();
  REQUIRE(gateway.upstream.call(0).Line(ChatChunk("Hel")));
  gateway.upstream.call(0).TransportError();
  REQUIRE(gateway.upstream.size() == 2);
  REQUIRE(gateway.upstream.call(1).Line(ChatChunk("lo")));
  gateway.upstream.call(1).TransportError();
  CHECK(gateway.upstream.size() == 2);
  CHECK(seen.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(seen.status().message()),
             Contains("after 2 tokens of the answer had reached the caller; not continued: "
                      "upstream.max_attempts (2) were made"));
  CHECK(seen.text == "Hello");
  CHECK(MetricValue(gateway.metrics, "gateway_stream_continuations_total",
                    {{"outcome", "failed"}}) == 1);
  CHECK(MetricValue(gateway.metrics, "gateway_stream_continuations_total") == 1);
}

// ---- Deadlines, in simulated time -------------------------------------------------------------

TEST_CASE("the caller's deadline bounds the attempt, and once it passed nothing is retried",
          "[call_path]") {
  Gateway gateway;
  Seen seen;
  gateway
      .Start(Generate(), seen,
             [](TestCall& c) { c.deadline = std::chrono::system_clock::now() + 5s; })
      ->Release();
  const auto timeout = gateway.upstream.call(0).request().timeout;
  // What is left of the caller's 5 s (less the real time the test took to get here).
  CHECK(timeout <= 5s + 50ms);
  CHECK(timeout > 4s);
  gateway.clock.Advance(6s);
  gateway.upstream.call(0).HttpError(503, std::string(kBusy));
  CHECK(gateway.upstream.size() == 1);
  CHECK(seen.status().code() == absl::StatusCode::kUnavailable);
}

TEST_CASE("a timeout after the caller's deadline is DEADLINE_EXCEEDED, naming the backend",
          "[call_path]") {
  Gateway gateway;
  Seen seen;
  gateway
      .Start(Generate(), seen,
             [](TestCall& c) { c.deadline = std::chrono::system_clock::now() + 2s; })
      ->Release();
  const std::string backend = On(gateway.upstream.call(0), kBackendA) ? "a" : "b";
  gateway.clock.Advance(3s);
  gateway.upstream.call(0).Timeout();
  CHECK(seen.status().code() == absl::StatusCode::kDeadlineExceeded);
  CHECK(seen.status().message() ==
        "deadline exceeded while backend '" + backend + "' was generating");
}

// ---- Cancellation -----------------------------------------------------------------------------

TEST_CASE("a caller that cancels mid-stream aborts the backend request and gets CANCELLED once",
          "[call_path]") {
  Gateway gateway;
  Seen seen;
  TestCall* call = gateway.Start(Generate(), seen);
  FakeUpstream::Call& attempt = gateway.upstream.call(0);
  REQUIRE(attempt.Line(Chunk("Hel")));
  CHECK_FALSE(attempt.cancel_requested());
  call->Cancel();
  CHECK(attempt.cancel_requested());
  CHECK_FALSE(seen.ended());  // the call ends when the upstream says the request is over
  attempt.FinishCancel();
  call->Release();
  CHECK(seen.status().code() == absl::StatusCode::kCancelled);
  CHECK(seen.status().message() == "the call was cancelled by the client");
  CHECK(gateway.upstream.size() == 1);  // a cancelled call is never retried
  CHECK(MetricValue(gateway.metrics, "gateway_requests_total", {{"code", "CANCELLED"}}) == 1);
}

TEST_CASE("a call cancelled while its attempt fails is not retried", "[call_path]") {
  Gateway gateway;
  Seen seen;
  TestCall* call = gateway.Start(Generate(), seen);
  call->Cancel();
  gateway.upstream.call(0).ConnectFailed();  // the failure won the race with the cancel
  call->Release();
  CHECK(gateway.upstream.size() == 1);
  CHECK(seen.status().code() == absl::StatusCode::kUnavailable);
  CHECK_THAT(std::string(seen.status().message()), Contains("no backend available"));
}

// ---- Backpressure and admission ---------------------------------------------------------------

TEST_CASE("reading slowly pauses the backend transfer, and resuming reads on", "[call_path]") {
  Gateway gateway;
  Seen seen;
  TestCall* call = gateway.Start(Generate(), seen);
  FakeUpstream::Call& attempt = gateway.upstream.call(0);
  REQUIRE(attempt.Line(Chunk("Hel")));
  call->PauseUpstream();
  CHECK(attempt.paused());
  call->ResumeUpstream();
  CHECK_FALSE(attempt.paused());
  CHECK(attempt.pauses() == 1);
  REQUIRE(attempt.Line(kFinalChunk));
  attempt.Ok();
  call->Release();
  CHECK(seen.status().ok());
}

// qwen2.5 is served by b only; b takes one call at a time and one more may wait.
constexpr std::string_view kOneSlot =
    "admission:\n  max_in_flight: 1\n  max_queue: 1\n  max_queue_wait: 2s\n";

TEST_CASE("a call for a full backend waits in the gateway queue and starts when a slot frees",
          "[call_path]") {
  Gateway gateway(kOneSlot);
  Seen first, second;
  gateway.Start(Generate("qwen2.5"), first)->Release();
  gateway.Start(Generate("qwen2.5"), second)->Release();
  CHECK(gateway.upstream.size() == 1);  // the second waits
  CHECK(MetricValue(gateway.metrics, "gateway_queue_depth") == 1);
  CHECK_FALSE(second.ended());
  gateway.clock.Advance(500ms);
  Answer(gateway.upstream.call(0));
  CHECK(first.status().ok());
  REQUIRE(gateway.upstream.size() == 2);  // the freed slot went to the waiting call
  CHECK(On(gateway.upstream.call(1), kBackendB));
  CHECK(MetricValue(gateway.metrics, "gateway_queue_depth") == 0);
  CHECK(MetricValue(gateway.metrics, "gateway_queue_wait_seconds_sum") == Approx(0.5));
  Answer(gateway.upstream.call(1));
  CHECK(second.status().ok());
}

TEST_CASE("with the gateway queue full, a call is RESOURCE_EXHAUSTED at once", "[call_path]") {
  Gateway gateway(kOneSlot);
  Seen running, waiting, turned_away;
  gateway.Start(Generate("qwen2.5"), running)->Release();
  gateway.Start(Generate("qwen2.5"), waiting)->Release();
  gateway.Start(Generate("qwen2.5"), turned_away)->Release();
  CHECK(turned_away.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(turned_away.status().message() ==
        "every backend for model 'qwen2.5' is at its max_in_flight and the gateway queue is full "
        "(max_queue 1 calls waiting); retry later");
  CHECK(MetricValue(gateway.metrics, "gateway_queue_rejected_total", {{"reason", "full"}}) == 1);
  CHECK(gateway.upstream.size() == 1);
  Answer(gateway.upstream.call(0));
  Answer(gateway.upstream.call(1));
  CHECK(running.status().ok());
  CHECK(waiting.status().ok());
}

TEST_CASE(
    "a queued call still waiting after max_queue_wait is RESOURCE_EXHAUSTED (simulated "
    "time)",
    "[call_path]") {
  Gateway gateway(kOneSlot);
  Seen running, waiting;
  gateway.Start(Generate("qwen2.5"), running)->Release();
  gateway.Start(Generate("qwen2.5"), waiting)->Release();
  gateway.clock.Advance(1999ms);
  gateway.core.admission_queue().ExpireDue();
  CHECK_FALSE(waiting.ended());
  gateway.clock.Advance(1ms);
  gateway.core.admission_queue().ExpireDue();
  CHECK(waiting.status().code() == absl::StatusCode::kResourceExhausted);
  CHECK(waiting.status().message() ==
        "no backend slot for model 'qwen2.5' freed within max_queue_wait (2000 ms); every "
        "backend is at its max_in_flight");
  CHECK(MetricValue(gateway.metrics, "gateway_queue_rejected_total", {{"reason", "timeout"}}) == 1);
  Answer(gateway.upstream.call(0));
  CHECK(running.status().ok());
  CHECK(gateway.upstream.size() == 1);  // the expired call never reached the backend
}

TEST_CASE("a queued call that is cancelled leaves the queue without reaching a backend",
          "[call_path]") {
  Gateway gateway(kOneSlot);
  Seen running, waiting;
  gateway.Start(Generate("qwen2.5"), running)->Release();
  TestCall* queued = gateway.Start(Generate("qwen2.5"), waiting);
  queued->Cancel();
  queued->Release();
  CHECK(waiting.status().code() == absl::StatusCode::kCancelled);
  CHECK(MetricValue(gateway.metrics, "gateway_queue_depth") == 0);
  Answer(gateway.upstream.call(0));
  CHECK(running.status().ok());
  CHECK(gateway.upstream.size() == 1);
}

}  // namespace
}  // namespace og
