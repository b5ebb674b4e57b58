#include <atomic>
#include <catch2/catch.hpp>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gateway/upstream/ollama_protocol.h"

namespace og {
namespace {

using ollama_gateway::v1::InferenceRequest;
using Json = nlohmann::json;

InferenceRequest Prompt(const std::string& model, const std::string& prompt) {
  InferenceRequest r;
  r.set_model_name(model);
  r.set_input_data(prompt);
  return r;
}

TEST_CASE("a prompt becomes a streaming /api/generate request", "[ollama]") {
  InferenceRequest r = Prompt("llama3.2", "why is the sky blue?");
  r.set_system("be brief");
  r.mutable_options()->set_num_predict(5);
  r.mutable_options()->set_temperature(0.5f);
  r.mutable_options()->mutable_stop()->Add(std::string(1, '\n'));
  r.set_keep_alive("5m");
  OllamaRequest o = BuildOllamaRequest(r);
  CHECK(o.endpoint == OllamaEndpoint::kGenerate);
  CHECK(std::string(o.path) == "/api/generate");
  Json body = Json::parse(o.body);
  CHECK(body["model"] == "llama3.2");
  CHECK(body["prompt"] == "why is the sky blue?");
  CHECK(body["stream"] == true);
  CHECK(body["system"] == "be brief");
  CHECK(body["options"]["num_predict"] == 5);
  CHECK(body["options"]["temperature"].get<double>() == Approx(0.5));
  CHECK(body["options"]["stop"] == Json::array({"\n"}));
  CHECK(body["keep_alive"] == "5m");
  CHECK_FALSE(body.contains("messages"));
}

TEST_CASE("messages make it a /api/chat request with base64 images", "[ollama]") {
  InferenceRequest r;
  r.set_model_name("llava");
  auto* m = r.add_messages();
  m->set_role("user");
  m->set_content("what is this?");
  m->add_images(std::string("\x89PNG", 4));
  OllamaRequest o = BuildOllamaRequest(r);
  CHECK(o.endpoint == OllamaEndpoint::kChat);
  CHECK(std::string(o.path) == "/api/chat");
  Json body = Json::parse(o.body);
  CHECK(body["messages"][0]["role"] == "user");
  CHECK(body["messages"][0]["content"] == "what is this?");
  CHECK(body["messages"][0]["images"][0] == "iVBORw==");
  CHECK_FALSE(body.contains("prompt"));
  CHECK_FALSE(body.contains("options"));
}

TEST_CASE("a numeric keep_alive is sent as a number, a JSON schema format as an object",
          "[ollama]") {
  InferenceRequest r = Prompt("m", "p");
  r.set_keep_alive("-1");
  r.set_format(R"({"type":"object"})");
  Json body = Json::parse(BuildOllamaRequest(r).body);
  CHECK(body["keep_alive"] == -1);
  CHECK(body["format"]["type"] == "object");
}

TEST_CASE("invalid UTF-8 in a prompt is replaced, not an error", "[ollama]") {
  Json body = Json::parse(BuildOllamaRequest(Prompt("m", "ok\xff")).body);
  CHECK(body["prompt"] == "ok\xEF\xBF\xBD");
}

TEST_CASE("request validation names the field at fault", "[ollama]") {
  CHECK(ValidateRequest(Prompt("llama3.2", "hi")).ok());
  absl::Status s = ValidateRequest(Prompt("", "hi"));
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(s.message()).find("model_name is empty") != std::string::npos);
  s = ValidateRequest(Prompt("bad model!", "hi"));
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(s.message()).find("not a valid Ollama model name") != std::string::npos);
  // No input loads the model, as on Ollama.
  CHECK(ValidateRequest(Prompt("llama3.2", "")).ok());
  InferenceRequest chat;
  chat.set_model_name("m");
  chat.add_messages()->set_content("x");
  s = ValidateRequest(chat);
  CHECK(std::string(s.message()) == "messages[0].role is empty");
  chat.mutable_messages(0)->set_role("user");
  auto* tool = chat.add_tools();
  tool->set_name("get_weather");
  tool->set_parameters_json("[1]");
  CHECK(std::string(ValidateRequest(chat).message()) ==
        "tools[0].parameters_json must be a JSON object");
  tool->set_parameters_json("{nope");
  CHECK(std::string(ValidateRequest(chat).message()).find("tools[0].parameters_json") == 0);
  tool->set_parameters_json(R"({"type":"object"})");
  CHECK(ValidateRequest(chat).ok());
  (*chat.mutable_extra_options())["num_ctx"] = "4096";
  CHECK(std::string(ValidateRequest(chat).message()).find("which is a field of options") !=
        std::string::npos);
  chat.mutable_extra_options()->clear();
  (*chat.mutable_extra_options())["min_p"] = "0.05";
  CHECK(ValidateRequest(chat).ok());
  InferenceRequest generate = Prompt("m", "hi");
  generate.add_tools()->set_name("f");
  CHECK(std::string(ValidateRequest(generate).message()).find("tools need messages") == 0);
}

TEST_CASE("a gRPC request carries thinking, tools, tool turns and generate's fields to Ollama",
          "[ollama]") {
  InferenceRequest chat;
  chat.set_model_name("qwen3");
  chat.mutable_think()->set_level("high");
  auto* tool = chat.add_tools();
  tool->set_name("get_weather");
  tool->set_description("weather");
  tool->set_parameters_json(R"({"type":"object","properties":{"city":{"type":"string"}}})");
  chat.add_messages()->set_role("user");
  auto* assistant = chat.add_messages();
  assistant->set_role("assistant");
  assistant->set_thinking("hmm");
  auto* call = assistant->add_tool_calls();
  call->set_id("call_1");
  call->set_name("get_weather");
  call->set_arguments_json(R"({"city":"Paris"})");
  auto* result = chat.add_messages();
  result->set_role("tool");
  result->set_tool_name("get_weather");
  result->set_content("sunny");
  (*chat.mutable_extra_options())["min_p"] = "0.05";
  REQUIRE(ValidateRequest(chat).ok());
  Json body = Json::parse(BuildOllamaRequest(chat).body);
  CHECK(body["think"] == "high");
  CHECK(body["tools"][0] == Json::parse(R"({"type":"function","function":{"name":"get_weather",
      "description":"weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}})"));
  CHECK(body["messages"][1]["thinking"] == "hmm");
  CHECK(body["messages"][1]["tool_calls"][0] ==
        Json::parse(R"({"id":"call_1","function":{"index":0,"name":"get_weather",
                        "arguments":{"city":"Paris"}}})"));
  CHECK(body["messages"][2]["tool_name"] == "get_weather");
  CHECK(body["options"]["min_p"] == 0.05);

  InferenceRequest generate = Prompt("m", "def f(");
  generate.mutable_think()->set_enabled(false);
  generate.set_suffix(")");
  generate.set_raw(true);
  generate.add_images("PNG");
  generate.add_context(7);
  const OllamaRequest request = BuildOllamaRequest(generate);
  CHECK(request.raw);
  body = Json::parse(request.body);
  CHECK(body["think"] == false);
  CHECK(body["suffix"] == ")");
  CHECK(body["raw"] == true);
  CHECK(body["images"] == Json::array({"UE5H"}));
  CHECK(body["context"] == Json::array({7}));
  CHECK_FALSE(body.contains("tools"));
}

TEST_CASE("tool calls in a chunk are kept as JSON text", "[ollama]") {
  OllamaChunk c;
  REQUIRE(ParseOllamaChunk(R"({"message":{"role":"assistant","content":"","tool_calls":[
              {"id":"call_1","function":{"index":0,"name":"f","arguments":{"a":1}}}]},"done":false})",
                           OllamaEndpoint::kChat, &c)
              .ok());
  CHECK(c.has_tool_calls());
  CHECK(Json::parse(c.tool_calls_json) ==
        Json::parse(R"([{"id":"call_1","function":{"index":0,"name":"f","arguments":{"a":1}}}])"));
  REQUIRE(ParseOllamaChunk(R"({"message":{"role":"assistant","content":"x"},"done":false})",
                           OllamaEndpoint::kChat, &c)
              .ok());
  CHECK(c.tool_calls_json.empty());
  REQUIRE(ParseOllamaChunk(R"({"response":"a","logprobs":[{"token":"a","logprob":-0.5}],)"
                           R"("done":false})",
                           OllamaEndpoint::kGenerate, &c)
              .ok());
  CHECK(Json::parse(c.logprobs_json) == Json::parse(R"([{"token":"a","logprob":-0.5}])"));
  const std::string_view final_line = R"({"response":"","done":true,"context":[1,2,300]})";
  REQUIRE(ParseOllamaChunk(final_line, OllamaEndpoint::kGenerate, &c).ok());
  CHECK(ContextOf(final_line, 64) == std::vector<std::int64_t>{1, 2, 300});
  CHECK(c.logprobs_json.empty());
}

TEST_CASE("generate chunks parse text, and the final chunk its metrics", "[ollama]") {
  OllamaChunk c;
  REQUIRE(ParseOllamaChunk(R"({"model":"m","response":" sky","done":false})",
                           OllamaEndpoint::kGenerate, &c)
              .ok());
  CHECK(c.text == " sky");
  CHECK_FALSE(c.done);
  REQUIRE(
      ParseOllamaChunk(
          R"({"response":"","done":true,"done_reason":"stop","context":[1,2],"total_duration":912000000,"load_duration":2100000,"prompt_eval_count":26,"prompt_eval_duration":130000000,"eval_count":40,"eval_duration":760000000})",
          OllamaEndpoint::kGenerate, &c)
          .ok());
  CHECK(c.done);
  CHECK(c.done_reason == "stop");
  CHECK(c.prompt_eval_count == 26);
  CHECK(c.eval_count == 40);
  CHECK(c.total_duration == 912000000);
  CHECK(c.load_duration == 2100000);
  CHECK(c.prompt_eval_duration == 130000000);
  CHECK(c.eval_duration == 760000000);
}

TEST_CASE("chat chunks take their text from message.content", "[ollama]") {
  OllamaChunk c;
  REQUIRE(ParseOllamaChunk(
              R"({"message":{"role":"assistant","content":"Hi","thinking":"hmm"},"done":false})",
              OllamaEndpoint::kChat, &c)
              .ok());
  CHECK(c.text == "Hi");
  CHECK(c.thinking == "hmm");
}

TEST_CASE("a final chunk with missing metrics parses them as zero", "[ollama]") {
  OllamaChunk c;
  REQUIRE(ParseOllamaChunk(R"({"done":true})", OllamaEndpoint::kGenerate, &c).ok());
  CHECK(c.done);
  CHECK(c.done_reason.empty());
  CHECK(c.eval_count == 0);
}

TEST_CASE("a mid-stream error line is reported as the chunk's error", "[ollama]") {
  OllamaChunk c;
  REQUIRE(ParseOllamaChunk(R"({"error":"runner crashed"})", OllamaEndpoint::kChat, &c).ok());
  CHECK(c.error == "runner crashed");
}

TEST_CASE("a line cut mid-object is refused as incomplete, quoting its start", "[ollama]") {
  OllamaChunk c;
  const std::string whole =
      R"({"model":"m","created_at":"2025-01-01T00:00:00.1Z","response":"The","done":false})";
  for (std::size_t cut = 1; cut < whole.size(); ++cut) {
    const std::string line = whole.substr(0, cut);
    INFO(line);
    absl::Status s = ParseOllamaChunk(line, OllamaEndpoint::kGenerate, &c);
    CHECK(s.code() == absl::StatusCode::kInternal);
    CHECK(std::string(s.message()).find("incomplete JSON object") != std::string::npos);
    CHECK(std::string(s.message()).find("starting '{") != std::string::npos);
  }
}

TEST_CASE("garbage and non-object lines are refused", "[ollama]") {
  OllamaChunk c;
  for (const char* line :
       {"{not json", "[1,2]", "42", "\"s\"", "<html>oops</html>", "{\"a\":1}}"}) {
    INFO(line);
    absl::Status s = ParseOllamaChunk(line, OllamaEndpoint::kGenerate, &c);
    CHECK(s.code() == absl::StatusCode::kInternal);
    CHECK(std::string(s.message()).find("not a JSON object") != std::string::npos);
  }
}

TEST_CASE("Ollama HTTP errors map to the gRPC code a caller can act on", "[ollama]") {
  struct Case {
    long http;
    const char* body;
    absl::StatusCode code;
    const char* message;
  };
  const Case cases[] = {
      {404, R"({"error":"model 'x' not found"})", absl::StatusCode::kNotFound,
       "backend 'gpu-a' answered HTTP 404: model 'x' not found"},
      {400, R"({"error":"invalid think value"})", absl::StatusCode::kInvalidArgument,
       "backend 'gpu-a' answered HTTP 400: invalid think value"},
      {503, R"({"error":"server busy, please try again.  maximum pending requests exceeded"})",
       absl::StatusCode::kUnavailable,
       "backend 'gpu-a' answered HTTP 503: server busy, please try again.  maximum pending "
       "requests exceeded"},
      {500, "plain text", absl::StatusCode::kUnavailable,
       "backend 'gpu-a' answered HTTP 500: plain text"},
      {403, "", absl::StatusCode::kInternal, "backend 'gpu-a' answered HTTP 403"},
      {429, R"({"error":"slow down"})", absl::StatusCode::kResourceExhausted,
       "backend 'gpu-a' answered HTTP 429: slow down"},
      {418, "", absl::StatusCode::kUnknown, "backend 'gpu-a' answered HTTP 418"},
  };
  for (const Case& c : cases) {
    INFO(c.http);
    absl::Status s = StatusFromOllamaError(c.http, c.body, "gpu-a");
    CHECK(s.code() == c.code);
    CHECK(std::string(s.message()) == c.message);
  }
}

TEST_CASE("only gateway-side-transient HTTP answers are retriable", "[ollama]") {
  CHECK(IsRetriableHttpStatus(503));
  CHECK(IsRetriableHttpStatus(502));
  CHECK_FALSE(IsRetriableHttpStatus(500));
  CHECK_FALSE(IsRetriableHttpStatus(404));
  CHECK_FALSE(IsRetriableHttpStatus(400));
}

}  // namespace
}  // namespace og

namespace og {
namespace {

// Found by fuzz/ollama_response_fuzzer: nlohmann's parser throws out_of_range for a number too
// large for a double even where parse errors are caught, and an exception on the upstream loop
// would end the process.
TEST_CASE("a number too large for a double is a malformed chunk, not an exception", "[ollama]") {
  for (const char* line : {"{\"response\":1e999}", "{\"response\":\"\",\"eval_count\":1e400}",
                           "{\"response\":1e999"}) {
    OllamaChunk chunk;
    const absl::Status status = ParseOllamaChunk(line, OllamaEndpoint::kGenerate, &chunk);
    INFO(line);
    CHECK(status.code() == absl::StatusCode::kInternal);
  }
}

}  // namespace
}  // namespace og

namespace og {
namespace {

// What ParseOllamaChunk read from `line`, failing the test case when the line was refused.
OllamaChunk Parsed(std::string_view line, OllamaEndpoint endpoint = OllamaEndpoint::kGenerate) {
  OllamaChunk chunk;
  const absl::Status status = ParseOllamaChunk(line, endpoint, &chunk);
  INFO(line);
  INFO(status.message());
  REQUIRE(status.ok());
  return chunk;
}

// The status ParseOllamaChunk gave for `line`.
absl::Status Refusal(std::string_view line, OllamaEndpoint endpoint = OllamaEndpoint::kGenerate) {
  OllamaChunk chunk;
  return ParseOllamaChunk(line, endpoint, &chunk);
}

// True when `chunk` carries none of the fields only a final (done) line has.
bool HasNoDoneFields(const OllamaChunk& chunk) {
  return chunk.done_reason.empty() && chunk.prompt_eval_count == 0 && chunk.eval_count == 0 &&
         chunk.total_duration == 0 && chunk.load_duration == 0 && chunk.prompt_eval_duration == 0 &&
         chunk.eval_duration == 0;
}

bool SaysNotAnObject(const absl::Status& status) {
  return status.code() == absl::StatusCode::kInternal &&
         std::string(status.message()).find("not a JSON object") != std::string::npos;
}

TEST_CASE("a key given twice counts with its last value", "[ollama]") {
  CHECK(Parsed(R"({"response":"a","response":"b"})").text == "b");
  CHECK(Parsed(R"({"response":"a","response":5})").text.empty());
  CHECK_FALSE(Parsed(R"({"done":true,"done":false,"eval_count":3})").done);
  CHECK(Parsed(R"({"done":true,"eval_count":3,"eval_count":4})").eval_count == 4);
  CHECK(Parsed(R"({"error":"boom","error":"","response":"a"})").text == "a");
  CHECK(Parsed(R"({"message":{"content":"a","content":"b"}})", OllamaEndpoint::kChat).text == "b");
  // A later `message` replaces the earlier one whole, not field by field.
  const OllamaChunk chat =
      Parsed(R"({"message":{"content":"a"},"message":{"thinking":"b"}})", OllamaEndpoint::kChat);
  CHECK(chat.text.empty());
  CHECK(chat.thinking == "b");
  CHECK(Parsed(R"({"message":{"content":"a"},"message":"x"})", OllamaEndpoint::kChat).text.empty());
}

TEST_CASE("a line with anything after its object is refused", "[ollama]") {
  for (const char* line :
       {R"({"response":"a"} x)", R"({"response":"a"}{"response":"b"})", R"({"response":"a"},)",
        R"({"response":"a"}])", R"({"response":"a"} 1)", "{\"response\":\"a\"}\v"}) {
    INFO(line);
    CHECK(SaysNotAnObject(Refusal(line)));
  }
  CHECK(Parsed("{\"response\":\"a\"} \t\r").text == "a");
}

TEST_CASE("fields of the wrong type read as absent", "[ollama]") {
  const OllamaChunk text = Parsed(
      R"({"response":1,"thinking":["x"],"done":"true","done_reason":"stop","eval_count":3})");
  CHECK(text.text.empty());
  CHECK(text.thinking.empty());
  CHECK_FALSE(text.done);
  CHECK(HasNoDoneFields(text));

  const OllamaChunk done =
      Parsed(R"({"done":true,"done_reason":7,"prompt_eval_count":26.0,"eval_count":"40",)"
             R"("total_duration":1e3,"load_duration":null,"prompt_eval_duration":{},)"
             R"("eval_duration":true})");
  CHECK(done.done);
  CHECK(HasNoDoneFields(done));

  CHECK(Parsed(R"({"done":1})").done == false);
  const OllamaChunk error = Parsed(R"({"error":42,"response":"a"})");
  CHECK(error.error.empty());
  CHECK(error.text == "a");
}

TEST_CASE("in a chat, a message that is not an object gives no text", "[ollama]") {
  for (const char* line : {R"({"message":"Hi","done":false})", R"({"message":["Hi"]})",
                           R"({"message":null})", R"({"message":{"content":{"text":"Hi"}}})"}) {
    const OllamaChunk chunk = Parsed(line, OllamaEndpoint::kChat);
    INFO(line);
    CHECK(chunk.text.empty());
    CHECK(chunk.thinking.empty());
  }
  // Each endpoint reads only its own fields.
  CHECK(Parsed(R"({"response":"Hi","thinking":"hmm"})", OllamaEndpoint::kChat).text.empty());
  CHECK(Parsed(R"({"response":"Hi","thinking":"hmm"})", OllamaEndpoint::kChat).thinking.empty());
  CHECK(Parsed(R"({"message":{"content":"Hi"}})", OllamaEndpoint::kGenerate).text.empty());
}

TEST_CASE("an error line carries nothing else, a line not done no metrics", "[ollama]") {
  const OllamaChunk error =
      Parsed(R"({"response":"x","thinking":"y","done":true,"done_reason":"stop",)"
             R"("eval_count":3,"error":"boom"})");
  CHECK(error.error == "boom");
  CHECK(error.text.empty());
  CHECK(error.thinking.empty());
  CHECK_FALSE(error.done);
  CHECK(HasNoDoneFields(error));

  const OllamaChunk token = Parsed(
      R"({"response":"x","done":false,"done_reason":"stop","total_duration":5,"eval_count":3})");
  CHECK(token.text == "x");
  CHECK(HasNoDoneFields(token));
}

// Metrics read as nlohmann's get<std::int64_t>() read them before simdjson: kept to the bit.
TEST_CASE("huge integers: a metric above INT64_MAX wraps, one beyond 64 bits is absent",
          "[ollama]") {
  struct Case {
    const char* number;
    std::int64_t eval_count;
  };
  const Case cases[] = {
      {"9223372036854775807", INT64_MAX},
      {"9223372036854775808", INT64_MIN},
      {"18446744073709551615", -1},
      {"18446744073709551616", 0},
      {"99999999999999999999999999999", 0},
      {"-5", -5},
      {"-0", 0},
      {"-9223372036854775808", INT64_MIN},
      {"-9223372036854775809", 0},
      {"40.0", 0},
      {"4e1", 0},
  };
  for (const Case& c : cases) {
    const std::string line = std::string(R"({"done":true,"eval_count":)") + c.number + "}";
    const OllamaChunk chunk = Parsed(line);
    INFO(line);
    CHECK(chunk.eval_count == c.eval_count);
  }
  // Beyond 64 bits elsewhere (simdjson refuses the line, nlohmann reads a float): still accepted.
  const OllamaChunk context =
      Parsed(R"({"response":"","done":true,"context":[1,123456789012345678901234567890],)"
             R"("eval_count":40})");
  CHECK(context.eval_count == 40);
}

TEST_CASE("invalid UTF-8 makes a line invalid JSON, as it always did", "[ollama]") {
  for (const char* line : {
           "{\"response\":\"ok\xff\"}",                  // a byte that is never UTF-8
           "{\"response\":\"\xc3\"}",                    // a sequence cut short
           "{\"response\":\"\xc0\xaf\"}",                // an overlong encoding of '/'
           "{\"response\":\"\xed\xa0\x80\"}",            // a UTF-16 surrogate, encoded
           "{\"response\":\"\xf4\x90\x80\x80\"}",        // beyond U+10FFFF
           "{\"response\":\"\\ud800\"}",                 // an escaped lone high surrogate
           "{\"response\":\"\\udc00\"}",                 // an escaped lone low surrogate
           "{\"response\":\"\\ud800\\ue000\"}",          // a high surrogate, then no low one
           "{\"model\":\"m\xff\",\"response\":\"ok\"}",  // in a field the gateway does not read
       }) {
    INFO(line);
    CHECK(SaysNotAnObject(Refusal(line)));
  }
  CHECK(Parsed("{\"response\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}").text ==
        "caf\xc3\xa9 \xf0\x9f\x98\x80");
  CHECK(Parsed(R"({"response":"caf\u00e9 \ud83d\ude00 \u0000!"})").text ==
        std::string("caf\xc3\xa9 \xf0\x9f\x98\x80 \0!", 13));
}

TEST_CASE("a line nested deeper than the depth limit is refused naming the limit", "[ollama]") {
  const auto nested = [](int levels) {
    return std::string(R"({"response":"a","tool":)") + std::string(levels, '[') +
           std::string(levels, ']') + "}";
  };
  // The object is level 1: 63 more fit in the default 64.
  CHECK(Parsed(nested(63)).text == "a");
  for (int levels : {64, 2000, 200000}) {
    const absl::Status refused = Refusal(nested(levels));
    CHECK(refused.message() ==
          "backend sent a line that nests deeper than limits.max_json_depth (64)");
  }
  OllamaChunk chunk;
  CHECK(ParseOllamaChunk(nested(64), OllamaEndpoint::kGenerate, &chunk, 65).ok());
  CHECK(ParseOllamaChunk(nested(10), OllamaEndpoint::kGenerate, &chunk, 10).code() ==
        absl::StatusCode::kInternal);
  // The reused parser follows the limit back down.
  CHECK(Parsed(nested(63)).text == "a");
}

TEST_CASE("lines simdjson refuses but nlohmann read are still accepted", "[ollama]") {
  // A UTF-8 byte order mark at the start (only there).
  CHECK(Parsed("\xef\xbb\xbf{\"response\":\"a\"}").text == "a");
  CHECK(SaysNotAnObject(Refusal(" \xef\xbb\xbf{\"response\":\"a\"}")));
  // A NUL byte after the object: nlohmann stops reading there, whatever follows (found by the
  // differential oracle of fuzz/fuzz_check.h).
  using namespace std::string_view_literals;
  CHECK(Parsed("{\"response\":\"a\"}\0 ]]] x"sv).text == "a");
  CHECK(SaysNotAnObject(Refusal("{\"response\":\0\"a\"}"sv)));
}

TEST_CASE("a line longer than the reused parser's limit parses as well", "[ollama]") {
  // The final line of /api/generate after a long conversation: a context of 10,000 token ids.
  std::string line = R"({"response":"","done":true,"done_reason":"stop","context":[)";
  for (int i = 0; i < 10000; ++i) line += (i == 0 ? "" : ",") + std::to_string(100000 + i);
  line += R"(],"eval_count":40})";
  REQUIRE(line.size() > 64 * 1024);
  const OllamaChunk done = Parsed(line);
  CHECK(done.done_reason == "stop");
  CHECK(done.eval_count == 40);
  CHECK(Parsed(R"({"response":" sky"})").text == " sky");
  CHECK(SaysNotAnObject(Refusal(line + "x")));
}

TEST_CASE("threads parse lines at the same time, each with its own parser", "[ollama]") {
  std::vector<std::thread> threads;
  std::atomic<int> wrong{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t, &wrong] {
      for (int i = 0; i < 500; ++i) {
        const std::string text = std::to_string(t) + "-" + std::to_string(i);
        OllamaChunk chunk;
        const absl::Status status = ParseOllamaChunk(
            R"({"response":")" + text + R"(","done":false})", OllamaEndpoint::kGenerate, &chunk);
        if (!status.ok() || chunk.text != text) ++wrong;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  CHECK(wrong == 0);
}

// ---- Failover ---------------------------------------------------------------------------------

TEST_CASE("a chunk says whether it carries tool calls, and an error line its status", "[ollama]") {
  OllamaChunk chunk;
  REQUIRE(
      ParseOllamaChunk(R"({"message":{"role":"assistant","content":"",)"
                       R"("tool_calls":[{"function":{"name":"f","arguments":{}}}]},"done":false})",
                       OllamaEndpoint::kChat, &chunk)
          .ok());
  CHECK(chunk.has_tool_calls());
  REQUIRE(ParseOllamaChunk(R"({"message":{"content":"hi","tool_calls":[]},"done":false})",
                           OllamaEndpoint::kChat, &chunk)
              .ok());
  CHECK_FALSE(chunk.has_tool_calls());
  REQUIRE(
      ParseOllamaChunk(R"({"error":"the input length exceeds the context length","status":400})",
                       OllamaEndpoint::kChat, &chunk)
          .ok());
  CHECK(chunk.error_status == 400);
  CHECK(IsRequestFaultError(chunk));
  REQUIRE(ParseOllamaChunk(R"({"response":"x","status":400,"done":false})",
                           OllamaEndpoint::kGenerate, &chunk)
              .ok());
  CHECK(chunk.error_status == 0);  // only an error line has a status
}

TEST_CASE("which mid-stream errors blame the request", "[ollama]") {
  OllamaChunk chunk;
  chunk.error = "llama runner process has terminated: signal: killed";
  CHECK_FALSE(IsRequestFaultError(chunk));
  chunk.error_status = 500;
  CHECK_FALSE(IsRequestFaultError(chunk));
  chunk.error_status = 0;
  chunk.error = "Input length exceeds the CONTEXT LENGTH";
  CHECK(IsRequestFaultError(chunk));
  chunk.error = "request (302 tokens) exceeds the available context size (256 tokens)";
  CHECK(IsRequestFaultError(chunk));
}

TEST_CASE("a chat continues with the answer so far as a final assistant message", "[ollama]") {
  const std::string body =
      R"({"model":"m","messages":[{"role":"user","content":"hi"}],"options":{"num_predict":10,)"
      R"("temperature":0.5},"stream":true})";
  absl::StatusOr<std::string> continued =
      ContinuationBody(OllamaEndpoint::kChat, body, "Hello th", "I should greet", 3);
  REQUIRE(continued.ok());
  const Json j = Json::parse(*continued);
  REQUIRE(j["messages"].size() == 2);
  CHECK(j["messages"][0] == Json::parse(R"({"role":"user","content":"hi"})"));
  CHECK(j["messages"][1] ==
        Json::parse(R"({"role":"assistant","content":"Hello th","thinking":"I should greet"})"));
  CHECK(j["options"]["num_predict"] == 7);
  CHECK(j["options"]["temperature"] == 0.5);
  CHECK(j["stream"] == true);
}

TEST_CASE("a raw generate continues with the answer so far appended to its prompt", "[ollama]") {
  absl::StatusOr<std::string> continued =
      ContinuationBody(OllamaEndpoint::kGenerate,
                       R"({"model":"m","prompt":"Once upon","raw":true})", " a time", "", 2);
  REQUIRE(continued.ok());
  const Json j = Json::parse(*continued);
  CHECK(j["prompt"] == "Once upon a time");
  CHECK(j["raw"] == true);
  CHECK_FALSE(j.contains("options"));
}

TEST_CASE("what cannot be continued says why", "[ollama]") {
  const auto why = [](OllamaEndpoint endpoint, const std::string& body) {
    absl::StatusOr<std::string> continued = ContinuationBody(endpoint, body, "so far", "", 4);
    REQUIRE_FALSE(continued.ok());
    CHECK(continued.status().code() == absl::StatusCode::kFailedPrecondition);
    return std::string(continued.status().message());
  };
  CHECK_THAT(why(OllamaEndpoint::kGenerate, R"({"model":"m","prompt":"p"})"),
             Catch::Matchers::Contains("templated generate"));
  CHECK_THAT(why(OllamaEndpoint::kGenerate, R"({"model":"m","prompt":"p","raw":false})"),
             Catch::Matchers::Contains("templated generate"));
  CHECK_THAT(why(OllamaEndpoint::kChat, R"({"model":"m","messages":[],"format":"json"})"),
             Catch::Matchers::Contains("`format`"));
  CHECK_THAT(
      why(OllamaEndpoint::kChat, R"({"model":"m","messages":[],"options":{"num_predict":4}})"),
      Catch::Matchers::Contains("num_predict"));
  CHECK_THAT(why(OllamaEndpoint::kChat, R"({"model":"m"})"),
             Catch::Matchers::Contains("no messages"));
  // An empty format is none.
  CHECK(ContinuationBody(OllamaEndpoint::kChat, R"({"model":"m","messages":[],"format":""})", "x",
                         "", 1)
            .ok());
}

TEST_CASE("a continued stream's final line counts every attempt's tokens", "[ollama]") {
  const Json j = Json::parse(ContinuedFinalLine(
      R"({"model":"m","done":true,"done_reason":"stop","eval_count":4,"prompt_eval_count":9})", 6,
      1));
  CHECK(j["eval_count"] == 10);
  CHECK(j["prompt_eval_count"] == 9);
  CHECK(j["done_reason"] == "stop");
  CHECK(j["x-gateway-continued"] == 1);
  CHECK(ContinuedFinalLine("not json", 6, 1) == "not json");
}

}  // namespace
}  // namespace og
