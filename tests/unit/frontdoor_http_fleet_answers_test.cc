// The fleet's merged answers: listings, versions, and the progress and results of model
// management run on several backends (gateway/frontdoor/http/fleet_answers.h).
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gateway/frontdoor/http/fleet_answers.h"
#include "gateway/upstream/ollama_protocol.h"

namespace og {
namespace {

using Json = nlohmann::json;
constexpr int kDepth = 64;

TEST_CASE("tags: one entry per model, its backends, and digests only where they differ",
          "[fleet]") {
  const Json merged = MergeTags(
      {{"a", R"({"models":[{"name":"llama3.2:latest","digest":"d1"},{"name":"qwen3:latest",
                 "digest":"q"}]})"},
       {"b", R"({"models":[{"name":"llama3.2:latest","digest":"d2"}]})"},
       {"c", R"({"models":[{"name":"qwen3:latest","digest":"q"}]})"},
       {"d", "not json"}},
      kDepth);
  REQUIRE(merged["models"].size() == 2);
  const Json& llama = merged["models"][0];
  CHECK(llama["name"] == "llama3.2:latest");
  CHECK(llama["backends"] == Json({"a", "b"}));
  CHECK(llama["digest_mismatch"] == true);
  CHECK(llama["digests"] == Json({{"a", "d1"}, {"b", "d2"}}));
  const Json& qwen = merged["models"][1];
  CHECK(qwen["backends"] == Json({"a", "c"}));
  CHECK_FALSE(qwen.contains("digest_mismatch"));
  CHECK_FALSE(qwen.contains("digests"));
}

TEST_CASE("ps: one entry per model (the copy loaded longest) and every copy", "[fleet]") {
  const Json merged = MergeLoaded(
      {{"a", R"({"models":[{"name":"llama3.2:latest","expires_at":"2026-12-03T10:05:00Z"}]})"},
       {"b", R"({"models":[{"name":"llama3.2:latest","expires_at":"2026-12-03T10:09:00Z"},
                 {"name":"qwen3:latest","expires_at":"2026-12-03T10:01:00Z"}]})"}},
      kDepth);
  REQUIRE(merged["models"].size() == 2);
  CHECK(merged["models"][0]["name"] == "llama3.2:latest");  // latest expiry first, as Ollama
  CHECK(merged["models"][0]["expires_at"] == "2026-12-03T10:09:00Z");
  CHECK(merged["models"][0]["backends"] == Json({"a", "b"}));
  CHECK(merged["models"][1]["backends"] == Json({"b"}));
  REQUIRE(merged["copies"].size() == 3);
  CHECK(merged["copies"][0]["backend"] == "a");
  CHECK(merged["copies"][2]["name"] == "qwen3:latest");
}

TEST_CASE("versions: the lowest, and each backend's", "[fleet]") {
  CHECK(VersionLess("0.9.9", "0.10.0"));
  CHECK_FALSE(VersionLess("0.10.0", "0.9.9"));
  CHECK(VersionLess("0.5.0-rc1", "0.5.0"));
  CHECK_FALSE(VersionLess("0.5.0", "0.5.0-rc1"));
  CHECK(VersionLess("v0.4", "0.4.1"));
  CHECK_FALSE(VersionLess("0.33.0", "0.33.0"));
  const Json merged = MergeVersions({{"a", R"({"version":"0.33.0"})"},
                                     {"b", R"({"version":"0.12.3"})"},
                                     {"c", R"({"nothing":1})"}},
                                    kDepth);
  CHECK(merged == Json({{"version", "0.12.3"}, {"versions", {{"a", "0.33.0"}, {"b", "0.12.3"}}}}));
}

TEST_CASE("a pull's progress: per-backend lines, layer totals over the fleet, one final line",
          "[fleet]") {
  FleetMerge merge(FleetOp::kPull, {"a", "b"}, kDepth);
  const Json first = Json::parse(merge.OnLine(0, R"({"status":"pulling manifest"})"));
  CHECK(first == Json({{"status", "pulling manifest"}, {"backend", "a"}}));
  const Json a = Json::parse(merge.OnLine(
      0, R"({"status":"pulling 1234","digest":"sha256:1234","total":100,"completed":50})"));
  CHECK(a["total"] == 100);
  CHECK(a["completed"] == 50);
  const Json b = Json::parse(merge.OnLine(
      1, R"({"status":"pulling 1234","digest":"sha256:1234","total":100,"completed":10})"));
  CHECK(b["backend"] == "b");
  CHECK(b["total"] == 200);  // the bar reaches 100% when every backend has the layer
  CHECK(b["completed"] == 60);
  CHECK(merge.OnLine(0, R"({"status":"success"})").empty());  // held for the end
  CHECK(merge.OnLine(1, "not json").empty());
  merge.OnEnd(0, 200, "");
  merge.OnEnd(1, 200, "");
  CHECK(merge.ok());
  CHECK(merge.http_status() == 200);
  CHECK(Json::parse(merge.FinalLine()) == Json({{"status", "success"}, {"backends", {"a", "b"}}}));
}

TEST_CASE("a pull failing on one backend names it and where it succeeded", "[fleet]") {
  FleetMerge merge(FleetOp::kPull, {"a", "b", "c"}, kDepth);
  CHECK(merge.OnLine(1, R"({"error":"pull model manifest: file does not exist"})").empty());
  merge.OnEnd(0, 200, "");
  merge.OnEnd(1, 200, "");
  merge.OnEnd(2, 0, "cannot connect to 127.0.0.1:9: Connection refused");
  CHECK_FALSE(merge.ok());
  CHECK(merge.LegOk(0));
  CHECK_FALSE(merge.LegOk(1));
  CHECK(merge.http_status() == 502);
  CHECK(Json::parse(merge.FinalLine())["error"] ==
        "pull failed on 2 of 3 backends: backend 'b': pull model manifest: file does not exist; "
        "backend 'c': cannot connect to 127.0.0.1:9: Connection refused (it succeeded on 'a')");
}

TEST_CASE("every backend failing alike answers that status", "[fleet]") {
  FleetMerge merge(FleetOp::kPush, {"a", "b"}, kDepth);
  merge.OnEnd(0, 400, "model is required");
  merge.OnEnd(1, 400, "model is required");
  CHECK(merge.http_status() == 400);
}

TEST_CASE("delete: a backend without the model is no failure, unless none had it", "[fleet]") {
  FleetMerge some(FleetOp::kDelete, {"a", "b"}, kDepth);
  some.OnEnd(0, 200, "");
  some.OnEnd(1, 404, "model 'x' not found");
  CHECK(some.ok());
  CHECK(some.http_status() == 200);
  CHECK(some.FinalLine().empty());  // Ollama's empty 200
  FleetMerge none(FleetOp::kDelete, {"a", "b"}, kDepth);
  none.OnEnd(0, 404, "model 'x' not found");
  none.OnEnd(1, 404, "model 'x' not found");
  CHECK_FALSE(none.ok());
  CHECK(none.http_status() == 404);
  CHECK(Json::parse(none.FinalLine())["error"] == "model 'x' not found");
}

TEST_CASE("a backend's answer says when it cannot serve a model another may", "[fleet]") {
  CHECK(ModelRefusalOf(404, R"({"error":"model \"llama3\" not found, try pulling it first"})") ==
        ModelRefusal::kNotFound);
  CHECK(ModelRefusalOf(404, "404 page not found") == ModelRefusal::kNone);
  CHECK(ModelRefusalOf(500,
                       "{\"error\":\"model requires more system memory (5.6 GiB) than is "
                       "available (3.1 GiB)\"}") == ModelRefusal::kOutOfMemory);
  CHECK(ModelRefusalOf(500, R"({"error":"llama-server reported out-of-memory during startup"})") ==
        ModelRefusal::kOutOfMemory);
  CHECK(ModelRefusalOf(500, R"({"error":"CUDA error: out of memory"})") ==
        ModelRefusal::kOutOfMemory);
  CHECK(ModelRefusalOf(500, R"({"error":"unexpected EOF"})") == ModelRefusal::kNone);
  CHECK(ModelRefusalOf(503, "out of memory") == ModelRefusal::kNone);
  CHECK(ModelRefusalName(ModelRefusal::kOutOfMemory) == "out_of_memory");
}

TEST_CASE("A rollout's name is listed as a copy of its baseline's entry") {
  Json tags = {{"models",
                {{{"name", "bot:v7"}, {"model", "bot:v7"}, {"digest", "d7"}},
                 {{"name", "bot:v8"}, {"model", "bot:v8"}, {"digest", "d8"}},
                 {{"name", "llama3.2:latest"}, {"model", "llama3.2:latest"}}}}};
  AddRolloutEntries({{"bot", "bot:v7", "bot:v8"},
                     {"llama3.2", "llama3.2", "llama3.2"},  // listed already (blue-green)
                     {"gone", "gone:v1", "gone:v2"}},       // its baseline is not listed
                    &tags);
  REQUIRE(tags["models"].size() == 4);
  const Json& bot = tags["models"][3];
  CHECK(bot["name"] == "bot:latest");
  CHECK(bot["model"] == "bot:latest");
  CHECK(bot["digest"] == "d7");
  CHECK(bot["rollout"] == Json({{"baseline", "bot:v7"}, {"candidate", "bot:v8"}}));
}

}  // namespace
}  // namespace og
