// Shared by the libFuzzer targets of fuzz/: the check that turns a broken invariant into a crash
// libFuzzer keeps, and the invariants of one parsed Ollama NDJSON line, which two targets check.
#ifndef OLLAMA_GATEWAY_FUZZ_FUZZ_CHECK_H_
#define OLLAMA_GATEWAY_FUZZ_FUZZ_CHECK_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "gateway/frontdoor/http/answers.h"
#include "gateway/upstream/ollama_protocol.h"

// Traps (a crash libFuzzer reports, with the input saved) when `condition` is false, after
// printing which invariant broke: a bare trap in a stack trace does not say which check it was.
// A macro so that the message carries the condition's text and line.
#define OG_FUZZ_CHECK(condition)                                                               \
  do {                                                                                         \
    if (!(condition)) {                                                                        \
      std::fprintf(stderr, "invariant broken at %s:%d: %s\n", __FILE__, __LINE__, #condition); \
      __builtin_trap();                                                                        \
    }                                                                                          \
  } while (false)

namespace og::fuzz {

// Status messages go to callers and logs: they must stay short and on one line.
constexpr std::size_t kMaxMessageBytes = 1024;

// True when `text` has no ASCII control character (C0 or DEL).
inline bool HasNoControlCharacters(std::string_view text) {
  for (char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7f) return false;
  }
  return true;
}

// The differential oracle of ParseOllamaChunk: `line` read as the gateway read it before it parsed
// with simdjson, through nlohmann's DOM, looked up field by field. nullopt when nlohmann does not
// accept the line as a JSON object. Written apart from ParseOllamaChunk's own reading on purpose
// (std::map lookups, not one pass over the members), so that the two check each other.
// Lines nesting deeper than ParseOllamaChunk's default limit (limits.max_json_depth, 64) are
// refused too; nlohmann's callback reports each array's and object's depth (0 for the root).
inline std::optional<OllamaChunk> ReadWithNlohmann(std::string_view line, OllamaEndpoint endpoint) {
  using Json = nlohmann::json;
  int deepest = 0;
  const Json::parser_callback_t depth_of = [&deepest](int depth, Json::parse_event_t event, Json&) {
    if (event == Json::parse_event_t::object_start || event == Json::parse_event_t::array_start) {
      deepest = std::max(deepest, depth + 1);
    }
    return true;
  };
  const Json j = Json::parse(line.begin(), line.end(), depth_of, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object() || deepest > 64) return std::nullopt;
  const auto string_field = [](const Json& object, const char* key) {
    const auto it = object.find(key);
    return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
  };
  const auto int_field = [&j](const char* key) {
    const auto it = j.find(key);
    return it != j.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
  };
  OllamaChunk chunk;
  chunk.error = string_field(j, "error");
  if (!chunk.error.empty()) return chunk;
  if (endpoint == OllamaEndpoint::kChat) {
    const auto message = j.find("message");
    if (message != j.end() && message->is_object()) {
      chunk.text = string_field(*message, "content");
      chunk.thinking = string_field(*message, "thinking");
    }
  } else {
    chunk.text = string_field(j, "response");
    chunk.thinking = string_field(j, "thinking");
  }
  const auto done = j.find("done");
  chunk.done = done != j.end() && done->is_boolean() && done->get<bool>();
  if (chunk.done) {
    chunk.done_reason = string_field(j, "done_reason");
    chunk.prompt_eval_count = int_field("prompt_eval_count");
    chunk.eval_count = int_field("eval_count");
    chunk.total_duration = int_field("total_duration");
    chunk.load_duration = int_field("load_duration");
    chunk.prompt_eval_duration = int_field("prompt_eval_duration");
    chunk.eval_duration = int_field("eval_duration");
  }
  return chunk;
}

// Parses `line` as an NDJSON chunk of both endpoints and checks what ollama_protocol.h promises:
// a failure is INTERNAL with a short one-line message and leaves the chunk reset; an error line
// carries nothing else; only the final (done) chunk carries a done reason and metrics. And that
// it agrees with ReadWithNlohmann: the same lines accepted (simdjson, which parses them now, must
// not accept a line nlohmann refuses, invalid UTF-8 included: both refuse it), and from each the
// same fields, `response` of a generate line first among them.
// A final line as the end of a non-streamed answer (OllamaAggregate::Body splices the answer
// into it): whatever the line, the body is one object with the answer in it, written once and
// escaped as Ollama escapes it, and the splice reads only within the line (ASan watches).
inline void CheckAnswerSplice(std::string_view line, OllamaEndpoint endpoint) {
  const HttpApi api =
      endpoint == OllamaEndpoint::kChat ? HttpApi::kOllamaChat : HttpApi::kOllamaGenerate;
  OllamaAggregate aggregate;
  OllamaChunk token;
  token.text = "a \"quoted\" <text>\n";
  token.thinking = "t";
  aggregate.Add(api, token, R"({"done":false})");
  OllamaChunk done;
  done.done = true;
  aggregate.Add(api, done, line);
  const std::string body = aggregate.Body(api);
  OG_FUZZ_CHECK(body.size() >= 2 && body.front() == '{' && body.back() == '}');
  const std::string_view escaped = R"("a \"quoted\" \u003ctext\u003e\n")";
  const auto count = [](std::string_view text, std::string_view what) {
    std::size_t n = 0;
    for (std::size_t at = text.find(what); at != text.npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  // Spliced: the answer once, plus at most what the line held (members it replaced are gone);
  // the DOM fallback writes it with nlohmann's escapes (`<` as it is), and exactly so.
  const std::size_t answers = count(body, escaped);
  if (answers == 0) {
    OG_FUZZ_CHECK(body == aggregate.RebuiltBody(api));
  } else {
    OG_FUZZ_CHECK(answers <= count(line, escaped) + 1);
  }
}

inline void ParseChunkAndCheck(std::string_view line) {
  for (OllamaEndpoint endpoint : {OllamaEndpoint::kGenerate, OllamaEndpoint::kChat}) {
    OllamaChunk chunk;
    chunk.text = "left over from the previous line";
    chunk.eval_count = 7;
    const absl::Status status = ParseOllamaChunk(line, endpoint, &chunk);
    const std::optional<OllamaChunk> expected = ReadWithNlohmann(line, endpoint);
    OG_FUZZ_CHECK(status.ok() == expected.has_value());
    if (expected.has_value()) {
      OG_FUZZ_CHECK(chunk.text == expected->text);
      OG_FUZZ_CHECK(chunk.thinking == expected->thinking);
      OG_FUZZ_CHECK(chunk.error == expected->error);
      OG_FUZZ_CHECK(chunk.done == expected->done);
      OG_FUZZ_CHECK(chunk.done_reason == expected->done_reason);
      OG_FUZZ_CHECK(chunk.prompt_eval_count == expected->prompt_eval_count);
      OG_FUZZ_CHECK(chunk.eval_count == expected->eval_count);
      OG_FUZZ_CHECK(chunk.total_duration == expected->total_duration);
      OG_FUZZ_CHECK(chunk.load_duration == expected->load_duration);
      OG_FUZZ_CHECK(chunk.prompt_eval_duration == expected->prompt_eval_duration);
      OG_FUZZ_CHECK(chunk.eval_duration == expected->eval_duration);
    }
    const std::string_view message(status.message().data(), status.message().size());
    if (!status.ok()) {
      OG_FUZZ_CHECK(status.code() == absl::StatusCode::kInternal);
      OG_FUZZ_CHECK(message.size() < kMaxMessageBytes);
      OG_FUZZ_CHECK(HasNoControlCharacters(message));
    }
    const bool carries_nothing = !status.ok() || !chunk.error.empty();
    if (carries_nothing) {
      OG_FUZZ_CHECK(chunk.text.empty() && chunk.thinking.empty() && !chunk.done);
    }
    if (carries_nothing || !chunk.done) {
      OG_FUZZ_CHECK(chunk.done_reason.empty());
      OG_FUZZ_CHECK(chunk.prompt_eval_count == 0 && chunk.eval_count == 0);
      OG_FUZZ_CHECK(chunk.total_duration == 0 && chunk.load_duration == 0);
      OG_FUZZ_CHECK(chunk.prompt_eval_duration == 0 && chunk.eval_duration == 0);
    }
    if (!status.ok()) OG_FUZZ_CHECK(chunk.error.empty());
    if (status.ok() && chunk.done) CheckAnswerSplice(line, endpoint);
  }
}

}  // namespace og::fuzz

#endif  // OLLAMA_GATEWAY_FUZZ_FUZZ_CHECK_H_
