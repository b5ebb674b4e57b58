// Internal to og::http: the incremental reader of one HTTP/1.1 request, with every byte it keeps
// bounded. It does no I/O, so the connection feeds it what the socket brought and the
// http_connection_fuzzer feeds it arbitrary bytes cut anywhere.
//
// Beast's parser answers `need_more` until a line ends, and a caller that keeps appending to the
// buffer it parses grows by whatever a client sends before that end: a chunk-size line that never
// ends, a trailer block that never ends. With `eager(true)` Beast consumes body bytes as they come,
// so what it leaves unconsumed is only an unfinished header block, chunk-size line or trailer
// block; the reader caps that remainder after every parse and fails the request past a cap:
//
//   request line + headers    ServerOptions::max_header_bytes    431
//   one chunk-size line       kMaxChunkLineBytes (4 KiB)         400
//   the trailer block         kMaxTrailerBytes (8 KiB)           431 (trailers are header fields)
//   the body                  ServerOptions::max_body_bytes      413
//
// It also refuses framing a proxy must not guess at (RFC 9112 §6.1, §6.3): a Transfer-Encoding
// other than exactly `chunked` (gzip, `chunked, gzip`, identity, ...; this server decodes no other
// coding), Transfer-Encoding in an HTTP/1.0 request, and Transfer-Encoding together with
// Content-Length (a classic request-smuggling vector): 400 for each.
#ifndef OLLAMA_GATEWAY_HTTP_REQUEST_READER_H_
#define OLLAMA_GATEWAY_HTTP_REQUEST_READER_H_

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <optional>
#include <string_view>

namespace og::http::internal {

// The longest chunk-size line accepted, extensions included. Real clients send a few hex digits;
// extensions are legal but unused in practice.
inline constexpr std::size_t kMaxChunkLineBytes = 4 << 10;
// The largest trailer block of a chunked body accepted. Fixed rather than max_header_bytes:
// trailers are rare and nothing here uses them (they are parsed and dropped).
inline constexpr std::size_t kMaxTrailerBytes = 8 << 10;

struct RequestLimits {
  std::size_t max_header_bytes = 64 << 10;
  std::size_t max_body_bytes = 16 << 20;
};

// Reads one request at a time. Not thread-safe (a connection's thread owns it).
//
// Use: `Reset`, then `Feed` with everything buffered and not yet consumed (the previous remainder
// first, then new bytes), drop the consumed prefix, and act on the result:
//   kNeedMore     buffer more bytes and feed again; at most `max_pending()` bytes are left
//   kHeaderDone   returned once per request: the request line and headers are complete and valid
//                 (`head()`); feed again (even with nothing) to read the body
//   kRequestDone  the whole request is read; `Release` takes it, `Reset` starts the next one,
//                 whose bytes may already follow in the buffer (pipelining)
//   kError        the request is refused with `error_status()` (400, 413 or 431); feed no more
class RequestReader {
 public:
  enum class Progress { kNeedMore, kHeaderDone, kRequestDone, kError };
  using Message = boost::beast::http::request<boost::beast::http::string_body>;

  explicit RequestReader(RequestLimits limits);

  // Starts reading a new request, forgetting the current one.
  void Reset();

  // Parses a prefix of `data` and stores its length in `*consumed` (the caller drops it).
  Progress Feed(std::string_view data, std::size_t* consumed);

  // The status the request is refused with once Feed returned kError, else 0.
  int error_status() const { return error_status_; }
  bool header_done() const { return header_reported_; }
  bool request_done() const { return header_reported_ && parser_->is_done(); }

  // The request line and headers (no body yet). Requires header_done().
  const Message& head() const { return parser_->get(); }
  // Takes the complete request. Requires request_done(); call Reset before feeding again.
  Message Release() { return parser_->release(); }

  // The most bytes Feed ever leaves unconsumed when it returns kNeedMore.
  std::size_t max_pending() const;

  // Lowers this request's body limit to `max_body_bytes` (never above the limits' own). Call
  // between kHeaderDone and the next Feed, before any body byte is parsed. Returns false when
  // the head's Content-Length already exceeds it (the request is then refused with 413).
  bool LimitBody(std::size_t max_body_bytes);

 private:
  Progress Fail(int status);
  // 0 when the head's framing is acceptable, else the status to refuse it with.
  int CheckFraming() const;
  // 0 when what Feed left unconsumed is within its cap, else the status to refuse it with.
  int CheckRemainder(std::string_view rest) const;

  const RequestLimits limits_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  bool header_reported_ = false;
  int error_status_ = 0;
};

}  // namespace og::http::internal

#endif  // OLLAMA_GATEWAY_HTTP_REQUEST_READER_H_
