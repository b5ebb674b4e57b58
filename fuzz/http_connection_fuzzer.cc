// libFuzzer target: what a client sends to og::http's server, through the request reader its
// connections use (http/request_reader.h), fed as a connection feeds it: the bytes arrive in
// pieces cut where the input says, the unconsumed remainder stays buffered, complete requests are
// taken and the next (pipelined) one is read from what follows.
//
// Input layout, so that mutations move the cuts as well as the stream:
//   byte 0       the limits: bit 0 set means small ones (256 header bytes, 64 body bytes) to
//                reach the 431 and 413 paths, else the server's defaults
//   byte 1       N, the number of piece sizes that follow (0..15; 0 feeds the stream whole)
//   N bytes      piece sizes 0..255, times 64 when bit 1 of byte 0 is set (to get past the caps
//                in few pieces), used in turn until the stream is consumed
//   the rest     the stream
//
// Invariants: no crash, no leak (ASan); Feed never consumes more than it was given; after
// kNeedMore at most max_pending() bytes stay buffered; a refusal is 400, 413 or 431; a complete
// request has a body within max_body_bytes; kHeaderDone comes once per request, before the end.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "http/request_reader.h"

namespace {

using og::http::internal::RequestLimits;
using og::http::internal::RequestReader;
using Progress = RequestReader::Progress;

constexpr std::size_t kMaxPieceSizes = 16;

class Client {
 public:
  explicit Client(RequestLimits limits) : limits_(limits), reader_(limits) {}

  // Buffers `piece` and reads what it can, as Connection::ParseBuffered does. False once the
  // reader refused a request (the connection would answer and close).
  bool Arrive(std::string_view piece) {
    buffered_.append(piece);
    while (true) {
      // A heap copy of exactly the buffered bytes: a read past them is an ASan report.
      const std::string copy(buffered_);
      std::size_t consumed = 0;
      const Progress progress = reader_.Feed(copy, &consumed);
      OG_FUZZ_CHECK(consumed <= copy.size());
      buffered_.erase(0, consumed);
      switch (progress) {
        case Progress::kNeedMore:
          OG_FUZZ_CHECK(reader_.error_status() == 0);
          OG_FUZZ_CHECK(buffered_.size() <= reader_.max_pending());
          return true;
        case Progress::kError: {
          const int status = reader_.error_status();
          OG_FUZZ_CHECK(status == 400 || status == 413 || status == 431);
          return false;
        }
        case Progress::kHeaderDone:
          OG_FUZZ_CHECK(!saw_header_);
          OG_FUZZ_CHECK(reader_.header_done());
          saw_header_ = true;
          // What header_check would see.
          OG_FUZZ_CHECK(reader_.head().body().empty());
          break;
        case Progress::kRequestDone: {
          OG_FUZZ_CHECK(saw_header_);
          const RequestReader::Message message = reader_.Release();
          OG_FUZZ_CHECK(message.body().size() <= limits_.max_body_bytes);
          reader_.Reset();
          saw_header_ = false;
          break;
        }
      }
    }
  }

 private:
  const RequestLimits limits_;
  RequestReader reader_;
  std::string buffered_;
  bool saw_header_ = false;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  RequestLimits limits;
  if ((data[0] & 1) != 0) limits = RequestLimits{256, 64};
  const std::size_t scale = (data[0] & 2) != 0 ? 64 : 1;
  const std::size_t size_count = std::min<std::size_t>(data[1] % kMaxPieceSizes, size - 2);
  const std::uint8_t* sizes = data + 2;
  const std::string_view stream(reinterpret_cast<const char*>(sizes + size_count),
                                size - 2 - size_count);

  Client client(limits);
  bool any_nonzero = false;
  for (std::size_t i = 0; i < size_count; ++i) any_nonzero |= sizes[i] != 0;
  if (!any_nonzero) {
    client.Arrive(stream);
    return 0;
  }
  for (std::size_t at = 0, i = 0; at < stream.size(); i = (i + 1) % size_count) {
    const std::size_t take = std::min<std::size_t>(sizes[i] * scale, stream.size() - at);
    if (!client.Arrive(stream.substr(at, take))) break;
    at += take;
  }
  return 0;
}
