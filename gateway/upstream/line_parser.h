// The simdjson parser a backend line is read with (ParseOllamaChunk, and the HTTP front door's
// reading of compatibility answers): one kept per thread for the common short line, one of its
// own for a long line.
#ifndef OLLAMA_GATEWAY_GATEWAY_UPSTREAM_LINE_PARSER_H_
#define OLLAMA_GATEWAY_GATEWAY_UPSTREAM_LINE_PARSER_H_

#include <simdjson.h>

#include <cstddef>
#include <optional>

namespace og {

// Lines up to this long are parsed by a parser kept per thread, which allocates nothing once
// its buffers fit the longest such line; longer ones by a parser of their own, freed with the
// line. simdjson's buffers take about 15 bytes per byte of input (the tape, the strings, the
// structural index, the padded copy), and the rare long line (the final line of /api/generate
// carries the conversation's context, a number per token) should not pin megabytes to a thread.
inline constexpr std::size_t kLongestLineForReusedParser = 16 * 1024;

// The parser for a line of `size` bytes, nesting at most `max_depth` levels: the calling thread's,
// or `*own` (emplaced here) for a long line. Null when its buffers cannot be allocated. A reload
// that changes the limit reallocates each thread's parser once.
inline simdjson::dom::parser* LineParser(std::size_t size, int max_depth,
                                         std::optional<simdjson::dom::parser>* own) {
  thread_local simdjson::dom::parser reused;
  simdjson::dom::parser& parser = size <= kLongestLineForReusedParser ? reused : own->emplace();
  const std::size_t depth = static_cast<std::size_t>(max_depth > 0 ? max_depth : 1);
  if (parser.max_depth() != depth &&
      parser.allocate(parser.capacity(), depth) != simdjson::SUCCESS) {
    return nullptr;
  }
  return &parser;
}

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_UPSTREAM_LINE_PARSER_H_
