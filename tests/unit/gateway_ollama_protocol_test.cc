#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "gateway/ollama_protocol.h"

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
  s = ValidateRequest(Prompt("llama3.2", ""));
  CHECK(s.code() == absl::StatusCode::kInvalidArgument);
  CHECK(std::string(s.message()).find("no input") != std::string::npos);
  InferenceRequest chat;
  chat.set_model_name("m");
  chat.add_messages()->set_content("x");
  s = ValidateRequest(chat);
  CHECK(std::string(s.message()) == "messages[0].role is empty");
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
