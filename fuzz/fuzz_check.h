// Shared by the libFuzzer targets of fuzz/: the check that turns a broken invariant into a crash
// libFuzzer keeps, and the invariants of one parsed Ollama NDJSON line, which two targets check.
#ifndef OLLAMA_GATEWAY_FUZZ_FUZZ_CHECK_H_
#define OLLAMA_GATEWAY_FUZZ_FUZZ_CHECK_H_

#include <cstddef>
#include <cstdio>
#include <string_view>

#include "absl/status/status.h"
#include "gateway/ollama_protocol.h"

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

// Parses `line` as an NDJSON chunk of both endpoints and checks what ollama_protocol.h promises:
// a failure is INTERNAL with a short one-line message and leaves the chunk reset; an error line
// carries nothing else; only the final (done) chunk carries a done reason and metrics.
inline void ParseChunkAndCheck(std::string_view line) {
  for (OllamaEndpoint endpoint : {OllamaEndpoint::kGenerate, OllamaEndpoint::kChat}) {
    OllamaChunk chunk;
    chunk.text = "left over from the previous line";
    chunk.eval_count = 7;
    const absl::Status status = ParseOllamaChunk(line, endpoint, &chunk);
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
  }
}

}  // namespace og::fuzz

#endif  // OLLAMA_GATEWAY_FUZZ_FUZZ_CHECK_H_
