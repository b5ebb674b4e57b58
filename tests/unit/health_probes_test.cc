#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "health/probes.h"
#include "tests/fakes/health_fakes.h"

namespace og::health {
namespace {

using std::chrono::milliseconds;
using testing::Broken;
using testing::Connected;
using testing::FakeTransport;
using testing::Http;
using Json = nlohmann::json;
using Method = ProbeRequest::Method;

constexpr const char* kVersion = R"({"version":"0.12.3"})";
constexpr const char* kTags = R"({"models":[{"name":"llama3.2:latest"},{"model":"qwen2.5:7b"}]})";

// Collects the one result of a probe.
struct Result {
  std::optional<CheckResult> value;
  int calls = 0;
  CheckDone Done() {
    return [this](CheckResult r) {
      ++calls;
      value = std::move(r);
    };
  }
};

// ---- tier 1 ----

TEST_CASE("the connect probe asks only for a connection, with the timeout", "[health]") {
  FakeTransport t;
  Result r;
  RunConnectProbe(t, "b1", milliseconds(750), r.Done());
  REQUIRE(t.size() == 1);
  CHECK(t.at(0).backend == "b1");
  CHECK(t.at(0).request.method == Method::kConnect);
  CHECK(t.at(0).request.timeout == milliseconds(750));
  CHECK(r.calls == 0);
}

TEST_CASE("the connect probe passes when the connection is made", "[health]") {
  FakeTransport t;
  Result r;
  RunConnectProbe(t, "b1", milliseconds(750), r.Done());
  t.Answer(0, Connected());
  REQUIRE(r.calls == 1);
  CHECK(r.value->ok);
  CHECK(r.value->error.empty());
}

TEST_CASE("the connect probe fails with the transport's error", "[health]") {
  FakeTransport t;
  Result r;
  RunConnectProbe(t, "b1", milliseconds(750), r.Done());
  t.Answer(0, Broken("connection refused"));
  REQUIRE(r.calls == 1);
  CHECK_FALSE(r.value->ok);
  CHECK_THAT(r.value->error, Catch::Contains("connection refused"));
}

// ---- tier 2 ----

TEST_CASE("the API probe asks for /api/version first and /api/tags only after it passed",
          "[health]") {
  FakeTransport t;
  Result r;
  RunApiProbe(t, "b1", milliseconds(900), r.Done());
  REQUIRE(t.size() == 1);
  CHECK(t.at(0).request.method == Method::kGet);
  CHECK(t.at(0).request.path == "/api/version");
  CHECK(t.at(0).request.timeout == milliseconds(900));
  t.Answer(0, Http(200, kVersion));
  REQUIRE(t.size() == 2);
  CHECK(t.at(1).backend == "b1");
  CHECK(t.at(1).request.method == Method::kGet);
  CHECK(t.at(1).request.path == "/api/tags");
  CHECK(r.calls == 0);
}

TEST_CASE("the API probe passes with the version and every listed model", "[health]") {
  FakeTransport t;
  Result r;
  RunApiProbe(t, "b1", milliseconds(900), r.Done());
  t.Answer(0, Http(200, kVersion));
  t.Answer(1, Http(200, kTags));
  REQUIRE(r.calls == 1);
  CHECK(r.value->ok);
  CHECK(r.value->version == "0.12.3");
  CHECK(r.value->models == std::vector<std::string>{"llama3.2:latest", "qwen2.5:7b"});
}

TEST_CASE("the API probe fails on a version error status without asking for tags", "[health]") {
  FakeTransport t;
  Result r;
  RunApiProbe(t, "b1", milliseconds(900), r.Done());
  t.Answer(0, Http(500, "oops"));
  REQUIRE(r.calls == 1);
  CHECK_FALSE(r.value->ok);
  CHECK_THAT(r.value->error, Catch::Contains("answered HTTP 500"));
  CHECK(t.size() == 1);
}

TEST_CASE("the API probe fails when /api/version does not complete", "[health]") {
  FakeTransport t;
  Result r;
  RunApiProbe(t, "b1", milliseconds(900), r.Done());
  t.Answer(0, Broken("connection reset"));
  REQUIRE(r.calls == 1);
  CHECK_FALSE(r.value->ok);
  CHECK_THAT(r.value->error, Catch::Contains("connection reset"));
  CHECK(t.size() == 1);
}

TEST_CASE("the API probe fails when /api/version names no version", "[health]") {
  const char* body = GENERATE(R"({})", R"({"version":""})", R"({"version":12})", "not json");
  FakeTransport t;
  Result r;
  RunApiProbe(t, "b1", milliseconds(900), r.Done());
  t.Answer(0, Http(200, body));
  REQUIRE(r.calls == 1);
  CHECK_FALSE(r.value->ok);
  CHECK_FALSE(r.value->error.empty());
  CHECK(t.size() == 1);
}

TEST_CASE("the API probe fails when /api/tags is not JSON", "[health]") {
  FakeTransport t;
  Result r;
  RunApiProbe(t, "b1", milliseconds(900), r.Done());
  t.Answer(0, Http(200, kVersion));
  t.Answer(1, Http(200, "<html>hi</html>"));
  REQUIRE(r.calls == 1);
  CHECK_FALSE(r.value->ok);
  CHECK_THAT(r.value->error, Catch::Contains("/api/tags"));
}

TEST_CASE("the API probe fails when /api/tags answers an error status", "[health]") {
  FakeTransport t;
  Result r;
  RunApiProbe(t, "b1", milliseconds(900), r.Done());
  t.Answer(0, Http(200, kVersion));
  t.Answer(1, Http(503, ""));
  REQUIRE(r.calls == 1);
  CHECK_FALSE(r.value->ok);
  CHECK_THAT(r.value->error, Catch::Contains("answered HTTP 503"));
}

TEST_CASE("the API probe passes with no models when the list is empty or null", "[health]") {
  const char* body = GENERATE(R"({"models":[]})", R"({"models":null})", R"({})");
  FakeTransport t;
  Result r;
  RunApiProbe(t, "b1", milliseconds(900), r.Done());
  t.Answer(0, Http(200, kVersion));
  t.Answer(1, Http(200, body));
  REQUIRE(r.calls == 1);
  CHECK(r.value->ok);
  CHECK(r.value->models.empty());
}

// ---- /api/ps ----

struct Loaded {
  int calls = 0;
  std::optional<std::vector<std::string>> value;
  std::function<void(std::optional<std::vector<std::string>>)> Done() {
    return [this](std::optional<std::vector<std::string>> v) {
      ++calls;
      value = std::move(v);
    };
  }
};

TEST_CASE("the loaded poll lists the models /api/ps names", "[health]") {
  FakeTransport t;
  Loaded l;
  RunLoadedPoll(t, "b1", milliseconds(2000), l.Done());
  REQUIRE(t.size() == 1);
  CHECK(t.at(0).request.method == Method::kGet);
  CHECK(t.at(0).request.path == "/api/ps");
  CHECK(t.at(0).request.timeout == milliseconds(2000));
  t.Answer(0, Http(200, R"({"models":[{"name":"llama3.2:latest","model":"llama3.2:latest"}]})"));
  REQUIRE(l.calls == 1);
  REQUIRE(l.value.has_value());
  CHECK(*l.value == std::vector<std::string>{"llama3.2:latest"});
}

TEST_CASE("the loaded poll reports nothing when /api/ps fails", "[health]") {
  const ProbeResponse response =
      GENERATE(Broken("timed out"), Http(500, "{}"), Http(200, "not json"));
  FakeTransport t;
  Loaded l;
  RunLoadedPoll(t, "b1", milliseconds(2000), l.Done());
  t.Answer(0, response);
  REQUIRE(l.calls == 1);
  CHECK_FALSE(l.value.has_value());
}

// ---- tier 3 ----

Json SentBody(const FakeTransport& t, std::size_t i) { return Json::parse(t.at(i).request.body); }

TEST_CASE("the inference probe asks for a one-token generation without streaming", "[health]") {
  FakeTransport t;
  Result r;
  InferenceProbeOptions o;
  o.prompt = "Say OK.";
  o.keep_alive = "5m";
  RunInferenceProbe(t, "b1", "llama3.2", o, milliseconds(30000), r.Done());
  REQUIRE(t.size() == 1);
  CHECK(t.at(0).request.method == Method::kPost);
  CHECK(t.at(0).request.path == "/api/generate");
  CHECK(t.at(0).request.timeout == milliseconds(30000));
  const Json body = SentBody(t, 0);
  CHECK(body.at("model") == "llama3.2");
  CHECK(body.at("prompt") == "Say OK.");
  CHECK(body.at("stream") == false);
  CHECK(body.at("options").at("num_predict") == 1);
  CHECK(body.at("keep_alive").is_string());
  CHECK(body.at("keep_alive") == "5m");
}

TEST_CASE("the inference probe sends a bare-number keep_alive as a number", "[health]") {
  const auto [text, number] =
      GENERATE(std::make_pair("-1", -1), std::make_pair("0", 0), std::make_pair("300", 300));
  FakeTransport t;
  Result r;
  InferenceProbeOptions o;
  o.keep_alive = text;
  RunInferenceProbe(t, "b1", "llama3.2", o, milliseconds(30000), r.Done());
  const Json body = SentBody(t, 0);
  CHECK(body.at("keep_alive").is_number_integer());
  CHECK(body.at("keep_alive") == number);
}

TEST_CASE("the inference probe passes on a final object with done and a response", "[health]") {
  FakeTransport t;
  Result r;
  RunInferenceProbe(t, "b1", "llama3.2", {}, milliseconds(30000), r.Done());
  t.Answer(0, Http(200, R"({"model":"llama3.2","response":"OK","done":true})"));
  REQUIRE(r.calls == 1);
  CHECK(r.value->ok);
}

TEST_CASE("the inference probe fails on a reply that is not done", "[health]") {
  FakeTransport t;
  Result r;
  RunInferenceProbe(t, "b1", "llama3.2", {}, milliseconds(30000), r.Done());
  t.Answer(0, Http(200, R"({"done":false})"));
  REQUIRE(r.calls == 1);
  CHECK_FALSE(r.value->ok);
  CHECK_THAT(r.value->error, Catch::Contains("done"));
}

TEST_CASE("the inference probe fails with the error the backend reports", "[health]") {
  FakeTransport t;
  Result r;
  RunInferenceProbe(t, "b1", "llama3.2", {}, milliseconds(30000), r.Done());
  t.Answer(0, Http(200, R"({"error":"boom"})"));
  REQUIRE(r.calls == 1);
  CHECK_FALSE(r.value->ok);
  CHECK_THAT(r.value->error, Catch::Contains("boom"));
}

TEST_CASE("the inference probe fails on a 404", "[health]") {
  FakeTransport t;
  Result r;
  RunInferenceProbe(t, "b1", "llama3.2", {}, milliseconds(30000), r.Done());
  t.Answer(0, Http(404, R"({"error":"model 'llama3.2' not found"})"));
  REQUIRE(r.calls == 1);
  CHECK_FALSE(r.value->ok);
  CHECK_THAT(r.value->error, Catch::Contains("404"));
}

TEST_CASE("the inference probe fails when the generation does not complete", "[health]") {
  FakeTransport t;
  Result r;
  RunInferenceProbe(t, "b1", "llama3.2", {}, milliseconds(30000), r.Done());
  t.Answer(0, Broken("timed out"));
  REQUIRE(r.calls == 1);
  CHECK_FALSE(r.value->ok);
  CHECK_THAT(r.value->error, Catch::Contains("timed out"));
}

}  // namespace
}  // namespace og::health
