// libFuzzer target: how the gateway reads a backend's answer that is not a stream of tokens, an
// HTTP error with its body, mapped to a gRPC status by og::StatusFromOllamaError
// (gateway/upstream/ollama_protocol.h). The body also goes through og::ParseOllamaChunk, as a
// stream's single line would.
//
// Input layout:
//   byte 0       below 0xf0: bytes 0-1 pick a realistic HTTP status, 100..599; else the next 8
//                bytes are any `long` (negative, huge), as a broken transport might report
//   next byte    which backend name (from a fixed list of valid names, the longest allowed too)
//   the rest     the body
//
// Invariants: an answer outside 2xx never maps to OK; the message names the backend and the HTTP
// status, is under 1 KiB and has no control characters whatever the body; the codes callers act
// on (400, 404, 429, 5xx, and the statuses IsRetriableHttpStatus accepts) map as documented.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "fuzz/fuzz_check.h"
#include "gateway/upstream/ollama_protocol.h"

namespace {

// Backend names as the config allows them: 1 to 64 characters of [A-Za-z0-9_.-].
constexpr std::array<std::string_view, 4> kBackends = {
    "gpu-a", "b", "ollama-0.ollama.svc_1",
    "a123456789012345678901234567890123456789012345678901234567890123"};

// Takes the HTTP status from the front of the input; returns false when the input is too short.
bool TakeStatus(std::string_view* input, long* http_status) {
  if (input->size() < 2) return false;
  const auto first = static_cast<unsigned char>((*input)[0]);
  if (first < 0xf0) {
    const unsigned raw = first << 8 | static_cast<unsigned char>((*input)[1]);
    *http_status = 100 + static_cast<long>(raw % 500);
    input->remove_prefix(2);
    return true;
  }
  std::int64_t any = 0;
  if (input->size() < 1 + sizeof(any)) return false;
  std::memcpy(&any, input->data() + 1, sizeof(any));
  *http_status = static_cast<long>(any);
  input->remove_prefix(1 + sizeof(any));
  return true;
}

void CheckCode(long http_status, absl::StatusCode code) {
  if (http_status < 200 || http_status > 299) OG_FUZZ_CHECK(code != absl::StatusCode::kOk);
  if (http_status == 400) OG_FUZZ_CHECK(code == absl::StatusCode::kInvalidArgument);
  if (http_status == 404) OG_FUZZ_CHECK(code == absl::StatusCode::kNotFound);
  if (http_status == 429) OG_FUZZ_CHECK(code == absl::StatusCode::kResourceExhausted);
  if (http_status >= 500 || og::IsRetriableHttpStatus(http_status)) {
    OG_FUZZ_CHECK(code == absl::StatusCode::kUnavailable);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  long http_status = 0;
  if (!TakeStatus(&input, &http_status) || input.empty()) return 0;
  const std::string_view backend = kBackends[static_cast<unsigned char>(input[0]) % 4];
  const std::string_view body = input.substr(1);

  const absl::Status status = og::StatusFromOllamaError(http_status, body, backend);
  CheckCode(http_status, status.code());
  const std::string_view message(status.message().data(), status.message().size());
  OG_FUZZ_CHECK(message.size() < og::fuzz::kMaxMessageBytes);
  OG_FUZZ_CHECK(og::fuzz::HasNoControlCharacters(message));
  const std::string prefix =
      "backend '" + std::string(backend) + "' answered HTTP " + std::to_string(http_status);
  OG_FUZZ_CHECK(message.starts_with(prefix));

  og::fuzz::ParseChunkAndCheck(body);
  return 0;
}
