// libFuzzer target: the NDJSON stream of an Ollama backend, as the upstream client sees it. The
// bytes go through og::NdjsonSplitter (gateway/upstream/ndjson.h) cut into chunks where the input
// says, and every line through og::ParseOllamaChunk for both endpoints.
//
// Input layout, so that mutations move the cuts as well as the stream:
//   byte 0       the line limit: bit 7 set means the gateway's default (8 MiB), else a small
//                limit of 1 + 8 * (byte & 0x7f) bytes, to reach the too-long paths
//   byte 1       N, the number of chunk sizes that follow (0..15; 0 feeds the stream whole)
//   N bytes      chunk sizes 0..255, used in turn until the stream is consumed (0 feeds an empty
//                chunk)
//   the rest     the stream
//
// Invariants: the lines, the final status and the pending tail are the same however the stream
// is cut (compared with feeding it whole); no line is longer than the limit, holds a '\n' or is
// blank; each line parses as ParseChunkAndCheck (fuzz_check.h) requires.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "fuzz/fuzz_check.h"
#include "gateway/upstream/ndjson.h"

namespace {

constexpr std::size_t kDefaultLineLimit = 8u << 20;
constexpr std::size_t kMaxChunkSizes = 16;

struct SplitResult {
  std::vector<std::string> lines;
  absl::Status status;
  std::string pending;
};

// Feeds `chunks` in order, stopping at the first error (the splitter must not be fed after one).
// Each chunk is fed from a heap copy of exactly its size, freed right after the call: a line
// kept as a view into an earlier chunk, or a read past a chunk's end, is then an ASan report.
SplitResult Split(std::size_t limit, const std::vector<std::string_view>& chunks) {
  SplitResult result;
  og::NdjsonSplitter splitter(limit);
  for (std::string_view chunk : chunks) {
    const std::vector<char> copy(chunk.begin(), chunk.end());
    result.status = splitter.Feed(std::string_view(copy.data(), copy.size()),
                                  [&](std::string_view line) { result.lines.emplace_back(line); });
    if (!result.status.ok()) return result;
  }
  result.pending = std::string(splitter.pending());
  return result;
}

void CheckLine(std::string_view line, std::size_t limit) {
  OG_FUZZ_CHECK(line.size() <= limit);
  OG_FUZZ_CHECK(line.find('\n') == std::string_view::npos);
  OG_FUZZ_CHECK(line.find_first_not_of(" \t") != std::string_view::npos);
  og::fuzz::ParseChunkAndCheck(line);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t limit = (data[0] & 0x80) != 0 ? kDefaultLineLimit : 1 + 8 * (data[0] & 0x7f);
  const std::size_t size_count = std::min<std::size_t>(data[1] % kMaxChunkSizes, size - 2);
  const std::uint8_t* sizes = data + 2;
  const std::string_view stream(reinterpret_cast<const char*>(sizes + size_count),
                                size - 2 - size_count);

  const SplitResult whole = Split(limit, {stream});

  std::vector<std::string_view> chunks;
  bool any_nonzero = false;
  for (std::size_t i = 0; i < size_count; ++i) any_nonzero |= sizes[i] != 0;
  if (!any_nonzero) {
    chunks.push_back(stream);
  } else {
    for (std::size_t at = 0, i = 0; at < stream.size(); i = (i + 1) % size_count) {
      const std::size_t take = std::min<std::size_t>(sizes[i], stream.size() - at);
      chunks.push_back(stream.substr(at, take));
      at += take;
    }
  }
  const SplitResult cut = Split(limit, chunks);

  OG_FUZZ_CHECK(cut.lines == whole.lines);
  OG_FUZZ_CHECK(cut.status == whole.status);
  OG_FUZZ_CHECK(cut.pending == whole.pending);
  OG_FUZZ_CHECK(whole.pending.size() <= limit);
  if (!whole.status.ok()) {
    OG_FUZZ_CHECK(whole.status.code() == absl::StatusCode::kResourceExhausted);
  }
  for (const std::string& line : whole.lines) CheckLine(line, limit);
  return 0;
}
