#include "http/request_reader.h"

#include <algorithm>
#include <boost/asio/buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <cstdint>

namespace og::http::internal {
namespace {

namespace beast = boost::beast;

constexpr std::size_t kShortestLastChunk = 5;  // "0\r\n\r\n"

int StatusOf(const boost::system::error_code& ec) {
  if (ec == beast::http::error::body_limit) return 413;
  if (ec == beast::http::error::header_limit) return 431;
  return 400;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

RequestReader::RequestReader(RequestLimits limits) : limits_(limits) { Reset(); }

void RequestReader::Reset() {
  parser_.emplace();
  // Not eager until the head is checked: the head must be judged (framing, the server's
  // header_check) before a single body byte is parsed.
  parser_->eager(false);
  parser_->header_limit(
      static_cast<std::uint32_t>(std::min<std::size_t>(limits_.max_header_bytes, UINT32_MAX)));
  parser_->body_limit(static_cast<std::uint64_t>(limits_.max_body_bytes));
  header_reported_ = false;
  error_status_ = 0;
}

RequestReader::Progress RequestReader::Feed(std::string_view data, std::size_t* consumed) {
  *consumed = 0;
  if (error_status_ != 0) return Progress::kError;
  while (!data.empty() && !parser_->is_done()) {
    // Boost 1.74's parser asserts that a final chunk it has seen once is re-parsed from at least
    // 5 bytes, but an empty chunked body ("0\r\n", then one more byte) reaches it with 4: with
    // assertions on (Debug, sanitizer and fuzz builds) a client could abort the process. Fixed
    // upstream in 2024 (boostorg/beast#2861). Holding back fewer than 5 bytes of a chunked
    // body never stalls a request: its last put always holds a whole final chunk, "0\r\n\r\n"
    // or longer, since the parser consumes no part of that chunk before the whole of it.
    if (header_reported_ && parser_->chunked() && data.size() < kShortestLastChunk) break;
    boost::system::error_code ec;
    const std::size_t used = parser_->put(boost::asio::buffer(data.data(), data.size()), ec);
    data.remove_prefix(used);
    *consumed += used;
    if (ec && ec != beast::http::error::need_more) return Fail(StatusOf(ec));
    if (!header_reported_ && parser_->is_header_done()) {
      header_reported_ = true;
      if (const int status = CheckFraming(); status != 0) return Fail(status);
      parser_->eager(true);
      return Progress::kHeaderDone;
    }
    if (ec == beast::http::error::need_more || used == 0) break;
  }
  if (header_reported_ && parser_->is_done()) return Progress::kRequestDone;
  if (const int status = CheckRemainder(data); status != 0) return Fail(status);
  return Progress::kNeedMore;
}

std::size_t RequestReader::max_pending() const {
  // A chunk-size line may follow the CRLF that ends the previous chunk's data, and the trailer
  // block follows the last chunk's line.
  return std::max(limits_.max_header_bytes, 2 + kMaxChunkLineBytes + 2 + kMaxTrailerBytes);
}

bool RequestReader::LimitBody(std::size_t max_body_bytes) {
  const std::uint64_t limit = std::min(max_body_bytes, limits_.max_body_bytes);
  const boost::optional<std::uint64_t> length = parser_->content_length();
  if (length && *length > limit) {
    Fail(413);
    return false;
  }
  // Before any body byte is parsed, Beast takes a new limit (it counts chunks down from it).
  parser_->body_limit(limit);
  return true;
}

RequestReader::Progress RequestReader::Fail(int status) {
  error_status_ = status;
  return Progress::kError;
}

int RequestReader::CheckFraming() const {
  const Message& head = parser_->get();
  const auto codings = head.equal_range(beast::http::field::transfer_encoding);
  if (codings.first == codings.second) return 0;
  // HTTP/1.0 has no transfer codings, and with Content-Length too the two framings disagree about
  // where the body ends, which is how requests are smuggled past a proxy: refuse both.
  if (head.version() < 11) return 400;
  if (head.count(beast::http::field::content_length) > 0) return 400;
  int count = 0;
  bool chunked = false;
  for (auto field = codings.first; field != codings.second; ++field) {
    std::string_view list(field->value().data(), field->value().size());
    while (true) {
      const std::size_t comma = list.find(',');
      const std::string_view coding = TrimOws(list.substr(0, comma));
      if (!coding.empty()) {
        ++count;
        chunked = beast::iequals(beast::string_view(coding.data(), coding.size()), "chunked");
      }
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  return count == 1 && chunked ? 0 : 400;
}

int RequestReader::CheckRemainder(std::string_view rest) const {
  if (!header_reported_) return rest.size() > limits_.max_header_bytes ? 431 : 0;
  // The body phase. The eager parser consumed every body byte, so `rest` is an unfinished chunk
  // header: the CRLF ending the previous chunk's data, the size line, and for the last chunk
  // the trailer block.
  if (rest.substr(0, 2) == "\r\n") rest.remove_prefix(2);
  const std::size_t eol = rest.find("\r\n");
  if (eol == std::string_view::npos) return rest.size() > kMaxChunkLineBytes ? 400 : 0;
  if (eol > kMaxChunkLineBytes) return 400;
  return rest.size() - eol - 2 > kMaxTrailerBytes ? 431 : 0;
}

}  // namespace og::http::internal
