// Hand-written JSON of the simulator (tools/ollama-sim/wire_json.h): Go-compatible string
// escaping, timestamps, and the NDJSON line shapes of generate and chat.
#include <catch2/catch.hpp>
#include <chrono>
#include <nlohmann/json.hpp>

#include "tools/ollama-sim/wire_json.h"

namespace {

using namespace og::sim;
using nlohmann::json;

std::string Quote(std::string_view text) {
  std::string out;
  AppendJsonString(out, text);
  return out;
}

std::chrono::system_clock::time_point At(std::int64_t seconds, std::int64_t nanos) {
  return std::chrono::system_clock::time_point(
      std::chrono::duration_cast<std::chrono::system_clock::duration>(
          std::chrono::seconds(seconds) + std::chrono::nanoseconds(nanos)));
}

TEST_CASE("quotes and backslashes are escaped", "[sim]") {
  CHECK(Quote("plain") == "\"plain\"");
  CHECK(Quote("say \"hi\"") == R"("say \"hi\"")");
  CHECK(Quote("C:\\path\\") == R"("C:\\path\\")");
}

TEST_CASE("control characters are escaped by name or as \\u00XX", "[sim]") {
  CHECK(Quote("a\nb\rc\td") == R"("a\nb\rc\td")");
  CHECK(Quote("\b\f") == R"("\b\f")");
  CHECK(Quote(std::string("\x01\x1f\x00", 3)) == R"("\u0001\u001f\u0000")");
  CHECK(Quote("\x7f") == "\"\x7f\"");  // DEL is not escaped, as in Go
}

TEST_CASE("HTML-sensitive characters are escaped like Go's json.Marshal", "[sim]") {
  CHECK(Quote("<b>&") == R"("\u003cb\u003e\u0026")");
}

TEST_CASE("valid UTF-8 passes through; U+2028 and U+2029 are escaped", "[sim]") {
  CHECK(Quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
        "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
  CHECK(Quote("a\xe2\x80\xa8"
              "b\xe2\x80\xa9") == R"("a\u2028b\u2029")");
}

TEST_CASE("bytes that are not valid UTF-8 become U+FFFD", "[sim]") {
  CHECK(Quote("a\xff"
              "b") == R"("a\ufffdb")");
  CHECK(Quote("\xc3") == R"("\ufffd")");                                // truncated sequence
  CHECK(Quote("\xc0\x80") == R"("\ufffd\ufffd")");                      // overlong encoding of NUL
  CHECK(Quote("\xed\xa0\x80") == R"("\ufffd\ufffd\ufffd")");            // UTF-16 surrogate
  CHECK(Quote("\xf4\x90\x80\x80") == R"("\ufffd\ufffd\ufffd\ufffd")");  // past U+10FFFF
}

TEST_CASE("escaped strings parse back to the original", "[sim]") {
  const std::string samples[] = {"",
                                 "x",
                                 "\"\\/\b\f\n\r\t",
                                 std::string("\0\x01 z", 4),
                                 "<tag attr=\"1\">&amp;</tag>",
                                 "\xe6\x97\xa5\xe6\x9c\xac",
                                 "\xf0\x9f\x8e\x89 party"};
  for (const std::string& sample : samples) {
    CHECK(json::parse(Quote(sample)).get<std::string>() == sample);
  }
}

TEST_CASE("timestamps are RFC 3339 UTC with trimmed nanoseconds", "[sim]") {
  CHECK(Timestamp(At(1761498924, 97767000)) == "\"2025-10-26T17:15:24.097767Z\"");
  CHECK(Timestamp(At(1761498924, 0)) == "\"2025-10-26T17:15:24Z\"");
  CHECK(Timestamp(At(1761498924, 5)) == "\"2025-10-26T17:15:24.000000005Z\"");
  std::string far;
  AppendUnixTimestamp(far, 11017570815, 0);  // beyond system_clock's range
  CHECK(far == "\"2319-02-19T04:20:15Z\"");
}

TEST_CASE("a generate token line has Ollama's shape and ends with a newline", "[sim]") {
  std::string line;
  AppendTokenLine(line, ReplyKind::kGenerate, "llama3.2", At(1735689600, 100000000), " sky");
  CHECK(line ==
        "{\"model\":\"llama3.2\",\"created_at\":\"2025-01-01T00:00:00.1Z\",\"response\":\" sky\","
        "\"done\":false}\n");
}

TEST_CASE("a chat token line carries an assistant message", "[sim]") {
  std::string line;
  AppendTokenLine(line, ReplyKind::kChat, "Llama3.2:Latest", At(1735689600, 0), "Hi \"you\"");
  REQUIRE(line.back() == '\n');
  const json parsed = json::parse(line);
  CHECK(parsed["model"] == "Llama3.2:Latest");
  CHECK(parsed["message"] == json{{"role", "assistant"}, {"content", "Hi \"you\""}});
  CHECK(parsed["done"] == false);
  CHECK_FALSE(parsed.contains("done_reason"));
  CHECK_FALSE(parsed.contains("eval_count"));
}

TEST_CASE("the final generate object has done_reason, context and six metrics", "[sim]") {
  Metrics metrics{912000000, 2100000, 26, 130000000, 40, 760000000};
  const std::vector<std::uint32_t> context = {1, 2, 3};
  std::string out;
  AppendFinalObject(out, ReplyKind::kGenerate, "m", At(1735689600, 300000000), "", "stop", &context,
                    metrics);
  CHECK(
      out ==
      "{\"model\":\"m\",\"created_at\":\"2025-01-01T00:00:00.3Z\",\"response\":\"\",\"done\":true,"
      "\"done_reason\":\"stop\",\"context\":[1,2,3],\"total_duration\":912000000,"
      "\"load_duration\":2100000,\"prompt_eval_count\":26,\"prompt_eval_duration\":130000000,"
      "\"eval_count\":40,\"eval_duration\":760000000}");
}

TEST_CASE("the final chat object has no context", "[sim]") {
  std::string out;
  AppendFinalObject(out, ReplyKind::kChat, "m", At(0, 0), "whole text", "length", nullptr,
                    Metrics{1, 1, 1, 1, 1, 1});
  const json parsed = json::parse(out);
  CHECK(parsed["message"]["content"] == "whole text");
  CHECK(parsed["done_reason"] == "length");
  CHECK_FALSE(parsed.contains("context"));
}

TEST_CASE("load replies and errors are single JSON objects", "[sim]") {
  const json load = json::parse(LoadReply(ReplyKind::kGenerate, "m", At(0, 0), "load"));
  CHECK(load == json::parse(R"({"model":"m","created_at":"1970-01-01T00:00:00Z","response":"",
                               "done":true,"done_reason":"load"})"));
  const json unload = json::parse(LoadReply(ReplyKind::kChat, "m", At(0, 0), "unload"));
  CHECK(unload["message"]["content"] == "");
  CHECK(unload["done_reason"] == "unload");
  CHECK(ErrorJson("model 'x' not found") == R"({"error":"model 'x' not found"})");
}

}  // namespace
