#include <algorithm>
#include <catch2/catch.hpp>
#include <cfloat>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gateway/frontdoor/http/answers.h"
#include "gateway/frontdoor/http/translate.h"
#include "gateway/upstream/json_reading.h"

namespace og {
namespace {

using Json = nlohmann::json;

HttpCall Parse(HttpApi api, const std::string& body) {
  absl::StatusOr<HttpCall> call = ParseHttpCall(api, body, kDefaultMaxJsonDepth);
  INFO(call.status().ToString());
  REQUIRE(call.ok());
  return *std::move(call);
}

std::string ErrorOf(HttpApi api, const std::string& body) {
  absl::StatusOr<HttpCall> call = ParseHttpCall(api, body, kDefaultMaxJsonDepth);
  REQUIRE_FALSE(call.ok());
  CHECK(call.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(call.status().message());
}

TEST_CASE("Ollama's endpoints stream unless told not to; OpenAI's only when asked",
          "[http_protocol]") {
  CHECK(Parse(HttpApi::kOllamaGenerate, R"({"model":"m","prompt":"p"})").stream);
  CHECK_FALSE(Parse(HttpApi::kOllamaChat, R"({"model":"m","stream":false})").stream);
  CHECK_FALSE(Parse(HttpApi::kOpenAiChat, R"({"model":"m","messages":[{"role":"user",
      "content":"x"}]})")
                  .stream);
  CHECK(Parse(HttpApi::kOpenAiCompletions, R"({"model":"m","prompt":["once"]})")
            .request.input_data() == "once");
  const HttpCall streamed = Parse(HttpApi::kOpenAiCompletions,
                                  R"({"model":"m","prompt":"p","stream":true,
                                      "stream_options":{"include_usage":true}})");
  CHECK(streamed.stream);
  CHECK(streamed.include_usage);
}

TEST_CASE("a request body that cannot be a call is refused naming what is wrong",
          "[http_protocol]") {
  CHECK(ErrorOf(HttpApi::kOllamaGenerate, "{nope") == "the request body is not valid JSON");
  CHECK(ErrorOf(HttpApi::kOllamaGenerate, "[1]") == "the request body must be a JSON object");
  CHECK(ErrorOf(HttpApi::kOllamaGenerate, R"({"prompt":"x"})") == "model is required");
  CHECK(ErrorOf(HttpApi::kOllamaGenerate, R"({"model":"m","prompt":3})") ==
        "prompt must be a string");
  CHECK(ErrorOf(HttpApi::kOllamaChat, R"({"model":"m","stream":"yes"})") ==
        "stream must be true or false");
  CHECK(ErrorOf(HttpApi::kOllamaChat, R"({"model":"m","messages":[{"content":"x"}]})") ==
        "messages[0].role is required");
  CHECK(ErrorOf(HttpApi::kOpenAiChat, R"({"model":"m","messages":[]})")
            .find("messages is required") == 0);
  CHECK(ErrorOf(HttpApi::kOpenAiChat,
                R"({"model":"m","n":2,"messages":[{"role":"user","content":"x"}]})")
            .find("n must be 1") == 0);
  CHECK(ErrorOf(HttpApi::kOpenAiChat, R"({"model":"m","tools":[{"type":"function"}],
      "messages":[{"role":"user","content":"x"}]})")
            .find("tools are not translated") == 0);
  CHECK(ErrorOf(HttpApi::kOpenAiChat, R"({"model":"m","messages":[{"role":"user","content":
      [{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]})")
            .find("image_url must be a data: URL") != std::string::npos);
  CHECK(ErrorOf(HttpApi::kOpenAiChat, R"({"model":"m","max_tokens":0,
      "messages":[{"role":"user","content":"x"}]})") == "max_tokens must be a positive integer");
  CHECK(ErrorOf(HttpApi::kOpenAiEmbeddings, R"({"model":"m","input":[[1,2]]})")
            .find("token arrays are not supported") != std::string::npos);
  CHECK(ErrorOf(HttpApi::kOpenAiEmbeddings, R"({"model":"m","input":"x",
      "encoding_format":"int8"})") == "encoding_format must be \"float\" or \"base64\"");
}

TEST_CASE("numbers out of their field's range are clamped or refused, never converted blindly",
          "[http_protocol]") {
  const HttpCall ollama = Parse(HttpApi::kOllamaGenerate, R"({"model":"m","options":{
      "num_predict":1e20,"temperature":1e300,"top_k":-99999999999,"seed":18446744073709551615}})");
  CHECK_FALSE(ollama.request.options().has_num_predict());
  CHECK(ollama.request.options().temperature() == FLT_MAX);
  CHECK_FALSE(ollama.request.options().has_top_k());
  CHECK_FALSE(ollama.request.options().has_seed());
  CHECK(ErrorOf(HttpApi::kOpenAiChat, R"({"model":"m","max_tokens":3e9,
      "messages":[{"role":"user","content":"x"}]})") == "max_tokens must be a positive integer");
  CHECK(ErrorOf(HttpApi::kOpenAiChat, R"({"model":"m","seed":1.5,
      "messages":[{"role":"user","content":"x"}]})") == "seed must be an integer");
  CHECK(Parse(HttpApi::kOpenAiChat, R"({"model":"m","temperature":-1e300,
      "messages":[{"role":"user","content":"x"}]})")
            .request.options()
            .temperature() == -FLT_MAX);
}

TEST_CASE("an OpenAI chat becomes an InferenceRequest with options, images and format",
          "[http_protocol]") {
  const std::string image = absl::Base64Escape("PNGDATA");
  const HttpCall call = Parse(HttpApi::kOpenAiChat, R"({"model":"llama3.2","max_tokens":7,
      "temperature":0.5,"seed":3,"stop":"END","response_format":{"type":"json_object"},
      "messages":[{"role":"developer","content":"be brief"},
                  {"role":"user","content":[{"type":"text","text":"what is "},
                   {"type":"text","text":"this?"},
                   {"type":"image_url","image_url":{"url":"data:image/png;base64,)" +
                                                        image + R"("}}]}]})");
  const auto& r = call.request;
  CHECK(r.model_name() == "llama3.2");
  CHECK(r.options().num_predict() == 7);
  CHECK(r.options().temperature() == 0.5f);
  CHECK(r.options().seed() == 3);
  REQUIRE(r.options().stop_size() == 1);
  CHECK(r.options().stop(0) == "END");
  CHECK(r.format() == "json");
  REQUIRE(r.messages_size() == 2);
  CHECK(r.messages(0).role() == "system");
  CHECK(r.messages(1).content() == "what is this?");
  REQUIRE(r.messages(1).images_size() == 1);
  CHECK(r.messages(1).images(0) == "PNGDATA");
  const OllamaRequest upstream = HttpUpstreamRequest(call, call.request);
  CHECK(std::string(upstream.path) == "/api/chat");
  const Json body = Json::parse(upstream.body);
  CHECK(body["stream"] == true);
  CHECK(body["options"]["num_predict"] == 7);
}

TEST_CASE("Ollama's own calls are forwarded as sent, streamed, with redacted texts replaced",
          "[http_protocol]") {
  HttpCall call = Parse(HttpApi::kOllamaChat, R"({"model":"m","stream":false,
      "tools":[{"type":"function","function":{"name":"f"}}],"keep_alive":-1,
      "options":{"num_predict":9,"mirostat":2},
      "messages":[{"role":"user","content":"my card 4111"}]})");
  CHECK(call.request.options().num_predict() == 9);
  Json body = Json::parse(HttpUpstreamRequest(call, call.request).body);
  CHECK(body["stream"] == true);
  CHECK(body["tools"][0]["function"]["name"] == "f");
  CHECK(body["options"]["mirostat"] == 2);
  CHECK(body["keep_alive"] == -1);
  CHECK(body["messages"][0]["content"] == "my card 4111");

  std::vector<std::string*> texts = CallerTexts(&call);
  REQUIRE(texts.size() == 1);
  *texts[0] = "my card [CARD]";
  SyncRequestTexts(&call);
  CHECK(call.request.messages(0).content() == "my card [CARD]");
  body = Json::parse(HttpUpstreamRequest(call, call.request).body);
  CHECK(body["messages"][0]["content"] == "my card [CARD]");

  HttpCall embed = Parse(HttpApi::kOllamaEmbed, R"({"model":"e","input":"secret"})");
  REQUIRE(embed.request.messages_size() == 1);
  texts = CallerTexts(&embed);
  REQUIRE(texts.size() == 1);
  *texts[0] = "[X]";
  CHECK(Json::parse(HttpUpstreamRequest(embed, embed.request).body)["input"] == "[X]");
  CHECK(std::string(HttpUpstreamRequest(embed, embed.request).path) == "/api/embed");
}

TEST_CASE("a body nested deeper than the depth limit is refused naming the limit",
          "[http_protocol]") {
  const std::string deep = R"({"model":"m","messages":[{"role":"user","content":"x"}],"format":)" +
                           std::string(200000, '[') + std::string(200000, ']') + "}";
  for (HttpApi api : {HttpApi::kOllamaChat, HttpApi::kOpenAiChat}) {
    CHECK(ErrorOf(api, deep) == "the request body nests deeper than limits.max_json_depth (64)");
  }
  // At the limit it is read: the object is level 1, so 63 more levels fit.
  const std::string at_limit =
      R"({"model":"m","format":)" + std::string(63, '[') + std::string(63, ']') + "}";
  CHECK(ParseHttpCall(HttpApi::kOllamaGenerate, at_limit, 64).ok());
  CHECK_FALSE(ParseHttpCall(HttpApi::kOllamaGenerate, at_limit, 63).ok());
  CHECK(ErrorOf(HttpApi::kOllamaGenerate, "{") == "the request body is not valid JSON");
}

TEST_CASE("keys are read case-insensitively as Ollama's decoder reads them", "[http_protocol]") {
  HttpCall call =
      Parse(HttpApi::kOllamaGenerate, R"({"Model":"llama3.2","PROMPT":"write to bob@example.com",)"
                                      "\"\xC5\xBFystem\":\"be brief\"}");
  CHECK(call.request.model_name() == "llama3.2");
  CHECK(call.request.input_data() == "write to bob@example.com");
  CHECK(call.request.system() == "be brief");
  const Json sent = Json::parse(HttpUpstreamRequest(call, call.request).body);
  CHECK(sent["prompt"] == "write to bob@example.com");
  CHECK(sent["system"] == "be brief");
  CHECK_FALSE(sent.contains("PROMPT"));

  HttpCall chat =
      Parse(HttpApi::kOllamaChat, R"({"model":"m","Messages":[{"ROLE":"user","Content":"hi"}]})");
  REQUIRE(chat.request.messages_size() == 1);
  CHECK(chat.request.messages(0).content() == "hi");
}

TEST_CASE("two keys that Ollama reads as one field are refused", "[http_protocol]") {
  CHECK(ErrorOf(HttpApi::kOllamaGenerate, R"({"model":"m","prompt":"a","Prompt":"b"})") ==
        "the request body has both 'Prompt' and 'prompt', which Ollama reads as one field; send "
        "it once");
  CHECK_THAT(ErrorOf(HttpApi::kOllamaChat,
                     R"({"model":"m","messages":[{"role":"user","content":"a","CONTENT":"b"}]})"),
             Catch::Matchers::StartsWith("messages[0] has both"));
  // Options are a map in Ollama: their keys are exact, so these are two options.
  CHECK(ParseHttpCall(HttpApi::kOllamaGenerate, R"({"model":"m","options":{"top_k":1,"TOP_K":2}})",
                      64)
            .ok());
}

TEST_CASE("every text Ollama reads is a caller text, measured for the limits", "[http_protocol]") {
  HttpCall generate =
      Parse(HttpApi::kOllamaGenerate,
            R"({"model":"m","prompt":"p1","suffix":"s22","system":"y333","template":"t4444",)"
            R"("images":["aGk=","aGk="],"context":[1,2,3]})");
  CHECK(CallerTexts(&generate).size() == 4);
  CHECK(generate.text_bytes == 2 + 3 + 4 + 5);
  CHECK(generate.images == 2);
  CHECK(generate.body_bytes > 0);

  HttpCall chat = Parse(HttpApi::kOllamaChat, R"({"model":"m","messages":[
      {"role":"user","content":"c","images":["aGk="]},
      {"role":"assistant","content":"","thinking":"th",
       "tool_calls":[{"function":{"name":"f","arguments":{"to":"bob@example.com",
                                                          "cc":["x@example.com"]}}}]}]})");
  std::vector<std::string> found;
  for (const std::string* text : CallerTexts(&chat)) found.push_back(*text);
  std::sort(found.begin(), found.end());
  CHECK(found == std::vector<std::string>{"", "bob@example.com", "c", "th", "x@example.com"});
  CHECK(chat.images == 1);

  // OpenAI's embeddings are translated from the messages the inputs become.
  const HttpCall openai = Parse(HttpApi::kOpenAiEmbeddings, R"({"model":"e","input":["a","b"]})");
  REQUIRE(openai.request.messages_size() == 2);
  CHECK(openai.request.messages(1).content() == "b");
  CHECK(openai.text_bytes == 2);

  CHECK(ErrorOf(HttpApi::kOllamaGenerate, R"({"model":"m","suffix":7})") ==
        "suffix must be a string");
  CHECK(ErrorOf(HttpApi::kOllamaChat,
                R"({"model":"m","messages":[{"role":"user","thinking":[]}]})") ==
        "messages[0].thinking must be a string");
  CHECK(ErrorOf(HttpApi::kOllamaGenerate, R"({"model":"m","images":[1]})") ==
        "images must be an array of strings");
}

TEST_CASE("status codes map to HTTP and each API's error shape", "[http_protocol]") {
  CHECK(HttpStatusFor(absl::StatusCode::kNotFound) == 404);
  CHECK(HttpStatusFor(absl::StatusCode::kUnauthenticated) == 401);
  CHECK(HttpStatusFor(absl::StatusCode::kPermissionDenied) == 403);
  CHECK(HttpStatusFor(absl::StatusCode::kResourceExhausted) == 429);
  CHECK(HttpStatusFor(absl::StatusCode::kUnavailable) == 503);
  CHECK(HttpStatusFor(absl::StatusCode::kDeadlineExceeded) == 504);
  CHECK(HttpStatusFor(absl::StatusCode::kInternal) == 500);
  CHECK(Json::parse(OllamaErrorBody("model 'x' not found")) ==
        Json{{"error", "model 'x' not found"}});
  const Json openai = Json::parse(OpenAiErrorBody(429, "slow down"));
  CHECK(openai["error"]["message"] == "slow down");
  CHECK(openai["error"]["type"] == "rate_limit_error");
  CHECK(openai["error"]["param"].is_null());
  CHECK(Json::parse(OpenAiErrorBody(401, "no"))["error"]["type"] == "authentication_error");
}

TEST_CASE("OpenAI answers: chunks, the usage chunk and whole completions", "[http_protocol]") {
  OpenAiAnswer answer{"chatcmpl-1", "llama3.2", 1700000000};
  OllamaChunk chunk;
  chunk.text = "Hel";
  Json first = OpenAiChatChunk(answer, chunk, /*first=*/true);
  CHECK(first["object"] == "chat.completion.chunk");
  CHECK(first["created"] == 1700000000);
  CHECK(first["choices"][0]["delta"] == Json{{"role", "assistant"}, {"content", "Hel"}});
  CHECK(first["choices"][0]["finish_reason"].is_null());
  OllamaChunk done;
  done.done = true;
  done.done_reason = "length";
  done.prompt_eval_count = 3;
  done.eval_count = 4;
  CHECK(OpenAiChatChunk(answer, done, false)["choices"][0]["finish_reason"] == "length");
  const Json usage = OpenAiUsageChunk(answer, HttpApi::kOpenAiChat, done);
  CHECK(usage["choices"].empty());
  CHECK(usage["usage"]["total_tokens"] == 7);
  const Json whole = OpenAiChatCompletion(answer, "Hello", "", done);
  CHECK(whole["choices"][0]["message"]["content"] == "Hello");
  CHECK(whole["usage"]["completion_tokens"] == 4);
  done.done_reason = "stop";
  const Json text = OpenAiTextCompletion(answer, "Hi", done);
  CHECK(text["object"] == "text_completion");
  CHECK(text["choices"][0]["finish_reason"] == "stop");
  CHECK(SseEvent(Json{{"a", 1}}) == "data: {\"a\":1}\n\n");
}

TEST_CASE("OpenAI embeddings come as floats or as base64 little-endian float32",
          "[http_protocol]") {
  const std::string ollama = R"({"model":"e","embeddings":[[0.5,-2.0]],"prompt_eval_count":2})";
  HttpCall call = Parse(HttpApi::kOpenAiEmbeddings, R"({"model":"e","input":"x"})");
  Json floats = Json::parse(*OpenAiEmbeddings(call, ollama));
  CHECK(floats["data"][0]["embedding"] == Json::array({0.5, -2.0}));
  CHECK(floats["usage"]["prompt_tokens"] == 2);
  call.base64_embeddings = true;
  Json packed = Json::parse(*OpenAiEmbeddings(call, ollama));
  std::string bytes;
  REQUIRE(absl::Base64Unescape(packed["data"][0]["embedding"].get<std::string>(), &bytes));
  REQUIRE(bytes.size() == 8);
  float values[2];
  std::memcpy(values, bytes.data(), 8);
  CHECK(values[0] == 0.5f);
  CHECK(values[1] == -2.0f);
  CHECK_FALSE(OpenAiEmbeddings(call, R"({"error":"x"})").ok());
}

TEST_CASE("listings merge by name, and /v1/models reads modified_at as Unix time",
          "[http_protocol]") {
  const Json merged =
      MergeModelLists({R"({"models":[{"name":"b:latest","size":1},{"name":"a:latest"}]})",
                       R"({"models":[{"name":"b:latest","size":2},{"name":"team/c:7b",
          "modified_at":"2024-05-01T10:00:00.5-02:00"}]})",
                       "not json"},
                      kDefaultMaxJsonDepth);
  REQUIRE(merged["models"].size() == 3);
  CHECK(merged["models"][0]["name"] == "a:latest");
  CHECK(merged["models"][1]["size"] == 1);
  const Json models = Json::parse(OpenAiModels(merged));
  CHECK(models["object"] == "list");
  CHECK(models["data"][2]["id"] == "team/c:7b");
  CHECK(models["data"][2]["owned_by"] == "team");
  CHECK(models["data"][2]["created"] == 1714564800);
}

TEST_CASE("a non-streamed Ollama answer gathers text, thinking and tool calls", "[http_protocol]") {
  OllamaAggregate aggregate;
  OllamaChunk a;
  a.text = "Hi ";
  aggregate.Add(HttpApi::kOllamaChat, a,
                R"({"message":{"role":"assistant","content":"Hi "},"done":false})");
  OllamaChunk b;
  b.thinking = "hmm";
  aggregate.Add(HttpApi::kOllamaChat, b,
                R"({"message":{"role":"assistant","content":"","thinking":"hmm","tool_calls":
                   [{"function":{"name":"f","arguments":{}}}]},"done":false})");
  OllamaChunk done;
  done.done = true;
  aggregate.Add(HttpApi::kOllamaChat, done,
                R"({"model":"m","message":{"role":"assistant","content":""},"done":true,
                    "eval_count":2})");
  const Json body = Json::parse(aggregate.Body(HttpApi::kOllamaChat));
  CHECK(body["message"]["content"] == "Hi ");
  CHECK(body["message"]["thinking"] == "hmm");
  CHECK(body["message"]["tool_calls"][0]["function"]["name"] == "f");
  CHECK(body["eval_count"] == 2);
  CHECK(body["done"] == true);
}

TEST_CASE("a non-streamed generate answer is the final line with the text spliced in",
          "[http_protocol]") {
  OllamaAggregate aggregate;
  OllamaChunk a;
  a.text = "Hi <you>";
  aggregate.Add(HttpApi::kOllamaGenerate, a, R"({"response":"Hi <you>","done":false})");
  OllamaChunk b;
  b.text = " \"there\"\n";
  b.thinking = "ok";
  aggregate.Add(HttpApi::kOllamaGenerate, b, R"({"response":" \"there\"\n","done":false})");
  OllamaChunk done;
  done.done = true;
  aggregate.Add(HttpApi::kOllamaGenerate, done,
                R"({"model":"m","created_at":"2026-12-02T07:00:00Z","response":"","thinking":"",)"
                R"("done":true,"done_reason":"stop","context":[1,2,[3]],"eval_count":2})");
  // The final line's members in their order and as they came; the answer where `response` was,
  // escaped as Ollama (Go) escapes it.
  CHECK(aggregate.Body(HttpApi::kOllamaGenerate) ==
        R"({"model":"m","created_at":"2026-12-02T07:00:00Z",)"
        R"("response":"Hi \u003cyou\u003e \"there\"\n","thinking":"ok","done":true,)"
        R"("done_reason":"stop","context":[1,2,[3]],"eval_count":2})");
}

TEST_CASE("a chat answer keeps the final message's other fields, and keys with escapes fall back",
          "[http_protocol]") {
  OllamaAggregate aggregate;
  OllamaChunk a;
  a.text = "Hi";
  aggregate.Add(HttpApi::kOllamaChat, a,
                R"({"message":{"role":"assistant","content":"Hi"},"done":false})");
  OllamaChunk done;
  done.done = true;
  aggregate.Add(HttpApi::kOllamaChat, done,
                R"({ "model" : "m", "message" : {"role":"assistant","content":"","images":null} ,)"
                R"( "done" : true })");
  CHECK(aggregate.Body(HttpApi::kOllamaChat) ==
        R"({"model":"m","message":{"role":"assistant","content":"Hi","images":null},"done":true})");

  OllamaAggregate escaped;
  escaped.Add(HttpApi::kOllamaGenerate, a, R"({"response":"Hi","done":false})");
  escaped.Add(HttpApi::kOllamaGenerate, done, R"({"respons\u0065":"","done":true})");
  const Json body = Json::parse(escaped.Body(HttpApi::kOllamaGenerate));
  CHECK(body["response"] == "Hi");
  CHECK(body.size() == 2);
}

}  // namespace
}  // namespace og
