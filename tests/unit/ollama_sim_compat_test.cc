// The simulator's /v1 compatibility layer (tools/ollama-sim/compat.h): the native bodies the
// translators build, the refusals of the layer itself, and what the adapters write.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tools/ollama-sim/compat.h"

namespace {

using namespace og::sim;
using nlohmann::json;

json Native(const CompatRequest& request) {
  REQUIRE(request.error_status == 0);
  return json::parse(request.native_body);
}

// The `data:` payloads of an SSE text.
std::vector<std::string> Data(const std::string& sse) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while ((at = sse.find("data: ", at)) != std::string::npos) {
    const std::size_t end = sse.find("\n\n", at);
    out.push_back(sse.substr(at + 6, end - at - 6));
    at = end;
  }
  return out;
}

TEST_CASE("chat completions become a native chat with OpenAI's defaults", "[sim]") {
  const json native = Native(TranslateChatCompletion(R"({"model":"m","max_tokens":5,
      "reasoning_effort":"minimal","response_format":{"type":" JSON_object "},
      "messages":[{"role":"user","content":"hi"}]})"));
  CHECK(native["model"] == "m");
  CHECK(native["stream"] == false);
  CHECK(native["options"]["num_predict"] == 5);
  CHECK(native["options"]["temperature"] == 1);
  CHECK(native["options"]["top_p"] == 1);
  CHECK(native["think"] == "low");
  CHECK(native["format"] == "json");
  CHECK(native["messages"] == json::parse(R"([{"role":"user","content":"hi"}])"));
}

TEST_CASE("content parts become messages and tool results are named from their call", "[sim]") {
  const json native = Native(TranslateChatCompletion(R"({"model":"m","messages":[
      {"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]},
      {"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function",
        "function":{"name":"f","arguments":"{\"x\":1}"}}]},
      {"role":"tool","tool_call_id":"call_1","content":"done"}]})"));
  const json& messages = native["messages"];
  REQUIRE(messages.size() == 4);
  CHECK(messages[0]["content"] == "a");
  CHECK(messages[1]["content"] == "b");
  CHECK(messages[2]["tool_calls"][0]["function"]["arguments"] == json{{"x", 1}});
  CHECK(messages[3]["tool_name"] == "f");
  CHECK(messages[3]["tool_call_id"] == "call_1");
}

TEST_CASE("the OpenAI layer's own refusals", "[sim]") {
  const CompatRequest empty = TranslateChatCompletion(R"({"model":"m","messages":[]})");
  CHECK(empty.error_status == 400);
  CHECK(json::parse(empty.error_body) ==
        json::parse(R"({"error":{"message":"[] is too short - 'messages'",
                       "type":"invalid_request_error","param":null,"code":null}})"));
  CHECK(json::parse(TranslateChatCompletion(R"({"model":"m","messages":[{"role":"user"}]})")
                        .error_body)["error"]["message"] == "invalid message content type: <nil>");
  CHECK(
      json::parse(TranslateChatCompletion(
                      R"({"model":"m","reasoning_effort":"x","messages":[{"role":"user",
                            "content":"a"}]})")
                      .error_body)["error"]["message"] ==
      R"(invalid reasoning value: "x" (must be "minimal", "low", "medium", "high", "xhigh", "ultra", "max", or "none"))");
  std::string encoding;
  CHECK(json::parse(TranslateEmbeddings(R"({"model":"m","input":[]})", encoding)
                        .error_body)["error"]["message"] == "invalid input");
}

TEST_CASE("a chat completion stream: role first, finish chunk, usage, [DONE]", "[sim]") {
  CompatRequest request = TranslateChatCompletion(R"({"model":"m","stream":true,
      "stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]})");
  REQUIRE(request.adapter != nullptr);
  std::string out;
  ReplyStep thinking;
  thinking.kind = ReplyStep::Kind::kThinking;
  thinking.text = "hmm";
  request.adapter->AppendStep(out, thinking);
  ReplyStep content;
  content.text = "yes";
  request.adapter->AppendStep(out, content);
  ReplySummary summary;
  summary.done_reason = "stop";
  summary.prompt_tokens = 1;
  summary.completion_tokens = 2;
  request.adapter->AppendEnd(out, summary);
  const std::vector<std::string> data = Data(out);
  REQUIRE(data.size() == 5);
  CHECK(json::parse(data[0])["choices"][0]["delta"] ==
        json::parse(R"({"role":"assistant","content":"","reasoning":"hmm"})"));
  CHECK(json::parse(data[1])["choices"][0]["delta"] == json{{"content", "yes"}});
  CHECK(json::parse(data[2])["choices"][0]["finish_reason"] == "stop");
  CHECK(json::parse(data[3])["usage"]["total_tokens"] == 3);
  CHECK(data[4] == "[DONE]");
}

TEST_CASE("a failure mid-stream leaves one empty chunk and no [DONE]", "[sim]") {
  CompatRequest request = TranslateChatCompletion(
      R"({"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]})");
  std::string out;
  request.adapter->AppendMidStreamError(out, "boom");
  const std::vector<std::string> data = Data(out);
  REQUIRE(data.size() == 1);
  CHECK(json::parse(data[0])["choices"][0] ==
        json::parse(R"({"index":0,"delta":{"content":""},"finish_reason":null})"));
}

TEST_CASE("responses input items become native messages", "[sim]") {
  const json native = Native(TranslateResponses(R"({"model":"m","instructions":"sys",
      "tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],
      "input":[{"role":"user","content":[{"type":"input_text","text":"a"},
                                         {"type":"input_text","text":"b"}]},
               {"type":"function_call","call_id":"c1","name":"f","arguments":"{}"},
               {"type":"function_call_output","call_id":"c1","output":"out"}]})"));
  const json& messages = native["messages"];
  REQUIRE(messages.size() == 4);
  CHECK(messages[0] == json::parse(R"({"role":"system","content":"sys"})"));
  CHECK(messages[1]["content"] == "ab");
  CHECK(messages[2]["tool_calls"][0]["id"] == "c1");
  CHECK(messages[3] == json::parse(R"({"role":"tool","content":"out","tool_call_id":"c1"})"));
  CHECK(native["tools"][0]["function"]["name"] == "f");
  CHECK(native["stream"] == false);
}

TEST_CASE("anthropic tool results come before the user's text; thinking relaxes", "[sim]") {
  const Catalog catalog({DescribeModel(*ParseModelName("llama3.2"))});
  const json native = Native(TranslateAnthropicMessages(R"({"model":"llama3.2","max_tokens":9,
      "system":[{"type":"text","text":"s"}],"thinking":{"type":"enabled"},
      "messages":[{"role":"user","content":[{"type":"text","text":"after"},
        {"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"r"}]}]}]})",
                                                        catalog));
  CHECK(native["messages"] == json::parse(R"([{"role":"system","content":"s"},
      {"role":"tool","content":"r","tool_call_id":"t1"},{"role":"user","content":"after"}])"));
  CHECK(native["options"]["num_predict"] == 9);
  CHECK_FALSE(native.contains("think"));
  const CompatRequest refused =
      TranslateAnthropicMessages(R"({"model":"llama3.2","messages":[]})", catalog);
  CHECK(refused.error_status == 400);
  const json error = json::parse(refused.error_body);
  CHECK(error["type"] == "error");
  CHECK(error["error"]["message"] == "max_tokens is required and must be positive");
}

TEST_CASE("error shapes map statuses to types", "[sim]") {
  CHECK(json::parse(OpenAIErrorJson(404, "x"))["error"]["type"] == "not_found_error");
  CHECK(json::parse(OpenAIErrorJson(503, "x"))["error"]["type"] == "api_error");
  CHECK(json::parse(AnthropicErrorJson(503, "x"))["error"]["type"] == "overloaded_error");
  CHECK(json::parse(AnthropicErrorJson(429, "x"))["error"]["type"] == "rate_limit_error");
  CHECK(DumpJson(json{{"t", "<a&b> \u2028"}}) == R"({"t":"\u003ca\u0026b\u003e \u2028"})");
  CHECK(GoFloat(1.0).dump() == "1");
  CHECK(GoFloat(0.5).dump() == "0.5");
}

}  // namespace
