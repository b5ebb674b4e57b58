// Model names, the catalog and Go durations of the simulator (tools/ollama-sim/models.h).
#include <catch2/catch.hpp>

#include "tools/ollama-sim/models.h"

namespace {

using namespace og::sim;
using std::chrono::nanoseconds;

Catalog MakeCatalog(std::initializer_list<const char*> names) {
  std::vector<ModelInfo> models;
  for (const char* name : names) models.push_back(DescribeModel(*ParseModelName(name)));
  return Catalog(std::move(models));
}

TEST_CASE("a bare model name takes the default host, namespace and tag", "[sim]") {
  const auto name = ParseModelName("llama3.2");
  REQUIRE(name.ok());
  CHECK(name->Key() == "registry.ollama.ai/library/llama3.2:latest");
  CHECK(name->Display() == "llama3.2:latest");
}

TEST_CASE("namespaced and hosted names display their non-default parts", "[sim]") {
  CHECK(ParseModelName("me/tiny:1b")->Display() == "me/tiny:1b");
  CHECK(ParseModelName("example.com/me/tiny")->Display() == "example.com/me/tiny:latest");
  CHECK(ParseModelName("example.com:5000/me/tiny:q4")->Key() == "example.com:5000/me/tiny:q4");
}

TEST_CASE("malformed model names are refused", "[sim]") {
  CHECK_FALSE(ParseModelName("").ok());
  CHECK_FALSE(ParseModelName("llama:").ok());
  CHECK_FALSE(ParseModelName("a/b/c/d").ok());
  CHECK_FALSE(ParseModelName("me/").ok());
}

TEST_CASE("the catalog matches names case-insensitively with defaults filled in", "[sim]") {
  const Catalog catalog = MakeCatalog({"llama3.2", "qwen2.5:7b"});
  const ModelInfo* llama = catalog.Find("llama3.2");
  REQUIRE(llama != nullptr);
  CHECK(catalog.Find("LLAMA3.2") == llama);
  CHECK(catalog.Find("llama3.2:latest") == llama);
  CHECK(catalog.Find("library/llama3.2") == llama);
  CHECK(catalog.Find("registry.ollama.ai/library/Llama3.2:LATEST") == llama);
  CHECK(catalog.Find("llama3.2:1b") == nullptr);
  CHECK(catalog.Find("qwen2.5") == nullptr);
  CHECK(catalog.Find("qwen2.5:7B") != nullptr);
  CHECK(catalog.Find("") == nullptr);
}

TEST_CASE("model metadata is derived from the name", "[sim]") {
  const ModelInfo qwen = DescribeModel(*ParseModelName("qwen2.5:7b"));
  CHECK(qwen.family == "qwen");
  CHECK(qwen.parameter_size == "7.0B");
  CHECK(qwen.digest.size() == 64);
  CHECK_FALSE(qwen.embedding_only);
  const ModelInfo embed = DescribeModel(*ParseModelName("nomic-embed-text"));
  CHECK(embed.embedding_only);
  CHECK(DescribeModel(*ParseModelName("all-minilm")).embedding_only);
}

TEST_CASE("Go durations parse like time.ParseDuration", "[sim]") {
  CHECK(*ParseGoDuration("0") == nanoseconds(0));
  CHECK(*ParseGoDuration("5m") == std::chrono::minutes(5));
  CHECK(*ParseGoDuration("1h30m") == std::chrono::minutes(90));
  CHECK(*ParseGoDuration("1.5s") == std::chrono::milliseconds(1500));
  CHECK(*ParseGoDuration("300ms") == std::chrono::milliseconds(300));
  CHECK(*ParseGoDuration("-1s") == std::chrono::seconds(-1));
  CHECK(*ParseGoDuration("2us") == std::chrono::microseconds(2));
}

TEST_CASE("bad Go durations give Go's messages", "[sim]") {
  CHECK(ParseGoDuration("x").status().message() == "time: invalid duration \"x\"");
  CHECK(ParseGoDuration("5").status().message() == "time: missing unit in duration \"5\"");
  CHECK(ParseGoDuration("1d").status().message() == "time: unknown unit \"d\" in duration \"1d\"");
  CHECK_FALSE(ParseGoDuration("").ok());
}

}  // namespace
