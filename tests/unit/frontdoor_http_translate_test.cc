#include <algorithm>
#include <catch2/catch.hpp>
#include <cfloat>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "gateway/frontdoor/http/answers.h"
#include "gateway/frontdoor/http/fleet_answers.h"
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

TEST_CASE("Ollama's endpoints stream unless told not to; the compatibility ones only when asked",
          "[http_protocol]") {
  CHECK(Parse(HttpApi::kOllamaGenerate, R"({"model":"m","prompt":"p"})").stream);
  CHECK_FALSE(Parse(HttpApi::kOllamaChat, R"({"model":"m","stream":false})").stream);
  CHECK_FALSE(Parse(HttpApi::kOpenAiChat, R"({"model":"m","messages":[{"role":"user",
      "content":"x"}]})")
                  .stream);
  for (HttpApi api :
       {HttpApi::kOpenAiCompletions, HttpApi::kOpenAiResponses, HttpApi::kAnthropicMessages}) {
    CHECK(Parse(api, R"({"model":"m","prompt":"p","stream":true})").stream);
    CHECK(ShapeOf(api) ==
          (api == HttpApi::kAnthropicMessages ? ApiShape::kAnthropic : ApiShape::kOpenAi));
  }
  CHECK(ShapeOfPath("/v1/messages") == ApiShape::kAnthropic);
  CHECK(ShapeOfPath("/v1/models/x") == ApiShape::kOpenAi);
  CHECK(ShapeOfPath("/api/chat") == ApiShape::kOllama);
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
  CHECK(ErrorOf(HttpApi::kOpenAiChat, R"({"messages":[]})") == "model is required");
  CHECK(ErrorOf(HttpApi::kAnthropicMessages, R"({"model":"m","stream":1})") ==
        "stream must be true or false");
}

TEST_CASE("numbers out of their field's range are clamped or refused, never converted blindly",
          "[http_protocol]") {
  const HttpCall ollama = Parse(HttpApi::kOllamaGenerate, R"({"model":"m","options":{
      "num_predict":1e20,"temperature":1e300,"top_k":-99999999999,"seed":18446744073709551615}})");
  CHECK_FALSE(ollama.request.options().has_num_predict());
  CHECK(ollama.request.options().temperature() == FLT_MAX);
  CHECK_FALSE(ollama.request.options().has_top_k());
  CHECK_FALSE(ollama.request.options().has_seed());
}

TEST_CASE("the compatibility endpoints are forwarded as sent, to the same path",
          "[http_protocol]") {
  const std::string image = absl::Base64Escape("PNGDATA");
  HttpCall call = Parse(HttpApi::kOpenAiChat, R"({"model":"llama3.2","max_tokens":7,
      "n":2,"tools":[{"type":"function","function":{"name":"f","description":"never redacted"}}],
      "stream":true,
      "messages":[{"role":"developer","content":"be brief"},
                  {"role":"user","content":[{"type":"text","text":"what is "},
                   {"type":"image_url","image_url":{"url":"data:image/png;base64,)" +
                                                  image + R"("}}]},
                  {"role":"assistant","tool_calls":[{"id":"c1","type":"function",
                   "function":{"name":"f","arguments":"{\"to\":\"bob\"}"}}]},
                  {"role":"tool","tool_call_id":"c1","content":"sunny"}]})");
  CHECK(call.request.model_name() == "llama3.2");
  CHECK(call.request.options().num_predict() == 7);
  CHECK(call.messages == 4);
  CHECK(call.images == 1);
  std::vector<std::string> texts;
  for (const std::string* text : CallerTexts(&call)) texts.push_back(*text);
  CHECK(texts == std::vector<std::string>{"be brief", "what is ", R"({"to":"bob"})", "sunny"});
  CHECK(call.text_bytes == 8 + 8 + 12 + 5);
  *CallerTexts(&call)[0] = "[X]";
  const OllamaRequest upstream = HttpUpstreamRequest(call);
  CHECK(std::string(upstream.path) == "/v1/chat/completions");
  CHECK(upstream.event_stream);
  const Json body = Json::parse(upstream.body);
  CHECK(body["stream"] == true);
  CHECK(body["n"] == 2);
  CHECK(body["messages"][0]["role"] == "developer");
  CHECK(body["messages"][0]["content"] == "[X]");
  CHECK(body["tools"][0]["function"]["description"] == "never redacted");

  HttpCall responses = Parse(HttpApi::kOpenAiResponses, R"({"model":"m","instructions":"sys",
      "input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"},
                {"type":"input_image","image_url":"data:image/png;base64,AA=="}]},
               {"type":"function_call","call_id":"c","name":"f","arguments":"{}"},
               {"type":"function_call_output","call_id":"c","output":"42"}],
      "max_output_tokens":5})");
  texts.clear();
  for (const std::string* text : CallerTexts(&responses)) texts.push_back(*text);
  CHECK(texts == std::vector<std::string>{"sys", "hi", "{}", "42"});
  CHECK(responses.images == 1);
  CHECK(responses.messages == 3);
  CHECK(responses.request.options().num_predict() == 5);
  CHECK_FALSE(HttpUpstreamRequest(responses).event_stream);
  CHECK(std::string(HttpUpstreamRequest(responses).path) == "/v1/responses");

  HttpCall messages = Parse(HttpApi::kAnthropicMessages, R"({"model":"m","max_tokens":9,
      "system":[{"type":"text","text":"be kind"}],
      "messages":[{"role":"user","content":"weather?"},
        {"role":"assistant","content":[{"type":"thinking","thinking":"hmm","signature":"s"},
          {"type":"tool_use","id":"t","name":"w","input":{"city":"Paris","type":"x"}}]},
        {"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"sun"},
          {"type":"image","source":{"type":"base64","media_type":"image/png","data":"AA=="}}]}]})");
  texts.clear();
  for (const std::string* text : CallerTexts(&messages)) texts.push_back(*text);
  CHECK(texts == std::vector<std::string>{"be kind", "weather?", "hmm", "Paris", "x", "sun"});
  CHECK(messages.images == 1);
  CHECK(messages.messages == 3);
  CHECK(std::string(HttpUpstreamRequest(messages).path) == "/v1/messages");

  HttpCall legacy = Parse(HttpApi::kOllamaEmbeddings, R"({"model":"e","Prompt":"secret"})");
  CHECK(legacy.request.input_data() == "secret");
  REQUIRE(CallerTexts(&legacy).size() == 1);
  CHECK(std::string(HttpUpstreamRequest(legacy).path) == "/api/embeddings");
  CHECK(Json::parse(HttpUpstreamRequest(legacy).body)["prompt"] == "secret");
}

TEST_CASE("Ollama's own calls are forwarded as sent, streamed, with redacted texts replaced",
          "[http_protocol]") {
  HttpCall call = Parse(HttpApi::kOllamaChat, R"({"model":"m","stream":false,
      "tools":[{"type":"function","function":{"name":"f"}}],"keep_alive":-1,
      "options":{"num_predict":9,"mirostat":2},
      "messages":[{"role":"user","content":"my card 4111"}]})");
  CHECK(call.request.options().num_predict() == 9);
  Json body = Json::parse(HttpUpstreamRequest(call).body);
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
  body = Json::parse(HttpUpstreamRequest(call).body);
  CHECK(body["messages"][0]["content"] == "my card [CARD]");

  HttpCall embed = Parse(HttpApi::kOllamaEmbed, R"({"model":"e","input":"secret"})");
  REQUIRE(embed.request.messages_size() == 1);
  texts = CallerTexts(&embed);
  REQUIRE(texts.size() == 1);
  *texts[0] = "[X]";
  CHECK(Json::parse(HttpUpstreamRequest(embed).body)["input"] == "[X]");
  CHECK(std::string(HttpUpstreamRequest(embed).path) == "/api/embed");
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
  const Json sent = Json::parse(HttpUpstreamRequest(call).body);
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

  const HttpCall openai = Parse(HttpApi::kOpenAiEmbeddings, R"({"model":"e","input":["a","b"]})");
  REQUIRE(openai.request.messages_size() == 2);
  CHECK(openai.request.messages(1).content() == "b");
  CHECK(openai.text_bytes == 2);
  // Embedding inputs are limited by max_embed_inputs, not max_messages.
  CHECK(openai.messages == 0);
  CHECK(openai.embed_inputs == 2);
  const HttpCall embed = Parse(HttpApi::kOllamaEmbed, R"({"model":"e","input":["a","b","c"]})");
  CHECK(embed.messages == 0);
  CHECK(embed.embed_inputs == 3);
  CHECK(embed.request.messages_size() == 3);

  CHECK(ErrorOf(HttpApi::kOllamaGenerate, R"({"model":"m","suffix":7})") ==
        "suffix must be a string");
  CHECK(ErrorOf(HttpApi::kOllamaChat,
                R"({"model":"m","messages":[{"role":"user","thinking":[]}]})") ==
        "messages[0].thinking must be a string");
  CHECK(ErrorOf(HttpApi::kOllamaGenerate, R"({"model":"m","images":[1]})") ==
        "images must be an array of strings");
}

TEST_CASE("the endpoints that carry images take the image body limit", "[http_protocol]") {
  LimitsConfig limits;
  limits.max_request_bytes = 1 << 20;
  limits.max_image_request_bytes = 64 << 20;
  for (const char* path :
       {"/api/generate", "/api/chat", "/v1/chat/completions", "/v1/responses", "/v1/messages"}) {
    INFO(path);
    const RequestBodyLimit limit = BodyLimitFor(path, limits, 256u << 20, 128u << 20);
    CHECK(limit.bytes == 64u << 20);
    CHECK(limit.message ==
          "the request body is larger than limits.max_image_request_bytes (67108864 bytes)");
  }
  // Twice max_request_bytes, at least 4 MiB.
  const RequestBodyLimit embed = BodyLimitFor("/api/embed", limits, 256u << 20, 128u << 20);
  CHECK(embed.bytes == 4u << 20);
  CHECK(embed.message ==
        "the request body is larger than 4194304 bytes (twice limits.max_request_bytes, 1048576)");
  limits.max_request_bytes = 8 << 20;
  CHECK(BodyLimitFor("/v1/embeddings", limits, 256u << 20, 128u << 20).bytes == 16u << 20);
  // A reload cannot go past what the server was started with.
  limits.max_image_request_bytes = 512 << 20;
  const RequestBodyLimit capped = BodyLimitFor("/api/chat", limits, 256u << 20, 128u << 20);
  CHECK(capped.bytes == 128u << 20);
  CHECK(capped.message.find("the most this gateway reads") != std::string::npos);
  // A blob takes fleet.max_blob_bytes.
  const RequestBodyLimit blob =
      BodyLimitFor("/api/blobs/sha256:00", limits, 100u << 20, 128u << 20);
  CHECK(blob.bytes == 100u << 20);
  CHECK(blob.message == "the blob is larger than fleet.max_blob_bytes (104857600 bytes)");
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

TEST_CASE("a forwarded answer's lines tell the usage, the terminal event and errors",
          "[http_protocol]") {
  const auto read = [](CompatApi api, std::string_view line, bool stream = true) {
    return ReadCompatLine(api, stream, line, kDefaultMaxJsonDepth);
  };
  CompatLineFacts f = read(CompatApi::kChatCompletions,
                           R"(data: {"choices":[{"index":0,"delta":{"content":"Hi"}}]})");
  CHECK(f.output);
  CHECK_FALSE(f.done);
  CHECK_FALSE(read(CompatApi::kChatCompletions,
                   R"(data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})")
                  .output);
  CHECK(read(CompatApi::kChatCompletions,
             R"(data: {"choices":[{"delta":{"tool_calls":[{"id":"c"}]}}]})")
            .output);
  f = read(CompatApi::kChatCompletions,
           R"(data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}})");
  CHECK(f.prompt_tokens == 3);
  CHECK(f.completion_tokens == 4);
  CHECK(read(CompatApi::kChatCompletions, "data: [DONE]").done);
  CHECK(read(CompatApi::kChatCompletions, R"(data: {"error":{"message":"boom"}})").error == "boom");
  CHECK_FALSE(read(CompatApi::kChatCompletions, "").done);
  CHECK_FALSE(read(CompatApi::kChatCompletions, "").malformed);
  CHECK_FALSE(read(CompatApi::kChatCompletions, ": keep-alive").malformed);
  CHECK_FALSE(read(CompatApi::kResponses, "event: response.created").malformed);
  f = read(CompatApi::kChatCompletions, "data: not json");
  CHECK(f.malformed);
  CHECK_THAT(f.error, Catch::Matchers::Contains("not a JSON object"));
  f = read(CompatApi::kChatCompletions, "<html>oops</html>");
  CHECK(f.malformed);
  CHECK_THAT(f.error, Catch::Matchers::Contains("not a server-sent event, starting '<html>"));
  CHECK(read(CompatApi::kChatCompletions, "[1]", false).malformed);

  f = read(CompatApi::kResponses,
           R"(data: {"type":"response.completed","response":{"usage":{"input_tokens":5,)"
           R"("output_tokens":6}}})");
  CHECK(f.done);
  CHECK(f.prompt_tokens == 5);
  CHECK(f.completion_tokens == 6);
  CHECK(read(CompatApi::kResponses, R"(data: {"type":"response.output_text.delta","delta":"x"})")
            .output);
  CHECK(read(CompatApi::kResponses,
             R"(data: {"type":"response.failed","response":{"error":{"message":"bad"}}})")
            .error == "bad");
  CHECK_FALSE(read(CompatApi::kResponses, "event: response.completed").done);

  CHECK(read(CompatApi::kMessages,
             R"(data: {"type":"message_start","message":{"usage":{"input_tokens":7}}})")
            .prompt_tokens == 7);
  CHECK(read(CompatApi::kMessages, R"(data: {"type":"message_delta","usage":{"output_tokens":8}})")
            .completion_tokens == 8);
  CHECK(read(CompatApi::kMessages, R"(data: {"type":"message_stop"})").done);
  CHECK(read(CompatApi::kMessages,
             R"(data: {"type":"error","error":{"type":"overloaded_error","message":"busy"}})")
            .error == "busy");

  f = read(CompatApi::kEmbeddings, R"({"data":[],"usage":{"prompt_tokens":2}})", false);
  CHECK(f.done);
  CHECK(f.prompt_tokens == 2);
  f = read(CompatApi::kMessages,
           R"({"type":"message","usage":{"input_tokens":1,"output_tokens":2}})", false);
  CHECK(f.done);
  CHECK(f.completion_tokens == 2);
  const std::string deep = "data: {\"a\":" + std::string(100, '[') + std::string(100, ']') + "}";
  f = ReadCompatLine(CompatApi::kChatCompletions, true, deep, 10);
  CHECK(f.malformed);
  CHECK_THAT(f.error, Catch::Matchers::Contains("deeper than limits.max_json_depth (10)"));
}

TEST_CASE("errors take each API's shape, in an answer and in a stream", "[http_protocol]") {
  const Json anthropic = Json::parse(ErrorBody(ApiShape::kAnthropic, 404, "no such model"));
  CHECK(anthropic["type"] == "error");
  CHECK(anthropic["error"]["type"] == "not_found_error");
  CHECK(anthropic["error"]["message"] == "no such model");
  CHECK(Json::parse(ErrorBody(ApiShape::kOpenAi, 400, "bad"))["error"]["type"] ==
        "invalid_request_error");
  CHECK(ErrorBody(ApiShape::kOllama, 500, "x") == R"({"error":"x"})");
  CHECK(StreamErrorEvent(HttpApi::kOllamaChat, 503, "x") == "{\"error\":\"x\"}\n");
  CHECK(StreamErrorEvent(HttpApi::kOpenAiChat, 503, "x").starts_with("data: {\"error\":{"));
  CHECK(StreamErrorEvent(HttpApi::kAnthropicMessages, 503, "x")
            .starts_with("event: error\ndata: {\"error\":{\"message\":\"x\",\"type\":"
                         "\"overloaded_error\"}"));
  CHECK(StreamErrorEvent(HttpApi::kOpenAiResponses, 503, "x").starts_with("event: error\n"));
}

TEST_CASE("listings merge by name, and /v1/models reads modified_at as Unix time",
          "[http_protocol]") {
  const Json merged =
      MergeTags({{"b1", R"({"models":[{"name":"b:latest","size":1},{"name":"a:latest"}]})"},
                 {"b2", R"({"models":[{"name":"b:latest","size":2},{"name":"team/c:7b",
          "modified_at":"2024-05-01T10:00:00.5-02:00"}]})"},
                 {"b3", "not json"}},
                kDefaultMaxJsonDepth);
  REQUIRE(merged["models"].size() == 3);
  CHECK(merged["models"][0]["name"] == "a:latest");
  CHECK(merged["models"][1]["size"] == 1);
  const Json models = Json::parse(OpenAiModels(merged));
  CHECK(models["object"] == "list");
  CHECK(models["data"][2]["id"] == "team/c:7b");
  CHECK(models["data"][2]["owned_by"] == "team");
  CHECK(models["data"][2]["created"] == 1714564800);
  CHECK(Json::parse(*OpenAiModelEntry(merged, "team/c:7b"))["owned_by"] == "team");
  CHECK(Json::parse(*OpenAiModelEntry(merged, "a"))["id"] == "a");  // as asked, as Ollama does
  CHECK(Json::parse(*OpenAiModelEntry(merged, "a"))["owned_by"] == "library");
  CHECK_FALSE(OpenAiModelEntry(merged, "zzz").has_value());
}

TEST_CASE("a non-streamed Ollama answer gathers text, thinking and tool calls", "[http_protocol]") {
  OllamaAggregate aggregate;
  OllamaChunk a;
  a.text = "Hi ";
  aggregate.Add(HttpApi::kOllamaChat, a,
                R"({"message":{"role":"assistant","content":"Hi "},"done":false})");
  OllamaChunk b;
  const std::string_view line =
      R"({"message":{"role":"assistant","content":"","thinking":"hmm","tool_calls":
         [{"function":{"name":"f","arguments":{}}}]},"done":false})";
  REQUIRE(ParseOllamaChunk(line, OllamaEndpoint::kChat, &b).ok());
  aggregate.Add(HttpApi::kOllamaChat, b, line);
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
