// The simulator's constrained output (tools/ollama-sim/schema.h): documents that follow a JSON
// schema, tool-call arguments and ids, and the pieces a document is streamed in.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "tools/ollama-sim/schema.h"
#include "tools/ollama-sim/text.h"

namespace {

using namespace og::sim;
using ordered = nlohmann::ordered_json;

// The k-th string of a document for a prompt hash of 0.
std::string Word(int k) { return std::string(kWords[k % kWords.size()]); }

TEST_CASE("a schema's required properties get values by type, in the order of properties",
          "[sim]") {
  const ordered schema = ordered::parse(R"({"type":"object",
      "properties":{"name":{"type":"string"},"age":{"type":"integer"},"ok":{"type":"boolean"},
                    "tags":{"type":"array","items":{"type":"string"}},"extra":{"type":"string"},
                    "score":{"type":"number"},"meta":{"type":"object"}},
      "required":["meta","score","tags","ok","age","name"]})");
  CHECK(JsonForSchema(schema, 0) ==
        R"({"name":")" + Word(1) + R"(","age":1,"ok":true,"tags":[],"score":1,"meta":{}})");
}

TEST_CASE("without required, every property is written; enum and const take their value", "[sim]") {
  const ordered schema = ordered::parse(R"({"properties":{
      "unit":{"type":"string","enum":["celsius","fahrenheit"]},"v":{"const":7},
      "city":{"type":["null","string"]},"town":{"type":"string"}}})");
  CHECK(JsonForSchema(schema, 5) ==
        R"({"unit":"celsius","v":7,"city":")" + Word(6) + R"(","town":")" + Word(7) + R"("})");
}

TEST_CASE("nested objects are walked, references and alternatives followed", "[sim]") {
  const ordered schema = ordered::parse(R"({"type":"object",
      "properties":{"a":{"type":"object","properties":{"b":{"$ref":"#/$defs/leaf"}}},
                    "c":{"anyOf":[{"type":"integer"},{"type":"string"}]}},
      "$defs":{"leaf":{"type":"object","properties":{"d":{"type":"boolean"}}}}})");
  CHECK(JsonForSchema(schema, 0) == R"({"a":{"b":{"d":true}},"c":1})");
}

TEST_CASE("deep nesting is bounded and reference cycles end in null", "[sim]") {
  ordered schema = {{"type", "object"}};
  for (int i = 0; i < 10000; ++i) {
    schema = ordered{{"type", "object"}, {"properties", {{"x", std::move(schema)}}}};
  }
  const std::string doc = JsonForSchema(schema, 0);
  CHECK(nlohmann::json::parse(doc).is_object());
  // kMaxSchemaDepth objects open, the next one is {}.
  CHECK(doc.size() == std::string(R"({"x":)").size() * kMaxSchemaDepth + 2 + kMaxSchemaDepth);
  const ordered cycle =
      ordered::parse(R"({"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/a"}}})");
  CHECK(JsonForSchema(cycle, 0) == "null");
}

TEST_CASE("tool arguments are an object even without parameters", "[sim]") {
  CHECK(ToolArguments(ordered(), 0) == "{}");
  CHECK(ToolArguments(ordered::parse(R"({"type":"string"})"), 0) == "{}");
  CHECK(ToolArguments(ordered::parse(
                          R"({"type":"object","properties":{"location":{"type":"string"}},
                              "required":["location"]})"),
                      0) == R"({"location":")" + Word(1) + R"("})");
}

TEST_CASE("format json is a one-key object", "[sim]") {
  CHECK(JsonForFormatJson(0) == R"({"response":")" + Word(1) + R"("})");
}

TEST_CASE("tool call ids look like Ollama's and are deterministic", "[sim]") {
  const std::string id = ToolCallId("get_weather", "What is the weather?");
  REQUIRE(id.size() == 13);
  CHECK(id.rfind("call_", 0) == 0);
  for (char c : id.substr(5)) CHECK(((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')));
  CHECK(id == ToolCallId("get_weather", "What is the weather?"));
  CHECK(id != ToolCallId("get_time", "What is the weather?"));
}

TEST_CASE("a document splits into strings, scalars and punctuation runs", "[sim]") {
  const std::string doc = R"({"a":"x \"y\"","b":[1,true],"c":{}})";
  const std::vector<std::string> pieces = JsonPieces(doc);
  CHECK(pieces == std::vector<std::string>{"{", "\"a\"", ":", R"("x \"y\"")", ",", "\"b\"", ":[",
                                           "1", ",", "true", "],", "\"c\"", ":{}}"});
  std::string joined;
  for (const std::string& piece : pieces) joined += piece;
  CHECK(joined == doc);
}

TEST_CASE("thinking token counts follow the level", "[sim]") {
  CHECK(ThinkingTokenCount(ThinkLevel::kOff) == 0);
  CHECK(ThinkingTokenCount(ThinkLevel::kLow) == 4);
  CHECK(ThinkingTokenCount(ThinkLevel::kMedium) == 8);
  CHECK(ThinkingTokenCount(ThinkLevel::kHigh) == 16);
  CHECK(ThinkingTokenCount(ThinkLevel::kMax) == 32);
  const std::uint64_t hash = Fnv1a64("think:hello");
  CHECK(ThinkingTokenText(hash, 0) == "Thinking");
  CHECK(ThinkingTokenText(hash, 3) == " " + std::string(kWords[(hash + 3) % 32]));
}

TEST_CASE("logprobs are multiples of 1/16, falling with rank", "[sim]") {
  CHECK(TokenLogprob(0, 0) == -0.0625);
  CHECK(TokenLogprob(7, 0) == -0.5);
  CHECK(TokenLogprob(8, 0) == -0.0625);
  CHECK(TokenLogprob(1, 2) == -0.625);
  CHECK(AlternativeToken(0, 1) == " quick");
  CHECK(AlternativeToken(31, 1) == " the");
}

}  // namespace
