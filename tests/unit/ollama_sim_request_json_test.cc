// Request validation of the simulator (tools/ollama-sim/request_json.h): Ollama's checks and
// error messages, and the /sim/config knob set.
#include <catch2/catch.hpp>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "tools/ollama-sim/request_json.h"
#include "tools/ollama-sim/schema.h"
#include "tools/ollama-sim/text.h"

namespace {

using namespace og::sim;

Catalog TestCatalog() {
  std::vector<ModelInfo> models;
  for (const char* name : {"llama3.2", "all-minilm"}) {
    models.push_back(DescribeModel(*ParseModelName(name)));
  }
  return Catalog(std::move(models));
}

absl::Status GenerateError(std::string_view body) {
  static const Catalog catalog = TestCatalog();
  return ParseGenerationRequest(body, ReplyKind::kGenerate, catalog).status();
}

absl::Status ChatError(std::string_view body) {
  static const Catalog catalog = TestCatalog();
  return ParseGenerationRequest(body, ReplyKind::kChat, catalog).status();
}

TEST_CASE("an empty body is a missing request body", "[sim]") {
  CHECK(GenerateError("").message() == "missing request body");
  CHECK(GenerateError(" \n").message() == "missing request body");
  CHECK(HttpStatusOf(GenerateError("")) == 400);
}

TEST_CASE("malformed JSON gives Go decoder messages", "[sim]") {
  CHECK(GenerateError("{").message() == "unexpected EOF");
  CHECK(GenerateError("{\"model\":").message() == "unexpected EOF");
  CHECK(GenerateError("{bad}").message() ==
        "invalid character 'b' looking for beginning of object key string");
  CHECK(GenerateError("[1]").message() ==
        "json: cannot unmarshal array into Go value of type api.GenerateRequest");
  CHECK(HttpStatusOf(GenerateError("{")) == 400);
}

TEST_CASE("trailing data after the object is ignored, as Go's decoder does", "[sim]") {
  CHECK(GenerateError(R"({"model":"llama3.2","prompt":"x"} trailing)").ok());
}

TEST_CASE("wrongly typed fields give Go unmarshal messages", "[sim]") {
  CHECK(GenerateError(R"({"model":"llama3.2","prompt":5})").message() ==
        "json: cannot unmarshal number into Go struct field GenerateRequest.prompt of type "
        "string");
  CHECK(ChatError(R"({"model":"llama3.2","messages":"hi"})").message() ==
        "json: cannot unmarshal string into Go struct field ChatRequest.messages of type "
        "[]api.Message");
  CHECK(GenerateError(R"({"model":"llama3.2","stream":"no"})").message() ==
        "json: cannot unmarshal string into Go struct field GenerateRequest.stream of type bool");
}

TEST_CASE("an unknown model is 404 with the name as sent", "[sim]") {
  const absl::Status status = GenerateError(R"({"model":"Nope:1b","prompt":"x"})");
  CHECK(HttpStatusOf(status) == 404);
  CHECK(status.message() == "model 'Nope:1b' not found");
  CHECK(GenerateError(R"({"prompt":"x"})").message() == "model '' not found");
}

TEST_CASE("chat without a model is 400 model is required", "[sim]") {
  const absl::Status status = ChatError(R"({"messages":[]})");
  CHECK(HttpStatusOf(status) == 400);
  CHECK(status.message() == "model is required");
}

TEST_CASE("an embedding-only model does not support generate or chat", "[sim]") {
  CHECK(GenerateError(R"({"model":"all-minilm","prompt":"x"})").message() ==
        "\"all-minilm\" does not support generate");
  CHECK(ChatError(R"({"model":"All-MiniLM","messages":[]})").message() ==
        "\"All-MiniLM\" does not support chat");
}

TEST_CASE("raw mode refuses template, system and context", "[sim]") {
  CHECK(GenerateError(R"({"model":"llama3.2","prompt":"x","raw":true,"system":"s"})").message() ==
        "raw mode does not support template, system, or context");
  CHECK(GenerateError(R"({"model":"llama3.2","prompt":"x","raw":true})").ok());
}

TEST_CASE("a generate request keeps the model string and the prompt", "[sim]") {
  const Catalog catalog = TestCatalog();
  const auto request = ParseGenerationRequest(
      R"({"model":"LLAMA3.2:latest","prompt":"why?","stream":false,"options":{"num_predict":3}})",
      ReplyKind::kGenerate, catalog);
  REQUIRE(request.ok());
  CHECK(request->model_echo == "LLAMA3.2:latest");
  CHECK(request->model == catalog.Find("llama3.2"));
  CHECK(request->prompt == "why?");
  CHECK_FALSE(request->stream);
  CHECK(request->num_predict == 3);
  CHECK_FALSE(request->load_only);
  CHECK_FALSE(request->keep_alive.has_value());
}

TEST_CASE("an empty prompt or empty messages only load the model", "[sim]") {
  const Catalog catalog = TestCatalog();
  CHECK(
      ParseGenerationRequest(R"({"model":"llama3.2"})", ReplyKind::kGenerate, catalog)->load_only);
  CHECK(ParseGenerationRequest(R"({"model":"llama3.2","messages":[]})", ReplyKind::kChat, catalog)
            ->load_only);
}

TEST_CASE("chat's prompt is the content of the last message", "[sim]") {
  const Catalog catalog = TestCatalog();
  const auto request = ParseGenerationRequest(
      R"({"model":"llama3.2","messages":[{"role":"system","content":"be brief"},
          {"role":"user","content":"hello there"}]})",
      ReplyKind::kChat, catalog);
  REQUIRE(request.ok());
  CHECK(request->prompt == "hello there");
  CHECK(request->stream);
}

TEST_CASE("keep_alive takes durations and seconds; negative means forever", "[sim]") {
  using nlohmann::json;
  CHECK(**ParseKeepAlive(json{{"keep_alive", "5m"}}) == std::chrono::minutes(5));
  CHECK(**ParseKeepAlive(json{{"keep_alive", 30}}) == std::chrono::seconds(30));
  CHECK(**ParseKeepAlive(json{{"keep_alive", 0}}) == std::chrono::nanoseconds(0));
  CHECK(**ParseKeepAlive(json{{"keep_alive", "-1m"}}) < std::chrono::nanoseconds(0));
  CHECK_FALSE(ParseKeepAlive(json{{"keep_alive", nullptr}})->has_value());
  CHECK(ParseKeepAlive(json{{"keep_alive", "soon"}}).status().message() ==
        "time: invalid duration \"soon\"");
}

TEST_CASE("a wrongly typed num_predict is a 500, as in Ollama", "[sim]") {
  const absl::Status status =
      GenerateError(R"({"model":"llama3.2","prompt":"x","options":{"num_predict":"3"}})");
  CHECK(HttpStatusOf(status) == 500);
  CHECK(status.message() == "option \"num_predict\" must be of type integer");
}

TEST_CASE("embed requests accept a string or an array of strings", "[sim]") {
  const Catalog catalog = TestCatalog();
  auto one = ParseEmbedRequest(R"({"model":"all-minilm","input":"hi"})", false, catalog);
  REQUIRE(one.ok());
  CHECK(one->inputs == std::vector<std::string>{"hi"});
  auto many = ParseEmbedRequest(R"({"model":"all-minilm","input":["a","b"]})", false, catalog);
  CHECK(many->inputs.size() == 2);
  CHECK(ParseEmbedRequest(R"({"model":"all-minilm","input":["a",1]})", false, catalog)
            .status()
            .message() == "invalid input type");
  const absl::Status missing =
      ParseEmbedRequest(R"({"model":"nope","input":"a"})", false, catalog).status();
  CHECK(HttpStatusOf(missing) == 404);
  CHECK(missing.message() == "model \"nope\" not found, try pulling it first");
  CHECK(ParseEmbedRequest(R"({"model":"all-minilm"})", false, catalog)->inputs.empty());
}

TEST_CASE("knobs are validated by name, type and range", "[sim]") {
  auto update = ParseKnobs(R"({"token_delay_ms":5,"hang":true,"fail_status":503})");
  REQUIRE(update.ok());
  CHECK(update->token_delay_ms == 5);
  CHECK(update->hang == true);
  CHECK(update->fail_status == 503);
  CHECK_FALSE(update->tokens.has_value());
  CHECK(ParseKnobs(R"({"colour":1})").status().message() == "unknown knob 'colour'");
  CHECK_FALSE(ParseKnobs(R"({"tokens":0})").ok());
  CHECK_FALSE(ParseKnobs(R"({"tokens":"5"})").ok());
  CHECK_FALSE(ParseKnobs(R"({"fail_status":200})").ok());
  CHECK_FALSE(ParseKnobs(R"({"hang":1})").ok());
  CHECK_FALSE(ParseKnobs("[]").ok());
}

TEST_CASE("health-check knobs: api_status, api delays and the models override", "[sim]") {
  auto update = ParseKnobs(R"({"api_status":200,"api_delay_ms":10,"ps_delay_ms":20})");
  REQUIRE(update.ok());
  CHECK(update->api_status == 200);
  CHECK(update->api_delay_ms == 10);
  CHECK(update->ps_delay_ms == 20);
  CHECK_FALSE(update->models.has_value());
  CHECK(ParseKnobs(R"({"api_status":0})").ok());
  CHECK(ParseKnobs(R"({"api_status":100})").ok());
  CHECK(ParseKnobs(R"({"api_status":599})").ok());
  for (const char* bad :
       {R"({"api_status":99})", R"({"api_status":600})", R"({"api_status":"500"})",
        R"({"api_delay_ms":-1})", R"({"api_delay_ms":86400001})", R"({"ps_delay_ms":1.5})"}) {
    auto status = ParseKnobs(bad).status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
  }
  CHECK(absl::StrContains(ParseKnobs(R"({"api_status":42})").status().message(), "api_status"));

  auto models = ParseKnobs(R"({"models":["llama3.2","Qwen2.5:7B"]})");
  REQUIRE(models.ok());
  REQUIRE(models->models.has_value());
  REQUIRE(models->models->has_value());
  CHECK(**models->models == std::vector<std::string>{"llama3.2", "Qwen2.5:7B"});
  auto reset = ParseKnobs(R"({"models":null})");
  REQUIRE(reset.ok());
  REQUIRE(reset->models.has_value());
  CHECK_FALSE(reset->models->has_value());
  auto empty = ParseKnobs(R"({"models":[]})");
  REQUIRE(empty.ok());
  CHECK((*empty->models)->empty());
  for (const char* bad : {R"({"models":"llama3.2"})", R"({"models":[1]})", R"({"models":[""]})",
                          R"({"models":["llama3.2:"]})", R"({"models":{}})"}) {
    auto status = ParseKnobs(bad).status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(status.message(), "'models'"));
  }
  // All or none: a bad knob next to good ones gives an error, not a partial update.
  CHECK_FALSE(ParseKnobs(R"({"api_status":500,"models":[2]})").ok());
}

TEST_CASE("malformed-stream knobs are parsed and left unset when absent", "[sim]") {
  auto update = ParseKnobs(
      R"({"garbage_after_tokens":2,"truncate_after_tokens":3,"huge_line_bytes":3145728,)"
      R"("close_mid_chunk_after_tokens":4,"ignore_num_predict":true,"content_type":"text/html"})");
  REQUIRE(update.ok());
  CHECK(update->garbage_after_tokens == 2);
  CHECK(update->truncate_after_tokens == 3);
  CHECK(update->huge_line_bytes == 3145728);
  CHECK(update->close_mid_chunk_after_tokens == 4);
  CHECK(update->ignore_num_predict == true);
  CHECK(update->content_type == "text/html");

  auto none = ParseKnobs(R"({"tokens":5})");
  REQUIRE(none.ok());
  CHECK_FALSE(none->garbage_after_tokens.has_value());
  CHECK_FALSE(none->huge_line_bytes.has_value());
  CHECK_FALSE(none->ignore_num_predict.has_value());
  CHECK_FALSE(none->content_type.has_value());

  // "" turns the content_type override off again; 0 turns the others off.
  auto off = ParseKnobs(R"({"content_type":"","huge_line_bytes":0,"ignore_num_predict":false})");
  REQUIRE(off.ok());
  CHECK(off->content_type == "");
  CHECK(off->huge_line_bytes == 0);
  CHECK(off->ignore_num_predict == false);
  CHECK(ParseKnobs(R"({"huge_line_bytes":67108864})").ok());
  CHECK(ParseKnobs(absl::StrCat(R"({"content_type":")", std::string(256, 'a'), R"("})")).ok());
}

TEST_CASE("malformed-stream knobs out of range or of the wrong type name the knob", "[sim]") {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"garbage_after_tokens":-1})", "garbage_after_tokens"},
      {R"({"truncate_after_tokens":"3"})", "truncate_after_tokens"},
      {R"({"truncate_after_tokens":10000001})", "truncate_after_tokens"},
      {R"({"huge_line_bytes":67108865})", "huge_line_bytes"},
      {R"({"huge_line_bytes":1.5})", "huge_line_bytes"},
      {R"({"close_mid_chunk_after_tokens":true})", "close_mid_chunk_after_tokens"},
      {R"({"ignore_num_predict":1})", "ignore_num_predict"},
      {R"({"ignore_num_predict":"yes"})", "ignore_num_predict"},
      {R"({"content_type":42})", "content_type"},
      {R"({"content_type":null})", "content_type"},
      {R"({"content_type":"text/html\r\nX-Evil: 1"})", "content_type"},
  };
  for (const auto& [body, knob] : cases) {
    INFO(body);
    const absl::Status status = ParseKnobs(body).status();
    CHECK(status.code() == absl::StatusCode::kInvalidArgument);
    CHECK(absl::StrContains(status.message(), absl::StrCat("'", knob, "'")));
  }
  const absl::Status too_long =
      ParseKnobs(absl::StrCat(R"({"content_type":")", std::string(257, 'a'), R"("})")).status();
  CHECK(absl::StrContains(too_long.message(), "'content_type'"));
}

TEST_CASE("a trailing assistant message continues the reply to the message before it", "[sim]") {
  static const Catalog catalog = TestCatalog();
  auto request =
      ParseGenerationRequest(R"({"model":"llama3.2","messages":[{"role":"user","content":"hi"},)"
                             R"({"role":"assistant","content":"[gpu-a] the quick"}]})",
                             ReplyKind::kChat, catalog);
  REQUIRE(request.ok());
  CHECK(request->prompt == "hi");
  CHECK(request->continue_from == 3);
  request = ParseGenerationRequest(
      R"({"model":"llama3.2","messages":[{"role":"assistant","content":"[a] b"}]})",
      ReplyKind::kChat, catalog);
  REQUIRE(request.ok());
  CHECK(request->continue_from == 0);  // nothing before it to answer
}

TEST_CASE("a raw prompt ending with the start of its reply continues it", "[sim]") {
  static const Catalog catalog = TestCatalog();
  const std::string tail = GeneratedText("gpu-a", "Once", 4);
  auto request = ParseGenerationRequest(
      absl::StrCat(R"({"model":"llama3.2","raw":true,"prompt":"Once)", tail, R"("})"),
      ReplyKind::kGenerate, catalog);
  REQUIRE(request.ok());
  CHECK(request->prompt == "Once");
  CHECK(request->continue_from == 4);
  request =
      ParseGenerationRequest(absl::StrCat(R"({"model":"llama3.2","prompt":"Once)", tail, R"("})"),
                             ReplyKind::kGenerate, catalog);
  REQUIRE(request.ok());
  CHECK(request->continue_from == 0);  // templated: the prompt is the user's
}

}  // namespace

namespace {

using namespace og::sim;

Catalog FeatureCatalog() {
  std::vector<ModelInfo> models;
  for (const char* name :
       {"llama3.2", "qwen3:8b", "gpt-oss:20b", "gemma3", "all-minilm", "qwen2.5-coder"}) {
    models.push_back(DescribeModel(*ParseModelName(name)));
  }
  return Catalog(std::move(models));
}

absl::StatusOr<GenerationRequest> Chat(std::string_view body) {
  static const Catalog catalog = FeatureCatalog();
  return ParseGenerationRequest(body, ReplyKind::kChat, catalog);
}

absl::StatusOr<GenerationRequest> Generate(std::string_view body) {
  static const Catalog catalog = FeatureCatalog();
  return ParseGenerationRequest(body, ReplyKind::kGenerate, catalog);
}

TEST_CASE("model names decide thinking and tool support", "[sim]") {
  const Catalog catalog = FeatureCatalog();
  CHECK(catalog.Find("qwen3:8b")->thinking);
  CHECK(catalog.Find("gpt-oss:20b")->thinking);
  CHECK(catalog.Find("gpt-oss:20b")->harmony);
  CHECK_FALSE(catalog.Find("llama3.2")->thinking);
  CHECK(catalog.Find("llama3.2")->tools);
  CHECK_FALSE(catalog.Find("gemma3")->tools);
  CHECK_FALSE(catalog.Find("all-minilm")->tools);
  CHECK(catalog.Find("qwen2.5-coder")->insert);
  CHECK_FALSE(catalog.Find("llama3.2")->insert);
}

TEST_CASE("JSON nested past Go's 10000 levels is refused before parsing", "[sim]") {
  const std::string deep = R"({"model":"llama3.2","prompt":"p","format":)" +
                           std::string(10000, '[') + std::string(10000, ']') + "}";
  CHECK(GenerateError(deep).message() == "invalid character '[' exceeded max depth");
  // Brackets inside strings do not count.
  const std::string quoted =
      R"({"model":"llama3.2","prompt":")" + std::string(20000, '[') + R"(","stream":false})";
  CHECK(Generate(quoted).ok());
}

TEST_CASE("a suffix needs the insert capability", "[sim]") {
  CHECK(Generate(R"({"model":"qwen2.5-coder","prompt":"p","suffix":"s"})").ok());
  const absl::Status refused =
      Generate(R"({"model":"llama3.2","prompt":"p","suffix":"s"})").status();
  CHECK(HttpStatusOf(refused) == 400);
  CHECK(refused.message() == "registry.ollama.ai/library/llama3.2:latest does not support insert");
}

TEST_CASE("a thinking model thinks by default; think picks the level or turns it off", "[sim]") {
  const std::string head = R"({"model":"qwen3:8b","messages":[{"role":"user","content":"hi"}])";
  CHECK(Chat(head + "}")->thinking_tokens == 8);
  CHECK(Chat(head + R"(,"think":false})")->thinking_tokens == 0);
  CHECK(Chat(head + R"(,"think":"low"})")->thinking_tokens == 4);
  CHECK(Chat(head + R"(,"think":"high"})")->thinking_tokens == 16);
  CHECK(Chat(head + R"(,"think":"max"})")->thinking_tokens == 32);
  // gpt-oss (harmony) knows no "max": Ollama maps it to "high".
  CHECK(Generate(R"({"model":"gpt-oss:20b","prompt":"hi","think":"max"})")->thinking_tokens == 16);
}

TEST_CASE("think errors are Ollama's", "[sim]") {
  CHECK(
      Chat(R"({"model":"qwen3:8b","messages":[],"think":"extreme"})").status().message() ==
      R"(invalid think value: "extreme" (must be "high", "medium", "low", "max", true, or false))");
  CHECK(Chat(R"({"model":"qwen3:8b","messages":[],"think":1})").status().message() ==
        R"(think must be a boolean or string ("high", "medium", "low", "max", true, or false))");
  const absl::Status refused =
      Generate(R"({"model":"llama3.2","prompt":"hi","think":true})").status();
  CHECK(HttpStatusOf(refused) == 400);
  CHECK(refused.message() == R"("llama3.2" does not support thinking)");
  CHECK(Generate(R"({"model":"llama3.2","prompt":"hi","think":false})").ok());
}

TEST_CASE("tools make the model call the first tool, unless a tool's result came last", "[sim]") {
  const std::string tools =
      R"("tools":[{"type":"function","function":{"name":"get_weather","parameters":{
         "type":"object","properties":{"unit":{"type":"string","enum":["c","f"]},
         "city":{"type":"string"}},"required":["city","unit"]}}},
         {"type":"function","function":{"name":"other"}}])";
  auto call = Chat(R"({"model":"llama3.2","messages":[{"role":"user","content":"weather?"}],)" +
                   tools + "}");
  REQUIRE(call.ok());
  REQUIRE(call->tool_call.has_value());
  CHECK(call->tool_call->name == "get_weather");
  CHECK(call->tool_call->id == ToolCallId("get_weather", "weather?"));
  CHECK(call->tool_call->arguments ==
        R"({"unit":"c","city":")" + std::string(kWords[(Fnv1a64("weather?") + 1) % 32]) + "\"}");
  auto answer = Chat(R"({"model":"llama3.2","messages":[{"role":"user","content":"weather?"},
      {"role":"assistant","content":"","tool_calls":[]},
      {"role":"tool","tool_name":"get_weather","content":"sunny"}],)" +
                     tools + "}");
  REQUIRE(answer.ok());
  CHECK_FALSE(answer->tool_call.has_value());
  CHECK(answer->prompt == "sunny");
  const absl::Status refused =
      Chat(R"({"model":"gemma3","messages":[{"role":"user","content":"x"}],)" + tools + "}")
          .status();
  CHECK(refused.message() == "registry.ollama.ai/library/gemma3:latest does not support tools");
}

TEST_CASE("format makes the reply a JSON document in pieces", "[sim]") {
  auto json_format = Generate(R"({"model":"llama3.2","prompt":"p","format":"json"})");
  REQUIRE(json_format->format_pieces.has_value());
  std::string doc;
  for (const std::string& piece : *json_format->format_pieces) doc += piece;
  CHECK(doc == JsonForFormatJson(Fnv1a64("p")));
  const absl::Status bad = Generate(R"({"model":"llama3.2","prompt":"p","format":"xml"})").status();
  CHECK(HttpStatusOf(bad) == 500);
  CHECK(bad.message() ==
        R"(invalid format: "\"xml\""; expected "json" or a valid JSON Schema object)");
  // A thinking model's chat thinks first, then gets a second, constrained pass.
  auto chat = Chat(R"({"model":"qwen3:8b","messages":[{"role":"user","content":"p"}],
                       "format":{"type":"object","properties":{"a":{"type":"integer"}}}})");
  CHECK(chat->format_after_thinking);
  CHECK(chat->thinking_tokens == 8);
  // /api/generate constrains from the first token: no thinking.
  CHECK(Generate(R"({"model":"qwen3:8b","prompt":"p","format":"json"})")->thinking_tokens == 0);
}

TEST_CASE("top_logprobs must be between 0 and 20, checked before the model", "[sim]") {
  CHECK(Generate(R"({"model":"nope","prompt":"p","top_logprobs":21})").status().message() ==
        "top_logprobs must be between 0 and 20");
  auto ok = Chat(R"({"model":"llama3.2","messages":[],"logprobs":true,"top_logprobs":3})");
  CHECK(ok->logprobs);
  CHECK(ok->top_logprobs == 3);
}

}  // namespace
