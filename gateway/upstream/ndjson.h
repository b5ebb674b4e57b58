// Splits a byte stream into NDJSON lines, however the transport cut it into chunks (a line may
// arrive one byte at a time or many lines in one read), and tells which content types such a
// stream may come with. Pure: no I/O, no JSON parsing.
#ifndef OLLAMA_GATEWAY_GATEWAY_UPSTREAM_NDJSON_H_
#define OLLAMA_GATEWAY_GATEWAY_UPSTREAM_NDJSON_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace og {

// Whether `content_type`'s media type is `lower` (a lower-case type/subtype). Parameters such as
// `; charset=utf-8`, spaces around the type and letter case do not matter (RFC 9110, 8.3.1).
inline bool MediaTypeIs(std::string_view content_type, std::string_view lower) {
  // Debian's Abseil has its own string_view, so absl's ASCII helpers do not take ours.
  std::string_view media_type = content_type.substr(0, content_type.find(';'));
  const auto is_space = [](char c) { return c == ' ' || c == '\t'; };
  while (!media_type.empty() && is_space(media_type.front())) media_type.remove_prefix(1);
  while (!media_type.empty() && is_space(media_type.back())) media_type.remove_suffix(1);
  if (media_type.size() != lower.size()) return false;
  for (std::size_t i = 0; i < lower.size(); ++i) {
    const char c = media_type[i];
    if ((c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c) != lower[i]) return false;
  }
  return true;
}

// True for the media types whose bodies an NdjsonSplitter may read: application/x-ndjson (a
// stream of objects, as Ollama streams) and application/json (one object, which is one NDJSON
// line: Ollama's non-streamed and load replies).
inline bool IsNdjsonContentType(std::string_view content_type) {
  return MediaTypeIs(content_type, "application/x-ndjson") ||
         MediaTypeIs(content_type, "application/json");
}

// True for text/event-stream (server-sent events: the streams of Ollama's OpenAI and Anthropic
// compatibility endpoints).
inline bool IsEventStreamContentType(std::string_view content_type) {
  return MediaTypeIs(content_type, "text/event-stream");
}

class NdjsonSplitter {
 public:
  // `keep_blank_lines`: blank lines are handed out too (as empty lines), for server-sent
  // events, where a blank line ends an event.
  explicit NdjsonSplitter(std::size_t max_line_bytes, bool keep_blank_lines = false)
      : max_line_bytes_(max_line_bytes), keep_blank_lines_(keep_blank_lines) {}

  // Feeds the next bytes; calls on_line(std::string_view) for every complete line, without its
  // '\n' (and without a '\r' before it). Blank lines are skipped (unless kept). A line longer than
  // max_line_bytes fails with RESOURCE_EXHAUSTED and the splitter must not be fed again.
  // Lines handed out point into `data` when they lie wholly in it, so the common case copies
  // nothing; they are valid only during the call.
  template <typename OnLine>
  absl::Status Feed(std::string_view data, OnLine&& on_line) {
    while (!data.empty()) {
      const std::size_t nl = data.find('\n');
      if (nl == std::string_view::npos) return Keep(data);
      if (partial_.empty()) {
        if (nl > max_line_bytes_) return TooLong();
        Emit(data.substr(0, nl), on_line);
      } else {
        if (partial_.size() + nl > max_line_bytes_) return TooLong();
        partial_.append(data.data(), nl);
        Emit(partial_, on_line);
        partial_.clear();
      }
      data.remove_prefix(nl + 1);
    }
    return absl::OkStatus();
  }

  // Bytes of an unfinished last line (the stream ended without its '\n').
  std::string_view pending() const { return partial_; }

 private:
  absl::Status Keep(std::string_view rest) {
    if (partial_.size() + rest.size() > max_line_bytes_) return TooLong();
    partial_.append(rest.data(), rest.size());
    return absl::OkStatus();
  }

  absl::Status TooLong() const {
    return absl::ResourceExhaustedError(
        absl::StrCat("backend sent an NDJSON line longer than ", max_line_bytes_, " bytes"));
  }

  template <typename OnLine>
  void Emit(std::string_view line, OnLine& on_line) const {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") == std::string_view::npos) {
      if (keep_blank_lines_) on_line(std::string_view());
      return;
    }
    on_line(line);
  }

  const std::size_t max_line_bytes_;
  const bool keep_blank_lines_;
  std::string partial_;
};

}  // namespace og

#endif  // OLLAMA_GATEWAY_GATEWAY_UPSTREAM_NDJSON_H_
